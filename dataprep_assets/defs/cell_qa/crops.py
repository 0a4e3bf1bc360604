"""Fixed-size, cell-centred crops of a raw image and a cell's mask, stacked as 2-channel images.

All crops of one label image are cut in one gather from a sliding-window view of the padded arrays;
a box that runs over the border is padded with zeros, never shifted or dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

from dataprep_assets.defs.cell_qa.labels import CellPixels, DenseLabels


@dataclass(frozen=True)
class CellBoxes:
    bbox: np.ndarray
    """(n, 4) bounding boxes as y0, x0, y1, x1 (exclusive ends)."""
    origin: np.ndarray
    """(n, 2) top-left corner (y, x) of each crop in image coordinates (may be negative)."""
    truncated: np.ndarray
    """(n,) True where the cell's bounding box is larger than the crop."""


def cell_boxes(cells: DenseLabels | CellPixels, crop_size: int) -> CellBoxes:
    """Bounding boxes of every cell and the crop window centred on each box."""
    if isinstance(cells, CellPixels):
        return _boxes(_pixel_bbox(cells), crop_size)
    slices = ndimage.find_objects(cells.dense, max_label=cells.count)
    bbox = np.array([(s[0].start, s[1].start, s[0].stop, s[1].stop) for s in slices], dtype=np.int64).reshape(-1, 4)
    return _boxes(bbox, crop_size)


def _pixel_bbox(cells: CellPixels) -> np.ndarray:
    """(n, 4) boxes from the pixel lists: a cell's pixels are in raster order, so its first and last give the rows."""
    if cells.count == 0:
        return np.zeros((0, 4), dtype=np.int64)
    ys, xs = cells.rows_cols
    starts = cells.starts
    first, last = starts[:-1], starts[1:] - 1
    return np.stack(
        [ys[first], np.minimum.reduceat(xs, first), ys[last] + 1, np.maximum.reduceat(xs, first) + 1], axis=1
    ).astype(np.int64)


def _boxes(bbox: np.ndarray, crop_size: int) -> CellBoxes:
    centre = (bbox[:, :2] + bbox[:, 2:]) // 2
    origin = centre - crop_size // 2
    extent = bbox[:, 2:] - bbox[:, :2]
    return CellBoxes(bbox, origin, (extent > crop_size).any(axis=1))  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar


def crop_windows(
    image: np.ndarray, cells: DenseLabels, origin: np.ndarray, crop_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n, S, S) raw crops and (n, S, S) boolean masks of each cell (True inside), zero-padded at borders."""
    n = len(origin)
    if n == 0:
        empty = np.zeros((0, crop_size, crop_size))
        return empty.astype(image.dtype), empty.astype(bool)
    window = (crop_size, crop_size)
    y, x = origin[:, 0] + crop_size, origin[:, 1] + crop_size  # offsets into the padded arrays
    raw = sliding_window_view(np.pad(image, crop_size), window)[y, x]
    labels = sliding_window_view(np.pad(cells.dense, crop_size), window)[y, x]
    return raw, labels == np.arange(1, n + 1, dtype=labels.dtype)[:, None, None]


def stacked_crops(image: np.ndarray, cells: DenseLabels, origin: np.ndarray, crop_size: int) -> np.ndarray:
    """(n, 2, S, S) array: channel 0 the raw crop, channel 1 the cell's binary mask (1 inside)."""
    raw, mask = crop_windows(image, cells, origin, crop_size)
    out = np.empty((len(raw), 2, crop_size, crop_size), dtype=image.dtype)
    out[:, 0] = raw
    out[:, 1] = mask
    return out


def padded(image: np.ndarray, crop_size: int) -> np.ndarray:
    """`image` inside a zero border of `crop_size` (what `np.pad(image, crop_size)` gives): cut once per frame."""
    out = np.zeros((image.shape[0] + 2 * crop_size, image.shape[1] + 2 * crop_size), dtype=image.dtype)
    out[crop_size:-crop_size, crop_size:-crop_size] = image
    return out


def pixel_crops(
    padded_image: np.ndarray, cells: CellPixels, origin: np.ndarray, crop_size: int, truncated: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """`crop_windows` for cells as pixel lists: the raw crops in one gather from the padded image, each mask from
    the cell's own pixels scattered into a zeroed stack. Pixels outside their crop (cells larger than the crop) are
    dropped; `truncated` (`CellBoxes.truncated`), when given and all False, says there are none to look for."""
    n, size = cells.count, crop_size
    y, x = origin[:, 0] + size, origin[:, 1] + size  # offsets into the padded image
    raw = sliding_window_view(padded_image, (size, size))[y, x]
    masks = np.zeros((n, size, size), dtype=bool)
    if n:
        ys, xs = cells.rows_cols
        at = ys * size
        at += xs
        at += np.repeat((np.arange(n) * size - origin[:, 0]) * size - origin[:, 1], cells.areas)  # cell's block
        if truncated is None or truncated.any():
            ry, rx = ys - np.repeat(origin[:, 0], cells.areas), xs - np.repeat(origin[:, 1], cells.areas)
            at = at[(ry >= 0) & (ry < size) & (rx >= 0) & (rx < size)]
        masks.reshape(-1)[at] = True
    return raw, masks
