"""cell_qa crop extraction + Jaccard + writing: ours against the naive per-cell loop and scikit-image.

    .venv/bin/python -m benchmarks.cell_qa_crops [--frames 350] [--naive-frames 20] [--runs 3] [--quick]

A synthetic Cell-Tracking-Challenge tree (512x512 uint16 frames, ~100 cells each, three competitors:
~300 competitor cells per frame). Output on the compared sides: per competitor cell, its best-matching
ground-truth label and Jaccard index, and one 2-channel TIFF (64x64 raw crop + mask) per cell: the
seed's layout. Each side runs in fresh child processes (benchmarks/_harness.py: warm-up on one frame,
then the timed call; peak memory is the sampled PSS of the process tree):

- ours, per-cell TIFF layout, 1 worker: `process_frame` (what the asset runs per frame), same output
  as the baselines;
- ours, stacked layout (one `.npy` of crops + one of bit-packed masks per frame and competitor: not
  the same files, so printed for its throughput only), 1 worker, at all frames and at a quarter;
- ours, stacked, 2 workers;
- NAIVE (the fair baseline): a boolean `labels == id` mask per cell, then the IoU against only the
  ground-truth labels under that cell (`np.unique(gt[mask])`), bbox from the mask, one TIFF per cell:
  the simplest correct loop a competent engineer writes; on `--naive-frames` frames.
- PEER, scikit-image `regionprops`: per-cell bbox and mask image from `regionprops`, ground truth
  read under the cell's bbox, areas from `np.bincount`, one TIFF per cell; on `--naive-frames` frames.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile

from benchmarks._harness import header, measure, ratio
from dataprep_assets.defs.cell_qa.extract import FrameTask
from dataprep_assets.sample_data.cell_qa import _dilate, _ellipse_labels, _erode, _raw_frame

SIZE, CELLS, COMPETITORS, UNIQUE, CROP = 512, 100, ("A", "B", "C"), 20, 64
MODULE = "benchmarks.cell_qa_crops"


def build_tree(root: Path, frames: int) -> list[FrameTask]:
    rng = np.random.default_rng(0)
    uniques = []
    for _ in range(UNIQUE):
        gt = _ellipse_labels(
            rng,
            (SIZE, SIZE),
            rng.uniform(12, SIZE - 12, (CELLS, 2)),
            rng.uniform(6, 14, (CELLS, 2)),
            rng.uniform(0, np.pi, CELLS),
        )
        uniques.append(
            (
                _raw_frame(rng, gt),
                gt.astype(np.uint16),
                {"A": gt.astype(np.uint16), "B": _erode(gt).astype(np.int32), "C": _dilate(gt).astype(np.uint16)},
            )
        )
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
        tasks.append(
            FrameTask(f"ds/{seq}/t{t:03d}", f"ds/{seq}", "ds", seq, t, paths["raw"], paths["gt"], tuple(comps))
        )
    return tasks


def build_tasks_from_disk(root: Path, frames: int) -> list[FrameTask]:
    tasks = []
    for i in range(frames):
        seq, t = f"{i // 100:02d}", i % 100
        comps = tuple((n, f"raw/competitors/{n}/ds/{seq}_RES/mask{t:03d}.tif") for n in COMPETITORS)
        tasks.append(
            FrameTask(
                f"ds/{seq}/t{t:03d}",
                f"ds/{seq}",
                "ds",
                seq,
                t,
                f"raw/ds/{seq}/t{t:03d}.tif",
                f"raw/ds/{seq}_GT/SEG/man_seg{t:03d}.tif",
                comps,
            )
        )
    return tasks


def _tasks(warmup: bool, root: str, frames: int) -> list[FrameTask]:
    tasks = build_tasks_from_disk(Path(root), frames)
    return tasks[:1] if warmup else tasks


def ours(warmup: bool, root: str, frames: int, layout: str = "tiff_per_cell", workers: int = 1) -> dict:
    from dataprep_assets.defs.cell_qa.extract import process_frame_star
    from dataprep_assets.lib.parallel import ordered_map

    out = Path(tempfile.mkdtemp(dir=root))
    if layout == "stacked":
        (out / "stacks").mkdir()
    args = [(t, root, str(out), CROP, layout) for t in _tasks(warmup, root, frames)]
    results = ordered_map(process_frame_star, args, max_workers=workers)
    cells = sum(len(o.cells["cell_id"]) for r in results for o in r.outputs if o.cells is not None)
    return {"items": cells}


def _write_cell(out: Path, name: str, padded_raw: np.ndarray, padded_mask: np.ndarray, cy: int, cx: int) -> None:
    half = CROP // 2
    crop = padded_raw[cy + CROP - half : cy + CROP + half, cx + CROP - half : cx + CROP + half]
    mcrop = padded_mask[cy + CROP - half : cy + CROP + half, cx + CROP - half : cx + CROP + half]
    tifffile.imwrite(out / f"{name}.tif", np.stack([crop, mcrop.astype(crop.dtype)]), photometric="minisblack")


def naive(warmup: bool, root: str, frames: int) -> dict:
    """The fair baseline (see the module docstring)."""
    out = Path(tempfile.mkdtemp(dir=root))
    cells, table = 0, []
    for task in _tasks(warmup, root, frames):
        raw = tifffile.imread(Path(root) / task.raw_path)
        gt = tifffile.imread(Path(root) / task.gt_path)
        padded = np.pad(raw, CROP)
        for name, rel in task.competitors:
            labels = tifffile.imread(Path(root) / rel)
            for cid in np.unique(labels):
                if cid == 0:
                    continue
                mask = labels == cid
                ys, xs = np.where(mask)
                best, best_iou = 0, 0.0
                for g in np.unique(gt[mask]):  # only the ground-truth cells under this one
                    if g == 0:
                        continue
                    gmask = gt == g
                    iou = np.logical_and(mask, gmask).sum() / np.logical_or(mask, gmask).sum()
                    if iou > best_iou:
                        best, best_iou = int(g), float(iou)
                cy, cx = (ys.min() + ys.max() + 1) // 2, (xs.min() + xs.max() + 1) // 2
                _write_cell(out, f"{task.frame}_{name}_{cid}", padded, np.pad(mask, CROP), cy, cx)
                table.append((task.frame_key, name, int(cid), best, best_iou))
                cells += 1
    return {"items": cells}


def skimage_peer(warmup: bool, root: str, frames: int) -> dict:
    """scikit-image's way (see the module docstring)."""
    from skimage.measure import regionprops

    out = Path(tempfile.mkdtemp(dir=root))
    cells, table = 0, []
    for task in _tasks(warmup, root, frames):
        raw = tifffile.imread(Path(root) / task.raw_path)
        gt = tifffile.imread(Path(root) / task.gt_path)
        gt_area = np.bincount(gt.ravel())
        padded = np.pad(raw, CROP)
        for name, rel in task.competitors:
            labels = tifffile.imread(Path(root) / rel)
            padded_labels = np.pad(labels, CROP)
            for region in regionprops(labels):
                y0, x0, y1, x1 = region.bbox
                under = gt[y0:y1, x0:x1][region.image]
                ids, inter = np.unique(under[under > 0], return_counts=True)
                iou = inter / (region.area + gt_area[ids] - inter) if len(ids) else np.zeros(0)
                best = int(np.argmax(iou)) if len(iou) else -1
                cy, cx = (y0 + y1) // 2, (x0 + x1) // 2
                _write_cell(out, f"{task.frame}_{name}_{region.label}", padded, padded_labels == region.label, cy, cx)
                table.append(
                    (
                        task.frame_key,
                        name,
                        region.label,
                        int(ids[best]) if best >= 0 else 0,
                        float(iou[best]) if best >= 0 else 0.0,
                    )
                )
                cells += 1
    return {"items": cells}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=350)
    parser.add_argument("--naive-frames", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small smoke run (20 frames, 1 run)")
    args = parser.parse_args()
    frames, runs = (20, 1) if args.quick else (args.frames, args.runs)
    naive_frames = min(args.naive_frames, frames)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build_tree(Path(tmp), frames)
        header(
            f"cell_qa crops + Jaccard + write: {frames} frames of {SIZE}x{SIZE}, {len(COMPETITORS)} competitors "
            f"(tree built in {time.perf_counter() - start:.0f}s); cells/s"
        )
        tiff = measure(MODULE, "ours", "ours per-cell TIFF, 1 worker", runs, unit="cells", root=tmp, frames=frames)
        stacked = measure(
            MODULE, "ours", "ours stacked .npy, 1 worker", runs, unit="cells", root=tmp, frames=frames, layout="stacked"
        )
        measure(
            MODULE,
            "ours",
            "ours stacked .npy, 1 worker, 1/4 of the frames",
            1,
            unit="cells",
            root=tmp,
            frames=max(frames // 4, 1),
            layout="stacked",
        )
        measure(
            MODULE,
            "ours",
            "ours stacked .npy, 2 workers",
            runs,
            processes=2,
            unit="cells",
            root=tmp,
            frames=frames,
            layout="stacked",
            workers=2,
        )
        naive_m = measure(
            MODULE,
            "naive",
            f"naive overlap-only, per-cell TIFF ({naive_frames} frames)",
            runs,
            unit="cells",
            root=tmp,
            frames=naive_frames,
        )
        ratio(tiff, naive_m, "same output; target >= 10x")
        try:
            import skimage  # noqa: F401
        except ImportError:
            print("   scikit-image not installed: no regionprops peer")
        else:
            peer = measure(
                MODULE,
                "skimage_peer",
                f"skimage regionprops, per-cell TIFF ({naive_frames} frames)",
                runs,
                unit="cells",
                root=tmp,
                frames=naive_frames,
            )
            ratio(tiff, peer, "same output")
        print(f"   stacked layout, 1 worker: {stacked.rate:,.0f} cells/s (target >= 20,000)")


if __name__ == "__main__":
    main()
