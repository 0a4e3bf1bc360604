"""Shared quality_prediction fixtures: the generated sample (made once per worker) and one fully built store."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.sample_data.quality_prediction import generate
from dataprep_assets_tests.harness import runner

PARAMS = {  # one vectorizer setting of the seed's parameter grid
    "color_precision": 6,
    "layer_difference": 16,
    "filter_speckle": 4,
    "corner_threshold": 60,
    "length_threshold": 4.0,
    "max_iterations": 10,
    "splice_threshold": 45,
    "path_precision": 3,
    "mode": "spline",
}

FAST_FEATURES = {"extractor": "image_stats"}
"""The 120-logo tests run the offline fallback extractor (ResNet-50 on CPU costs ~0.1-1 s per logo); the
default, ResNet-50, runs end to end through every asset in `test_resnet.py` on a handful of logos."""

materialize = runner("quality_prediction", default_ops={"image_features": {"config": FAST_FEATURES}})
"""The quality_prediction graph (without its card) and every one of its checks, on a real instance."""


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
