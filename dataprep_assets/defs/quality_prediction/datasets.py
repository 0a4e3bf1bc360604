"""quality_prediction's asset group and its datasets: which asset writes each, where (seed 002's layout), as what."""

from dataprep_assets.lib.datasets import Dataset

GROUP = "quality_prediction"
RAW_PREFIX = "raw/quality_prediction"
"""Uploaded optimisation logs and logos (the upload watch; the default results location)."""
S3_CACHE = "cache/quality_prediction/s3"
"""Where an `s3://` results location is mirrored in the store."""
VECTOR_CACHE = "cache/quality_prediction/vectors"
"""The extractors' full vectors by pixel hash (`lib.vectors.VectorCache`): the next run's extraction cache."""
RANDOM_RESNET_WEIGHTS = "models/quality_prediction/resnet50_random_seed0.pth"
"""Seeded random ResNet-50 weights, saved when no weights file is configured."""

BASE = "data/quality_prediction"
SOURCE = Dataset("conversion_results", f"{BASE}/source.json", "json")
"""The results location of the last inventory and its local mirror (read by every step that opens the logos)."""
RESULTS = Dataset("conversion_results", f"{BASE}/conversion_results.parquet", "table")
CLEAN = Dataset("clean_conversion_results", f"{BASE}/clean_conversion_results.parquet", "table")
IMAGES = Dataset("clean_conversion_results", f"{BASE}/images.parquet", "table")
SPLIT_TABLES = Dataset("quality_dataset_splits", f"{BASE}/datasets", "directory")
EXAMPLES = SPLIT_TABLES.member("examples.parquet")
SPLIT_SUMMARY = SPLIT_TABLES.member("split_summary.json")
INSPECTION_SHEET = Dataset("inspection_sample", f"{BASE}/inspection/inspection_sample.csv", "table")
INSPECTION_GALLERY = Dataset("inspection_sample", f"{BASE}/inspection/inspection_gallery.png", "file")
FEATURES = Dataset("image_features", f"{BASE}/features", "directory")
"""`<extractor>.h5` and `<extractor>_index.parquet` of the extractor last run: its current version names them."""
REPORT = Dataset("feature_report", "reports/dataset_analysis_report.json", "json")
