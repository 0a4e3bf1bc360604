"""Launchpad configuration of the quality_prediction assets (every field has a description and a default)."""

from typing import Literal

import dagster as dg
from pydantic import Field, model_validator

from dataprep_assets.common.config import SplitFractionsConfig
from dataprep_assets.defs.quality_prediction.datasets import RAW_PREFIX
from dataprep_assets.ml.vectorizer_params import METRICS


class ConversionResultsConfig(dg.Config):
    results_uri: str = Field(
        default=RAW_PREFIX,
        description="Where the conversion results live: a directory relative to the dataset store's root, or "
        "`s3://bucket/prefix` "
        "(mirrored incrementally into the store's `cache/quality_prediction/s3/`). Logs (.json, .jsonl, .csv) anywhere "
        "below it are read; "
        "image paths in the logs are relative to it.",
    )

    @model_validator(mode="after")
    def _check(self):
        uri = self.results_uri.strip()
        if not uri:
            raise ValueError("results_uri must not be empty")
        if uri.startswith("s3://") and not uri.removeprefix("s3://").split("/")[0]:
            raise ValueError(f"results_uri {uri!r} has no bucket")
        if not uri.startswith("s3://") and (uri.startswith("/") or ".." in uri.split("/")):
            raise ValueError(f"results_uri {uri!r} must be relative to the dataset store's root (or an s3:// URI)")
        return self


class CleaningConfig(dg.Config):
    allowed_formats: list[str] = Field(
        default=["PNG", "JPEG"],
        description="Image formats accepted (as Pillow names them); others are `image_format` rejects.",
    )
    min_image_size: int = Field(default=32, description="Smallest accepted width or height in pixels.")
    outlier_rule: Literal["iqr", "robust_z", "none"] = Field(
        default="iqr",
        description="Extreme-outlier rule, applied per logo type: `iqr` rejects values outside [Q1 - k IQR, Q3 + k "
        "IQR], "
        "`robust_z` rejects |x - median| / (1.4826 MAD) > k, `none` keeps everything.",
    )
    outlier_threshold: float = Field(
        default=15.0,
        description="k of the outlier rule. 15 keeps SSIM's real low tail (poor settings on gradient logos land ~11 "
        "IQRs out) and removes "
        "values no setting produces; Tukey's far-out fence, 3, would drop hundreds of genuine poor conversions.",
    )
    outlier_metrics: list[str] = Field(
        default=["ssim", "psnr"], description="Metrics the outlier rule is applied to (any of ssim, mse, psnr)."
    )
    psnr_tolerance_db: float = Field(
        default=0.5, description="Largest accepted gap in dB between the logged PSNR and 10 log10(255^2 / MSE)."
    )
    max_workers: int = Field(
        default=0, description="Worker processes for checking images (0 = all cores; one per 2,000 images at most)."
    )

    @model_validator(mode="after")
    def _check(self):
        if self.min_image_size < 1:
            raise ValueError(f"min_image_size must be >= 1, got {self.min_image_size}")
        if self.outlier_threshold <= 0:
            raise ValueError(f"outlier_threshold must be > 0, got {self.outlier_threshold}")
        unknown = sorted(set(self.outlier_metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"outlier_metrics: unknown metric(s) {unknown}; choose from {list(METRICS)}")
        if self.psnr_tolerance_db <= 0:
            raise ValueError(f"psnr_tolerance_db must be > 0, got {self.psnr_tolerance_db}")
        if not self.allowed_formats:
            raise ValueError("allowed_formats must name at least one format")
        return self


class SplitConfig(SplitFractionsConfig):
    train_fraction: float = Field(default=0.80, description="Target share of results in train.")
    validation_fraction: float = Field(default=0.15, description="Target share of results in validation.")
    test_fraction: float = Field(default=0.05, description="Target share of results in test.")
    mode: Literal["stratified", "temporal"] = Field(
        default="stratified",
        description="`stratified`: by logo type and SSIM bin, grouped by source image. `temporal`: source images "
        "ordered by their first "
        "result's time; the earliest go to train, the latest to test (no stratification; folds are time blocks).",
    )
    group_by: Literal["content", "image_id"] = Field(
        default="content",
        description="Unit kept whole in one split: `content` (identical pixels = one source image, so a logo saved "
        "under two names "
        "cannot leak) or `image_id` (the file path, as per-file scripts do; the leakage check still compares pixels).",
    )
    ssim_bins: int = Field(
        default=3,
        description="SSIM bins per logo type used as strata: quantiles of each source image's mean SSIM among the "
        "images of its type.",
    )
    cv_folds: int = Field(
        default=5, description="Cross-validation folds assigned within train, grouped by source image (0 or 1 = none)."
    )
    seed: int = Field(default=42, description="Seed of the within-stratum shuffle (fixed for reproducibility).")
    stratum_tolerance: float = Field(
        default=0.05,
        description="Allowed |achieved - target| share per stratum and split, on top of one source image's share.",
    )
    rebalance_logo_types: bool = Field(
        default=False,
        description="Opt-in: down-sample over-represented logo types in train only (whole source images, seeded by "
        "`seed`) towards "
        "`target_logo_mix`; validation and test are never touched. The achieved mix is in the metadata. Strata checks "
        "describe the split before it.",
    )
    target_logo_mix: dict[str, float] = Field(
        default={"simple": 0.30, "text": 0.25, "gradient": 0.25, "complex": 0.20},
        description="Target share of each logo type in train when `rebalance_logo_types` is on (the seed's "
        "30/25/25/20).",
    )

    @model_validator(mode="after")
    def _check(self):
        if self.ssim_bins < 1:
            raise ValueError(f"ssim_bins must be >= 1, got {self.ssim_bins}")
        if self.cv_folds < 0:
            raise ValueError(f"cv_folds must be >= 0, got {self.cv_folds}")
        if not 0 <= self.stratum_tolerance <= 1:
            raise ValueError(f"stratum_tolerance must be in [0, 1], got {self.stratum_tolerance}")
        if any(v < 0 for v in self.target_logo_mix.values()) or not sum(self.target_logo_mix.values()) > 0:
            raise ValueError(
                f"target_logo_mix must have non-negative shares with a positive sum, got {self.target_logo_mix}"
            )
        return self


class ImageFeaturesConfig(dg.Config):
    extractor: Literal["auto", "resnet50", "image_stats"] = Field(
        default="auto",
        description="`auto` (default): `resnet50` whenever PyTorch is importable, else `image_stats`. "
        "`resnet50`: the seed's ResNet-50 global-average-pooled features (2048-d). "
        "`image_stats`: the offline fallback, colour/edge/texture statistics (128-d, numpy only, no weights).",
    )
    weights_path: str = Field(
        default="",
        description="ResNet-50: a local file with torchvision's resnet50 state dict (e.g. ImageNet weights saved with "
        "torch.save). "
        "Never downloaded. Empty = seeded random weights in the same layout (runs end to end; no ImageNet knowledge; "
        "said so in the metadata).",
    )
    storage_dtype: Literal["float16", "float32"] = Field(
        default="float16",
        description="HDF5 storage type of the feature matrix: float16 halves the bytes (max abs error vs float32 in "
        "the metadata); "
        "always read back as float32.",
    )
    feature_storage: Literal["auto", "full", "pca"] = Field(
        default="auto",
        description="`auto` (default): the extractor's full vectors when the features dataset fits "
        "`max_storage_overhead`, else PCA scores. `pca`: always PCA scores, with the largest number of components "
        "whose files fit the budget (projection fitted on the train split's images only, stored in the same HDF5; "
        "explained variance, reconstruction error and ridge R2 full vs reduced in the metadata). `full`: always the "
        "full vectors (the budget is still measured and reported).",
    )
    max_storage_overhead: float = Field(
        default=0.5,
        description="Storage budget of the features dataset (HDF5 file + index) as a share of the raw image bytes: "
        "the seed's <= 50% overhead.",
    )
    batch_size: int = Field(default=32, description="Images per batch (the seed's CPU target is 16-32).")
    max_workers: int = Field(
        default=0,
        description="Worker processes for image_stats (0 = all cores; one per 2,000 images to compute at most).",
    )
    torch_threads: int = Field(default=0, description="ResNet-50 only: torch intra-op threads (0 = torch's default).")
    compression: Literal["gzip", "lzf", "none"] = Field(
        default="gzip", description="HDF5 compression of the feature matrix (gzip level 4 + shuffle, lzf, or none)."
    )
    use_cache: bool = Field(
        default=True,
        description="Reuse the vectors of images whose pixels were featurised before (same extractor and weights), "
        "kept by pixel hash in the store's `cache/quality_prediction/vectors/` (outside the dataset and its budget; "
        "safe to delete).",
    )

    @model_validator(mode="after")
    def _check(self):
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not self.max_storage_overhead > 0:
            raise ValueError(
                f"max_storage_overhead must be > 0 (a share of the raw image bytes, e.g. 0.5), "
                f"got {self.max_storage_overhead}"
            )
        return self


class FeatureReportConfig(dg.Config):
    clusters: int = Field(default=4, description="k of the k-means clustering summary (default: one per logo type).")
    probe_components: int = Field(
        default=16, description="Principal components of the image features used by the linear probe."
    )
    min_groups_per_stratum: int = Field(
        default=5, description="Strata with fewer source images are reported as coverage gaps."
    )
    seed: int = Field(default=0, description="Seed of the k-means initialisation.")

    @model_validator(mode="after")
    def _check(self):
        if self.clusters < 1:
            raise ValueError(f"clusters must be >= 1, got {self.clusters}")
        if self.probe_components < 0:
            raise ValueError(f"probe_components must be >= 0, got {self.probe_components}")
        return self


class InspectionConfig(dg.Config):
    share: float = Field(
        default=0.10,
        description="Share of source images sampled per stratum for visual inspection (the seed's 10%), rounded up.",
    )
    seed: int = Field(default=42, description="Seed of the sample's order (same data + seed = same sample).")
    tile_size: int = Field(default=96, description="Gallery tile size in pixels.")

    @model_validator(mode="after")
    def _check(self):
        if not 0 < self.share <= 1:
            raise ValueError(f"share must be in (0, 1], got {self.share}")
        if self.tile_size < 8:
            raise ValueError(f"tile_size must be >= 8, got {self.tile_size}")
        return self
