"""New conversion results and logos uploaded under `raw/quality_prediction/` become an upload batch;
quality_prediction follows it."""

from dataprep_assets.common.uploads import UploadWatch, upload_batch_definitions
from dataprep_assets.defs.quality_prediction.datasets import GROUP, RAW_PREFIX

quality_prediction_uploads, quality_prediction_upload_sensor = upload_batch_definitions(
    UploadWatch(
        pipeline=GROUP,
        prefix=RAW_PREFIX,
        suffixes=(".json", ".jsonl", ".csv", ".png", ".jpg", ".jpeg"),
    )
)
