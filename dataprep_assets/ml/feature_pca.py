"""PCA-reduced feature storage under a byte budget: fit on chosen rows, keep the most components that fit.

The projection is fitted on the training rows only (exact and deterministic: a symmetric eigendecomposition of
the covariance, or of the Gram matrix when there are fewer rows than dimensions, with a fixed sign per
component), so validation and test vectors never shape it. Every row (train, validation, test) is then stored as
its k scores `(x - mean) @ components.T` in an HDF5 file that also holds the projection (`featurestore.py`).

The number of components is the largest whose *written* file fits the byte budget: a size model from two probe
files gives a first guess, then real files are written until k fits and k + 1 does not (or k is all there is).
The budget is therefore met by construction, measured on the bytes actually on disk, never on an estimate.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dataprep_assets.ml.featurestore import FeatureFile, FeatureWriter

BLOCK_ROWS = 1024
RELATIVE_RANK_TOL = 1e-10


@dataclass(frozen=True)
class Projection:
    """Mean (d,), orthonormal components (r, d) largest variance first, their share of the fitted rows' variance."""

    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray
    fitted_rows: int

    @property
    def max_components(self) -> int:
        return int(self.components.shape[0])

    def truncated(self, k: int) -> dict[str, np.ndarray]:
        """The first k components as `FeatureWriter`'s `projection` argument."""
        return {
            "mean": self.mean.astype(np.float32),
            "components": self.components[:k].astype(np.float32),
            "explained_variance_ratio": self.explained_variance_ratio[:k].astype(np.float32),
        }


def fit_projection(ff: FeatureFile, rows: Sequence[int] | np.ndarray) -> Projection:
    """PCA of the stored vectors of `rows` (centred, not scaled: it minimises the reconstruction error in the
    features' own units). Components with (numerically) zero variance are dropped."""
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    n, d = len(rows), ff.dim
    if n < 2:
        raise ValueError(f"PCA needs at least 2 training vectors, got {n}")
    x_sum = np.zeros(d)
    for start in range(0, n, BLOCK_ROWS):
        x_sum += ff.read_rows(rows[start : start + BLOCK_ROWS]).astype(np.float64).sum(axis=0)
    mean = x_sum / n
    if n < d:  # the Gram matrix: the same non-zero spectrum at O(n^2 d)
        x = ff.read_rows(rows).astype(np.float64) - mean
        values, u = np.linalg.eigh(x @ x.T / n)
        order = np.argsort(values)[::-1]
        values, u = np.maximum(values[order], 0.0), u[:, order]
        keep = values > RELATIVE_RANK_TOL * max(float(values.max(initial=0.0)), 1e-300)
        values, vectors = values[keep], (x.T @ u[:, keep]) / np.sqrt(n * values[keep])
        total = float((x * x).sum() / n)
    else:
        cov = np.zeros((d, d))
        for start in range(0, n, BLOCK_ROWS):
            block = ff.read_rows(rows[start : start + BLOCK_ROWS]).astype(np.float64) - mean
            cov += block.T @ block
        cov /= n
        values, vectors = np.linalg.eigh(cov)
        order = np.argsort(values)[::-1]
        values, vectors = np.maximum(values[order], 0.0), vectors[:, order]
        keep = values > RELATIVE_RANK_TOL * max(float(values.max(initial=0.0)), 1e-300)
        values, vectors = values[keep], vectors[:, keep]
        total = float(np.trace(cov))
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    vectors = vectors * np.where(signs == 0, 1.0, signs)
    ratios = values / total if total > 0 else np.zeros_like(values)
    return Projection(mean.astype(np.float32), vectors.T.astype(np.float32), ratios, n)


@dataclass
class ReducedWrite:
    components: int
    file_bytes: int
    max_abs_reconstruction_error: float
    """Largest |reconstructed - stored full vector| over every row and dimension (scores and components as stored)."""
    rms_reconstruction_error: float


def write_reduced(
    full: FeatureFile,
    out_path: Path,
    projection: Projection,
    k: int,
    *,
    attrs: dict,
    compression: str = "gzip",
    storage_dtype: str = "float16",
    measure_error: bool = False,
) -> ReducedWrite:
    """Every row of `full` as its first k PCA scores, with the projection, in a new feature file."""
    k = max(1, min(k, projection.max_components))
    truncated = projection.truncated(k)
    basis = truncated["components"].astype(storage_dtype).astype(np.float32)  # as stored
    mean = truncated["mean"].astype(storage_dtype).astype(np.float32)  # centre on the stored mean: exact inverse
    ids, hashes = full.image_ids, full.content_hashes()
    worst, sq, count = 0.0, 0.0, 0
    with FeatureWriter(
        out_path,
        dim=k,
        attrs={**attrs, "source_feature_dim": full.dim, "projection_fitted_rows": projection.fitted_rows},
        compression=compression,
        feature_names=[f"pc{i + 1}" for i in range(k)],
        storage_dtype=storage_dtype,
        projection=truncated,
        expected_rows=len(full),
    ) as writer:
        for start, block in full.iter_blocks(BLOCK_ROWS):
            scores = (block - mean) @ truncated["components"].T
            writer.append(ids[start : start + len(block)], hashes[start : start + len(block)], scores)
            if measure_error:
                stored = scores.astype(storage_dtype).astype(np.float32)
                error = stored @ basis + mean - block
                worst = max(worst, float(np.abs(error).max(initial=0.0)))
                sq += float((error.astype(np.float64) ** 2).sum())
                count += error.size
    return ReducedWrite(k, os.path.getsize(out_path), worst, float(np.sqrt(sq / max(count, 1))))


@dataclass
class BudgetChoice:
    components: int
    file_bytes: int
    fits: bool
    """False only when even one component does not fit (the fixed costs alone exceed the budget)."""
    probes: dict[int, int]
    """Bytes of each file written on the way (components -> bytes)."""


def largest_fitting(size_of: Callable[[int], int], budget_bytes: int, max_k: int) -> BudgetChoice:
    """The largest k in [1, max_k] with size_of(k) <= budget_bytes, assuming size grows with k: two probes give
    a per-component cost, then exact sizes walk to the boundary (k fits, k + 1 does not)."""
    probes: dict[int, int] = {}

    def size(k: int) -> int:
        if k not in probes:
            probes[k] = size_of(k)
        return probes[k]

    if size(1) > budget_bytes:
        return BudgetChoice(1, size(1), False, probes)
    if max_k == 1:
        return BudgetChoice(1, size(1), True, probes)
    per_component = max(size(2) - size(1), 1)
    k = int(np.clip(1 + (budget_bytes - size(1)) // per_component, 1, max_k))
    while size(k) > budget_bytes:  # too many: step down by the overshoot (at least one)
        k = max(1, k - max(1, -(-(size(k) - budget_bytes) // per_component)))
    while k < max_k and size(k + 1) <= budget_bytes:  # room left: step up by what is left (at least one)
        k = min(max_k, k + max(1, (budget_bytes - size(k)) // per_component))
        while size(k) > budget_bytes:
            k -= 1
    return BudgetChoice(k, size(k), True, probes)
