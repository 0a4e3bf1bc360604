"""cell_qa's asset group and its datasets: which asset writes each, where (seed 000's layout), as what."""

from dataprep_assets.lib.datasets import Dataset

GROUP = "cell_qa"
RAW_PREFIX = "raw/cell_qa"
SPLIT_ORDER = ["train", "validation", "test"]

INVENTORY = Dataset("cell_qa_inventory", "data/cell_qa_inventory.parquet", "table")
CROPS = Dataset("cell_crops", "data/cell_crops", "directory")
CELLS_INDEX = CROPS.member("_cells.parquet")
"""One row per cell of the crops folder (read by the cell table and the crop check)."""
SEG_INDEX = CROPS.member("_seg_scores.parquet")
CELL_TABLE = Dataset("cell_level_dataframe", "data/cell_level_dataframe.parquet", "table")
SEG_SCORES = Dataset("competitor_seg_scores", "data/competitor_seg_scores.parquet", "table")
SPLITS = Dataset("cell_level_dataframe_with_splits", "data/cell_level_dataframe_with_splits.parquet", "table")
RELEASE = Dataset("cell_qa_release", "data/cell_qa_release.json", "json")
