"""Per-frame work of `cell_crops`: read, validate, match cells, cut crops, write them.

`process_frame` is a pure function of one frame's files, run in worker processes; it writes its
crops straight into the staging directory and returns, per competitor, a small columnar table, the
SEG score and the rejects. Cell ids are stable (`<dataset>_<seq>_t<frame>_<competitor>_<label>`), so a
cell keeps its id when other frames are added.

Incremental: each (frame, competitor) result is keyed by the content of the raw frame, the ground
truth and the competitor's mask, the crop settings and `CODE_VERSION` (`lib.itemcache`). The worker
stores what it computed; the asset restores hits and sends only misses to the workers.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from dataprep_assets.defs.cell_qa.crops import cell_boxes, padded, pixel_crops
from dataprep_assets.defs.cell_qa.datasets import CROPS
from dataprep_assets.defs.cell_qa.inventory import crop_stem
from dataprep_assets.defs.cell_qa.labels import (
    LabelImageError,
    cell_pixels,
    match_cells,
    pixel_overlap_triplets,
    relabel,
    seg_score,
)
from dataprep_assets.lib.compute import fresh_output, use_malloc_ceilings
from dataprep_assets.lib.itemcache import ItemCache
from dataprep_assets.lib.limits import ImageTooLargeError, check_pixels
from dataprep_assets.lib.rejects import Reject
from dataprep_assets.lib.storage import UnsafePathError, child_path, safe_join
from dataprep_assets.lib.tiffs import TiffWriter, read_plain_tiff

CODE_VERSION = "cell_crops/2"
"""Bump when a change to this module changes its output bytes: every cached result is then recomputed."""
STACKS_DIR = "stacks"
LAYOUTS = ("tiff_per_cell", "stacked")
_WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="crop-writer")
"""Writes a competitor's stack while the next one is computed (numpy releases the GIL while writing)."""


@dataclass(frozen=True)
class FrameTask:
    frame_key: str
    original_image_key: str
    dataset: str
    sequence: str
    frame: int
    raw_path: str
    gt_path: str
    competitors: tuple[tuple[str, str], ...]
    """(competitor, mask path) pairs, store-relative."""
    cache_keys: tuple[str, ...] = ()
    """Cache key per competitor (same order); empty: nothing is cached."""
    crop_stems: tuple[tuple[str, str], ...] = ()
    """(competitor, crop file stem) pairs from the inventory (unique names); empty: derived from the names."""


@dataclass
class CompetitorOutput:
    """One competitor's share of a frame: its cells (columns), SEG row, rejects and files written."""

    competitor: str
    cells: dict[str, np.ndarray] | None = None
    seg: dict | None = None
    rejects: list[Reject] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def to_cache(self) -> dict:
        """JSON-able, without the cells: the cache keeps them as the item's rows (`put(..., rows=self.cells)`)."""
        seg = None if self.seg is None else [[k, v] for k, v in self.seg.items()]
        return {"competitor": self.competitor, "seg": seg, "rejects": [r.__dict__ for r in self.rejects]}

    @classmethod
    def from_cache(cls, payload: dict) -> CompetitorOutput:
        """The output `to_cache` stored, without its cells (the cached item's `rows`)."""
        seg = None if payload["seg"] is None else dict(payload["seg"])
        return cls(payload["competitor"], None, seg, [Reject(**r) for r in payload["rejects"]])


@dataclass
class FrameResult:
    outputs: list[CompetitorOutput] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    """Frame-level rejects (raw or ground truth unusable)."""


def crop_ref(relpath: str, index: int | None = None) -> str:
    """The `stacked_crop_path` value: a file path, or `<stack>.npy#<row>` in the stacked layout."""
    return relpath if index is None else f"{relpath}#{index}"


def load_crop(root: str | Path, ref: str) -> np.ndarray:
    """Read one (2, S, S) crop back from either layout."""
    path, _, index = ref.partition("#")
    target = safe_join(root, path)
    if index:
        raw = np.load(target, mmap_mode="r")[int(index)]
        bits = np.load(mask_stack_path(target), mmap_mode="r")[int(index)]
        return np.stack([raw, np.unpackbits(bits, axis=-1, count=raw.shape[-1]).astype(raw.dtype)])
    return tifffile.imread(target)


def mask_stack_path(raw_stack: Path) -> Path:
    """The stacked layout keeps the mask channel bit-packed beside the raw crops: `<stem>.mask.npy`."""
    return raw_stack.with_name(raw_stack.name.removesuffix(".npy") + ".mask.npy")


def read_tiff(path: Path) -> np.ndarray:
    """`tifffile.imread` that refuses a first series over `lib.limits.MAX_IMAGE_PIXELS` before decoding it (a
    plain one-page file read directly, `lib.tiffs.read_plain_tiff`: the same array, without tifffile's parsing)."""
    plain = read_plain_tiff(path, check=lambda height, width: check_pixels(height, width, name=path.name))
    if plain is not None:
        return plain
    with tifffile.TiffFile(path) as tif:
        shape = tif.series[0].shape
        check_pixels(int(np.prod(shape[:-1])) if len(shape) > 1 else 1, int(shape[-1]), name=path.name)  # pyright: ignore[reportGeneralTypeIssues]  # tifffile types a series' shape as an empty tuple
        return tif.asarray()


def _read_labels(root: Path, relpath: str, stage: str, rejects: list[Reject], parse=relabel):
    try:
        return parse(read_tiff(safe_join(root, relpath)))
    except ImageTooLargeError as exc:
        rejects.append(Reject(relpath, stage, exc.reason, str(exc)))
    except UnsafePathError as exc:
        rejects.append(Reject(relpath, stage, "unsafe_path", str(exc).replace(str(root), "<store>")))
    except LabelImageError as exc:
        rejects.append(Reject(relpath, stage, "invalid_labels", str(exc)))
    except Exception as exc:  # unreadable/truncated TIFF: any decoder error is a reject
        rejects.append(Reject(relpath, stage, "unreadable_tiff", f"{type(exc).__name__}: {exc}"))
    return None


def process_frame(
    task: FrameTask, root: str, staging: str, crop_size: int, layout: str, cache: ItemCache | None = None
) -> FrameResult:
    """Crops, Jaccard and SEG for every competitor of one frame (each stored in `cache` when given)."""
    use_malloc_ceilings()  # a frame's temporaries reuse the last frame's memory instead of faulting it in anew
    root_path, out = Path(root), FrameResult()
    try:
        raw = read_tiff(safe_join(root_path, task.raw_path))
        if raw.ndim != 2:
            raise ValueError(f"raw frame must be 2-D, got shape {raw.shape}")
    except ImageTooLargeError as exc:
        out.rejects.append(Reject(task.raw_path, "read_raw", exc.reason, str(exc)))
        return out
    except UnsafePathError as exc:
        out.rejects.append(Reject(task.raw_path, "read_raw", "unsafe_path", str(exc).replace(root, "<store>")))
        return out
    except Exception as exc:
        out.rejects.append(Reject(task.raw_path, "read_raw", "unreadable_tiff", f"{type(exc).__name__}: {exc}"))
        return out
    gt = _read_labels(root_path, task.gt_path, "read_ground_truth", out.rejects)
    if gt is None:
        return out
    if gt.dense.shape != raw.shape:
        out.rejects.append(
            Reject(
                task.gt_path, "read_ground_truth", "shape_mismatch", f"ground truth {gt.dense.shape} vs raw {raw.shape}"
            )
        )
        return out
    if gt.count == 0:
        out.rejects.append(Reject(task.gt_path, "read_ground_truth", "empty_mask", "ground truth has no cells"))
        return out
    writes, padded_raw = [], None
    for competitor, mask_path in task.competitors:
        output = CompetitorOutput(competitor)
        out.outputs.append(output)
        pred = _read_labels(root_path, mask_path, "read_competitor_mask", output.rejects, parse=cell_pixels)
        if pred is None:
            continue
        if pred.shape != raw.shape:
            output.rejects.append(
                Reject(mask_path, "read_competitor_mask", "shape_mismatch", f"mask {pred.shape} vs raw {raw.shape}")
            )
            continue
        overlap = pixel_overlap_triplets(pred, gt)
        score = seg_score(pred, gt, overlap)
        output.seg = {
            "frame_key": task.frame_key,
            "original_image_key": task.original_image_key,
            "competitor": competitor,
            "gt_cells": score.gt_cells,
            "matched_gt_cells": score.matched,
            "predicted_cells": pred.count,
            "seg": score.seg,
        }
        if pred.count == 0:
            output.rejects.append(
                Reject(mask_path, "read_competitor_mask", "empty_mask", f"{competitor} found no cells (SEG 0)")
            )
            continue
        if padded_raw is None:  # one zero-bordered copy of the frame for all its competitors' crops
            padded_raw = padded(raw, crop_size)
        output.cells = _crop_competitor(
            task,
            competitor,
            padded_raw,
            pred,
            match_cells(pred, gt, overlap),
            Path(staging),
            crop_size,
            layout,
            writes,
            output.files,
        )
    for write in writes:
        write.result()  # every crop of the frame is on disk (or its error raised) before the frame counts as done
    if cache is not None and task.cache_keys:
        for output, key in zip(out.outputs, task.cache_keys, strict=True):
            cache.put(key, {name: Path(staging) / name for name in output.files}, output.to_cache(), rows=output.cells)
    return out


def _crop_competitor(
    task, competitor, padded_raw, pred, match, staging: Path, crop_size: int, layout: str, writes: list, files: list
) -> dict[str, np.ndarray]:
    boxes = cell_boxes(pred, crop_size)
    stem = dict(task.crop_stems).get(competitor) or crop_stem(task.dataset, task.sequence, task.frame, competitor)
    cell_ids = np.array([f"{stem}_{label:05d}" for label in pred.ids.tolist()], dtype=object)
    if layout == "stacked":
        rel = f"{STACKS_DIR}/{stem}.npy"
        target = child_path(staging, rel)  # our own staging folder: a lexical check, no realpath
        crops, masks = pixel_crops(padded_raw, pred, boxes.origin, crop_size, boxes.truncated)
        writes.append(_WRITER.submit(_save_stack, target, crops, np.packbits(masks, axis=-1)))
        files += [rel, mask_stack_path(Path(rel)).as_posix()]
        paths = np.array([crop_ref(f"{CROPS.path}/{rel}", i) for i in range(len(crops))], dtype=object)
    else:
        raw, masks = pixel_crops(padded_raw, pred, boxes.origin, crop_size, boxes.truncated)
        crops = np.empty((len(raw), 2, crop_size, crop_size), dtype=raw.dtype)  # what `stacked_crops` returns
        crops[:, 0] = raw
        crops[:, 1] = masks
        names = [f"{cell_id}.tif" for cell_id in cell_ids.tolist()]
        if "/" in stem:  # every name is the stem plus `_<digits>.tif`: checking the stem checks them all
            raise UnsafePathError(f"crop stem {stem!r} is not a plain file name")
        child_path(staging, f"{stem}.tif")
        paths = np.array([crop_ref(f"{CROPS.path}/{name}") for name in names], dtype=object)
        if names and child_path(staging, names[0]).exists():  # a rerun (its worker died)
            for name in names:
                fresh_output(child_path(staging, name))
        writer = crop_tiff_writer(crops.shape[1:], crops.dtype)
        folder = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        try:  # each file opened relative to the folder: no per-file path resolution
            writer.write_stack(names, crops, dir_fd=folder)
        finally:
            os.close(folder)
        files += names
    n = pred.count
    repeat = lambda v: np.full(n, v, dtype=object)  # noqa: E731
    return {
        "cell_id": cell_ids,
        "stacked_crop_path": paths,
        "original_image_key": repeat(task.original_image_key),
        "frame_key": repeat(task.frame_key),
        "competitor": repeat(competitor),
        "cell_label": pred.ids,
        "gt_label": match.gt_label,
        "cell_jaccard": match.jaccard,
        "area": pred.areas,
        "bbox_y0": boxes.bbox[:, 0],
        "bbox_x0": boxes.bbox[:, 1],
        "bbox_y1": boxes.bbox[:, 2],
        "bbox_x1": boxes.bbox[:, 3],
        "crop_y0": boxes.origin[:, 0],
        "crop_x0": boxes.origin[:, 1],
        "crop_truncated": boxes.truncated,
    }


def _save_stack(target: Path, crops: np.ndarray, mask_bits: np.ndarray) -> None:
    np.save(fresh_output(target), crops)
    np.save(fresh_output(mask_stack_path(target)), mask_bits)


@functools.cache
def crop_tiff_writer(shape: tuple[int, ...], dtype: np.dtype) -> TiffWriter:
    """One per crop shape and dtype in each worker: the files `tifffile.imwrite(path, crop, photometric=
    "minisblack")` would write, byte for byte, without rebuilding the header of every file."""
    return TiffWriter(shape, dtype, photometric="minisblack")


def process_frame_star(args) -> FrameResult:
    return process_frame(*args)


def sequential_names(cells: pd.DataFrame, staging: Path, layout: str) -> pd.DataFrame:
    """The seed's numbering: cells sorted by their descriptive id get `00001`, `00002`, ... (wider past 99,999);
    in the per-cell TIFF layout the files are renamed to `<number>.tif` inside `staging`."""
    out = cells.sort_values("cell_id", kind="stable").reset_index(drop=True)
    width = max(5, len(str(len(out))))
    numbers = [f"{i:0{width}d}" for i in range(1, len(out) + 1)]
    out.insert(1, "descriptive_cell_id", out["cell_id"])
    out["cell_id"] = numbers
    if layout == "tiff_per_cell":
        for old, new in zip(out["descriptive_cell_id"], numbers, strict=True):
            (staging / f"{old}.tif").rename(staging / f"{new}.tif")
        out["stacked_crop_path"] = [crop_ref(f"{CROPS.path}/{n}.tif") for n in numbers]
    return out
