"""echo_quality's asset group and its datasets: which asset writes each, where (seed 003's layout), as what."""

from dataprep_assets.lib.datasets import Dataset

GROUP = "echo_quality"
RAW_PREFIX = "raw/echo_quality"
DICOM_PREFIX = f"{RAW_PREFIX}/raw_data"
"""Uploaded DICOM videos (`<MACHINE>-<nnnn>/<file>`): the upload watch and the results' default video folder."""
RESULTS_PREFIX = f"{RAW_PREFIX}/inference_output"
"""Inference result files in the store (the default results location)."""
SPLIT_ORDER = ["train", "validation", "test"]

RESULTS = Dataset("echo_inference_results", "echo_quality/inference_results.parquet", "table")
SELECTION = Dataset("echo_training_selection", "echo_quality/training_selection.parquet", "table")
SELECTION_INFO = Dataset("echo_training_selection", "echo_quality/training_selection.json", "json")
"""The criteria and caps the selection was made with (read by the training data and its checks)."""
TRAINING_DATA = Dataset("echo_training_data", "training_data", "directory")
VIDEOS_SUBDIR = "echo_videos"
ANNOTATIONS = TRAINING_DATA.member("echo_annotations.csv")
ANALYSIS = TRAINING_DATA.member("dataset_analysis.json")
SPLITS = Dataset("echo_training_splits", "echo_quality/echo_annotations_splits.csv", "table")
RELEASE = Dataset("echo_dataset_release", "echo_quality/release.json", "json")
