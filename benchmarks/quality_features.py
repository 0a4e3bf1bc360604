"""quality_prediction feature extraction: our batched, cached HDF5 path against the naive per-image loop.

Draws synthetic logos (128x128 PNG, the four types of the sample data), then, each in a fresh child
process so peak memory is per run:

- image_stats (the offline default): ours batched (32) with 1 and with 2 worker processes, ours again
  over the same images (every vector from the cache), and naive: decode, extract and append one image
  at a time to the HDF5 file;
- resnet50 (random weights written to a local file, as the tests do; CPU, torch threads = cores):
  ours batched (32) and naive batch-of-one, on fewer images (it is ~100x heavier).

Prints images/s, peak PSS, the speed-up, the time the seed's 10,000-image dataset would take (target
<= 4 h), and the HDF5 size against the PNGs (target: <= 50 % overhead).

Usage: python -m benchmarks.quality_features [--images 4000] [--resnet-images 96] [--quick]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from benchmarks._harness import header, run_child
from dataprep_assets.defs.quality_prediction.extractors import build_extractor
from dataprep_assets.defs.quality_prediction.featurize import extract_to_hdf5
from dataprep_assets.defs.quality_prediction.logos import inspect_image
from dataprep_assets.lib.vectors import VectorCache
from dataprep_assets.sample_data.quality_prediction import DRAW

SEED_IMAGES, SEED_HOURS = 10_000, 4.0


def draw_logos(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    types = list(DRAW)
    (root / "images").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        DRAW[types[i % 4]](rng).save(root / "images" / f"logo_{i:05d}.png")


def images_table(root: Path, n: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        rel = f"images/logo_{i:05d}.png"
        rows.append(
            {
                "image_id": rel,
                "content_hash": inspect_image(str(root), rel, ("PNG",), 32).content_hash,
                "path": str(root / rel),
            }
        )
    return pd.DataFrame(rows)


def run_ours(root: Path, images: pd.DataFrame, extractor, workers: int, cache: bool) -> dict:
    out = root / f"ours_{extractor.name}.h5"
    vectors = VectorCache(
        root / "vectors", extractor
    )  # a fresh run starts it empty and fills it, a cached run reads it
    if not cache:
        shutil.rmtree(vectors.directory, ignore_errors=True)
    target = root / f"ours_{extractor.name}_{'cached' if cache else 'fresh'}_{workers}.h5"
    report = extract_to_hdf5(images, target, extractor=extractor, cache=vectors, batch_size=32, workers=workers)
    if not cache:
        target.replace(out)
        target = out
    return {
        "images": report.featurised,
        "seconds": report.seconds,
        "h5_bytes": target.stat().st_size,
        "cached": report.cached,
    }


def run_naive(root: Path, images: pd.DataFrame, extractor) -> dict:
    """What a one-off script does: one image at a time, one row appended at a time."""
    start = time.perf_counter()
    path = root / f"naive_{extractor.name}.h5"
    with h5py.File(path, "w") as h5:
        ds = h5.create_dataset(
            "features", shape=(0, extractor.dim), maxshape=(None, extractor.dim), dtype="float32", compression="gzip"
        )
        ids = []
        for image_id, file in zip(images["image_id"], images["path"], strict=True):
            row = extractor.encode(extractor.load(file)[None])
            ds.resize(ds.shape[0] + 1, axis=0)
            ds[-1] = row[0]
            ids.append(image_id)
        h5.create_dataset("image_ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype())
    return {"images": len(ids), "seconds": time.perf_counter() - start, "h5_bytes": path.stat().st_size, "cached": 0}


def child(args) -> None:
    root = Path(args.root)
    images = images_table(root, args.n)
    extractor = build_extractor(args.extractor, weights_path=args.weights, threads=args.threads)
    if args.mode == "cached":
        run_ours(root, images, extractor, args.workers, cache=False)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.mode == "naive":
        result = run_naive(root, images, extractor)
    else:
        result = run_ours(root, images, extractor, args.workers, cache=args.mode == "cached")
    peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)) / 1024
    print(json.dumps({**result, "peak_mb": peak, "baseline_mb": baseline}))


def measure(
    root: Path, mode: str, extractor: str, n: int, workers: int = 1, weights: str = "", threads: int = 0
) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.quality_features",
        "--child",
        "--root",
        str(root),
        "--mode",
        mode,
        "--extractor",
        extractor,
        "--n",
        str(n),
        "--workers",
        str(workers),
        "--weights",
        weights,
        "--threads",
        str(threads),
    ]
    out, peak = run_child(cmd)  # peak: sampled PSS of the child and its workers (the harness)
    return json.loads(out.strip().splitlines()[-1]) | {"peak_mb": peak}


def line(name: str, r: dict) -> str:
    rate = r["images"] / r["seconds"] if r["seconds"] > 0 else float("inf")
    return f"{name:<46} {r['images']:>6} images {r['seconds']:8.2f}s {rate:9.1f} img/s  peak PSS {r['peak_mb']:6.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--resnet-images", type=int, default=96)
    parser.add_argument("--quick", action="store_true", help="small smoke run (200 logos, 16 for ResNet-50)")
    for hidden in ("--root", "--mode", "--extractor", "--weights"):
        parser.add_argument(hidden, default="", help=argparse.SUPPRESS)
    for hidden in ("--n", "--workers", "--threads"):
        parser.add_argument(hidden, type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    n, n_resnet = (200, 16) if args.quick else (args.images, args.resnet_images)  # 2 workers start from 4,000 images
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        draw_logos(root, n)
        png_bytes = sum(p.stat().st_size for p in (root / "images").glob("*.png"))
        header(
            f"quality_prediction feature benchmark: {n} logos 128x128 ({png_bytes / 2**20:.1f} MiB of PNG), drawn in "
            f"{time.perf_counter() - start:.0f}s"
        )
        stats = [
            ("ours image_stats, batch 32, 1 process", measure(root, "ours", "image_stats", n, workers=1)),
            ("ours image_stats, batch 32, 2 workers", measure(root, "ours", "image_stats", n, workers=2)),
            ("ours image_stats, rerun, all from cache", measure(root, "cached", "image_stats", n, workers=1)),
            ("naive image_stats, one image at a time", measure(root, "naive", "image_stats", n)),
        ]
        import torch

        from dataprep_assets.ml.resnet import ResNet50

        weights = root / "resnet50_random.pth"
        torch.manual_seed(0)
        torch.save(ResNet50().state_dict(), weights)
        resnet = [
            ("ours resnet50, batch 32, CPU", measure(root, "ours", "resnet50", n_resnet, weights=str(weights))),
            (
                "naive resnet50, batch 1, CPU",
                measure(root, "naive", "resnet50", max(n_resnet // 4, 4), weights=str(weights)),
            ),
        ]
        for name, r in stats + resnet:
            print(line(name, r))
        rate = lambda r: r["images"] / r["seconds"]  # noqa: E731
        ours_stats, naive_stats, ours_resnet, naive_resnet = stats[1][1], stats[3][1], resnet[0][1], resnet[1][1]
        print(
            f"speed-up image_stats over naive: ours 1 process {rate(stats[0][1]) / rate(naive_stats):.1f}x, ours 2 "
            "workers "
            f"{rate(ours_stats) / rate(naive_stats):.1f}x, ours cached rerun "
            f"{rate(stats[2][1]) / rate(naive_stats):.0f}x"
        )
        print(f"speed-up resnet50 (batch 32) over naive batch 1: {rate(ours_resnet) / rate(naive_resnet):.2f}x")
        for name, r in (("image_stats", ours_stats), ("resnet50", ours_resnet)):
            hours = SEED_IMAGES / rate(r) / 3600
            print(
                f"seed target: {SEED_IMAGES:,} images in <= {SEED_HOURS:.0f} h -> ours {name}: {hours:.2f} h "
                f"({'meets' if hours <= SEED_HOURS else 'misses'} it on this 2-core machine)"
            )
        h5 = stats[0][1]["h5_bytes"]
        print(
            f"storage: image_stats HDF5 {h5 / 2**20:.2f} MiB = {h5 / png_bytes:.1%} of the PNGs (seed: <= 50 % "
            "overhead); "
            f"resnet50 would be {ours_resnet['h5_bytes'] / ours_resnet['images'] * n / 2**20:.1f} MiB = "
            f"{ours_resnet['h5_bytes'] / ours_resnet['images'] * n / png_bytes:.0%} of the PNGs"
        )


if __name__ == "__main__":
    main()
