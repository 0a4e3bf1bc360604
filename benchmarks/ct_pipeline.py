"""ct_hemorrhage whole pipeline: wall time and peak memory of the real Dagster job at several sizes.

    .venv/bin/python -m benchmarks.ct_pipeline [--scales 0.25,1] [--quick] [--workers N]

Generates the sample inputs at each scale of the seed's size (1.0: ~7,000 v3 + ~3,800 Roboflow
labelled images and ~4,800 no-hemorrhage DICOM slices; what the job publishes is printed: ~39,000
images at 1.0 after the 3x train augmentation), then materializes `ct_hemorrhage_job` in a fresh child
process (in-process executor). Workers: pinned to `--workers` (default: the cores) at every scale, for
every step that would choose its own count (`DATAPREP_WORKERS`), so each scale runs the same process tree;
unpinned (`--workers 0`), small scales run their per-image steps inline and large ones start worker
processes (~100 MB PSS each), and the comparison would measure the process count, not the tables.
Memory: the PSS of the child and its workers, sampled every 50 ms (benchmarks/_harness.py); the peak of
each step at each scale is printed side by side, with its growth per extra published image, so growth can
be traced to an asset. The timed call is the first materialization in that process (as a scheduled run
is): no warm-up. The peak must not grow with the image count.

The naive counterpart is the seed's sequence of scripts; its figure is the seed's own (2-4 h download +
30-60 min preparation), so only ours is run here: no ratio.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks._harness import header, measure

SEED = {"v3_patients": 1550, "roboflow_patients": 840, "pool_patients": 1200}
"""~7,000 v3 + ~3,800 Roboflow images; the pool (~4,800 slices before the thickness filter) covers the shortfall."""


def pipeline(warmup: bool, root: str) -> dict:
    if warmup:
        return {}
    import dagster as dg

    from dataprep_assets.common.store import LocalDatasetStore
    from dataprep_assets.definitions import defs

    job = defs().resolve_job_def("ct_hemorrhage_job")
    with dg.instance_for_test() as instance:
        # every candidate is fetched (the seed's default of 3,875 is below this synthetic set's shortfall)
        run_config = {"ops": {"no_hem_dicoms": {"config": {"max_images": 0}}}}
        result = job.execute_in_process(
            instance=instance,
            resources={"store": LocalDatasetStore(root=root)},
            run_config=run_config,
            raise_on_error=False,
        )
        checks = list(result.get_asset_check_evaluations())
        meta = {
            e.materialization.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events()
        }
        steps: dict[str, list[float]] = {}
        for entry in instance.all_logs(result.run_id):  # each step's window: from its start to its end
            kind = entry.dagster_event.event_type_value if entry.dagster_event is not None else ""
            if entry.step_key and kind in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
                window = steps.setdefault(entry.step_key, [entry.timestamp, entry.timestamp])
                window[0], window[1] = min(window[0], entry.timestamp), max(window[1], entry.timestamp)
    return {
        "items": meta.get("augmented_coco_6class", {}).get("dagster/row_count", 0),
        "success": result.success,
        "checks": len(checks),
        "checks_passed": sum(c.passed for c in checks),
        "failed_checks": [f"{c.asset_key.to_user_string()}:{c.check_name}" for c in checks if not c.passed],
        "pngs_per_s": meta.get("no_hem_pngs", {}).get("run_info", {}).get("images_per_second", 0),  # pyright: ignore[reportAttributeAccessIssue, reportOptionalMemberAccess]  # Dagster types a metadata value as a union of every kind
        "augmented_per_s": meta.get("augmented_coco_6class", {}).get("run_info", {}).get("augmented_per_second", 0),  # pyright: ignore[reportAttributeAccessIssue, reportOptionalMemberAccess]  # Dagster types a metadata value as a union of every kind
        "labelled": meta.get("labelled_coco", {}).get("images", 0),
        "dicoms": meta.get("no_hem_dicoms", {}).get("attempted", 0),
        "steps": steps,
    }


def run(scale: float, tmp: Path, runs: int, workers: int):
    from dataprep_assets.sample_data.ct_hemorrhage import generate

    root = tmp / f"scale-{scale}"
    start = time.perf_counter()
    generate(root, seed=0, **{k: max(int(v * scale), 12) for k, v in SEED.items()})  # pyright: ignore[reportArgumentType]  # the ** dict holds only the int size parameters of generate
    generated = time.perf_counter() - start
    (tmp / "home").mkdir(exist_ok=True)
    env = {**os.environ, "DAGSTER_HOME": str(tmp / "home"), "PYTHONWARNINGS": "ignore"}
    env.pop("DATAPREP_WORKERS", None)
    if workers:
        env["DATAPREP_WORKERS"] = str(workers)
    m = measure(
        "benchmarks.ct_pipeline",
        "pipeline",
        f"scale {scale} (inputs generated in {generated:.0f}s)",
        runs,
        processes=workers or os.cpu_count() or 1,
        unit="img",
        env=env,
        root=str(root),
    )
    r = m.extra
    print(
        f"   scale {scale}: {r['labelled']:,} labelled + {r['dicoms']:,} DICOM -> {m.items:,} published images; "
        f"checks {r['checks_passed']}/{r['checks']} passed"
        + (f"; failed: {', '.join(r['failed_checks'])}" if r["failed_checks"] else "")
    )
    raised = []  # how far each step pushed the high-water mark above everything before it
    m.extra["step_peaks"] = {}
    for step, (t0, t1) in r["steps"].items():
        before = max((mb for t, mb in m.timeline if t < t0), default=0.0)
        inside = max((mb for t, mb in m.timeline if t0 <= t <= t1 + 0.05), default=0.0)
        m.extra["step_peaks"][step] = inside
        if inside > before:
            raised.append((inside - before, inside, step))
    print(
        "   steps that raised the peak PSS: "
        + ", ".join(f"{step} +{up:.0f} MB (to {mb:.0f})" for up, mb, step in sorted(raised, reverse=True)[:6])
    )
    return m


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="0.25,1", help="comma-separated sizes relative to the seed's")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small smoke run (scales 0.005 and 0.02)")
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes of every per-image step, the same at each scale (default: the cores; 0: each step "
        "chooses, inline for small batches, as in production)",
    )
    args = parser.parse_args()
    scales = (0.005, 0.02) if args.quick else tuple(float(s) for s in args.scales.split(","))
    pinned = f"workers pinned to {args.workers} at every scale" if args.workers else "workers chosen by each step"
    header(
        f"ct_hemorrhage whole pipeline (ct_hemorrhage_job), scales {scales} of the seed's size, {pinned}; "
        "published images/s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(s, Path(tmp), args.runs, args.workers) for s in scales]
    small, big = rows[0], rows[-1]
    step_table(rows)
    growth = (big.peak_mb - small.peak_mb) / small.peak_mb
    print(
        f"   peak PSS {small.peak_mb:.0f} MB at {small.items:,} images vs {big.peak_mb:.0f} MB at {big.items:,} "
        f"({growth:+.1%}): {(big.peak_mb - small.peak_mb) / max(big.items - small.items, 1) * 1024:.2f} KB per extra "
        f"published image; {pinned} (targets: < 1,500 MB; flat within 10%)"
    )


def step_table(rows: list) -> None:
    """Each step's peak PSS at each scale, and its growth per extra published image from the first to the last;
    a step that did not run at every scale (a blocking check failed at a small one) is named, not compared."""
    small, big = rows[0], rows[-1]
    everywhere = [s for s in big.extra["step_peaks"] if all(s in m.extra["step_peaks"] for m in rows)]
    skipped = sorted({s for m in rows for s in m.extra["step_peaks"]} - set(everywhere))
    extra = max(big.items - small.items, 1)
    print("   peak PSS inside each step (MB) at " + " / ".join(f"{m.items:,}" for m in rows) + " published images:")
    for step in sorted(everywhere, key=lambda s: -(big.extra["step_peaks"][s] - small.extra["step_peaks"][s])):
        peaks = [m.extra["step_peaks"][step] for m in rows]
        per_image = (peaks[-1] - peaks[0]) / extra * 1024
        print(f"     {step:<60} " + " ".join(f"{p:7.0f}" for p in peaks) + f"  {per_image:+7.2f} KB/image")
    if skipped:
        print(
            f"   NOT COMPARABLE: {len(skipped)} steps did not run at every scale (a blocking check failed at a small "
            f"one, so the job stopped early there): {', '.join(skipped[:8])}{' ...' if len(skipped) > 8 else ''}"
        )


if __name__ == "__main__":
    main()
