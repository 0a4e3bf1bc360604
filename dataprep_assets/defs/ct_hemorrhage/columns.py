"""One-line descriptions of the columns of the tables ct_hemorrhage writes (their `dagster/column_schema`).

A column name means the same thing in every table of the pipeline, so the tables share one glossary.
"""

COLUMNS = {
    # feedback CSV and the DICOM fetch
    "study_instance_uid": "DICOM StudyInstanceUID of the slice",
    "series_instance_uid": "DICOM SeriesInstanceUID of the slice",
    "sop_instance_uid": "DICOM SOPInstanceUID: one slice",
    "instance_number": "slice number within its series",
    "patient_id": "patient identifier: the leak group (one split per patient)",
    "s3_key": "key of the DICOM object under the configured prefix",
    "feedback": "FP (model false positive) or TN (true negative); empty for labelled images",
    "row": "line number of the row in the feedback CSV",
    "tier": "fetch priority: 0 for false positives (taken first), 1 for true negatives",
    "key": "`<patient>_<slice>`: the slice identity shared by every source (to find overlaps)",
    "dicom_path": "store-relative path of the fetched DICOM file",
    "status": "ok, skipped_thickness or failed",
    "reason": "why a fetch was skipped or failed (empty when ok)",
    "detail": "the error text or offending value",
    "slice_thickness": "SliceThickness from the header, mm",
    "header_patient_id": "PatientID from the DICOM header",
    "attempts": "download attempts made",
    # windowed PNGs
    "file_name": "image file name inside its split or dataset folder",
    "width": "image width, pixels",
    "height": "image height, pixels",
    "window_center": "window centre used for the 8-bit PNG, HU",
    "window_width": "window width used for the 8-bit PNG, HU",
    "window_source": "config (the brain window) or header (the DICOM's own window)",
    "photometric": "DICOM PhotometricInterpretation (MONOCHROME1 is inverted)",
    "transfer_syntax": "DICOM transfer syntax of the source file",
    # splits and balance
    "labelled_id": "image id in the merged labelled COCO (-1 for pool images)",
    "source": "v3, roboflow (labelled sources) or no_hem (the no-hemorrhage pool)",
    "source_path": "store-relative path of the source image",
    "classes": "hemorrhage classes with a box on the image, `;`-separated",
    "has_hemorrhage": "the image has at least one box",
    "split": "train, valid or test (assigned per patient)",
    # CSV exports
    "original": "the original image an augmented copy was made from (itself for originals)",
    "is_augmented": "an albumentations copy, not an original",
    "annotations": "boxes on the image",
}
