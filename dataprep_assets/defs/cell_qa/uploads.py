"""New frames and masks uploaded under `raw/cell_qa/` become an upload batch; cell_qa follows it."""

from dataprep_assets.common.uploads import UploadWatch, upload_batch_definitions

cell_qa_uploads, cell_qa_upload_sensor = upload_batch_definitions(
    UploadWatch(pipeline="cell_qa", prefix="raw/cell_qa", suffixes=(".tif", ".tiff"))
)
