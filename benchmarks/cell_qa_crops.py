"""cell_qa crop extraction + Jaccard + writing: our vectorised path against the naive per-cell loop.

Builds a synthetic Cell-Tracking-Challenge tree (512x512 uint16 frames, ~100 cells each, three
competitors) with at least 100,000 competitor cells, then, each in a fresh child process so peak
memory is measured per run (after a one-frame warm-up in that process, so lazy imports and
first-call costs are not counted as throughput):

- ours, stacked layout, 1 worker (one core), over all frames and over a quarter of them (peak
  memory must not grow with the number of images);
- ours, per-cell TIFF layout (the seed's), 1 worker;
- ours, stacked, all cores;
- naive: `labels == id` mask per cell, bbox from the mask, IoU against every ground-truth cell,
  one file per cell; run on a subset of frames (it is far too slow for all) and reported per cell.

Usage: python -m benchmarks.cell_qa_crops [--frames 350] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from dataprep_assets.defs.cell_qa.extract import FrameTask, process_frame
from dataprep_assets.lib.parallel import ordered_map
from dataprep_assets.sample_data.cell_qa import _dilate, _ellipse_labels, _erode, _raw_frame

SIZE, CELLS, COMPETITORS, UNIQUE = 512, 100, ("A", "B", "C"), 20


def build_tree(root: Path, frames: int) -> list[FrameTask]:
    rng = np.random.default_rng(0)
    uniques = []
    for _ in range(UNIQUE):
        gt = _ellipse_labels(rng, (SIZE, SIZE), rng.uniform(12, SIZE - 12, (CELLS, 2)), rng.uniform(6, 14, (CELLS, 2)), rng.uniform(0, np.pi, CELLS))
        uniques.append((_raw_frame(rng, gt), gt.astype(np.uint16), {"A": gt.astype(np.uint16), "B": _erode(gt).astype(np.int32), "C": _dilate(gt).astype(np.uint16)}))
    tasks = []
    for i in range(frames):
        raw, gt, masks = uniques[i % UNIQUE]
        seq = f"{i // 100:02d}"
        t = i % 100
        paths = {"raw": f"raw/ds/{seq}/t{t:03d}.tif", "gt": f"raw/ds/{seq}_GT/SEG/man_seg{t:03d}.tif"}
        for rel, arr in ((paths["raw"], raw), (paths["gt"], gt)):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(root / rel, arr)
        comps = []
        for name in COMPETITORS:
            rel = f"raw/competitors/{name}/ds/{seq}_RES/mask{t:03d}.tif"
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(root / rel, masks[name])
            comps.append((name, rel))
        tasks.append(FrameTask(f"ds/{seq}/t{t:03d}", f"ds/{seq}", "ds", seq, t, paths["raw"], paths["gt"], tuple(comps)))
    return tasks


def _star(args):
    return process_frame(*args)


def run_ours(root: Path, tasks, layout: str, workers: int) -> int:
    out = Path(tempfile.mkdtemp(dir=root))
    if layout == "stacked":
        (out / "stacks").mkdir()
    args = [(t, str(root), str(out), 64, layout) for t in tasks]
    return sum(len(o.cells["cell_id"]) for r in ordered_map(_star, args, max_workers=workers) for o in r.outputs if o.cells is not None)


def run_naive(root: Path, tasks) -> int:
    """What the one-off scripts do: a boolean mask per cell and per ground-truth cell."""
    out = Path(tempfile.mkdtemp(dir=root))
    cells, table = 0, []
    for task in tasks:
        raw = tifffile.imread(root / task.raw_path)
        gt = tifffile.imread(root / task.gt_path)
        gt_ids = [g for g in np.unique(gt) if g != 0]
        padded = np.pad(raw, 64)
        for name, rel in task.competitors:
            labels = tifffile.imread(root / rel)
            for cid in np.unique(labels):
                if cid == 0:
                    continue
                mask = labels == cid
                ys, xs = np.where(mask)
                best, best_iou = 0, 0.0
                for g in gt_ids:
                    gmask = gt == g
                    inter = np.logical_and(mask, gmask).sum()
                    if inter:
                        iou = inter / np.logical_or(mask, gmask).sum()
                        if iou > best_iou:
                            best, best_iou = g, iou
                cy, cx = (ys.min() + ys.max() + 1) // 2, (xs.min() + xs.max() + 1) // 2
                crop = padded[cy + 32 : cy + 96, cx + 32 : cx + 96]
                mcrop = np.pad(mask, 64)[cy + 32 : cy + 96, cx + 32 : cx + 96]
                tifffile.imwrite(out / f"{task.frame}_{name}_{cid}.tif", np.stack([crop, mcrop.astype(crop.dtype)]))
                table.append((task.frame_key, name, int(cid), int(best), best_iou))
                cells += 1
    return cells


def child(args) -> None:
    root = Path(args.root)
    tasks = build_tasks_from_disk(root, args.frames)
    run = (lambda ts: run_naive(root, ts)) if args.mode == "naive" else (lambda ts: run_ours(root, ts, args.layout, args.workers))
    run(tasks[:1])  # warm-up: lazy imports and first-call costs are not throughput
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    cells = run(tasks)
    seconds = time.perf_counter() - start
    peak_mb = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    print(json.dumps({"cells": cells, "seconds": seconds, "peak_mb": peak_mb, "growth_mb": peak_mb - baseline_mb}))


def build_tasks_from_disk(root: Path, frames: int) -> list[FrameTask]:
    tasks = []
    for i in range(frames):
        seq, t = f"{i // 100:02d}", i % 100
        comps = tuple((n, f"raw/competitors/{n}/ds/{seq}_RES/mask{t:03d}.tif") for n in COMPETITORS)
        tasks.append(FrameTask(f"ds/{seq}/t{t:03d}", f"ds/{seq}", "ds", seq, t, f"raw/ds/{seq}/t{t:03d}.tif", f"raw/ds/{seq}_GT/SEG/man_seg{t:03d}.tif", comps))
    return tasks


def measure(root: Path, mode: str, frames: int, layout: str = "stacked", workers: int = 1) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.cell_qa_crops", "--child", "--root", str(root), "--mode", mode,
           "--frames", str(frames), "--layout", layout, "--workers", str(workers)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=350)
    parser.add_argument("--naive-frames", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="small smoke run (20 frames)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--layout", default="stacked", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    frames = 20 if args.quick else args.frames
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        build_tree(root, frames)
        print(f"cell_qa benchmark: {frames} frames of {SIZE}x{SIZE}, {len(COMPETITORS)} competitors (tree built in {time.perf_counter() - start:.0f}s)")
        rows = [
            ("ours stacked, 1 core", measure(root, "ours", frames)),
            ("ours stacked, 1 core, 1/4 of the frames", measure(root, "ours", max(frames // 4, 1))),
            ("ours per-cell TIFF (seed layout), 1 core", measure(root, "ours", frames, layout="tiff_per_cell")),
            ("ours stacked, 2 workers", measure(root, "ours", frames, workers=2)),
            ("naive per-cell masks, 1 core", measure(root, "naive", min(args.naive_frames, frames))),
        ]
        for name, r in rows:
            print(f"{name:<45} {r['cells']:>8} cells {r['seconds']:8.2f}s {r['cells'] / r['seconds']:>8.0f} cells/s"
                  f"  peak RSS {r['peak_mb']:5.0f} MB (+{r['growth_mb']:.0f} MB during the run)")
        ours, naive = rows[0][1], rows[-1][1]
        ratio = (ours["cells"] / ours["seconds"]) / (naive["cells"] / naive["seconds"])
        print(f"speed-up of ours (stacked, 1 core) over naive: {ratio:.0f}x  (targets: >= 50x, >= 20,000 cells/s on one core)")


if __name__ == "__main__":
    main()
