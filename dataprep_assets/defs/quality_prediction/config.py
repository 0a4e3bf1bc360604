"""Launchpad configuration of the quality_prediction assets (every field has a description and a default)."""

from typing import Annotated, Literal

from pydantic import Field, field_validator

from dataprep_assets.common.config import Fraction, LaunchpadConfig, SplitFractionsConfig
from dataprep_assets.defs.quality_prediction.datasets import RAW_PREFIX
from dataprep_assets.ml.vectorizer_params import METRICS


class ConversionResultsConfig(LaunchpadConfig):
    results_uri: str = Field(
        default=RAW_PREFIX,
        description="Where the conversion results live: a directory relative to the dataset store's root, or "
        "`s3://bucket/prefix` "
        "(mirrored incrementally into the store's `cache/quality_prediction/s3/`). Logs (.json, .jsonl, .csv) anywhere "
        "below it are read; "
        "image paths in the logs are relative to it.",
    )

    @field_validator("results_uri")
    @classmethod
    def _inside_the_store_or_s3(cls, results_uri: str) -> str:
        uri = results_uri.strip()
        if not uri:
            raise ValueError("must not be empty")
        if uri.startswith("s3://") and not uri.removeprefix("s3://").split("/")[0]:
            raise ValueError(f"{uri!r} has no bucket")
        if not uri.startswith("s3://") and (uri.startswith("/") or ".." in uri.split("/")):
            raise ValueError(f"{uri!r} must be relative to the dataset store's root (or an s3:// URI)")
        return results_uri


class CleaningConfig(LaunchpadConfig):
    allowed_formats: list[str] = Field(
        min_length=1,
        default=["PNG", "JPEG"],
        description="Image formats accepted (as Pillow names them); others are `image_format` rejects.",
    )
    min_image_size: int = Field(ge=1, default=32, description="Smallest accepted width or height in pixels.")
    outlier_rule: Literal["iqr", "robust_z", "none"] = Field(
        default="iqr",
        description="Extreme-outlier rule, applied per logo type: `iqr` rejects values outside [Q1 - k IQR, Q3 + k "
        "IQR], "
        "`robust_z` rejects |x - median| / (1.4826 MAD) > k, `none` keeps everything.",
    )
    outlier_threshold: float = Field(
        gt=0,
        default=15.0,
        description="k of the outlier rule. 15 keeps SSIM's real low tail (poor settings on gradient logos land ~11 "
        "IQRs out) and removes "
        "values no setting produces; Tukey's far-out fence, 3, would drop hundreds of genuine poor conversions.",
    )
    outlier_metrics: list[str] = Field(
        default=["ssim", "psnr"], description="Metrics the outlier rule is applied to (any of ssim, mse, psnr)."
    )
    psnr_tolerance_db: float = Field(
        gt=0, default=0.5, description="Largest accepted gap in dB between the logged PSNR and 10 log10(255^2 / MSE)."
    )
    max_workers: int = Field(
        default=0, description="Worker processes for checking images (0 = all cores; one per 2,000 images at most)."
    )

    @field_validator("outlier_metrics")
    @classmethod
    def _known_metrics(cls, outlier_metrics: list[str]) -> list[str]:
        # a Literal inside a list has no Dagster config type, so the metric names are checked here
        unknown = sorted(set(outlier_metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"unknown metric(s) {unknown}; choose from {list(METRICS)}")
        return outlier_metrics


class SplitConfig(SplitFractionsConfig):
    train_fraction: Fraction = Field(default=0.80, description="Target share of results in train.")
    validation_fraction: Fraction = Field(default=0.15, description="Target share of results in validation.")
    test_fraction: Fraction = Field(default=0.05, description="Target share of results in test.")
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
        ge=1,
        default=3,
        description="SSIM bins per logo type used as strata: quantiles of each source image's mean SSIM among the "
        "images of its type.",
    )
    cv_folds: int = Field(
        ge=0,
        default=5,
        description="Cross-validation folds assigned within train, grouped by source image (0 or 1 = none).",
    )
    seed: int = Field(default=42, description="Seed of the within-stratum shuffle (fixed for reproducibility).")
    stratum_tolerance: float = Field(
        ge=0,
        le=1,
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
    target_logo_mix: dict[str, Annotated[float, Field(ge=0)]] = Field(
        default={"simple": 0.30, "text": 0.25, "gradient": 0.25, "complex": 0.20},
        description="Target share of each logo type in train when `rebalance_logo_types` is on (the seed's "
        "30/25/25/20).",
    )

    @field_validator("target_logo_mix")
    @classmethod
    def _positive_sum(cls, target_logo_mix: dict[str, float]) -> dict[str, float]:
        if not sum(target_logo_mix.values()) > 0:
            raise ValueError(f"shares must have a positive sum, got {target_logo_mix}")
        return target_logo_mix


class ImageFeaturesConfig(LaunchpadConfig):
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
        gt=0,
        default=0.5,
        description="Storage budget of the features dataset (HDF5 file + index) as a share of the raw image bytes: "
        "the seed's <= 50% overhead.",
    )
    batch_size: int = Field(ge=1, default=32, description="Images per batch (the seed's CPU target is 16-32).")
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


class FeatureReportConfig(LaunchpadConfig):
    clusters: int = Field(
        ge=1, default=4, description="k of the k-means clustering summary (default: one per logo type)."
    )
    probe_components: int = Field(
        ge=0, default=16, description="Principal components of the image features used by the linear probe."
    )
    min_groups_per_stratum: int = Field(
        default=5, description="Strata with fewer source images are reported as coverage gaps."
    )
    seed: int = Field(default=0, description="Seed of the k-means initialisation.")


class InspectionConfig(LaunchpadConfig):
    share: float = Field(
        gt=0,
        le=1,
        default=0.10,
        description="Share of source images sampled per stratum for visual inspection (the seed's 10%), rounded up.",
    )
    seed: int = Field(default=42, description="Seed of the sample's order (same data + seed = same sample).")
    tile_size: int = Field(ge=8, default=96, description="Gallery tile size in pixels.")
