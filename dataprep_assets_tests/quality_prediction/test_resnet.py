"""The ResNet-50 path is real: our plain-PyTorch ResNet-50 has torchvision's exact state-dict layout
(so a user's ImageNet weights file loads strictly), features are the 2048-d pooled activations, and
the `image_features` asset runs it from a local weights file (randomly initialised here) into HDF5."""

import hashlib

import dagster as dg
import h5py
import numpy as np
import pytest
import torch

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.quality_prediction.assets import current_features
from dataprep_assets.ml.featurestore import FeatureFile
from dataprep_assets.ml.resnet import IMAGENET_MEAN, IMAGENET_STD, ResNet50, ResNet50Extractor, load_resnet50
from dataprep_assets.sample_data.quality_prediction import DRAW, generate
from dataprep_assets_tests.quality_prediction.conftest import materialize

# sha256 of "key:shape" lines of torchvision.models.resnet50().state_dict() (torchvision 0.29.1), and its parameter
# count.
TORCHVISION_LAYOUT_SHA256 = "781bb16f43b8f96f5f2ada850a89ff3e7a89c845484027404ea1ba359f00987a"
TORCHVISION_PARAMETERS = 25_557_032


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet50_random.pth"
    torch.save(ResNet50().state_dict(), path)
    return path


def test_state_dict_layout_is_torchvisions_resnet50():
    state = ResNet50().state_dict()
    layout = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in state.items())
    assert hashlib.sha256(layout.encode()).hexdigest() == TORCHVISION_LAYOUT_SHA256
    assert sum(p.numel() for p in ResNet50().parameters()) == TORCHVISION_PARAMETERS
    assert len(state) == 320 and "layer4.2.bn3.running_var" in state and "layer1.0.downsample.0.weight" in state


def test_weights_load_strictly_and_features_are_the_pooled_2048_activations(weights_file):
    rng = np.random.default_rng(0)
    batch = np.stack([np.asarray(DRAW[t](rng).resize((224, 224))) for t in ("simple", "complex")])
    extractor = ResNet50Extractor(weights_file, threads=2)
    out = extractor.extract(batch)
    assert out.shape == (2, 2048) and out.dtype == np.float32 and np.isfinite(out).all() and (out >= 0).all()
    model = load_resnet50(weights_file)
    x = (
        torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    ) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.flatten(
            model.avgpool(
                model.layer4(
                    model.layer3(model.layer2(model.layer1(model.maxpool(model.relu(model.bn1(model.conv1(x)))))))
                )
            ),
            1,
        )
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-4, atol=1e-5)
    assert not np.allclose(out[0], out[1]), "different logos, different features"


def test_wrapped_or_prefixed_checkpoints_load_and_broken_ones_fail(weights_file, tmp_path):
    state = torch.load(weights_file, weights_only=True)
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, tmp_path / "wrapped.pth")
    assert isinstance(load_resnet50(tmp_path / "wrapped.pth"), ResNet50)
    torch.save({k: v for k, v in state.items() if not k.startswith("fc.")}, tmp_path / "headless.pth")
    with pytest.raises(RuntimeError, match="fc.weight"):
        load_resnet50(tmp_path / "headless.pth")
    with pytest.raises(FileNotFoundError, match="torch.save"):
        load_resnet50(tmp_path / "nope.pth")


def test_image_features_asset_runs_resnet50_from_a_local_weights_file(weights_file, store_root, instance):
    generate(
        store_root,
        seed=2,
        type_counts={"simple": 3, "text": 2, "gradient": 2, "complex": 2},
        settings_per_method=(1, 1, 1),
        defects=False,
    )
    store = LocalDatasetStore(root=str(store_root))
    config = {
        "ops": {
            "image_features": {
                "config": {
                    "extractor": "resnet50",
                    "weights_path": str(weights_file),
                    "batch_size": 4,
                    "torch_threads": 2,
                }
            }
        }
    }
    selection = ["conversion_results", "clean_conversion_results", "image_features"]
    result = materialize(store, instance, run_config=config, selection=selection)
    checks = {
        e.check_name: e.passed
        for e in result.get_asset_check_evaluations()
        if e.asset_key == dg.AssetKey("image_features")
    }
    assert checks == {"feature_matrix_complete_and_finite": True}
    path = store.path("data/quality_prediction/features/resnet50.h5")
    with h5py.File(path) as h5:
        assert h5["features"].shape == (9, 2048) and h5["features"].chunks == (32, 2048)
        assert h5.attrs["extractor"] == "resnet50" and '"weights"' in h5.attrs["extractor_fingerprint"]
    assert current_features(store)[0] == "data/quality_prediction/features/resnet50.h5"

    again = materialize(store, instance, run_config=config, selection=["image_features"])
    meta = {e.asset_key.to_user_string(): e.materialization.metadata for e in again.get_asset_materialization_events()}[
        "image_features"
    ]
    assert meta["from_cache"].value == 9 and meta["computed"].value == 0
    with FeatureFile(path) as ff:
        assert np.isfinite(ff.read_rows(np.arange(len(ff)))).all()


def test_default_config_runs_resnet50_end_to_end_with_float16_storage(store_root, instance):
    """With torch installed and no weights file, the defaults pick ResNet-50 with seeded random weights saved in
    torchvision's layout; features are stored as float16 (error vs float32 and the storage overhead measured),
    and the report carries permutation importance, the time estimate and the loader figures."""
    generate(
        store_root,
        seed=3,
        type_counts={"simple": 4, "text": 4, "gradient": 4, "complex": 4},
        settings_per_method=(2, 2, 2),
        defects=False,
    )
    store = LocalDatasetStore(root=str(store_root))
    result = materialize(
        store, instance, default_ops={"image_features": {"config": {"batch_size": 8, "torch_threads": 2}}}
    )
    assert result.success
    meta = {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    features = meta["image_features"]
    assert (
        features["extractor"] == "resnet50 v1"
        and features["feature_dim"] == 2048
        and features["weights"].startswith("random (seed 0")
    )
    weights = store.path("models/quality_prediction/resnet50_random_seed0.pth")
    assert set(torch.load(weights, weights_only=True)) == set(ResNet50().state_dict())

    path = store.path("data/quality_prediction/features/resnet50.h5")
    with h5py.File(path) as h5:
        assert h5["features"].dtype == np.float16 and h5["features"].shape == (16, 2048)
        assert h5.attrs["storage_dtype"] == "float16"
    # the float16 error is what the metadata says: recompute the float32 features of two logos and compare
    ids = sorted(store.read_table("data/quality_prediction/images.parquet")["image_id"])[:2]
    from dataprep_assets.defs.quality_prediction.logos import load_rgb

    exact = ResNet50Extractor(weights).extract(
        np.stack([load_rgb(str(store.path("raw/quality_prediction", i)), 224) for i in ids])
    )
    with FeatureFile(path) as ff:
        stored = ff.read_rows(ff.rows_of(ids))
    assert stored.dtype == np.float32
    error = float(np.abs(stored - exact).max())
    assert 0 < error <= features["storage_max_abs_error_vs_float32"] * 1.01 + 1e-4
    assert (
        features["storage_max_abs_error_vs_float32"] <= features["storage_max_abs_value"] / 1000
    )  # float16: ~3 significant digits
    raw = sum(
        store.path("raw/quality_prediction", i).stat().st_size
        for i in store.read_table("data/quality_prediction/images.parquet")["image_id"]
    )
    assert features["raw_image_bytes"] == raw and features["feature_storage_overhead"] == pytest.approx(
        path.stat().st_size / raw, rel=1e-3
    )

    report = meta["feature_report"]
    assert (
        "r2_drop" in report["permutation_importance"] and "image_features (all PCs)" in report["permutation_importance"]
    )
    assert "10000" in report["processing_time_estimate"] and "100000" in report["processing_time_estimate"]
    loader = report["loader_figures"]
    assert (
        loader["batches"] > 0
        and loader["examples"] > 0
        and loader["ms_per_batch_mean"] > 0
        and loader["targets"]["ms_per_batch"] == 100.0
    )
