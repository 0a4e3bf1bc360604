"""ct_hemorrhage 3x train augmentation: our path against the naive loop, same images, same run.

Writes N train originals (512x512 head-CT JPEGs, a third of them RGB as Roboflow exports them, 1-2
boxes each; copies of 60 rendered templates), then, each in a fresh child process (peak memory: the summed RSS of it and its workers, sampled) so it is
measured per run:

- ours: `augmented_coco_6class`'s worker (`augment_batch`: copy the original, 2 albumentations copies
  with boxes clipped/filtered, OpenCV decode/encode) over `ordered_map`, 2 worker processes, all N;
- ours on a quarter of N (peak memory must not grow with the image count);
- naive: the script way, one process: PIL open -> numpy -> the same albumentations pipeline -> PIL
  save, on a subset (it is slow) and reported per image.

The seed reports 30-60 minutes for the 3x of ~11,500 train images; the target is under 2 minutes.

Usage: python -m benchmarks.ct_augment [--n 11500] [--naive-n 400] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.ct_pipeline import run_sampled

TEMPLATES = 60


def build(root: Path, n: int) -> None:
    from PIL import Image

    from dataprep_assets.sample_data.ct_hemorrhage import brain_window_uint8, render_slice_hu

    rng = np.random.default_rng(0)
    blobs, boxes = [], []
    for i in range(TEMPLATES):
        lesions = [(rng.uniform(150, 360), rng.uniform(150, 360), rng.uniform(8, 40), rng.uniform(8, 40)) for _ in range(1 + i % 2)]
        gray = brain_window_uint8(render_slice_hu(rng, (i % 20) / 20, lesions))
        path = root / "templates" / f"{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.repeat(gray[..., None], 3, axis=2) if i % 3 == 0 else gray).save(path, quality=90)
        blobs.append(path.read_bytes())
        boxes.append([(int(rng.integers(0, 6)), lx - rx, ly - ry, 2 * rx, 2 * ry) for ly, lx, ry, rx in lesions])
    for i in range(n):
        path = root / "train" / f"{i // 1000:03d}" / f"p{i}_{i % 40}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blobs[i % TEMPLATES])
    (root / "boxes.json").write_text(json.dumps(boxes))


def _inputs(root: Path, n: int):
    boxes = json.loads((root / "boxes.json").read_text())
    files = sorted((root / "train").rglob("*.jpg"), key=lambda p: int(p.stem.split("_")[0][1:]))[:n]
    return [(p, tuple(tuple(b) for b in boxes[int(p.stem.split("_")[0][1:]) % TEMPLATES])) for p in files]


def ours(root: Path, n: int, out: Path, workers: int) -> int:
    from dataprep_assets.defs.ct_hemorrhage.augment import AugTask, augment_batch
    from dataprep_assets.defs.ct_hemorrhage.convert import batches
    from dataprep_assets.defs.ct_hemorrhage.publish import AUG_BATCH
    from dataprep_assets.lib.parallel import ordered_map

    tasks = [AugTask(str(p), str(out), p.name, b, 2, 42, 95, 2.0, 0.3) for p, b in _inputs(root, n)]
    return sum(len(w) - 1 for batch in ordered_map(augment_batch, batches(tasks, AUG_BATCH), max_workers=workers) for w in batch)


def naive(root: Path, n: int, out: Path) -> int:
    from PIL import Image

    from dataprep_assets.defs.ct_hemorrhage.augment import build_transform

    transform = build_transform(2.0, 0.3)
    written = 0
    for path, boxes in _inputs(root, n):
        image = np.array(Image.open(path))
        Image.fromarray(image).save(out / path.name, quality=95)
        for k in (1, 2):
            result = transform(image=image, bboxes=np.array([b[1:] for b in boxes], dtype=np.float32), labels=[b[0] for b in boxes])
            Image.fromarray(result["image"]).save(out / f"{path.stem}_aug{k}.jpg", quality=95)
            written += 1
    return written


def child(args) -> None:
    out = Path(tempfile.mkdtemp(dir=args.root))
    from dataprep_assets.defs.ct_hemorrhage.augment import build_transform

    build_transform(2.0, 0.3)  # imports outside the timing for both paths, as in a running pipeline (workers still pay theirs)
    start = time.perf_counter()
    augmented = naive(Path(args.root), args.n, out) if args.mode == "naive" else ours(Path(args.root), args.n, out, args.workers)
    seconds = time.perf_counter() - start
    print(json.dumps({"originals": args.n, "augmented": augmented, "seconds": seconds}))


def measure(root: Path, mode: str, n: int, workers: int = 2) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.ct_augment", "--child", "--root", str(root), "--mode", mode, "--n", str(n), "--workers", str(workers)]
    out, peak = run_sampled(cmd)
    return json.loads(out.strip().splitlines()[-1]) | {"peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=11500, help="train originals (the seed's scale is ~11,500)")
    parser.add_argument("--naive-n", type=int, default=400, help="originals augmented by the naive loop")
    parser.add_argument("--quick", action="store_true", help="small smoke run (300 originals)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    n, naive_n = (300, 60) if args.quick else (args.n, min(args.naive_n, args.n))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        build(root, n)
        print(f"ct augmentation benchmark: {n} train originals 512x512, 3x (2 augmented copies each) (written in {time.perf_counter() - start:.0f}s)")
        rows = [
            ("ours, 2 workers", measure(root, "ours", n, 2)),
            ("ours, 2 workers, 1/4 of the images", measure(root, "ours", max(n // 4, 1), 2)),
            ("naive PIL + albumentations loop, 1 process", measure(root, "naive", naive_n)),
        ]
        for name, r in rows:
            rate = r["augmented"] / r["seconds"]
            print(f"{name:<44} {r['originals']:>6} originals {r['seconds']:7.1f}s {rate:7.1f} augmented images/s"
                  f"  3x of 11,500 in {23000 / rate / 60:5.1f} min  peak RSS {r['peak_mb']:4.0f} MB (main + workers)")
        ratio = (rows[0][1]["augmented"] / rows[0][1]["seconds"]) / (rows[-1][1]["augmented"] / rows[-1][1]["seconds"])
        print(f"speed-up of ours (2 workers) over naive: {ratio:.1f}x  (target: 3x of ~11,500 images under 2 minutes on 2 cores; seed: 30-60 minutes)")


if __name__ == "__main__":
    main()
