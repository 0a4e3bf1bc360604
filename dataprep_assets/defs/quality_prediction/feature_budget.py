"""The seed's storage budget for image features ("<= 50% overhead vs raw images"), met by construction.

`feature_storage`: `full` keeps the extractor's vectors; `pca` stores PCA scores (projection fitted on the train
split's images only) with as many components as fit the budget; `auto` keeps the full vectors when they fit and
reduces them otherwise. The budget is `max_storage_overhead` x the bytes of the raw images, and it counts every
byte of the features dataset (the HDF5 file and its index), measured on the files written, never estimated.

What reducing costs is measured, not assumed: the explained variance on train, the largest and RMS
reconstruction error against the full stored vectors, and the validation R^2 of a ridge regression of SSIM on the
parameters plus the full vs the reduced image features (fitted on train).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dataprep_assets.defs.quality_prediction import analysis
from dataprep_assets.ml.feature_pca import fit_projection, largest_fitting, write_reduced
from dataprep_assets.ml.featurestore import FeatureFile
from dataprep_assets.ml.vectorizer_params import PARAM_NAMES

STORAGE_MODES = ("auto", "full", "pca")
WRITER_ATTRS = {"feature_dim", "format_version", "storage_dtype", "feature_storage"}
"""Attributes the writer sets itself (the rest are carried from the full file: extractor, fingerprint, size)."""
FEATURE_CLIP = 5.0


@dataclass
class StorageOutcome:
    mode: str
    """What was stored: `full` or `pca`."""
    source_dim: int
    components: int
    budget_bytes: int
    """Bytes the whole features dataset may take: max_storage_overhead x raw image bytes."""
    dataset_bytes: int
    """Bytes it takes: the HDF5 file plus the other files of the dataset (the index)."""
    matrix_bytes: int
    """Bytes of the stored feature matrix alone (what grows with the number of images)."""
    raw_image_bytes: int
    images: int
    train_images: int = 0
    explained_variance_train: float = 1.0
    max_abs_reconstruction_error: float = 0.0
    rms_reconstruction_error: float = 0.0
    probes: dict[int, int] = field(default_factory=dict)

    @property
    def budget_met(self) -> bool:
        return self.dataset_bytes <= self.budget_bytes

    def metadata(self) -> dict:
        raw = max(self.raw_image_bytes, 1)
        pca = {
            "pca_train_images": self.train_images,
            "pca_explained_variance_train": round(self.explained_variance_train, 6),
            "pca_max_abs_reconstruction_error": round(self.max_abs_reconstruction_error, 6),
            "pca_rms_reconstruction_error": round(self.rms_reconstruction_error, 6),
        }
        return {
            "feature_storage": self.mode,
            "stored_feature_dim": self.components,
            "source_feature_dim": self.source_dim,
            "raw_image_bytes": self.raw_image_bytes,
            "feature_dataset_bytes": self.dataset_bytes,
            "feature_storage_budget_bytes": self.budget_bytes,
            "feature_bytes_per_image": round(self.dataset_bytes / max(self.images, 1), 1),
            "feature_matrix_bytes_per_image": round(self.matrix_bytes / max(self.images, 1), 1),
            "feature_storage_overhead": round(self.dataset_bytes / raw, 4),
            "feature_storage_overhead_matrix_only": round(self.matrix_bytes / raw, 4),
            "feature_storage_within_budget": self.budget_met,
            **(pca if self.mode == "pca" else {}),
        }


def raw_image_bytes(paths: list[str]) -> int:
    """Bytes of the raw image files (missing ones count 0)."""
    return sum(Path(p).stat().st_size for p in paths if isinstance(p, str) and Path(p).is_file())


def budget_bytes(raw_image_bytes: int, max_overhead: float) -> int:
    if max_overhead <= 0:
        raise ValueError(f"max_storage_overhead must be > 0, got {max_overhead}")
    return int(np.floor(max_overhead * raw_image_bytes))


def matrix_bytes(path: Path) -> int:
    with FeatureFile(path) as ff:
        return int(ff.features.id.get_storage_size())  # pyright: ignore[reportAttributeAccessIssue]  # h5py types File[...] as Group | Dataset | Datatype


def store_within_budget(
    full_path: Path,
    out_path: Path,
    *,
    train_ids: list[str],
    raw_image_bytes: int,
    other_bytes: int,
    mode: str,
    max_overhead: float,
    compression: str,
    storage_dtype: str,
) -> StorageOutcome:
    """Move the full vectors to `out_path`, or write PCA scores there (largest k whose dataset fits the budget).

    `other_bytes`: the dataset's other files (the index), counted against the budget. The full file is left in
    place when the scores are written (the caller deletes it: the full vectors stay in the vector cache).
    """
    if mode not in STORAGE_MODES:
        raise ValueError(f"feature_storage must be one of {STORAGE_MODES}, got {mode!r}")
    budget = budget_bytes(raw_image_bytes, max_overhead)
    full_bytes = os.path.getsize(full_path)
    with FeatureFile(full_path) as ff:
        n, dim = len(ff), ff.dim
        trainable = len(set(train_ids) & set(ff.image_ids)) >= 2  # auto keeps the full vectors when PCA cannot fit
        if mode == "pca" or (mode == "auto" and full_bytes + other_bytes > budget and trainable):
            return _reduce(ff, out_path, train_ids, raw_image_bytes, other_bytes, budget, compression, storage_dtype)
        full_matrix = int(ff.features.id.get_storage_size())  # pyright: ignore[reportAttributeAccessIssue]  # h5py types File[...] as Group | Dataset | Datatype
    os.replace(full_path, out_path)
    return StorageOutcome("full", dim, dim, budget, full_bytes + other_bytes, full_matrix, raw_image_bytes, n)


def _reduce(
    ff: FeatureFile,
    out_path: Path,
    train_ids: list[str],
    raw_image_bytes: int,
    other_bytes: int,
    budget: int,
    compression: str,
    storage_dtype: str,
) -> StorageOutcome:
    known = set(ff.image_ids)
    rows = ff.rows_of(sorted(i for i in set(train_ids) if i in known))
    if len(rows) < 2:
        raise ValueError(
            f"feature_storage pca fits its projection on the train split's images: {len(rows)} have features "
            "(need >= 2); use feature_storage: full"
        )
    projection = fit_projection(ff, rows)
    attrs = {k: v for k, v in ff.attrs.items() if k not in WRITER_ATTRS}
    write = {"attrs": attrs, "compression": compression, "storage_dtype": storage_dtype}
    choice = largest_fitting(
        lambda k: write_reduced(ff, out_path, projection, k, **write).file_bytes + other_bytes,
        budget,
        projection.max_components,
    )
    final = write_reduced(ff, out_path, projection, choice.components, measure_error=True, **write)
    return StorageOutcome(
        "pca",
        ff.dim,
        final.components,
        budget,
        final.file_bytes + other_bytes,
        matrix_bytes(out_path),
        raw_image_bytes,
        len(ff),
        train_images=len(rows),
        explained_variance_train=float(projection.explained_variance_ratio[: final.components].sum()),
        max_abs_reconstruction_error=final.max_abs_reconstruction_error,
        rms_reconstruction_error=final.rms_reconstruction_error,
        probes=choice.probes,
    )


def _image_part(ff: FeatureFile, part: pd.DataFrame, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    x = ff.read_rows(ff.rows_of(part["image_id"].tolist()))
    return np.clip((x - mean) / std, -FEATURE_CLIP, FEATURE_CLIP)


def ridge_fidelity(full_path: Path, stored_path: Path, examples: pd.DataFrame) -> dict[str, float | str]:
    """Validation R^2 of ridge regressions of SSIM (alpha 1, fitted on train) on the parameters alone, plus the
    full image features, plus the stored ones; image features standardised with train statistics (per image)."""
    with FeatureFile(full_path) as full, FeatureFile(stored_path) as stored:
        known = set(full.image_ids) & set(stored.image_ids)
        featured = examples[examples["image_id"].isin(known)]
        train, val = featured[featured["split"] == "train"], featured[featured["split"] == "validation"]
        if len(train) < 10 or len(val) < 2:
            return {"note": "too few examples for a ridge comparison"}
        p_mean = train[list(PARAM_NAMES)].to_numpy(float).mean(axis=0)
        p_std = np.maximum(train[list(PARAM_NAMES)].to_numpy(float).std(axis=0), 1e-9)
        y_train, y_val = train["ssim"].to_numpy(float), val["ssim"].to_numpy(float)
        out: dict[str, float | str] = {}
        for name, ff in (("params_only", None), ("params_and_full_features", full), ("params_and_stored", stored)):
            parts = {"train": None, "validation": None}
            if ff is not None:
                per_image = ff.read_rows(ff.rows_of(sorted(set(train["image_id"])))).astype(np.float64)
                mean, std = per_image.mean(axis=0), per_image.std(axis=0)
                std = np.where(std < 1e-6, 1.0, std)
                parts = {"train": _image_part(ff, train, mean, std), "validation": _image_part(ff, val, mean, std)}
            x_train = analysis.design_matrix(train, parts["train"], p_mean, p_std)
            x_val = analysis.design_matrix(val, parts["validation"], p_mean, p_std)
            out[f"validation_r2_{name}"] = round(analysis.ridge_r2(x_train, y_train, x_val, y_val), 6)
    out["model"] = "ridge (alpha 1) of SSIM on train, R^2 on validation"
    return out
