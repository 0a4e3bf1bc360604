"""PyTorch side of the quality-prediction training set: a lazy HDF5 `Dataset`, loaders and CV folds.

An example is one conversion result: the input is the image's feature vector (read from the HDF5 file
on demand, never the whole matrix) followed by the standardised vectorizer parameters and a one-hot
mode; the target is the scaled quality metric (SSIM by default). Feature, parameter and target
statistics are computed on the training examples only and reused for validation and test.

    loaders = build_dataloaders("var/store/data/quality_prediction/features/image_stats.h5",
                                "var/store/data/quality_prediction/datasets/examples.parquet")
    for x, y in loaders.train: ...
    for fold, cv in cross_validation_loaders(features, examples): ...

The file is opened lazily in each process (DataLoader workers included); `__getitems__` reads a whole
batch at once, chunk by chunk, so a batch costs one decode per touched HDF5 chunk.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset

from dataprep_assets.ml.featurestore import FeatureFile
from dataprep_assets.ml.vectorizer_params import MODES, PARAM_NAMES

EXAMPLE_COLUMNS = ["result_id", "image_id", "split", "cv_fold", "mode", *PARAM_NAMES, "ssim", "mse", "psnr"]


@dataclass(frozen=True)
class Standardiser:
    """(x - mean) / std per column, clipped to [-clip, clip]; columns with std < 1e-6 map to 0.

    Clipping matters: a feature that is nearly constant in train (a rare colour bin) would otherwise
    blow up to hundreds of standard deviations on a validation image.
    """

    mean: np.ndarray
    std: np.ndarray
    clip: float = 5.0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mean) / self.std
        return (np.clip(z, -self.clip, self.clip) if self.clip > 0 else z).astype(np.float32)

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardiser:
        x = np.asarray(x, dtype=np.float64)
        std = x.std(axis=0) if len(x) else np.ones(x.shape[1])
        return cls(
            x.mean(axis=0).astype(np.float32) if len(x) else np.zeros(x.shape[1], np.float32),
            np.where(std < 1e-6, 1.0, std).astype(np.float32),
        )


@dataclass(frozen=True)
class TargetScaler:
    """`standard` (the loaders' default): train mean/std; `minmax`: train min/max to [0, 1]; `none`: unchanged.

    `inverse` undoes it. Standardising trains better than min/max here: SSIM's long low tail squeezes the
    min/max-scaled targets near 1, and a small MLP then fits train but not validation.
    """

    mode: str
    a: float
    b: float

    def __call__(self, y: np.ndarray) -> np.ndarray:
        return ((np.asarray(y, dtype=np.float64) - self.a) / self.b).astype(np.float32)

    def inverse(self, y: np.ndarray | torch.Tensor):
        return y * self.b + self.a

    @classmethod
    def fit(cls, y: np.ndarray, mode: str = "minmax") -> TargetScaler:
        y = np.asarray(y, dtype=np.float64)
        if mode == "none" or len(y) == 0:
            return cls("none", 0.0, 1.0)
        if mode == "minmax":
            span = float(y.max() - y.min())
            return cls(mode, float(y.min()), span if span > 0 else 1.0)
        if mode == "standard":
            std = float(y.std())
            return cls(mode, float(y.mean()), std if std > 0 else 1.0)
        raise ValueError(f"target_scaling must be minmax, standard or none, got {mode!r}")


@dataclass(frozen=True)
class Normalisation:
    """Everything fitted on the training examples: image features, parameters, target."""

    features: Standardiser
    params: Standardiser
    target: TargetScaler


def image_feature_stats(
    features_path: str | Path, image_ids: Sequence[str], block: int = 1024, clip: float = 5.0
) -> Standardiser:
    """Mean/std of the features of `image_ids` (each image once), streamed from the HDF5 file in blocks."""
    with FeatureFile(features_path) as ff:
        rows = np.unique(ff.rows_of(sorted(set(image_ids))))
        total, total_sq = np.zeros(ff.dim), np.zeros(ff.dim)
        for start in range(0, len(rows), block):
            x = ff.read_rows(rows[start : start + block]).astype(np.float64)
            total += x.sum(axis=0)
            total_sq += (x * x).sum(axis=0)
    n = max(len(rows), 1)
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean**2, 0))
    return Standardiser(mean.astype(np.float32), np.where(std < 1e-6, 1.0, std).astype(np.float32), clip)


def param_matrix(examples: pd.DataFrame) -> np.ndarray:
    """Numeric vectorizer parameters (raw) followed by a one-hot mode."""
    numeric = examples[list(PARAM_NAMES)].to_numpy(dtype=np.float64)
    modes = np.stack([(examples["mode"].astype(str) == m).to_numpy(dtype=np.float64) for m in MODES], axis=1)
    return np.concatenate([numeric, modes], axis=1)


def fit_normalisation(
    features_path: str | Path,
    train: pd.DataFrame,
    target: str = "ssim",
    target_scaling: str = "standard",
    feature_clip: float = 5.0,
) -> Normalisation:
    params = param_matrix(train)
    param_std = Standardiser.fit(params)
    n_numeric = len(PARAM_NAMES)  # one-hot mode columns stay 0/1
    param_std = Standardiser(
        np.concatenate([param_std.mean[:n_numeric], np.zeros(len(MODES), np.float32)]),
        np.concatenate([param_std.std[:n_numeric], np.ones(len(MODES), np.float32)]),
    )
    features = image_feature_stats(features_path, train["image_id"].tolist(), clip=feature_clip)
    return Normalisation(features, param_std, TargetScaler.fit(train[target].to_numpy(), target_scaling))


class QualityPredictionDataset(Dataset):
    """Conversion results as (input vector, scaled target) pairs, image features read lazily from HDF5."""

    def __init__(
        self,
        features_path: str | Path,
        examples: pd.DataFrame,
        normalisation: Normalisation,
        *,
        target: str = "ssim",
        include_params: bool = True,
        cache_bytes: int = 32 << 20,
    ):
        self.features_path = str(features_path)
        self.normalisation = normalisation
        self.include_params = include_params
        self.cache_bytes = cache_bytes
        with FeatureFile(self.features_path) as ff:
            known = set(ff.image_ids)
            missing = sorted(set(examples["image_id"]) - known)
            if missing:
                raise KeyError(
                    f"{len(missing)} example image(s) have no features in {self.features_path}, e.g. {missing[:3]}"
                )
            self.rows = ff.rows_of(examples["image_id"].tolist())
            self.feature_dim = ff.dim
        self.result_ids = examples["result_id"].astype(str).tolist()
        self.params = (
            normalisation.params(param_matrix(examples)) if include_params else np.zeros((len(examples), 0), np.float32)
        )
        self.targets = normalisation.target(examples[target].to_numpy())
        self._file: FeatureFile | None = None

    @property
    def input_dim(self) -> int:
        return self.feature_dim + self.params.shape[1]

    def __len__(self) -> int:
        return len(self.rows)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"] = None  # each worker process opens its own handle
        return state

    def _features(self) -> FeatureFile:
        if self._file is None:
            self._file = FeatureFile(self.features_path, cache_bytes=self.cache_bytes)
        return self._file

    def _inputs(self, indices: np.ndarray) -> np.ndarray:
        x = self.normalisation.features(self._features().read_rows(self.rows[indices]))
        return np.concatenate([x, self.params[indices]], axis=1) if self.include_params else x

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self._inputs(np.array([index]))[0]
        return torch.from_numpy(x), torch.tensor(self.targets[index])

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """A whole batch in one read (the DataLoader calls this instead of `__getitem__` per index)."""
        idx = np.asarray(indices, dtype=np.int64)
        x = torch.from_numpy(self._inputs(idx))
        y = torch.from_numpy(self.targets[idx])
        return list(zip(x, y, strict=True))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def read_examples(examples_path: str | Path) -> pd.DataFrame:
    return pd.read_parquet(examples_path, columns=EXAMPLE_COLUMNS)


@dataclass
class QualityDataLoaders:
    train: DataLoader
    validation: DataLoader
    test: DataLoader
    normalisation: Normalisation
    input_dim: int
    without_features: int = 0
    """Examples left out because their image has no feature vector (an `image_features` reject)."""


def _loader(
    ds: Dataset, batch_size: int, shuffle: bool, num_workers: int, seed: int, prefetch_factor: int
) -> DataLoader:
    extra = (
        {"prefetch_factor": prefetch_factor, "worker_init_fn": _worker_init, "persistent_workers": True}
        if num_workers > 0
        else {}
    )
    return DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
        **extra,
    )


def build_dataloaders(
    features_path: str | Path,
    examples: str | Path | pd.DataFrame,
    *,
    batch_size: int = 64,
    num_workers: int = 2,
    target: str = "ssim",
    target_scaling: str = "standard",
    include_params: bool = True,
    seed: int = 0,
    prefetch_factor: int = 4,
    fold: int | None = None,
    feature_clip: float = 5.0,
) -> QualityDataLoaders:
    """Train (shuffled), validation and test loaders; with `fold`, train = train minus that fold, validation = that
    fold.

    Examples whose image has no feature vector are left out and counted in `without_features`.
    """
    frame = examples if isinstance(examples, pd.DataFrame) else read_examples(examples)
    with FeatureFile(features_path) as ff:
        featured = frame["image_id"].isin(set(ff.image_ids))
    frame = frame[featured]  # results of images whose features were rejected (see the image_features rejects)
    if fold is None:
        parts = {name: frame[frame["split"] == name] for name in ("train", "validation", "test")}
    else:
        train = frame[frame["split"] == "train"]
        if fold not in set(train["cv_fold"]):
            raise ValueError(f"fold {fold} not found; folds are {sorted(set(train['cv_fold']))}")
        parts = {
            "train": train[train["cv_fold"] != fold],
            "validation": train[train["cv_fold"] == fold],
            "test": frame[frame["split"] == "test"],
        }
    if parts["train"].empty:
        raise ValueError("no training examples")
    norm = fit_normalisation(features_path, parts["train"], target, target_scaling, feature_clip)
    sets = {
        name: QualityPredictionDataset(features_path, part, norm, target=target, include_params=include_params)
        for name, part in parts.items()
    }
    loaders = {
        name: _loader(ds, batch_size, name == "train", num_workers, seed, prefetch_factor) for name, ds in sets.items()
    }
    return QualityDataLoaders(
        loaders["train"], loaders["validation"], loaders["test"], norm, sets["train"].input_dim, int((~featured).sum())
    )


def cross_validation_loaders(
    features_path: str | Path, examples: str | Path | pd.DataFrame, **kwargs
) -> Iterator[tuple[int, QualityDataLoaders]]:
    """One `QualityDataLoaders` per fold (statistics refitted on each fold's training part)."""
    frame = examples if isinstance(examples, pd.DataFrame) else read_examples(examples)
    for fold in sorted(int(f) for f in frame.loc[frame["split"] == "train", "cv_fold"].unique() if f >= 0):
        yield fold, build_dataloaders(features_path, frame, fold=fold, **kwargs)


LOADER_TARGETS = {"ms_per_batch": 100.0, "peak_rss_mib": 2048.0, "examples_per_minute": 1000.0}
"""The seed's data-loader targets: <= 100 ms per batch, <= 2 GB peak memory, >= 1,000 examples per minute."""


def measure_loader(
    features_path: str | Path,
    examples: str | Path | pd.DataFrame,
    *,
    batch_size: int = 64,
    num_workers: int = 0,
    max_batches: int = 200,
) -> dict:
    """One pass of the train loader over the materialized dataset (at most `max_batches` batches): ms per batch
    (mean and max), examples per minute and peak resident memory of this process, beside the seed's targets."""
    import time

    from dataprep_assets.lib.memory import PeakMemory

    with PeakMemory() as peak:
        loaders = build_dataloaders(features_path, examples, batch_size=batch_size, num_workers=num_workers)
        times, seen = [], 0
        started = time.perf_counter()
        for i, (x, _) in enumerate(loaders.train):
            now = time.perf_counter()
            times.append(now - started)
            seen += len(x)
            started = now
            if i + 1 >= max_batches:
                break
    total = sum(times)
    figures = {
        "batches": len(times),
        "batch_size": batch_size,
        "num_workers": num_workers,
        "examples": seen,
        "ms_per_batch_mean": round(1000 * total / max(len(times), 1), 2),
        "ms_per_batch_max": round(1000 * max(times, default=0.0), 2),
        "examples_per_minute": round(60 * seen / total, 1) if total > 0 else 0.0,
        "peak_rss_mib": round(peak.self_mb, 1),
    }
    figures["meets_targets"] = bool(
        figures["ms_per_batch_mean"] <= LOADER_TARGETS["ms_per_batch"]
        and figures["peak_rss_mib"] <= LOADER_TARGETS["peak_rss_mib"]
        and figures["examples_per_minute"] >= LOADER_TARGETS["examples_per_minute"]
    )
    return figures
