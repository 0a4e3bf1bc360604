"""New conversion results and logos uploaded under `raw/quality_prediction/` become an upload batch;
quality_prediction follows it."""

from dataprep_assets.common.uploads import UploadWatch, upload_batch_definitions

quality_prediction_uploads, quality_prediction_upload_sensor = upload_batch_definitions(
    UploadWatch(
        pipeline="quality_prediction",
        prefix="raw/quality_prediction",
        suffixes=(".json", ".jsonl", ".csv", ".png", ".jpg", ".jpeg"),
    )
)
