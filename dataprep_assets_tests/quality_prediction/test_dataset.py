"""The PyTorch side over the generated files: `QualityPredictionDataset` reads HDF5 lazily (also in
DataLoader worker processes), normalises with train-only statistics, batches match single reads,
cross-validation folds are the asset's folds, and a tiny MLP actually learns SSIM from it."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dataprep_assets.ml.featurestore import FeatureFile
from dataprep_assets.ml.quality_prediction import (
    QualityPredictionDataset,
    TargetScaler,
    build_dataloaders,
    cross_validation_loaders,
    fit_normalisation,
    read_examples,
)


@pytest.fixture(scope="module")
def files(built):
    store, _, _ = built
    return store.path("data/quality_prediction/features/image_stats.h5"), store.path(
        "data/quality_prediction/datasets/examples.parquet"
    )


def test_dataset_opens_the_file_lazily_and_pickles_without_a_handle(files):
    features, examples_path = files
    examples = read_examples(examples_path)
    train = examples[examples["split"] == "train"]
    ds = QualityPredictionDataset(features, train, fit_normalisation(features, train))
    assert ds._file is None and len(ds) == len(train) and ds.input_dim == 128 + 8 + 3
    x, y = ds[0]
    assert ds._file is not None and x.shape == (139,) and x.dtype == torch.float32 and y.ndim == 0
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._file is None
    torch.testing.assert_close(clone[5][0], ds[5][0])
    ds.close()


def test_batched_reads_equal_single_reads(files):
    features, examples_path = files
    examples = read_examples(examples_path)
    ds = QualityPredictionDataset(
        features, examples, fit_normalisation(features, examples[examples["split"] == "train"])
    )
    idx = [17, 3, 900, 3, 250]
    batch = ds.__getitems__(idx)
    for i, (x, y) in zip(idx, batch, strict=True):
        torch.testing.assert_close(x, ds[i][0])
        torch.testing.assert_close(y, ds[i][1])


def test_normalisation_comes_from_train_only(files):
    features, examples_path = files
    examples = read_examples(examples_path)
    train = examples[examples["split"] == "train"]
    norm = fit_normalisation(features, train, target_scaling="minmax")
    with FeatureFile(features) as ff:
        train_rows = ff.read_rows(ff.rows_of(sorted(set(train["image_id"])))).astype(np.float64)
        all_rows = ff.read_rows(np.arange(len(ff))).astype(np.float64)
    np.testing.assert_allclose(norm.features.mean, train_rows.mean(axis=0), rtol=1e-4, atol=1e-6)
    assert not np.allclose(norm.features.mean, all_rows.mean(axis=0), rtol=1e-4, atol=1e-6)
    assert norm.target == TargetScaler(
        "minmax", float(train["ssim"].min()), float(train["ssim"].max() - train["ssim"].min())
    )
    assert np.allclose(norm.target.inverse(norm.target(train["ssim"].to_numpy())), train["ssim"].to_numpy(), atol=1e-6)
    val = QualityPredictionDataset(features, examples[examples["split"] == "validation"], norm)
    xs = torch.stack([val[i][0] for i in range(len(val))])
    assert xs[:, :128].abs().max() <= 5.0, "standardised features are clipped"


def test_examples_without_features_are_refused_by_the_dataset_and_left_out_by_the_loaders(files):
    features, examples_path = files
    examples = read_examples(examples_path)
    orphans = examples.head(3).assign(image_id="images/none.png", result_id=lambda f: f["result_id"] + "_orphan")
    with pytest.raises(KeyError, match="none.png"):
        QualityPredictionDataset(features, orphans, fit_normalisation(features, examples.head(50)))
    loaders = build_dataloaders(features, pd.concat([examples, orphans]), num_workers=0)
    assert loaders.without_features == 3
    assert sum(len(d.dataset) for d in (loaders.train, loaders.validation, loaders.test)) == len(examples)


def test_dataloader_with_worker_processes_trains_a_tiny_mlp(files):
    features, examples_path = files
    loaders = build_dataloaders(features, examples_path, batch_size=32, num_workers=2, seed=0)
    serial = build_dataloaders(features, examples_path, batch_size=32, num_workers=0, seed=0)
    for (xa, ya), (xb, yb) in zip(loaders.validation, serial.validation, strict=True):
        torch.testing.assert_close(xa, xb)
        torch.testing.assert_close(ya, yb)
    sizes = [len(loaders.train.dataset), len(loaders.validation.dataset), len(loaders.test.dataset)]
    assert sizes == [int((read_examples(examples_path)["split"] == s).sum()) for s in ("train", "validation", "test")]

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(loaders.input_dim, 64), nn.ReLU(), nn.Linear(64, 1))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.MSELoss()

    def validation_loss() -> float:
        with torch.no_grad():
            losses = [(loss_fn(model(x).squeeze(1), y).item(), len(y)) for x, y in loaders.validation]
        return sum(loss * n for loss, n in losses) / sum(n for _, n in losses)

    before = validation_loss()
    for _ in range(4):
        for x, y in loaders.train:
            optimiser.zero_grad()
            loss_fn(model(x).squeeze(1), y).backward()
            optimiser.step()
    after = validation_loss()
    assert after < before / 3, f"validation MSE {before:.4f} -> {after:.4f}"
    spread = loaders.validation.dataset.targets.var()
    assert after < spread, "better than predicting the mean"


def test_cross_validation_loaders_follow_the_asset_folds(files):
    features, examples_path = files
    examples = read_examples(examples_path)
    train = examples[examples["split"] == "train"]
    seen = {}
    for fold, cv in cross_validation_loaders(features, examples, num_workers=0, batch_size=64):
        held_out = set(cv.validation.dataset.result_ids)
        assert held_out == set(train.loc[train["cv_fold"] == fold, "result_id"])
        assert not held_out & set(cv.train.dataset.result_ids)
        seen[fold] = cv.normalisation.target
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert len({(t.a, t.b) for t in seen.values()}) > 1, "statistics are refitted per fold"
    with pytest.raises(ValueError, match="fold 9"):
        build_dataloaders(features, examples, fold=9, num_workers=0)


def test_target_scalers_round_trip():
    y = np.array([0.3, 0.6, 0.9])
    for mode in ("minmax", "standard", "none"):
        scaler = TargetScaler.fit(y, mode)
        assert np.allclose(scaler.inverse(scaler(y)), y)
    assert np.allclose(TargetScaler.fit(y, "minmax")(y), [0, 0.5, 1])
    with pytest.raises(ValueError, match="target_scaling"):
        TargetScaler.fit(y, "log")
