"""quality_prediction asset checks: leakage and split continuity (blocking), fold grouping, stratum proportions, feature
completeness, pass rate."""

import dagster as dg
import numpy as np
import pandas as pd

from dataprep_assets.common.checks import expectations_check, group_overlap_check, split_continuity_check
from dataprep_assets.common.metadata import latest_materialization_metadata, markdown_table
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.quality_prediction.assets import (
    clean_conversion_results,
    current_features,
    image_features,
    quality_dataset_splits,
)
from dataprep_assets.defs.quality_prediction.datasets import (
    CLEAN,
    EXAMPLES,
    FEATURES,
    IMAGES,
    RESULTS,
    SOURCE,
    SPLIT_SUMMARY,
    SPLIT_TABLES,
)
from dataprep_assets.defs.quality_prediction.feature_budget import raw_image_bytes
from dataprep_assets.ml.featurestore import FeatureFile
from dataprep_assets.ml.vectorizer_params import LOGO_TYPES, METHODS

MIN_PASS_RATE = 0.95
MIN_FEATURISED_SHARE = 0.98
PASS_RATE_CHECK = "at_least_95pct_of_results_pass_cleaning"
OVERLAP_CHECK = "no_source_image_in_two_splits"
FOLDS_CHECK = "cv_folds_grouped_within_train"
STRATA_CHECK = "stratum_proportions_within_tolerance"
FEATURES_CHECK = "feature_matrix_complete_and_finite"
BUDGET_CHECK = "feature_storage_within_budget"
STAY_PUT_CHECK = "source_images_stay_put"

no_source_image_in_two_splits = group_overlap_check(
    asset=quality_dataset_splits,
    load=lambda store: store.read_table(EXAMPLES),
    group_col="image_group",
    name=OVERLAP_CHECK,
    blocking=True,
)

source_images_stay_put = split_continuity_check(
    asset=quality_dataset_splits,
    relpath=SPLIT_TABLES.path,
    member="examples.parquet",
    group_col="image_id",
    name=STAY_PUT_CHECK,
)

clean_results_valid = expectations_check(
    asset=clean_conversion_results,
    load=CLEAN,
    name="clean_results_valid",
    description="Great Expectations: SSIM in [-1, 1], MSE and PSNR >= 0, no missing metric, known logo type and "
    "method, unique result ids.",
    blocking=True,
    expectations=[
        ("expect_column_values_to_be_between", {"column": "ssim", "min_value": -1.0, "max_value": 1.0}),
        ("expect_column_values_to_be_between", {"column": "mse", "min_value": 0.0}),
        ("expect_column_values_to_be_between", {"column": "psnr", "min_value": 0.0}),
        *[
            ("expect_column_values_to_not_be_null", {"column": c})
            for c in ("ssim", "mse", "psnr", "image_id", "image_group")
        ],
        ("expect_column_values_to_be_in_set", {"column": "logo_type", "value_set": list(LOGO_TYPES)}),
        ("expect_column_values_to_be_in_set", {"column": "method", "value_set": list(METHODS)}),
        ("expect_column_values_to_be_unique", {"column": "result_id"}),
    ],
)


@dg.asset_check(
    asset=clean_conversion_results,
    name=PASS_RATE_CHECK,
    description=f"At least {MIN_PASS_RATE:.0%} of the results pass cleaning (warns below).",
)
def at_least_95pct_of_results_pass_cleaning(store: DatasetStore) -> dg.AssetCheckResult:
    total, kept = len(store.read(RESULTS)), len(store.read(CLEAN))
    rate = kept / max(total, 1)
    reasons = store.read_rejects(CLEAN.asset).counts_by_reason()
    return dg.AssetCheckResult(
        passed=rate >= MIN_PASS_RATE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "pass_rate": float(round(rate, 6)),
            "results": total,
            "clean": kept,
            "rejects_by_reason": dg.MetadataValue.json(reasons),
        },
    )


@dg.asset_check(asset=quality_dataset_splits, blocking=True)
def cv_folds_grouped_within_train(store: DatasetStore) -> dg.AssetCheckResult:
    """Every train row has a fold in [0, k), every other row -1, and each source image lies in exactly one fold."""
    examples = store.read_table(EXAMPLES)
    k = int(store.read_json(SPLIT_SUMMARY)["cv_folds"])
    train = examples["split"] == "train"
    problems = []
    if k > 1:
        bad = examples[train & ~examples["cv_fold"].between(0, k - 1)]
        if len(bad):
            problems.append(f"{len(bad)} train rows without a fold in [0, {k})")
    bad_other = examples[~train & (examples["cv_fold"] != -1)]
    if len(bad_other):
        problems.append(f"{len(bad_other)} validation/test rows carry a fold")
    spread = examples[train].groupby("image_group")["cv_fold"].nunique()
    if (spread > 1).any():
        problems.append(
            f"{int((spread > 1).sum())} source images span several folds, e.g. {spread[spread > 1].index[:3].tolist()}"
        )
    per_fold = (
        examples[train]
        .groupby("cv_fold")
        .agg(rows=("result_id", "size"), source_images=("image_group", "nunique"))
        .reset_index()
    )
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems) or None,
        metadata={"folds": k, "per_fold": dg.MetadataValue.md(markdown_table(per_fold))},
    )


@dg.asset_check(asset=quality_dataset_splits)
def stratum_proportions_within_tolerance(store: DatasetStore) -> dg.AssetCheckResult:
    """In every stratum (logo type x SSIM bin), each split's share is within tolerance of its target (plus one source
    image's share)."""
    summary = store.read_json(SPLIT_SUMMARY)
    strata = pd.DataFrame(summary["strata"])
    failing = strata[~strata["within_tolerance"].astype(bool)]
    overall = pd.DataFrame(summary["per_split"]).T
    overall_diff = float((overall["row_share"].astype(float) - overall["target"].astype(float)).abs().max())
    return dg.AssetCheckResult(
        passed=failing.empty and overall_diff <= 0.02,
        severity=dg.AssetCheckSeverity.WARN,
        description=None if failing.empty else f"{len(failing)} of {len(strata)} strata outside tolerance",
        metadata={
            "strata": len(strata),
            "strata_outside_tolerance": len(failing),
            "overall_max_difference": overall_diff,
            "worst": dg.MetadataValue.md(
                markdown_table(strata.sort_values("max_difference", ascending=False).head(10))
            ),
        },
    )


@dg.asset_check(
    asset=image_features,
    name=FEATURES_CHECK,
    blocking=True,
    description=f"At least {MIN_FEATURISED_SHARE:.0%} of clean images have a vector, every other one is a reject, and "
    "every value is finite.",
)
def feature_matrix_complete_and_finite(store: DatasetStore) -> dg.AssetCheckResult:
    clean_ids = set(store.read(IMAGES)["image_id"])
    rejected = {r.item for r in store.read_rejects(FEATURES.asset)}
    with FeatureFile(store.pull(current_features(store)[0])) as ff:
        ids = ff.image_ids
        non_finite = sum(int((~np.isfinite(block)).any(axis=1).sum()) for _, block in ff.iter_blocks())
        dim_ok = ff.dim == int(ff.attrs.get("feature_dim", -1))
    featurised = set(ids)
    unaccounted = sorted(clean_ids - featurised - rejected)
    unknown = sorted(featurised - clean_ids)
    share = len(featurised & clean_ids) / max(len(clean_ids), 1)
    problems = []
    if share < MIN_FEATURISED_SHARE:
        problems.append(f"only {share:.1%} of clean images featurised")
    if unaccounted:
        problems.append(f"{len(unaccounted)} clean images neither featurised nor rejected, e.g. {unaccounted[:3]}")
    if unknown:
        problems.append(f"{len(unknown)} vectors for images that are not clean, e.g. {unknown[:3]}")
    if non_finite:
        problems.append(f"{non_finite} vectors hold NaN or inf")
    if not dim_ok or ids != sorted(ids) or len(ids) != len(featurised):
        problems.append("index broken: dimension attribute, sort order or uniqueness of image ids")
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems) or None,
        metadata={
            "clean_images": len(clean_ids),
            "featurised": len(featurised),
            "featurised_share": float(round(share, 6)),
            "rejected": len(rejected),
            "non_finite_vectors": non_finite,
        },
    )


@dg.asset_check(asset=image_features, blocking=False)
def feature_storage_within_budget(context: dg.AssetCheckExecutionContext, store: DatasetStore) -> dg.AssetCheckResult:
    """The seed's storage efficiency, re-measured on the stored files: every byte of the current features dataset (HDF5
    + index) against `max_storage_overhead` (0.5) x the bytes of the raw images it describes. Warns
    (`feature_storage: full` on small images, or too few images for even one PCA component)."""
    manifest = store.manifest(FEATURES.path)
    dataset_bytes = manifest.total_bytes if manifest else 0
    with FeatureFile(store.pull(current_features(store)[0])) as ff:
        ids, storage, dim = ff.image_ids, ff.feature_storage, ff.dim
    root = store.pull(store.read(SOURCE)["local_root"])
    raw = raw_image_bytes([str(root / i) for i in ids])
    run = latest_materialization_metadata(context.instance, image_features.key).get("run_info", {})
    share = float(run.get("max_storage_overhead", 0.5))
    overhead = dataset_bytes / raw if raw else float("inf")
    passed = overhead <= share
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if passed
        else f"features take {overhead:.1%} of the raw image bytes (budget {share:.0%}; stored {storage}, {dim}-d)",
        metadata={
            "feature_dataset_bytes": dataset_bytes,
            "raw_image_bytes": raw,
            "overhead": float(round(overhead, 4)),
            "max_storage_overhead": share,
            "feature_storage": storage,
        },
    )
