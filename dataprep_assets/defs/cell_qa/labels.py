"""Label-image arithmetic: dense relabelling, overlaps, per-cell Jaccard and the CTC SEG score.

Everything is computed from one pass over the pixels (`bincount` on paired labels), never with a
per-cell `labels == id` mask. Labels may be uint8/uint16/int32, non-contiguous, and may have no
background pixel at all; label 0 is background by the Cell Tracking Challenge convention.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

_DENSE_LUT_LIMIT = 1 << 24
_DENSE_PAIR_LIMIT = 1 << 22


class LabelImageError(ValueError):
    """A label image that cannot be interpreted (float values, negative labels, wrong rank)."""


@dataclass(frozen=True)
class Cells:
    """The cells of a label image, dense cell i+1 being the i-th smallest non-zero label."""

    ids: np.ndarray
    """Original label of dense cell i+1 (length n)."""
    areas: np.ndarray
    """Pixel count of dense cell i+1 (length n)."""

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class DenseLabels(Cells):
    dense: np.ndarray = field(kw_only=True)
    """Same shape as the input; 0 = background, 1..n = cells in increasing original-label order."""


@dataclass(frozen=True)
class CellPixels(Cells):
    """The cells as lists of their pixels: what boxes, masks and overlaps need, without a relabelled image."""

    shape: tuple[int, int] = field(kw_only=True)
    pixels: np.ndarray = field(kw_only=True)
    """Flat index of every foreground pixel, cell after cell (dense order), in raster order within a cell."""

    @functools.cached_property
    def rows_cols(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each entry of `pixels`."""
        return np.divmod(self.pixels, self.shape[1])

    @property
    def starts(self) -> np.ndarray:
        """Where each cell's pixels start in `pixels` (length n + 1, the last = number of foreground pixels)."""
        return np.concatenate([[0], np.cumsum(self.areas)])


def _checked(labels: np.ndarray) -> np.ndarray:
    """The label image as integers, or a `LabelImageError` saying why it cannot be one (negatives: by the caller)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise LabelImageError(f"label image must be 2-D, got shape {labels.shape}")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise LabelImageError("label image has non-integer values")
        labels = labels.astype(np.int64)
    elif labels.dtype.kind not in "iub":
        raise LabelImageError(f"label image has unsupported dtype {labels.dtype}")
    if labels.size == 0:
        raise LabelImageError("label image is empty (0 pixels)")
    return labels


def _refuse_negative(values: np.ndarray) -> None:
    """`values` holds every negative label of the image (all non-zero pixels, or the whole image)."""
    if values.dtype.kind == "i" and len(values) and values.min() < 0:
        raise LabelImageError(f"label image has negative labels (min {int(values.min())})")


def cell_pixels(labels: np.ndarray) -> CellPixels:
    """The cells of `labels` (same dense numbering and areas as `relabel`) from one pass over the image: only
    the foreground pixels are gathered, counted and grouped by cell (a stable radix sort of their dense labels)."""
    labels = _checked(labels)
    flat = labels.ravel()
    pixels = np.nonzero(flat != 0)[0]  # ~3x faster than np.flatnonzero on uint16 (same indices)
    values = flat[pixels]
    _refuse_negative(values)
    max_label = int(values.max()) if len(values) else 0
    if max_label < _DENSE_LUT_LIMIT:
        counts = np.bincount(values, minlength=max_label + 1)
        ids = np.flatnonzero(counts)
        areas = counts[ids]
        if len(ids) == max_label:  # already 1..n
            dense = values
        else:
            lut = np.zeros(max_label + 1, dtype=np.int32)
            lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
            dense = lut[values]
    else:
        ids, inverse, areas = np.unique(values, return_inverse=True, return_counts=True)
        dense = inverse + 1
    key = dense.astype(np.uint16) if len(ids) < 1 << 16 else dense.astype(np.int64)  # 16 bits: radix sort
    order = np.argsort(key, kind="stable")
    return CellPixels(ids.astype(np.int64), areas.astype(np.int64), shape=labels.shape, pixels=pixels[order])


def relabel(labels: np.ndarray) -> DenseLabels:
    """Map arbitrary integer labels to 1..n (0 stays background)."""
    labels = _checked(labels)
    if labels.dtype.kind == "i" and labels.min() < 0:
        raise LabelImageError(f"label image has negative labels (min {int(labels.min())})")
    flat = labels.ravel()
    max_label = int(flat.max())
    if max_label < _DENSE_LUT_LIMIT:
        counts = np.bincount(flat, minlength=max_label + 1)
        counts[0] = 0
        ids = np.flatnonzero(counts)
        areas = counts[ids]
        if len(ids) == max_label:  # already 1..n: no remapping pass needed
            dense = flat
        else:
            lut = np.zeros(max_label + 1, dtype=np.int32)
            lut[ids] = np.arange(1, len(ids) + 1, dtype=np.int32)
            dense = lut[flat]
    else:
        uniq, inverse, counts = np.unique(flat, return_inverse=True, return_counts=True)
        has_background = uniq[0] == 0
        dense = (inverse + (0 if has_background else 1)).astype(np.int32)
        ids, areas = (uniq[1:], counts[1:]) if has_background else (uniq, counts)
    return DenseLabels(ids.astype(np.int64), areas.astype(np.int64), dense=dense.reshape(labels.shape))


Triplets = tuple[np.ndarray, np.ndarray, np.ndarray]


def overlap_triplets(a: DenseLabels, b: DenseLabels) -> Triplets:
    """(cell of a, cell of b, shared pixels) for every pair of cells that overlap; 1-based dense ids."""
    if a.dense.shape != b.dense.shape:
        raise LabelImageError(f"shape mismatch: {a.dense.shape} vs {b.dense.shape}")
    both = (a.dense > 0) & (b.dense > 0)
    av = a.dense[both].astype(np.int64)
    bv = b.dense[both].astype(np.int64)
    width = b.count + 1
    codes = av * width + bv
    if (a.count + 1) * width <= _DENSE_PAIR_LIMIT:
        counts = np.bincount(codes, minlength=(a.count + 1) * width)
        pairs = np.flatnonzero(counts)
        shared = counts[pairs]
    else:
        pairs, shared = np.unique(codes, return_counts=True)
    return pairs // width, pairs % width, shared.astype(np.int64)


def pixel_overlap_triplets(a: CellPixels, b: DenseLabels) -> Triplets:
    """`overlap_triplets` of the cells of `a` (as pixel lists) and `b`: one histogram of (cell of a, cell of b)
    over a's foreground pixels only, in the same order (by a, then b)."""
    if a.shape != b.dense.shape:
        raise LabelImageError(f"shape mismatch: {a.shape} vs {b.dense.shape}")
    width = b.count + 1
    under = b.dense.ravel()[a.pixels]
    if (a.count + 1) * width > _DENSE_PAIR_LIMIT:
        cells = np.repeat(np.arange(1, a.count + 1), a.areas)
        hit = under > 0
        pairs, shared = np.unique(cells[hit] * width + under[hit].astype(np.int64), return_counts=True)
        return pairs // width, pairs % width, shared.astype(np.int64)
    codes = np.repeat(np.arange(1, a.count + 1) * width, a.areas)
    np.add(codes, under, out=codes, casting="unsafe")  # dense labels of b are < width
    joint = np.bincount(codes, minlength=(a.count + 1) * width).reshape(a.count + 1, width)[1:, 1:]
    pa, gb = np.nonzero(joint)  # row-major: ordered by (a, b), as `overlap_triplets`' codes are
    return pa + 1, gb + 1, joint[pa, gb].astype(np.int64)


def _overlap(pred: Cells, gt: Cells) -> Triplets:
    if not isinstance(gt, DenseLabels):
        raise TypeError("the ground truth must be a DenseLabels (relabel) to compute overlaps from")
    return pixel_overlap_triplets(pred, gt) if isinstance(pred, CellPixels) else overlap_triplets(pred, gt)  # pyright: ignore[reportArgumentType]  # Cells is DenseLabels or CellPixels


@dataclass(frozen=True)
class CellMatch:
    gt_label: np.ndarray
    """Original ground-truth label matched to each predicted cell, 0 where it overlaps none."""
    jaccard: np.ndarray
    """IoU with that ground-truth cell, 0.0 where it overlaps none."""


def match_cells(pred: Cells, gt: Cells, overlap: Triplets | None = None) -> CellMatch:
    """For each predicted cell, the ground-truth cell it overlaps most (ties: lowest label) and their IoU.

    `overlap` is `overlap_triplets(pred, gt)` when the caller already has it.
    """
    pa, gb, shared = overlap if overlap is not None else _overlap(pred, gt)
    gt_label = np.zeros(pred.count, dtype=np.int64)
    jaccard = np.zeros(pred.count, dtype=np.float64)
    if len(pa):
        order = np.lexsort((gb, -shared, pa))
        first = order[np.r_[True, pa[order][1:] != pa[order][:-1]]]
        p, g, s = pa[first] - 1, gb[first] - 1, shared[first]
        gt_label[p] = gt.ids[g]
        jaccard[p] = s / (pred.areas[p] + gt.areas[g] - s)
    return CellMatch(gt_label, jaccard)


@dataclass(frozen=True)
class SegScore:
    seg: float
    """Mean Jaccard over ground-truth cells (unmatched ones count 0); NaN if there are none."""
    gt_cells: int
    matched: int


def seg_score(pred: Cells, gt: Cells, overlap: Triplets | None = None) -> SegScore:
    """The Cell Tracking Challenge SEG measure for one image.

    A ground-truth cell matches the predicted cell that covers more than half of it (at most one
    can); its score is their Jaccard index, 0 if nothing matches.
    """
    if gt.count == 0:
        return SegScore(float("nan"), 0, 0)
    pa, gb, shared = overlap if overlap is not None else _overlap(pred, gt)
    hit = 2 * shared > gt.areas[gb - 1]
    p, g, s = pa[hit] - 1, gb[hit] - 1, shared[hit]
    scores = np.zeros(gt.count, dtype=np.float64)
    scores[g] = s / (pred.areas[p] + gt.areas[g] - s)
    return SegScore(float(scores.mean()), int(gt.count), int(hit.sum()))
