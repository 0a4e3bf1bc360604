"""Find raw frames, ground truth and competitor masks in the Cell Tracking Challenge layout.

    raw/cell_qa/<dataset>/<seq>/t000.tif                         raw frame
    raw/cell_qa/<dataset>/<seq>_GT/SEG/man_seg000.tif            ground-truth labels
    raw/cell_qa/competitors/<name>/<dataset>/<seq>_RES/mask000.tif   one competitor's labels

One row per (frame, competitor). Frames without ground truth, competitors missing a frame and
masks without a raw frame become rejects.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from dataprep_assets.lib.rejects import RejectLog

RAW_PREFIX = "raw/cell_qa"
COMPETITORS_DIR = "competitors"
_FRAME = re.compile(r"^t(\d+)\.tiff?$")
_GT = re.compile(r"^man_seg(\d+)\.tiff?$")
_MASK = re.compile(r"^mask(\d+)\.tiff?$")
_SEQ = re.compile(r"^\d+$")

INVENTORY_COLUMNS = [
    "original_image_key", "frame_key", "dataset", "sequence", "frame",
    "competitor", "raw_path", "gt_path", "mask_path",
]


def _frames(folder: Path, pattern: re.Pattern) -> dict[int, Path]:
    found = {}
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            match = pattern.match(path.name)
            if match and path.is_file():
                found[int(match.group(1))] = path
    return found


def build_inventory(root: Path) -> tuple[pd.DataFrame, RejectLog]:
    """Pair every raw frame with its ground truth and each competitor's mask; `root` is the store root."""
    base = root / RAW_PREFIX
    rejects = RejectLog()
    rel = lambda p: p.relative_to(root).as_posix()  # noqa: E731
    competitors = sorted(p.name for p in (base / COMPETITORS_DIR).iterdir() if p.is_dir()) if (base / COMPETITORS_DIR).is_dir() else []
    rows = []
    datasets = sorted(p for p in base.iterdir() if p.is_dir() and p.name != COMPETITORS_DIR) if base.is_dir() else []
    for dataset_dir in datasets:
        for seq_dir in sorted(p for p in dataset_dir.iterdir() if p.is_dir() and _SEQ.match(p.name)):
            dataset, seq = dataset_dir.name, seq_dir.name
            raw = _frames(seq_dir, _FRAME)
            gt = _frames(dataset_dir / f"{seq}_GT" / "SEG", _GT)
            masks = {c: _frames(base / COMPETITORS_DIR / c / dataset / f"{seq}_RES", _MASK) for c in competitors}
            for frame, gt_path in gt.items():
                if frame not in raw:
                    rejects.add(rel(gt_path), "inventory", "no_raw_frame", f"ground truth for frame {frame} has no raw t{frame:03d}.tif")
            for competitor, frames in masks.items():
                for frame, mask_path in frames.items():
                    if frame not in raw:
                        rejects.add(rel(mask_path), "inventory", "no_raw_frame", f"{competitor} mask for frame {frame} has no raw frame")
            for frame, raw_path in raw.items():
                if frame not in gt:
                    rejects.add(rel(raw_path), "inventory", "no_ground_truth", f"no man_seg{frame:03d}.tif under {dataset}/{seq}_GT/SEG")
                    continue
                for competitor in competitors:
                    mask_path = masks[competitor].get(frame)
                    if mask_path is None:
                        rejects.add(
                            f"{RAW_PREFIX}/{COMPETITORS_DIR}/{competitor}/{dataset}/{seq}_RES/mask{frame:03d}.tif",
                            "inventory", "missing_competitor_mask", f"{competitor} has no mask for {dataset}/{seq} frame {frame}",
                        )
                        continue
                    rows.append((f"{dataset}/{seq}", f"{dataset}/{seq}/t{frame:03d}", dataset, seq, frame, competitor,
                                 rel(raw_path), rel(gt[frame]), rel(mask_path)))
    frame = pd.DataFrame(rows, columns=INVENTORY_COLUMNS)
    frame["frame"] = frame["frame"].astype("int64")
    return frame, rejects
