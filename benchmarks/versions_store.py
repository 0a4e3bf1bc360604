"""Versioned storage: bytes for successive versions, and checkout time and memory vs file count.

1. Storage: a dataset of N files (CT-PNG-sized, random bytes so nothing compresses) is written, then 9 more
   versions, each after a batch that adds 1% new files and changes nothing else (an upload batch).
   Printed: bytes of one version, bytes of all objects for the 10 versions, and their ratio
   (target <= 1.2x). The naive side, the simplest way to keep every version readable as a folder (the same
   output), is a folder copy per version (`cp -r` per release): its bytes are counted, not written.
2. Checkout: a version of N/3 and of N files (5,000 and 15,000) is checked out (copy + SHA-256 verify
   of every byte) in fresh child processes, 3 runs each (benchmarks/_harness.py: the warm-up checks out
   a 20-file dataset of the same store, then the timed call checks out the big one into a fresh
   folder; peak memory is the sampled PSS of the process tree): files/s (median and spread), per
   CPU-second and peak PSS, to show that memory does not grow with the file count. No naive side: the
   figure is ours alone.

Usage: python -m benchmarks.versions_store [--files 15000] [--size 20000] [--runs 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks._harness import column_names, header, measure
from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.lib.versions import OBJECTS_DIR

MODULE = "benchmarks.versions_store"
WARMUP_FILES = 20


def _write(store: LocalDatasetStore, names: list[str], size: int, dataset: str = "training_datasets/set") -> None:
    with store.write_dir(dataset) as staged:
        for name in names:
            seed = int(name.split(".")[0])
            data = (seed.to_bytes(8, "little") * (size // 8 + 1))[:size]
            (staged.path / name).write_bytes(data)


def storage(files: int, size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalDatasetStore(root=tmp)
        names = [f"{i:07d}.png" for i in range(files)]
        _write(store, names, size)
        one = sum(p.stat().st_size for p in Path(tmp, OBJECTS_DIR).glob("??/*"))
        for step in range(9):
            extra = max(1, files // 100)
            names += [f"{files + step * extra + i:07d}.png" for i in range(extra)]
            _write(store, names, size)
        objects = sum(p.stat().st_size for p in Path(tmp, OBJECTS_DIR).glob("??/*"))
        records = sum(p.stat().st_size for p in Path(tmp, "_versions").rglob("*") if p.is_file())
        naive = sum(v.total_bytes for v in store.versions("training_datasets/set"))
        print(
            f"storage  {len(store.versions('training_datasets/set'))} versions, {files:,} -> {len(names):,} files of "
            f"{size:,} B"
        )
        print(f"  one version (objects)          {one / 1e6:10.1f} MB")
        print(
            f"  10 versions (objects + records) {(objects + records) / 1e6:9.1f} MB  = "
            f"{(objects + records) / one:.3f}x one version (target <= 1.2x)"
        )
        print(f"  naive folder copy per version  {naive / 1e6:10.1f} MB  = {naive / one:.2f}x")


def checkout_job(warmup: bool, root: str) -> dict:
    """Check out the newest version (the warm-up: the small dataset's) into a fresh folder."""
    store = LocalDatasetStore(root=root)
    record = store.versions("training_datasets/warmup" if warmup else "training_datasets/set")[-1]
    store.checkout(record, tempfile.mkdtemp(dir=root, prefix="checkout-"))
    return {"items": record.file_count}


def checkout(files: int, size: int, runs: int) -> None:
    peaks = []
    for count in (files // 3, files):
        with tempfile.TemporaryDirectory() as tmp:
            store = LocalDatasetStore(root=tmp)
            _write(store, [f"{i:07d}.png" for i in range(count)], size)
            _write(store, [f"{i:07d}.png" for i in range(WARMUP_FILES)], size, "training_datasets/warmup")
            m = measure(
                MODULE, "checkout_job", f"checkout of {count:,} files of {size:,} B", runs, unit="files", root=tmp
            )
            peaks.append(m.peak_mb)
    print(
        f"   peak PSS {files // 3:,} -> {files:,} files: {peaks[0]:.0f} -> {peaks[1]:.0f} MB "
        f"({peaks[1] / peaks[0] - 1:+.0%} for 3x the files)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=15_000)
    parser.add_argument(
        "--size", type=int, default=20_000, help="bytes per file (a windowed 512x512 CT PNG is ~60-120 kB)"
    )
    parser.add_argument("--runs", type=int, default=3, help="checkout runs per size")
    args = parser.parse_args()
    header(f"versioned storage: {args.files:,} files of {args.size:,} B; checkout files/s", columns=False)
    storage(args.files, args.size)
    column_names("checkout")
    checkout(args.files, args.size, args.runs)


if __name__ == "__main__":
    main()
