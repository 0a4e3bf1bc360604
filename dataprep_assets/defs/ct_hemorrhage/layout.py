"""Where ct_hemorrhage reads its inputs and writes its outputs (store-relative paths, the seed's layout)."""

RAW = "raw/ct_hemorrhage"
FEEDBACK_CSV = f"{RAW}/metadata/no_hemorrhage_positive_feedback.csv"
DICOM_PREFIX = f"{RAW}/dicom"
V3_COCO = f"{RAW}/v3/filtered_4class/coco/train/_annotations.coco.json"
ROBOFLOW_COCO = f"{RAW}/roboflow/UAT_CT_BRAIN_HEMORRHAGE_V3.v3i.coco/train/_annotations.coco.json"

CLASSES_6 = ("EDH", "HC", "IPH", "IVH", "SAH", "SDH")
SPLITS = ("train", "valid", "test")
FEEDBACK_COLUMNS = (
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
    "instance_number",
    "patient_id",
    "s3_key",
    "feedback",
)
FEEDBACK_TIERS = {"FP": 0, "TN": 1}
"""Feedback values and their priority: false positives are taken before true negatives."""

WORK = "data/ct_hemorrhage"
CANDIDATES = f"{WORK}/no_hem_candidates.parquet"
DICOMS = f"{WORK}/no_hem_dicoms.parquet"
LABELLED = f"{WORK}/labelled_6class.coco.json"
PATIENT_SPLITS = f"{WORK}/patient_splits.parquet"
BALANCED = f"{WORK}/balanced_splits.parquet"
PNG_INDEX = f"{WORK}/no_hem_pngs.parquet"
ANALYSIS = f"{WORK}/v4_analysis.json"

NO_HEM_DIR = "data/training_datasets/no_hemorrhage_downloads"
NO_HEM_COCO = f"{NO_HEM_DIR}/_annotations.coco.json"
V4 = "data/training_datasets/v4"
SIX_CLASS = f"{V4}/6class_coco"
FOUR_CLASS = f"{V4}/4class_coco"
ANNOTATIONS = "_annotations.coco.json"
CSV_6CLASS = "data/metadata/v4_dataset_6class.csv"
CSV_4CLASS = "data/metadata/v4_dataset_4class.csv"
