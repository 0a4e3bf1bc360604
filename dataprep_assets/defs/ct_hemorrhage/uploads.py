"""New DICOM slices, feedback CSVs and labelled COCO exports uploaded under `raw/ct_hemorrhage/` become
an upload batch; ct_hemorrhage follows it."""

from dataprep_assets.common.uploads import UploadWatch, upload_batch_definitions

ct_hemorrhage_uploads, ct_hemorrhage_upload_sensor = upload_batch_definitions(
    UploadWatch(
        pipeline="ct_hemorrhage",
        prefix="raw/ct_hemorrhage",
        suffixes=(".dcm", ".csv", ".json", ".png", ".jpg", ".jpeg"),
    )
)
