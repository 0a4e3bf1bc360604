"""ct_hemorrhage's asset group, its raw inputs and its datasets: which asset writes each, where (seed 001's
layout, so the training code reads them unchanged), as what."""

from dataprep_assets.lib.datasets import Dataset

GROUP = "ct_hemorrhage"

RAW_PREFIX = "raw/ct_hemorrhage"
FEEDBACK_CSV = f"{RAW_PREFIX}/metadata/no_hemorrhage_positive_feedback.csv"
DICOM_PREFIX = f"{RAW_PREFIX}/dicom"
V3_COCO = f"{RAW_PREFIX}/v3/filtered_4class/coco/train/_annotations.coco.json"
ROBOFLOW_COCO = f"{RAW_PREFIX}/roboflow/UAT_CT_BRAIN_HEMORRHAGE_V3.v3i.coco/train/_annotations.coco.json"

CLASSES_6 = ("EDH", "HC", "IPH", "IVH", "SAH", "SDH")
"""The categories of every 6-class COCO file, in id order (0 EDH ... 5 SDH)."""
SPLIT_ORDER = ("train", "valid", "test")
"""The split folders of the published COCO datasets."""
ANNOTATIONS = "_annotations.coco.json"
"""The COCO file of each split folder (and of the no-hemorrhage folder), beside its images."""

WORK = "data/ct_hemorrhage"
LABELLED = Dataset("labelled_coco", f"{WORK}/labelled_6class.coco.json", "json")
CANDIDATES = Dataset("no_hem_candidates", f"{WORK}/no_hem_candidates.parquet", "table")
DICOMS = Dataset("no_hem_dicoms", f"{WORK}/no_hem_dicoms.parquet", "table")
NO_HEM_PNGS = Dataset("no_hem_pngs", "data/training_datasets/no_hemorrhage_downloads", "directory")
PNG_INDEX = Dataset("no_hem_pngs", f"{WORK}/no_hem_pngs.parquet", "table")
"""One row per converted slice of the no-hemorrhage folder (written with it)."""
NO_HEM_COCO = Dataset("no_hem_coco", NO_HEM_PNGS.member(ANNOTATIONS), "json")
PATIENT_SPLITS = Dataset("patient_splits", f"{WORK}/patient_splits.parquet", "table")
BALANCED = Dataset("balanced_splits", f"{WORK}/balanced_splits.parquet", "table")
SIX_CLASS = Dataset("augmented_coco_6class", "data/training_datasets/v4/6class_coco", "directory")
FOUR_CLASS = Dataset("coco_4class", "data/training_datasets/v4/4class_coco", "directory")
ANALYSIS = Dataset("v4_analysis", f"{WORK}/v4_analysis.json", "json")
CSV_6CLASS = Dataset("v4_dataset_6class_csv", "data/metadata/v4_dataset_6class.csv", "table")
CSV_4CLASS = Dataset("v4_dataset_4class_csv", "data/metadata/v4_dataset_4class.csv", "table")
