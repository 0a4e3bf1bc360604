"""ct_hemorrhage DICOM -> windowed 8-bit PNG: our path against pydicom + PIL, same files, same PNG level.

    .venv/bin/python -m benchmarks.ct_dicom_to_png [--n 4000] [--peer-n 1000] [--runs 3] [--quick]

Writes N synthetic head-CT slices (512x512 int16, rescale -1024/1, brain window tags; copies of 40
rendered templates, so writing them is fast). Each side runs in fresh child processes
(benchmarks/_harness.py: warm-up on 16 slices, then the timed call; peak memory is the sampled PSS of
the process tree, workers included; per core = slices per CPU-second, workers included):

- ours: `no_hem_pngs`'s worker (`convert_batch`: 16 slices per call; an uncompressed slice's header
  parsed up to the pixel data, its pixel bytes read from the file into the array; one lookup table
  for rescale + window, OpenCV PNG with the Up filter and zlib's RLE strategy
  at level 1) over `ordered_map`, 1 worker and 2 workers (pool start-up inside the timed call);
- PEER (the fair baseline, 1 process, same PNG zlib level 1): pydicom's own `dcmread` ->
  `pixel_array` -> `apply_modality_lut` -> `apply_windowing` -> scaled to 8 bits -> `PIL.Image.save(png,
  compress_level=1)`: what a competent engineer writes with the library's documented functions; on
  `--peer-n` slices. The same peer at PIL's default level 6 is printed for reference (not a ratio).
The pixel agreement line compares the decoded PNGs of both sides on the first slices.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import header, measure, ratio

MODULE = "benchmarks.ct_dicom_to_png"

TEMPLATES = 40


def build(root: Path, n: int) -> list[Path]:
    from dataprep_assets.sample_data.ct_hemorrhage import render_slice_hu, write_dicom

    rng = np.random.default_rng(0)
    blobs = []
    for i in range(TEMPLATES):
        path = root / "templates" / f"{i}.dcm"
        write_dicom(
            path,
            render_slice_hu(rng, (i % 20) / 20),
            patient_id=f"p{i}",
            study_uid=f"1.2.{i}",
            series_uid=f"1.2.{i}.1",
            sop_uid=f"1.2.{i}.1.1",
            instance=i,
            thickness=5.0,
            windows=([40.0], [80.0]),
        )
        blobs.append(path.read_bytes())
    files = []
    for i in range(n):
        path = root / "dicom" / f"{i // 1000:03d}" / f"{i}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(blobs[i % TEMPLATES])
        files.append(path)
    return files


def _files(warmup: bool, root: str, n: int) -> list[Path]:
    files = sorted(Path(root, "dicom").rglob("*.dcm"), key=lambda p: int(p.stem))
    return files[:16] if warmup else files[:n]


def peer(warmup: bool, root: str, n: int, level: int = 1) -> dict:
    """pydicom + PIL (see the module docstring)."""
    import pydicom
    from PIL import Image
    from pydicom.pixels import apply_modality_lut, apply_windowing  # pyright: ignore[reportPrivateImportUsage]  # cv2.imread returns None only for a file that cannot be read; these were just written

    out = Path(tempfile.mkdtemp(dir=root, prefix=f"peer{level}-"))
    files = _files(warmup, root, n)
    for i, path in enumerate(files):
        ds = pydicom.dcmread(path)
        hu = apply_modality_lut(ds.pixel_array, ds)
        windowed = apply_windowing(hu, ds)  # the header's window, range of the stored bits
        lo, hi = (
            (-(2 ** (ds.BitsStored - 1)), 2 ** (ds.BitsStored - 1) - 1)
            if ds.PixelRepresentation
            else (0, 2**ds.BitsStored - 1)
        )
        img = np.clip((windowed - lo) / (hi - lo) * 255 + 0.5, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(out / f"{i}.png", compress_level=level)
    return {"items": len(files), "out": str(out), "png_kb": _kb(out, len(files))}


def ours(warmup: bool, root: str, n: int, workers: int = 1) -> dict:
    from dataprep_assets.defs.ct_hemorrhage.convert import BATCH, PngTask, convert_batch
    from dataprep_assets.lib.parallel import batches, ordered_map

    out = Path(tempfile.mkdtemp(dir=root, prefix="ours-"))
    files = _files(warmup, root, n)
    tasks = [PngTask(str(p), str(out / f"{i}.png"), p.name, 40.0, 80.0, True, 0, 1) for i, p in enumerate(files)]
    for batch in ordered_map(convert_batch, batches(tasks, BATCH), max_workers=workers):
        for result in batch:
            if not result["ok"]:
                raise RuntimeError(result["detail"])
    return {"items": len(files), "out": str(out), "png_kb": _kb(out, len(files))}


def _kb(out: Path, n: int) -> float:
    return sum(p.stat().st_size for p in out.iterdir()) / max(n, 1) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--n", type=int, default=4000, help="slices converted by our path (the seed's scale is ~14,000)"
    )
    parser.add_argument("--peer-n", type=int, default=1000, help="slices converted by pydicom + PIL")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small smoke run (200 slices, 1 run)")
    args = parser.parse_args()
    n, peer_n, runs = (200, 100, 1) if args.quick else (args.n, min(args.peer_n, args.n), args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        build(Path(tmp), n)
        header(
            f"ct DICOM -> windowed PNG: {n} slices 512x512 int16 (written in {time.perf_counter() - start:.0f}s); "
            "slices/s"
        )
        one = measure(MODULE, "ours", "ours, 1 worker (PNG level 1)", runs, unit="img", root=tmp, n=n, workers=1)
        two = measure(
            MODULE, "ours", "ours, 2 workers (PNG level 1)", runs, processes=2, unit="img", root=tmp, n=n, workers=2
        )
        base = measure(
            MODULE, "peer", "pydicom LUTs + PIL, 1 process (PNG level 1)", runs, unit="img", root=tmp, n=peer_n
        )
        ref = measure(
            MODULE, "peer", "pydicom LUTs + PIL, 1 process (PIL default 6)", 1, unit="img", root=tmp, n=peer_n, level=6
        )
        ratio(one, base, "same PNG level, same process count; target >= 3x per core")
        ratio(two, base, "2 worker processes against 1")
        for m in (one, two, base, ref):
            print(f"   {m.label}: {m.extra['png_kb']:.0f} KB per PNG")
        import cv2

        diffs = [
            int(
                np.abs(
                    cv2.imread(f"{one.extra['out']}/{i}.png", cv2.IMREAD_UNCHANGED).astype(int)  # pyright: ignore[reportOptionalMemberAccess]  # cv2.imread returns None only for a file that cannot be read; these were just written
                    - cv2.imread(f"{base.extra['out']}/{i}.png", cv2.IMREAD_UNCHANGED).astype(int)  # pyright: ignore[reportOptionalMemberAccess]  # cv2.imread returns None only for a file that cannot be read; these were just written
                ).max()
            )
            for i in range(20)
        ]
        print(f"   pixels, ours vs pydicom + PIL on 20 slices: max abs difference {max(diffs)} (of 255)")


if __name__ == "__main__":
    main()
