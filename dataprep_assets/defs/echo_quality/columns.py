"""One-line descriptions of the columns of the tables echo_quality writes (their `dagster/column_schema`).

A column name means the same thing in every table of the pipeline, so the tables share one glossary.
"""

COLUMNS = {
    "folder": "inference output folder the result came from",
    "file_id": "video identifier within its folder",
    "score": "model quality score, 0-1",
    "status": "inference status of the video (e.g. success)",
    "assessment": "the model's text assessment of quality",
    "machine_type": "ultrasound machine type (normalised from folder, hint and DICOM model)",
    "dicom_path": "store-relative path of the DICOM video",
    "patient_id": "DICOM PatientID (placeholders treated as unknown when grouping)",
    "study_uid": "DICOM StudyInstanceUID",
    "series_uid": "DICOM SeriesInstanceUID",
    "sop_uid": "DICOM SOPInstanceUID",
    "modality": "DICOM Modality (US)",
    "manufacturer": "DICOM Manufacturer",
    "model": "DICOM ManufacturerModelName",
    "frames": "frames in the video",
    "rows": "frame height, pixels",
    "columns": "frame width, pixels",
    "source": "the result file the row was parsed from",
    "quality_label": "1 high quality, 0 low quality (by the selection criteria)",
    "selected": "chosen for the training set (within the per-class cap)",
    "video_path": "path of the copied video inside training_data/",
    "quality_score": "the training label: 1 high quality, 0 low quality",
    "filename": "file name of the copied video (`hq_|lq_<machine>_<n>_<id>.dcm`)",
    "study_key": "study identity used for leak grouping",
    "patient_key": "patient identity used for leak grouping (empty for placeholders)",
    "group_id": "leak group: videos linked by patient, study or folder share one split",
    "split": "train, validation or test (assigned per leak group)",
}
