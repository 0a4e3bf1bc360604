"""Scaling of the per-item work over workers: local processes and a Dask cluster, with parallel efficiency.

    .venv/bin/python -m benchmarks.scaling [--frames 60] [--slices 800] [--images 200] [--runs 1]
                                           [--max-workers N] [--no-main] [--quick]

Three workloads, the asset's own per-item functions on synthetic data (the inputs of
benchmarks/cell_qa_crops.py, ct_dicom_to_png.py and ct_augment.py):

- crop extraction: `process_frame` per frame (512x512, ~300 competitor cells, stacked layout), cells/s;
- DICOM -> PNG: `convert_batch` (16 slices per task), slices/s;
- augmentation: `augment_batch` (8 images per task, 2 augmented copies each), written images/s.

Each workload runs at 1, 2, 4, ... workers up to the cores present (`--max-workers`), on the local backend
(spawned worker processes; 1 worker runs inline) and on a Dask `LocalCluster` with that many
single-threaded worker processes over TCP on loopback (started once per worker count, outside the timed
call). Worker processes are started and have run the warm-up items in the warm-up call (a local pool
kept open for the child's two calls; every Dask worker), so the timed call measures steady-state
throughput, not process start-up (seconds per worker on a loaded machine, paid once per step).
Parallel efficiency = throughput / (workers x the local 1-worker throughput). Every timed call is
a fresh child process after a warm-up call (benchmarks/_harness.py). "main, 1 worker" runs the same
job on the code of another checkout (`--main DIR`), in the same run, so the single-worker
line of this branch can be compared with what it replaces (the target: no more than 5% slower).

The per-CPU-second column counts the child and the worker processes it joined: it means something for
the 1-worker rows only (pooled and Dask workers are not joined inside the timed call); wall-clock counts.
"""

from __future__ import annotations

import argparse
import importlib
import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from benchmarks._harness import Measurement, header, measure

MODULE = "benchmarks.scaling"
CROP = 64


_POOLS: dict = {}
"""Local backends kept open across the warm-up and the timed call of one child: steady-state throughput."""


def _import(module: str) -> None:
    importlib.import_module(module)


def _ordered_map(fn, items, workers: int, address: str, warmup: bool):
    """The map the assets use; a Dask address selects the Dask backend (this branch's code only).

    Worker start-up is paid in the warm-up call on both backends (every Dask worker imports the task's
    module then), so the timed call measures the work, not process start-up."""
    from dataprep_assets.lib.parallel import ordered_map

    if address:
        from distributed import Client

        from dataprep_assets.lib.compute import DaskBackend

        if warmup:  # every worker imports the module and runs the warm-up items (lazy imports inside)
            with Client(address) as client:
                client.run(_import, fn.__module__)
                items = list(items) * 2 * len(client.scheduler_info()["workers"])
        return ordered_map(fn, items, backend=DaskBackend(address))
    if workers > 1:
        from dataprep_assets.lib.compute import LocalBackend

        if workers not in _POOLS:
            _POOLS[workers] = LocalBackend(workers).__enter__()
        if warmup:  # every worker process starts and runs the warm-up items
            items = list(items) * 2 * workers
        return ordered_map(fn, items, backend=_POOLS[workers])
    return ordered_map(fn, items, max_workers=workers)


def crops(warmup: bool, root: str, frames: int, workers: int = 1, address: str = "") -> dict:
    from benchmarks.cell_qa_crops import _tasks
    from dataprep_assets.defs.cell_qa.extract import process_frame_star

    out = Path(tempfile.mkdtemp(dir=root))
    (out / "stacks").mkdir()
    args = [(t, root, str(out), CROP, "stacked") for t in _tasks(warmup, root, frames)]
    results = _ordered_map(process_frame_star, args, workers, address, warmup)
    return {"items": sum(len(o.cells["cell_id"]) for r in results for o in r.outputs if o.cells is not None)}


def pngs(warmup: bool, root: str, n: int, workers: int = 1, address: str = "") -> dict:
    from benchmarks.ct_dicom_to_png import _files
    from dataprep_assets.defs.ct_hemorrhage.convert import BATCH, PngTask, convert_batch
    from dataprep_assets.lib.parallel import batches

    out = Path(tempfile.mkdtemp(dir=root, prefix="png-"))
    files = _files(warmup, root, n)
    tasks = [PngTask(str(p), str(out / f"{i}.png"), p.name, 40.0, 80.0, True, 0, 1) for i, p in enumerate(files)]
    chunks = _ordered_map(convert_batch, batches(tasks, BATCH), workers, address, warmup)
    failed = [r["detail"] for batch in chunks for r in batch if not r["ok"]]
    if failed:
        raise RuntimeError(f"{len(failed)} slices failed: {failed[:3]}")
    return {"items": len(tasks)}


def augment(warmup: bool, root: str, n: int, workers: int = 1, address: str = "") -> dict:
    from benchmarks.ct_augment import _inputs
    from dataprep_assets.defs.ct_hemorrhage.augment import AugTask, augment_batch
    from dataprep_assets.lib.parallel import batches

    out = tempfile.mkdtemp(dir=root)
    tasks = [AugTask(str(p), out, p.name, b, 2, 42, 95, 2.0, 0.3) for p, b in _inputs(Path(root), 4 if warmup else n)]
    chunks = _ordered_map(augment_batch, batches(tasks, 8), workers, address, warmup)
    return {"items": sum(len(w) - 1 for chunk in chunks for w in chunk)}


@contextmanager
def _main_code(main: Path):
    """Run children on main's `dataprep_assets` with this branch's `benchmarks` (`python -m` puts the
    working directory first on sys.path, so the children start in a directory holding both)."""
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(main / "dataprep_assets", Path(tmp) / "dataprep_assets")
        os.symlink(Path(here) / "benchmarks", Path(tmp) / "benchmarks")
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(here)


@contextmanager
def _dask_cluster(workers: int):
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        dashboard_address=None,  # pyright: ignore[reportArgumentType]
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def _counts(max_workers: int) -> list[int]:
    counts, w = [], 1
    while w <= max_workers:
        counts.append(w)
        w *= 2
    return counts if counts[-1] == max_workers else [*counts, max_workers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=60, help="crop extraction: 512x512 frames (~300 cells each)")
    parser.add_argument("--slices", type=int, default=800, help="DICOM -> PNG: 512x512 slices")
    parser.add_argument("--images", type=int, default=200, help="augmentation: source images (2 copies each)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--max-workers", type=int, default=0, help="0 = the cores present")
    parser.add_argument("--main", default="", help="a checkout of main to compare the 1-worker line with (optional)")
    parser.add_argument("--no-main", action="store_true")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--workloads", default="crops,pngs,augment", help="comma-separated subset")
    parser.add_argument("--quick", action="store_true", help="smoke run: 6 frames, 64 slices, 16 images")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.slices, args.images = 6, 64, 16
    from dataprep_assets.lib.compute import resolve_workers

    cores = args.max_workers or resolve_workers(0)
    counts = _counts(cores)
    from benchmarks import cell_qa_crops, ct_augment, ct_dicom_to_png

    with tempfile.TemporaryDirectory() as tmp:
        roots = {name: Path(tmp, name) for name in ("crops", "pngs", "augment")}
        for root in roots.values():
            root.mkdir()
        start = time.perf_counter()
        cell_qa_crops.build_tree(roots["crops"], args.frames)
        ct_dicom_to_png.build(roots["pngs"], args.slices)
        ct_augment.build(roots["augment"], args.images)
        header(
            f"per-item scaling: {args.frames} frames (crops), {args.slices} slices (DICOM->PNG), {args.images} images "
            f"(augmentation x2); workers {counts}; inputs written in {time.perf_counter() - start:.0f}s"
        )
        workloads = {
            "crops": ("cells", {"root": str(roots["crops"]), "frames": args.frames}),
            "pngs": ("img", {"root": str(roots["pngs"]), "n": args.slices}),
            "augment": ("img", {"root": str(roots["augment"]), "n": args.images}),
        }
        workloads = {k: v for k, v in workloads.items() if k in args.workloads.split(",")}
        results: dict[tuple[str, str, int], Measurement] = {}
        if args.main and not args.no_main and Path(args.main, "dataprep_assets").is_dir():
            with _main_code(Path(args.main).resolve()):
                for job, (unit, params) in workloads.items():
                    results[(job, "main", 1)] = measure(
                        MODULE, job, f"{job}: main, 1 worker", args.runs, unit=unit, workers=1, **params
                    )
        for job, (unit, params) in workloads.items():
            for w in counts:
                results[(job, "local", w)] = measure(
                    MODULE, job, f"{job}: local, {w} worker(s)", args.runs, processes=w, unit=unit, workers=w, **params
                )
        if not args.no_dask:
            for w in counts:
                with _dask_cluster(w) as address:
                    for job, (unit, params) in workloads.items():
                        results[(job, "dask", w)] = measure(
                            MODULE,
                            job,
                            f"{job}: dask, {w} worker(s)",
                            args.runs,
                            processes=w,
                            unit=unit,
                            address=address,
                            **params,
                        )
        print("\n   parallel efficiency = throughput / (workers x local 1-worker throughput)")
        print(f"   {'workload':<10} {'backend':<7} {'workers':>7} {'items/s':>10} {'speed-up':>9} {'efficiency':>10}")
        for job in workloads:
            single = results[(job, "local", 1)].rate
            for (name, backend, w), m in results.items():
                if name != job:
                    continue
                print(
                    f"   {job:<10} {backend:<7} {w:>7} {m.rate:>10,.0f} {m.rate / single:>8.2f}x "
                    f"{m.rate / (w * single):>9.0%}"
                )
            if (job, "main", 1) in results:
                change = single / results[(job, "main", 1)].rate - 1
                print(f"   {job}: this branch's 1-worker throughput vs main's: {change:+.1%} (target > -5%)")


if __name__ == "__main__":
    main()
