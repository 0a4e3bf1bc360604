"""New frames and masks uploaded under `raw/cell_qa/` become an upload batch; cell_qa follows it."""

from dataprep_assets.common.uploads import UploadWatch, upload_batch_definitions
from dataprep_assets.defs.cell_qa.datasets import GROUP, RAW_PREFIX

cell_qa_uploads, cell_qa_upload_sensor = upload_batch_definitions(
    UploadWatch(pipeline=GROUP, prefix=RAW_PREFIX, suffixes=(".tif", ".tiff"))
)
