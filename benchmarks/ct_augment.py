"""ct_hemorrhage 3x train augmentation: our path against the naive loop, same images, same run.

Writes N train originals (512x512 head-CT JPEGs, a third of them RGB as Roboflow exports them, 1-2
boxes each; copies of 60 rendered templates), then each side in fresh child processes (benchmarks/_harness.py: warm-up
on 4 originals, then the timed
call; peak memory: the sampled PSS of the process tree; per core: augmented images per CPU-second,
workers included):

- ours: `augmented_coco_6class`'s worker (`augment_batch`: copy the original, 2 albumentations copies
  with boxes clipped/filtered, OpenCV decode/encode) over `ordered_map`, 2 worker processes, all N;
- ours on a quarter of N (peak memory must not grow with the image count);
- ours, 1 worker (one core, the per-core comparison with the same process count);
- NAIVE (the fair baseline: same albumentations pipeline, same JPEG quality 95, 1 process): PIL open ->
  numpy -> the transform twice -> PIL save; on a subset, reported per image.

The seed reports 30-60 minutes for the 3x of ~11,500 train images; the target is under 2 minutes.

Usage: python -m benchmarks.ct_augment [--n 11500] [--naive-n 400] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import header, measure, ratio

MODULE = "benchmarks.ct_augment"

TEMPLATES = 60


def build(root: Path, n: int) -> None:
    from PIL import Image

    from dataprep_assets.sample_data.ct_hemorrhage import brain_window_uint8, render_slice_hu

    rng = np.random.default_rng(0)
    blobs, boxes = [], []
    for i in range(TEMPLATES):
        lesions = [
            (rng.uniform(150, 360), rng.uniform(150, 360), rng.uniform(8, 40), rng.uniform(8, 40))
            for _ in range(1 + i % 2)
        ]
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


def ours(warmup: bool, root: str, n: int, workers: int, batch: int) -> dict:
    from dataprep_assets.defs.ct_hemorrhage.augment import AugTask, augment_batch
    from dataprep_assets.lib.parallel import batches, ordered_map

    out = tempfile.mkdtemp(dir=root)
    tasks = [AugTask(str(p), out, p.name, b, 2, 42, 95, 2.0, 0.3) for p, b in _inputs(Path(root), 4 if warmup else n)]
    return {
        "items": sum(
            len(w) - 1
            for chunk in ordered_map(augment_batch, batches(tasks, batch), max_workers=workers)
            for w in chunk
        )
    }


def naive(warmup: bool, root: str, n: int) -> dict:
    """The fair baseline (see the module docstring)."""
    from PIL import Image

    from dataprep_assets.defs.ct_hemorrhage.augment import build_transform

    out = Path(tempfile.mkdtemp(dir=root))
    transform = build_transform(2.0, 0.3)
    written = 0
    for path, boxes in _inputs(Path(root), 4 if warmup else n):
        image = np.array(Image.open(path))
        Image.fromarray(image).save(out / path.name, quality=95)
        for k in (1, 2):
            result = transform(
                image=image, bboxes=np.array([b[1:] for b in boxes], dtype=np.float32), labels=[b[0] for b in boxes]
            )
            Image.fromarray(result["image"]).save(out / f"{path.stem}_aug{k}.jpg", quality=95)
            written += 1
    return {"items": written}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=11500, help="train originals (the seed's scale is ~11,500)")
    parser.add_argument("--naive-n", type=int, default=400, help="originals augmented by the naive loop")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small smoke run (300 originals, 1 run)")
    args = parser.parse_args()
    n, naive_n, runs = (300, 60, 1) if args.quick else (args.n, min(args.naive_n, args.n), args.runs)
    from dataprep_assets.defs.ct_hemorrhage.augment import BATCH as AUG_BATCH

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build(Path(tmp), n)
        header(
            f"ct 3x train augmentation: {n} originals 512x512 (written in {time.perf_counter() - start:.0f}s); "
            "augmented images/s"
        )
        two = measure(
            MODULE, "ours", "ours, 2 workers", runs, processes=2, unit="img", root=tmp, n=n, workers=2, batch=AUG_BATCH
        )
        one = measure(MODULE, "ours", "ours, 1 worker", runs, unit="img", root=tmp, n=n, workers=1, batch=AUG_BATCH)
        measure(
            MODULE,
            "ours",
            "ours, 2 workers, 1/4 of the images",
            1,
            processes=2,
            unit="img",
            root=tmp,
            n=max(n // 4, 1),
            workers=2,
            batch=AUG_BATCH,
        )
        base = measure(
            MODULE, "naive", f"naive PIL + albumentations, 1 process ({naive_n})", runs, unit="img", root=tmp, n=naive_n
        )
        ratio(one, base, "same transform, same JPEG quality, same process count")
        ratio(two, base, "2 worker processes against 1")
        print(
            "   3x of the seed's ~11,500 originals (23,000 augmented) at the 2-worker rate: "
            f"{23000 / two.rate / 60:.1f} min "
            "(target < 2 min; seed 30-60 min)"
        )


if __name__ == "__main__":
    main()
