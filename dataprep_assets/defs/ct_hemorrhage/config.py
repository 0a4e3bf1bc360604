"""Launchpad configuration of the ct_hemorrhage assets (every field has a description and a default)."""

import re
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from dataprep_assets.common.config import Fraction, LaunchpadConfig, SplitFractionsConfig
from dataprep_assets.common.continuity import RESPLIT_DESCRIPTION
from dataprep_assets.defs.ct_hemorrhage.datasets import CLASSES_6, DICOM_PREFIX, FEEDBACK_CSV, ROBOFLOW_COCO, V3_COCO
from dataprep_assets.defs.ct_hemorrhage.patients import DEFAULT_NAME_PATTERN
from dataprep_assets.lib.coco import DROP

MIN_TASKS_PER_WORKER = 256
"""With `max_workers` 0: no more than one worker process per this many images (small batches run inline, since
a fresh worker spends seconds importing its libraries)."""
V3_MAP = {"IPH": "IPH", "IVH": "IVH", "SAH": "SAH", "SDH": "SDH"}
ROBOFLOW_MAP = {
    "hemorrhage-ct": DROP,
    "EDH": "EDH",
    "Contusion": "HC",
    "IPH": "IPH",
    "IVH": "IVH",
    "SAH": "SAH",
    "SDH": "SDH",
    "calcification": DROP,
}


class LabelledCocoConfig(LaunchpadConfig):
    v3_annotations: str = Field(default=V3_COCO, description="Store path of the 4-class COCO file (images beside it).")
    v3_category_map: dict[str, str] = Field(
        default=V3_MAP,
        description=f"Source category name -> one of {list(CLASSES_6)}, or '{DROP}' for noise. Every source category "
        "must be listed.",
    )
    roboflow_annotations: str = Field(
        default=ROBOFLOW_COCO, description="Store path of the 8-category COCO export (images beside it)."
    )
    roboflow_category_map: dict[str, str] = Field(
        default=ROBOFLOW_MAP,
        description=f"Source category name -> one of {list(CLASSES_6)}, or '{DROP}' for noise. Every source category "
        "must be listed.",
    )
    file_name_pattern: str = Field(
        default=DEFAULT_NAME_PATTERN,
        description="Regex with groups `patient` and `slice`, matched at the start of each image file name "
        "(`<patient>_<slice>.png`).",
    )
    unknown_categories: Literal["reject", "fail"] = Field(
        default="reject",
        description="A source category that its category map does not list: `reject` each of its annotations (a reject "
        "row "
        "`unknown_category`) or `fail` the asset naming the categories.",
    )
    min_box_size: float = Field(
        ge=0,
        default=2.0,
        description="Boxes narrower or shorter than this (pixels) after clipping are removed as degenerate.",
    )
    verify_image_size: bool = Field(
        default=True,
        description="Read each image's header and reject images whose real size differs from the COCO width/height.",
    )

    @field_validator("v3_category_map", "roboflow_category_map")
    @classmethod
    def _targets_are_classes(cls, mapping: dict[str, str]) -> dict[str, str]:
        bad = sorted({v for v in mapping.values() if v != DROP and v not in CLASSES_6})
        if bad:
            raise ValueError(f"targets {bad} are not among {list(CLASSES_6)} or '{DROP}'")
        return mapping

    @field_validator("file_name_pattern")
    @classmethod
    def _has_patient_and_slice(cls, pattern: str) -> str:
        try:
            groups = re.compile(pattern).groupindex
        except re.error as exc:
            raise ValueError(f"invalid regex ({exc})") from exc
        if not {"patient", "slice"} <= set(groups):
            raise ValueError("needs named groups `patient` and `slice`")
        return pattern


class CandidatesConfig(LaunchpadConfig):
    feedback_csv: str = Field(
        default=FEEDBACK_CSV,
        description="Store path of the feedback CSV (study/series/instance keys, patient_id, s3_key, feedback FP/TN).",
    )


class FetchConfig(LaunchpadConfig):
    max_images: int = Field(
        ge=0,
        default=3875,
        description="Images to attempt: all false positives first, then true negatives up to this total (0 = all "
        "candidates).",
    )
    fp_only: bool = Field(default=False, description="Fetch only the false positives (the seed's --fp-only).")
    allowed_thickness_mm: list[float] = Field(
        min_length=1,
        default=[5.0, 5.5],
        description="Slice thicknesses kept (header-only read); other slices are skipped.",
    )
    thickness_tolerance_mm: float = Field(
        default=0.01, description="Tolerance when comparing SliceThickness with the allowed values."
    )
    dicom_prefix: str = Field(
        default=DICOM_PREFIX, description="Store prefix under which the CSV's `s3_key`s live; keys can never escape it."
    )
    attempts: int = Field(ge=1, default=3, description="Download attempts per object before it is recorded as failed.")
    retry_backoff_s: float = Field(
        default=0.5, description="Wait before the first retry; doubles on each further retry."
    )
    fetch_workers: int = Field(ge=1, default=8, description="Concurrent downloads (threads).")
    seed: int = Field(
        default=42, description="Seed of the choice of true negatives when there are more than `max_images`."
    )


class PngConfig(LaunchpadConfig):
    window_center: float = Field(
        default=40.0,
        description="Brain window centre (HU), used when the header has none or `use_header_window` is off.",
    )
    window_width: float = Field(
        ge=1,
        default=80.0,
        description="Brain window width (HU, >= 1), used when the header has none or `use_header_window` is off.",
    )
    use_header_window: bool = Field(
        default=True, description="Use the slice's own WindowCenter/WindowWidth when present."
    )
    header_window_index: int = Field(
        ge=0, default=0, description="Which value of multi-valued window tags to use (0 = first)."
    )
    png_compression: int = Field(
        ge=0,
        le=9,
        default=1,
        description="PNG compression level 0-9 (lossless at every level; higher = smaller and slower).",
    )
    max_workers: int = Field(
        default=0,
        description="Worker processes for the conversion; 0 = one per core, inline for batches under 256 slices per "
        "core.",
    )


class PatientSplitConfig(SplitFractionsConfig):
    split_fields: ClassVar[dict[str, str]] = {
        "train": "train_fraction",
        "valid": "valid_fraction",
        "test": "test_fraction",
    }

    train_fraction: Fraction = Field(default=0.80, description="Share of patients in train.")
    valid_fraction: Fraction = Field(default=0.15, description="Share of patients in valid.")
    test_fraction: Fraction = Field(default=0.05, description="Share of patients in test.")
    seed: int = Field(default=42, description="Seed of the patient order (fixed for reproducibility).")


class BalanceConfig(LaunchpadConfig):
    target_no_hem_share: float = Field(
        ge=0.0, lt=1.0, default=0.5, description="Share of no-hemorrhage images each split is filled towards."
    )
    seed: int = Field(default=42, description="Seed of the order within each priority tier of the pool.")
    resplit: bool = Field(default=False, description=RESPLIT_DESCRIPTION)


class AugmentConfig(LaunchpadConfig):
    multiplier: int = Field(
        ge=1,
        default=3,
        description="Train images per original: the original plus multiplier - 1 augmented copies. Valid and test are "
        "never augmented.",
    )
    seed: int = Field(
        default=42, description="Seed of the augmentations (each copy's seed derives from it and the file name)."
    )
    min_box_size: float = Field(
        default=2.0, description="Augmented boxes narrower or shorter than this (pixels) are dropped."
    )
    min_visibility: float = Field(
        ge=0.0,
        le=1.0,
        default=0.3,
        description="Augmented boxes keeping less than this share of their area inside the image are dropped.",
    )
    jpeg_quality: int = Field(ge=1, le=100, default=95, description="JPEG quality of the augmented copies.")
    max_workers: int = Field(
        default=0, description="Worker processes; 0 = one per core, inline for batches under 256 images per core."
    )


class FourClassConfig(LaunchpadConfig):
    drop_classes: list[str] = Field(
        default=["EDH", "HC"], description="Classes whose annotations are removed; the rest are renumbered 0..n-1."
    )
    link: Literal["symlink", "hardlink"] = Field(
        default="symlink",
        description="How images point at the 6-class files: relative symbolic links (as the seed) or hard links, both "
        "to the stored objects of the 6-class version (a later 6-class rebuild never changes them).",
    )

    @field_validator("drop_classes")
    @classmethod
    def _are_classes(cls, drop_classes: list[str]) -> list[str]:
        bad = sorted(set(drop_classes) - set(CLASSES_6))
        if bad:
            raise ValueError(f"{bad} are not among {list(CLASSES_6)}")
        return drop_classes
