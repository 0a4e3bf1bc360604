"""Launchpad configuration of the cell_qa assets (every field has a description and a default)."""

from typing import Literal

from pydantic import Field

from dataprep_assets.common.config import Fraction, LaunchpadConfig, SplitFractionsConfig


class CellCropsConfig(LaunchpadConfig):
    crop_size: int = Field(
        gt=0, default=64, description="Side of the square crop in pixels, centred on each cell's bounding box (> 0)."
    )
    layout: Literal["tiff_per_cell", "stacked"] = Field(
        default="tiff_per_cell",
        description="`tiff_per_cell`: one 2-channel TIFF per cell under data/cell_crops/ (the seed's layout). "
        "`stacked`: per frame and competitor, raw crops (n, S, S) in `<file>.npy` and the mask channel bit-packed in "
        "`<file>.mask.npy`, referenced as `<file>.npy#<row>` (half the bytes, much faster).",
    )
    naming: Literal["descriptive", "sequential"] = Field(
        default="descriptive",
        description="`descriptive`: cell_id `<dataset>_<seq>_t<frame>_<competitor>_<label>` (file `<cell_id>.tif`). "
        "`sequential`: the seed's "
        "numeric `cell_id` and `data/cell_crops/00001.tif`, numbered in the order of the descriptive ids (stable "
        "across reruns of the same data); "
        "the descriptive id stays in `descriptive_cell_id`.",
    )
    max_workers: int = Field(default=0, description="Worker processes for crop extraction; 0 = all cores.")


class SplitConfig(SplitFractionsConfig):
    train_fraction: Fraction = Field(default=0.70, description="Share of original_image_keys in train.")
    validation_fraction: Fraction = Field(default=0.15, description="Share of original_image_keys in validation.")
    test_fraction: Fraction = Field(default=0.15, description="Share of original_image_keys in test.")
    seed: int = Field(
        default=42, description="Seed of the shuffle of the sorted unique keys (fixed for reproducibility)."
    )
