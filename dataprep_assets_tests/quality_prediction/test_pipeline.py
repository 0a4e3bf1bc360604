"""The quality_prediction graph end to end on a real Dagster instance: the seed's layout, every check
passing on the sample, every kind of bad input in the rejects, byte-identical cached reruns, a leak
caught by the blocking check (and the report not built), and loud failures on bad input and config."""

import json

import dagster as dg
import h5py
import numpy as np
import pandas as pd
import pytest

from dataprep_assets.defs.quality_prediction.assets import current_features
from dataprep_assets.defs.quality_prediction.datasets import EXAMPLES, REPORT
from dataprep_assets_tests.harness import (
    accounting_gaps,
    config_refusal,
    failure_text,
    group_checks,
    latest_data_versions,
)
from dataprep_assets_tests.quality_prediction.conftest import PARAMS, materialize

CHECK_NAMES = {key.name for check in group_checks("quality_prediction") for key in check.check_keys}
VERSIONED = (
    "conversion_results",
    "clean_conversion_results",
    "quality_dataset_splits",
    "image_features",
    "feature_report",
)


def test_whole_graph_builds_the_seed_layout_and_passes_every_check(built):
    store, instance, result = built
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == dict.fromkeys(CHECK_NAMES, True)

    root = store.local_root()
    for name in ("train", "validation", "test"):
        assert (root / f"data/quality_prediction/datasets/{name}.parquet").exists()
    examples = pd.read_parquet(root / EXAMPLES)
    shares = examples["split"].value_counts(normalize=True)
    assert (
        abs(shares["train"] - 0.80) < 0.02
        and abs(shares["validation"] - 0.15) < 0.02
        and abs(shares["test"] - 0.05) < 0.02
    )
    assert examples.groupby("image_group")["split"].nunique().max() == 1
    twins = examples[examples["image_id"].isin(["images/simple/simple_000.png", "images/simple/simple_000_copy.png"])]
    assert twins["image_id"].nunique() == 2 and twins["split"].nunique() == 1, (
        "one logo under two names is one source image"
    )
    assert set(examples.loc[examples["split"] == "train", "cv_fold"]) == {0, 1, 2, 3, 4}
    assert (examples.loc[examples["split"] != "train", "cv_fold"] == -1).all()
    assert set(examples["logo_type"]) == {"simple", "text", "gradient", "complex"} and set(examples["method"]) == {
        1,
        2,
        3,
    }

    with h5py.File(root / "data/quality_prediction/features/image_stats.h5") as h5:
        features = h5["features"]
        assert features.dtype == np.float16 and features.shape == (examples["image_id"].nunique(), 128)
        assert features.chunks is not None and features.compression == "gzip"
        ids = list(h5["image_ids"].asstr()[:])
        assert ids == sorted(ids) and set(ids) == set(examples["image_id"])
        assert h5.attrs["extractor"] == "image_stats" and h5.attrs["extractor_version"] == "2"
        assert np.isfinite(features[:]).all() and len(h5["feature_names"]) == 128

    report = json.loads((root / REPORT.path).read_text())
    assert report["dataset"]["examples"] == len(examples)
    assert report["features"]["pca"]["components_for_variance"]["90%"] > 1
    probe = report["features"]["linear_probe"]
    assert probe["params_and_image_features"] > probe["params_only"], "image features must add information about SSIM"
    assert len(report["features"]["clustering"]["clusters"]) == 4 and report["recommendations"]


def test_every_record_consuming_asset_accounts_for_its_records(built):
    """Records in = out + rejects (+ set aside), shown by every asset of the group (found in the code location)
    but those listed as consuming no records."""
    _, _, result = built
    assert accounting_gaps("quality_prediction", [result]) == {}


def test_every_kind_of_bad_input_is_a_reject_with_its_reason(built):
    store, _, _ = built
    read = store.read_rejects("conversion_results").to_frame()
    assert set(read["reason"]) == {"unreadable_log", "corrupt_record"}
    assert "results/method1/batch_99.json" in set(read["item"])
    clean = store.read_rejects("clean_conversion_results").to_frame()
    assert set(clean["reason"]) >= {
        "incomplete",
        "corrupt_value",
        "unknown_logo_type",
        "non_finite_metric",
        "metric_out_of_range",
        "parameter_out_of_range",
        "metrics_inconsistent",
        "image_missing",
        "image_unreadable",
        "image_format",
        "duplicate_result",
        "extreme_outlier",
    }
    assert clean.loc[clean["reason"] == "image_format", "detail"].str.contains("BMP").all()
    outliers = clean.loc[clean["reason"] == "extreme_outlier", "detail"].tolist()
    assert len(outliers) == 1 and outliers[0].startswith("ssim=-0.62"), (
        "only the mis-recorded value, not the genuine low tail"
    )
    kept = store.read_table("data/quality_prediction/clean_conversion_results.parquet")
    assert kept["ssim"].min() < 0.4, "genuinely poor conversions stay in the training set"


def test_rerun_is_byte_identical_and_served_from_the_feature_cache(built):
    store, instance, _ = built
    first = latest_data_versions(instance, VERSIONED)
    files = {p: p.read_bytes() for p in sorted(store.local_root().glob("data/quality_prediction/**/*")) if p.is_file()}
    with dg.instance_for_test() as fresh:
        result = materialize(store, fresh, selection=list(VERSIONED))
        again = latest_data_versions(fresh, VERSIONED)
    assert again == first
    assert {p: p.read_bytes() for p in files} == files
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert meta["image_features"]["computed"].value == 0
    assert meta["image_features"]["from_cache"].value == meta["image_features"]["dagster/row_count"].value


def test_a_leak_is_caught_by_the_blocking_check_and_stops_the_report(sample_store, instance):
    """Grouping by file name (as per-file scripts do) lets copies of a logo land in different splits."""
    images = sample_store.path("raw/quality_prediction/images/simple")
    rows = []
    for i in range(12):
        copy = f"images/simple/simple_{i:03d}_renamed.png"
        (sample_store.path("raw/quality_prediction", copy)).write_bytes((images / f"simple_{i:03d}.png").read_bytes())
        rows.append(
            {
                "image_path": copy,
                "logo_type": "simple",
                "method": 3,
                **PARAMS,
                "ssim": 0.9,
                "mse": 100.0,
                "psnr": round(10 * np.log10(255**2 / 100.0), 4),
                "timestamp": "2024-05-25T10:00:00Z",
            }
        )
    pd.DataFrame(rows).to_csv(
        sample_store.path("raw/quality_prediction/results/method3/renamed_copies.csv"), index=False
    )
    by_file = {"ops": {"quality_dataset_splits": {"config": {"group_by": "image_id"}}}}
    result = materialize(sample_store, instance, run_config=by_file, raise_on_error=False)
    leak = [e for e in result.get_asset_check_evaluations() if e.check_name == "no_source_image_in_two_splits"]
    assert len(leak) == 1 and not leak[0].passed and leak[0].metadata["overlapping_groups"].value > 0
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "quality_dataset_splits" in materialized
    # the features are stopped too: their PCA (when the storage budget needs it) is fitted on the train split
    assert "image_features" not in materialized and "feature_report" not in materialized

    # the fix moves source images between splits: an explicit re-split, or the continuity check blocks it
    resplit = {"quality_dataset_splits": {"config": {"resplit": True}}}
    fixed = materialize(sample_store, instance, selection=["quality_dataset_splits"], ops=resplit)
    assert {e.check_name: e.passed for e in fixed.get_asset_check_evaluations()}["no_source_image_in_two_splits"]
    examples = pd.read_parquet(sample_store.path(EXAMPLES))
    assert examples.groupby("image_group")["split"].nunique().max() == 1


def test_missing_results_location_fails_loudly_naming_it(store, instance):
    result = materialize(
        store,
        instance,
        run_config={"ops": {"conversion_results": {"config": {"results_uri": "raw/nowhere"}}}},
        selection=["conversion_results"],
        raise_on_error=False,
    )
    assert not result.success and "results_uri 'raw/nowhere'" in failure_text(result)


def test_only_corrupt_logs_fail_loudly_and_are_rejects(store, instance):
    folder = store.path("raw/quality_prediction/results")
    folder.mkdir(parents=True)
    (folder / "broken.json").write_text('{"results": [')
    (folder / "notes.txt").write_text("experiment notes")
    result = materialize(store, instance, selection=["conversion_results"], raise_on_error=False)
    assert not result.success and "no conversion results found" in failure_text(result)
    reasons = dict(
        zip(
            store.read_rejects("conversion_results").to_frame()["item"],
            store.read_rejects("conversion_results").to_frame()["reason"],
            strict=True,
        )
    )
    assert reasons == {"results/broken.json": "unreadable_log", "results/notes.txt": "unsupported_file"}


def test_resnet50_without_a_weights_file_fails_naming_the_field(built, tmp_path):
    store, _, _ = built
    before = current_features(store)[1].dataset_hash
    with dg.instance_for_test() as instance:
        config = {
            "ops": {
                "image_features": {"config": {"extractor": "resnet50", "weights_path": str(tmp_path / "missing.pth")}}
            }
        }
        result = materialize(store, instance, run_config=config, selection=["image_features"], raise_on_error=False)
    assert not result.success and "weights_path" in failure_text(result) and "missing.pth" in failure_text(result)
    assert current_features(store)[1].dataset_hash == before, "a failed run leaves the current features as they were"


@pytest.mark.parametrize(
    "op, config, message",
    [
        (
            "quality_dataset_splits",
            {"train_fraction": 0.8, "validation_fraction": 0.15, "test_fraction": 0.15},
            "train_fraction + validation_fraction + test_fraction: fractions must sum to 1.0",
        ),
        ("quality_dataset_splits", {"ssim_bins": 0}, "invalid SplitConfig config: ssim_bins: must be >= 1, got 0"),
        ("quality_dataset_splits", {"target_logo_mix": {"simple": -0.1}}, "target_logo_mix.simple: must be >= 0"),
        ("image_features", {"storage_dtype": "float8"}, "storage_dtype"),  # outside the Literal: refused at launch
        ("image_features", {"batch_size": 0}, "batch_size: must be >= 1, got 0"),
        ("image_features", {"max_storage_overhead": 0}, "max_storage_overhead: must be > 0, got 0"),
        ("image_features", {"feature_storage": "zip"}, "feature_storage"),
        ("clean_conversion_results", {"min_image_size": 0}, "min_image_size: must be >= 1, got 0"),
        ("clean_conversion_results", {"outlier_metrics": ["ssim", "lpips"]}, "outlier_metrics: unknown metric(s)"),
        ("conversion_results", {"results_uri": "../outside"}, "results_uri: '../outside' must be relative"),
        ("feature_report", {"clusters": 0}, "clusters: must be >= 1, got 0"),
    ],
)
def test_bad_config_fails_at_once_naming_the_field(built, instance, op, config, message):
    store, _, _ = built
    refusal = config_refusal(
        lambda: materialize(
            store, instance, run_config={"ops": {op: {"config": config}}}, selection=[op], raise_on_error=False
        )
    )
    assert message in refusal
    assert instance.get_latest_materialization_event(dg.AssetKey(op)) is None


def test_results_on_s3_read_like_local_ones(sample_root, store, instance, s3_bucket, s3_env, built):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_env)
    base = sample_root / "raw" / "quality_prediction"
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        client.upload_file(str(path), s3_bucket, f"experiments/{path.relative_to(base).as_posix()}")
    config = {"ops": {"conversion_results": {"config": {"results_uri": f"s3://{s3_bucket}/experiments"}}}}
    result = materialize(
        store, instance, run_config=config, selection=["conversion_results", "clean_conversion_results"]
    )
    local_store, _, _ = built
    for relpath in (
        "data/quality_prediction/conversion_results.parquet",
        "data/quality_prediction/clean_conversion_results.parquet",
    ):
        assert pd.read_parquet(store.path(relpath)).equals(pd.read_parquet(local_store.path(relpath)))
    assert store.path(f"cache/quality_prediction/s3/{s3_bucket}/experiments/images/simple/simple_000.png").exists()
    assert result.success
