"""Shared quality_prediction fixtures: the generated sample (made once per worker) and one fully built store."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.quality_prediction import assets as qp_assets
from dataprep_assets.defs.quality_prediction import checks as qp_checks
from dataprep_assets.sample_data.quality_prediction import generate

ASSETS = [
    qp_assets.conversion_results,
    qp_assets.clean_conversion_results,
    qp_assets.quality_dataset_splits,
    qp_assets.image_features,
    qp_assets.feature_report,
    qp_assets.inspection_sample,
]
CHECKS = [
    qp_checks.clean_results_valid,
    qp_checks.at_least_95pct_of_results_pass_cleaning,
    qp_checks.no_source_image_in_two_splits,
    qp_checks.cv_folds_grouped_within_train,
    qp_checks.stratum_proportions_within_tolerance,
    qp_checks.feature_matrix_complete_and_finite,
]


FAST_FEATURES = {"extractor": "image_stats"}
"""The 120-logo tests run the offline fallback extractor (ResNet-50 on CPU costs ~0.1-1 s per logo); the
default, ResNet-50, runs end to end through every asset in `test_resnet.py` on a handful of logos."""


def materialize(store, instance, run_config=None, selection=None, raise_on_error=True, features=None):
    run_config = dict(run_config or {})
    ops = dict(run_config.get("ops", {}))
    if selection is None or "image_features" in selection:
        ops.setdefault("image_features", {"config": dict(FAST_FEATURES if features is None else features)})
    run_config["ops"] = ops
    return dg.materialize(
        ASSETS + CHECKS,
        instance=instance,
        resources={"store": store},
        run_config=run_config,
        selection=selection,
        raise_on_error=raise_on_error,
    )


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    return " ".join(str(e.step_failure_data.error.message) for e in result.all_events if e.is_step_failure)


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory) -> Path:
    """The default sample (120 logos, ~1,200 results, every kind of bad input), generated once."""
    root = tmp_path_factory.mktemp("qp_sample")
    generate(root)
    return root


@pytest.fixture
def sample_store(sample_root, store_root) -> LocalDatasetStore:
    """A fresh store holding a copy of the sample under raw/quality_prediction/."""
    shutil.copytree(sample_root / "raw", store_root / "raw")
    return LocalDatasetStore(root=str(store_root))


@pytest.fixture(scope="session")
def built(sample_root, tmp_path_factory):
    """One store where the whole graph and every check ran (read-only for the tests that use it)."""
    root = tmp_path_factory.mktemp("qp_built")
    shutil.copytree(sample_root / "raw", root / "raw")
    store = LocalDatasetStore(root=str(root))
    with dg.instance_for_test() as instance:
        result = materialize(store, instance)
        yield store, instance, result
