"""Versioned storage: bytes for successive versions, and checkout time and memory vs file count.

1. Storage: a dataset of N files (CT-PNG-sized, random bytes so nothing compresses) is written, then 9 more
   versions, each after a batch that adds 1% new files and changes nothing else (an upload batch).
   Printed: bytes of one version, bytes of all objects for the 10 versions, and their ratio
   (target <= 1.2x). The naive side is what a folder-per-version copy (`cp -r` per release) costs.
2. Checkout: a version of 5,000 and of 15,000 files is checked out (copy + SHA-256 verify of every
   byte) in a fresh child process each; wall time and the child's peak RSS (from the OS, `ru_maxrss`)
   are printed, to show that memory does not grow with the file count.

Usage: python -m benchmarks.versions_store [--files 15000] [--size 20000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.lib.versions import OBJECTS_DIR


def _write(store: LocalDatasetStore, names: list[str], size: int) -> None:
    with store.write_dir("training_datasets/set") as staged:
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


def _child_checkout(root: str, dest: str) -> None:
    store = LocalDatasetStore(root=root)
    record = store.versions("training_datasets/set")[-1]
    started = time.perf_counter()
    store.checkout(record, dest)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{record.file_count}\t{elapsed:.3f}\t{peak:.1f}")


def checkout(files: int, size: int) -> None:
    for count in (files // 3, files):
        times, peaks = [], []
        with tempfile.TemporaryDirectory() as tmp:
            store = LocalDatasetStore(root=tmp)
            _write(store, [f"{i:07d}.png" for i in range(count)], size)
            for run in range(3):
                out = (
                    subprocess.run(
                        [
                            sys.executable,
                            "-c",
                            f"from benchmarks.versions_store import _child_checkout; _child_checkout({tmp!r}, "
                            f"{tmp + f'/co{run}'!r})",
                        ],
                        check=True,
                        capture_output=True,
                        text=True,
                    )
                    .stdout.strip()
                    .split("\t")
                )
                times.append(float(out[1]))
                peaks.append(float(out[2]))
        times.sort()
        print(
            f"checkout {count:6,} files: median {times[1]:.2f}s (min {times[0]:.2f}, max {times[2]:.2f}; 3 runs), "
            f"{count / times[1]:,.0f} files/s, peak RSS {max(peaks):.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=15_000)
    parser.add_argument(
        "--size", type=int, default=20_000, help="bytes per file (a windowed 512x512 CT PNG is ~60-120 kB)"
    )
    args = parser.parse_args()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    storage(args.files, args.size)
    checkout(args.files, args.size)


if __name__ == "__main__":
    main()
