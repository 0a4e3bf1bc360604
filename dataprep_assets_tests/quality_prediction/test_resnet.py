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
    out = extractor.encode(batch)
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
                    "feature_storage": "full",  # no split yet: the full vectors, whatever the budget
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
    # full 2048-d vectors of 9 small logos: complete, but over the seed's storage budget (a warning)
    assert checks == {"feature_matrix_complete_and_finite": True, "feature_storage_within_budget": False}
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


def test_default_config_runs_resnet50_end_to_end_within_the_storage_budget(store_root, instance):
    """With torch installed and no weights file, the defaults pick ResNet-50 with seeded random weights saved in
    torchvision's layout. 2048 float16 values per 128x128 logo do not fit the seed's <= 50% of the raw image bytes,
    so `feature_storage: auto` stores PCA scores (fitted on train) with as many components as fit: the budget is
    met on the files written, the loader reads the stored scores, the fidelity cost is in the metadata, and a rerun
    (every vector served from the shared vector cache) is byte-identical."""
    generate(
        store_root,
        seed=3,
        type_counts={"simple": 8, "text": 8, "gradient": 8, "complex": 8},
        settings_per_method=(1, 1, 1),
        defects=False,
    )
    store = LocalDatasetStore(root=str(store_root))
    ops = {"image_features": {"config": {"batch_size": 8, "torch_threads": 2}}}
    result = materialize(store, instance, default_ops=ops)
    assert result.success
    meta = {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    features = meta["image_features"]
    assert (
        features["extractor"] == "resnet50 v1"
        and features["source_feature_dim"] == 2048
        and features["weights"].startswith("random (seed 0")
    )
    weights = store.path("models/quality_prediction/resnet50_random_seed0.pth")
    assert set(torch.load(weights, weights_only=True)) == set(ResNet50().state_dict())

    # the budget, met on the bytes on disk
    folder = store.path("data/quality_prediction/features")
    path = folder / "resnet50.h5"
    images = store.read_table("data/quality_prediction/images.parquet")["image_id"]
    raw = sum(store.path("raw/quality_prediction", i).stat().st_size for i in images)
    on_disk = path.stat().st_size + (folder / "resnet50_index.parquet").stat().st_size
    k = features["stored_feature_dim"]
    assert features["feature_storage"] == "pca" and 2 <= k < 2048, features
    assert features["raw_image_bytes"] == raw and features["feature_dataset_bytes"] == on_disk
    assert features["feature_storage_within_budget"] and on_disk <= 0.5 * raw
    budget_check = [e for e in result.get_asset_check_evaluations() if e.check_name == "feature_storage_within_budget"]
    assert budget_check[0].passed and budget_check[0].metadata["raw_image_bytes"].value == raw
    assert features["feature_storage_overhead"] == pytest.approx(on_disk / raw, abs=1e-4)
    assert 0 < features["feature_storage_overhead_matrix_only"] < features["feature_storage_overhead"]
    assert 0 < features["pca_explained_variance_train"] <= 1
    fidelity = features["feature_fidelity"]
    assert {"validation_r2_params_and_full_features", "validation_r2_params_and_stored"} <= set(fidelity)
    with h5py.File(path) as h5:
        assert h5["features"].dtype == np.float16 and h5["features"].shape == (32, k)
        assert h5["projection/components"].shape == (k, 2048) and h5.attrs["feature_storage"] == "pca"

    # fidelity: the reconstruction of two logos against their exact float32 ResNet-50 features
    ids = sorted(images)[:2]
    from dataprep_assets.lib.rgb import load_rgb

    exact = ResNet50Extractor(weights).encode(
        np.stack([load_rgb(str(store.path("raw/quality_prediction", i)), 224) for i in ids])
    )
    with FeatureFile(path) as ff:
        stored, rebuilt = ff.read_rows(ff.rows_of(ids)), ff.reconstruct(ff.rows_of(ids))
    assert stored.shape == (2, k) and rebuilt.shape == (2, 2048)
    bound = features["pca_max_abs_reconstruction_error"] + features["storage_max_abs_error_vs_float32"] + 1e-3
    assert float(np.abs(rebuilt - exact).max()) <= bound

    # the seed's loader reads the stored scores
    from dataprep_assets.ml.quality_prediction import build_dataloaders
    from dataprep_assets.ml.vectorizer_params import MODES, PARAM_NAMES

    loaders = build_dataloaders(path, store.path("data/quality_prediction/datasets/examples.parquet"), num_workers=0)
    x, _ = next(iter(loaders.train))
    assert x.shape[1] == loaders.input_dim == k + len(PARAM_NAMES) + len(MODES)

    # a rerun is byte-identical, every vector served from the vector cache
    before = path.read_bytes()
    assert any(store.path("cache/quality_prediction/vectors").rglob("*.npy"))
    with dg.instance_for_test() as fresh:
        again = materialize(store, fresh, default_ops=ops, selection=["image_features"])
    rerun = {e.asset_key.to_user_string(): e.materialization.metadata for e in again.get_asset_materialization_events()}
    assert rerun["image_features"]["computed"].value == 0 and rerun["image_features"]["from_cache"].value == 32
    assert path.read_bytes() == before

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
