"""Per-frame work of `cell_crops`: read, validate, match cells, cut crops, write them.

`process_frame` is a pure function of one frame's files, run in worker processes; it writes its
crops straight into the staging directory and returns a small columnar table, the frame's SEG
scores and its rejects. Cell ids are stable (`<dataset>_<seq>_t<frame>_<competitor>_<label>`), so a
cell keeps its id when other frames are added.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from dataprep_assets.defs.cell_qa.crops import cell_boxes, crop_windows, stacked_crops
from dataprep_assets.defs.cell_qa.labels import LabelImageError, match_cells, overlap_triplets, relabel, seg_score
from dataprep_assets.lib.rejects import Reject
from dataprep_assets.lib.storage import safe_join

CROPS_RELPATH = "data/cell_crops"
STACKS_DIR = "stacks"
LAYOUTS = ("tiff_per_cell", "stacked")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
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


@dataclass
class FrameResult:
    cells: dict[str, np.ndarray] = field(default_factory=dict)
    seg: list[dict] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


def safe_name(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("_") or "x"


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


def _read_labels(root: Path, relpath: str, stage: str, rejects: list[Reject]):
    try:
        return relabel(tifffile.imread(safe_join(root, relpath)))
    except LabelImageError as exc:
        rejects.append(Reject(relpath, stage, "invalid_labels", str(exc)))
    except Exception as exc:  # unreadable/truncated TIFF: any decoder error is a reject
        rejects.append(Reject(relpath, stage, "unreadable_tiff", f"{type(exc).__name__}: {exc}"))
    return None


def process_frame(task: FrameTask, root: str, staging: str, crop_size: int, layout: str) -> FrameResult:
    """Crops, Jaccard and SEG for every competitor of one frame."""
    root_path, out = Path(root), FrameResult()
    try:
        raw = tifffile.imread(safe_join(root_path, task.raw_path))
        if raw.ndim != 2:
            raise ValueError(f"raw frame must be 2-D, got shape {raw.shape}")
    except Exception as exc:
        out.rejects.append(Reject(task.raw_path, "read_raw", "unreadable_tiff", f"{type(exc).__name__}: {exc}"))
        return out
    gt = _read_labels(root_path, task.gt_path, "read_ground_truth", out.rejects)
    if gt is None:
        return out
    if gt.dense.shape != raw.shape:
        out.rejects.append(Reject(task.gt_path, "read_ground_truth", "shape_mismatch", f"ground truth {gt.dense.shape} vs raw {raw.shape}"))
        return out
    if gt.count == 0:
        out.rejects.append(Reject(task.gt_path, "read_ground_truth", "empty_mask", "ground truth has no cells"))
        return out
    tables, writes = [], []
    for competitor, mask_path in task.competitors:
        pred = _read_labels(root_path, mask_path, "read_competitor_mask", out.rejects)
        if pred is None:
            continue
        if pred.dense.shape != raw.shape:
            out.rejects.append(Reject(mask_path, "read_competitor_mask", "shape_mismatch", f"mask {pred.dense.shape} vs raw {raw.shape}"))
            continue
        overlap = overlap_triplets(pred, gt)
        score = seg_score(pred, gt, overlap)
        out.seg.append({
            "frame_key": task.frame_key, "original_image_key": task.original_image_key, "competitor": competitor,
            "gt_cells": score.gt_cells, "matched_gt_cells": score.matched, "predicted_cells": pred.count, "seg": score.seg,
        })
        if pred.count == 0:
            out.rejects.append(Reject(mask_path, "read_competitor_mask", "empty_mask", f"{competitor} found no cells (SEG 0)"))
            continue
        tables.append(_crop_competitor(task, competitor, raw, pred, match_cells(pred, gt, overlap), Path(staging), crop_size, layout, writes))
    for write in writes:
        write.result()  # every crop of the frame is on disk (or its error raised) before the frame counts as done
    if tables:
        out.cells = {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}
    return out


def _crop_competitor(task, competitor, raw, pred, match, staging: Path, crop_size: int, layout: str, writes: list) -> dict[str, np.ndarray]:
    boxes = cell_boxes(pred, crop_size)
    stem = f"{safe_name(task.dataset)}_{safe_name(task.sequence)}_t{task.frame:03d}_{safe_name(competitor)}"
    cell_ids = np.array([f"{stem}_{label:05d}" for label in pred.ids.tolist()], dtype=object)
    if layout == "stacked":
        rel = f"{STACKS_DIR}/{stem}.npy"
        target = safe_join(staging, rel)
        crops, masks = crop_windows(raw, pred, boxes.origin, crop_size)
        writes.append(_WRITER.submit(_save_stack, target, crops, np.packbits(masks, axis=-1)))
        paths = np.array([crop_ref(f"{CROPS_RELPATH}/{rel}", i) for i in range(len(crops))], dtype=object)
    else:
        crops = stacked_crops(raw, pred, boxes.origin, crop_size)
        paths = np.empty(len(crops), dtype=object)
        for i, (cell_id, crop) in enumerate(zip(cell_ids, crops)):
            tifffile.imwrite(safe_join(staging, f"{cell_id}.tif"), crop, photometric="minisblack")
            paths[i] = crop_ref(f"{CROPS_RELPATH}/{cell_id}.tif")
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
        "bbox_y0": boxes.bbox[:, 0], "bbox_x0": boxes.bbox[:, 1], "bbox_y1": boxes.bbox[:, 2], "bbox_x1": boxes.bbox[:, 3],
        "crop_y0": boxes.origin[:, 0], "crop_x0": boxes.origin[:, 1],
        "crop_truncated": boxes.truncated,
    }


def _save_stack(target: Path, crops: np.ndarray, mask_bits: np.ndarray) -> None:
    np.save(target, crops)
    np.save(mask_stack_path(target), mask_bits)


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
        for old, new in zip(out["descriptive_cell_id"], numbers):
            (staging / f"{old}.tif").rename(staging / f"{new}.tif")
        out["stacked_crop_path"] = [crop_ref(f"{CROPS_RELPATH}/{n}.tif") for n in numbers]
    return out
