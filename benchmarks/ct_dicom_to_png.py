"""ct_hemorrhage DICOM -> windowed 8-bit PNG: our path against the naive loop, same files, same run.

Writes N synthetic head-CT slices (512x512 int16, rescale -1024/1, brain window tags; copies of 40
rendered templates, so writing them is fast), then, each in a fresh child process (peak memory: the summed RSS of it and its workers, sampled) so it is
measured per run:

- ours: `no_hem_pngs`'s worker (`convert_batch`: 16 slices per call; direct read of uncompressed
  pixels, one lookup table for rescale + window, OpenCV PNG with the Up filter and zlib's RLE
  strategy) over `ordered_map`, 2 worker processes;
- ours, 1 worker (what one core does);
- naive: the script way, one process: `dcmread` + `pixel_array` + float rescale + clip-window +
  `PIL.Image.save(png)`; on a subset (it is slow) and reported per image.

Usage: python -m benchmarks.ct_dicom_to_png [--n 4000] [--naive-n 600] [--quick]
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

TEMPLATES = 40


def build(root: Path, n: int) -> list[Path]:
    from dataprep_assets.sample_data.ct_hemorrhage import render_slice_hu, write_dicom

    rng = np.random.default_rng(0)
    blobs = []
    for i in range(TEMPLATES):
        path = root / "templates" / f"{i}.dcm"
        write_dicom(path, render_slice_hu(rng, (i % 20) / 20), patient_id=f"p{i}", study_uid=f"1.2.{i}", series_uid=f"1.2.{i}.1",
                    sop_uid=f"1.2.{i}.1.1", instance=i, thickness=5.0, windows=([40.0], [80.0]))
        blobs.append(path.read_bytes())
    files = []
    for i in range(n):
        path = root / "dicom" / f"{i // 1000:03d}" / f"{i}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blobs[i % TEMPLATES])
        files.append(path)
    return files


def naive(files: list[Path], out: Path) -> None:
    import pydicom
    from PIL import Image

    for i, path in enumerate(files):
        ds = pydicom.dcmread(path)
        hu = ds.pixel_array.astype(np.float64) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        center, width = float(ds.WindowCenter), float(ds.WindowWidth)
        img = np.clip((hu - (center - width / 2)) / width, 0, 1) * 255
        Image.fromarray(img.astype(np.uint8)).save(out / f"{i}.png")


def ours(files: list[Path], out: Path, workers: int) -> None:
    from dataprep_assets.defs.ct_hemorrhage.convert import BATCH, PngTask, batches, convert_batch
    from dataprep_assets.lib.parallel import ordered_map

    tasks = [PngTask(str(p), str(out / f"{i}.png"), p.name, 40.0, 80.0, True, 0, 1) for i, p in enumerate(files)]
    for batch in ordered_map(convert_batch, batches(tasks, BATCH), max_workers=workers):
        for result in batch:
            if not result["ok"]:
                raise RuntimeError(result["detail"])


def child(args) -> None:
    files = sorted(Path(args.root, "dicom").rglob("*.dcm"), key=lambda p: int(p.stem))[: args.n]
    out = Path(tempfile.mkdtemp(dir=args.root))
    start = time.perf_counter()
    naive(files, out) if args.mode == "naive" else ours(files, out, args.workers)
    seconds = time.perf_counter() - start
    png_mb = sum(p.stat().st_size for p in out.iterdir()) / len(files) / 1024
    print(json.dumps({"images": len(files), "seconds": seconds, "png_kb": png_mb}))


def measure(root: Path, mode: str, n: int, workers: int = 2) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.ct_dicom_to_png", "--child", "--root", str(root), "--mode", mode, "--n", str(n), "--workers", str(workers)]
    out, peak = run_sampled(cmd)
    return json.loads(out.strip().splitlines()[-1]) | {"peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=4000, help="slices converted by our path (the seed's scale is ~14,000)")
    parser.add_argument("--naive-n", type=int, default=600, help="slices converted by the naive loop")
    parser.add_argument("--quick", action="store_true", help="small smoke run (200 slices)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="ours", help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    n, naive_n = (200, 100) if args.quick else (args.n, min(args.naive_n, args.n))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        build(root, n)
        print(f"ct DICOM->PNG benchmark: {n} slices 512x512 int16 (written in {time.perf_counter() - start:.0f}s)")
        rows = [
            ("ours, 2 workers", measure(root, "ours", n, 2)),
            ("ours, 1 worker", measure(root, "ours", n, 1)),
            ("naive dcmread+pixel_array+PIL, 1 process", measure(root, "naive", naive_n)),
        ]
        for name, r in rows:
            rate = r["images"] / r["seconds"]
            print(f"{name:<42} {r['images']:>6} images {r['seconds']:7.1f}s {rate:7.1f} images/s  14,000 slices in {14000 / rate / 60:5.1f} min"
                  f"  peak RSS {r['peak_mb']:4.0f} MB (main + workers)  PNG {r['png_kb']:.0f} KB")
        rate = {name: r["images"] / r["seconds"] for name, r in rows}
        print(f"speed-up of ours (2 workers) over naive: {rate['ours, 2 workers'] / rate['naive dcmread+pixel_array+PIL, 1 process']:.1f}x"
              f"  (1 worker: {rate['ours, 1 worker'] / rate['naive dcmread+pixel_array+PIL, 1 process']:.1f}x; target >= 3x with 2 workers)")


if __name__ == "__main__":
    main()
