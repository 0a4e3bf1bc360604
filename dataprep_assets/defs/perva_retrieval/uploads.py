"""New images uploaded under `raw/perva_retrieval/` become an upload batch; perva_retrieval follows it."""

from dataprep_assets.common.uploads import UploadWatch, upload_batch_definitions

perva_retrieval_uploads, perva_retrieval_upload_sensor = upload_batch_definitions(
    UploadWatch(
        pipeline="perva_retrieval", prefix="raw/perva_retrieval", suffixes=(".jpg", ".jpeg", ".png", ".webp", ".bmp")
    )
)
