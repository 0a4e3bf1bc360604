"""ct_hemorrhage whole pipeline: wall time and peak memory of the real Dagster job, at two sizes.

Generates the sample inputs at `--scale` times the seed's size (1.0: ~7,000 v3 + ~3,800 Roboflow
labelled images, ~4,800 no-hemorrhage DICOM slices; ~15,000 originals, ~36,000 published images after
the 3x), then materializes `ct_hemorrhage_job` in a fresh process (in-process executor, workers = the
cores) and samples the summed RSS of that process and all its workers every 0.2 s. Runs the same at a
quarter of the size: the peak must not grow with the image count.

The naive counterpart is the seed's sequence of scripts; its figure is the seed's own (2-4 h download +
30-60 min preparation), so only ours is run here.

Usage: python -m benchmarks.ct_pipeline [--scale 0.25] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SEED = {"v3_patients": 1550, "roboflow_patients": 840, "pool_patients": 1200}
"""~7,000 v3 + ~3,800 Roboflow images; the pool (~4,800 slices before the thickness filter) covers the shortfall."""


def tree_rss_mb(root_pid: int) -> float:
    """Summed resident memory of a process and all its descendants, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    parents[int(entry)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    members, frontier = {root_pid}, [root_pid]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in members:
                members.add(child)
                frontier.append(child)
    total = 0
    for pid in members:
        try:
            with open(f"/proc/{pid}/statm") as fh:
                total += int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return total / 2**20


def run_sampled(cmd: list[str], env: dict | None = None) -> tuple[str, float]:
    """Run `cmd`, sampling the summed RSS of it and its workers every 0.2 s; (stdout, peak MB)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    peak = [0.0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], tree_rss_mb(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, _ = proc.communicate()
    sampler.join()
    if proc.returncode:
        raise RuntimeError(f"{cmd} exited with {proc.returncode}")
    return out, peak[0]


def child(root: str) -> None:
    import dagster as dg

    from dataprep_assets.common.store import LocalDatasetStore
    from dataprep_assets.definitions import defs

    job = defs().resolve_job_def("ct_hemorrhage_job")
    with dg.instance_for_test() as instance:
        start = time.perf_counter()
        # every candidate is fetched (the seed's default of 3,875 is below this synthetic set's shortfall)
        run_config = {"ops": {"no_hem_dicoms": {"config": {"max_images": 0}}}}
        result = job.execute_in_process(instance=instance, resources={"store": LocalDatasetStore(root=root)}, run_config=run_config, raise_on_error=False)
        seconds = time.perf_counter() - start
        checks = [e for e in result.get_asset_check_evaluations()]
        meta = {e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()} for e in result.get_asset_materialization_events()}
    print(json.dumps({
        "success": result.success, "seconds": seconds, "checks": len(checks), "checks_passed": sum(c.passed for c in checks),
        "failed_checks": [f"{c.asset_key.to_user_string()}:{c.check_name}" for c in checks if not c.passed],
        "published_images": meta.get("augmented_coco_6class", {}).get("dagster/row_count", 0),
        "pngs_per_s": meta.get("no_hem_pngs", {}).get("run_info", {}).get("images_per_second", 0),
        "augmented_per_s": meta.get("augmented_coco_6class", {}).get("run_info", {}).get("augmented_per_second", 0),
        "labelled": meta.get("labelled_coco", {}).get("images", 0), "dicoms": meta.get("no_hem_dicoms", {}).get("attempted", 0),
    }))


def run(scale: float, tmp: Path) -> dict:
    from dataprep_assets.sample_data.ct_hemorrhage import generate

    root = tmp / f"scale-{scale}"
    start = time.perf_counter()
    generate(root, seed=0, upload=False, **{k: max(int(v * scale), 12) for k, v in SEED.items()})
    generated = time.perf_counter() - start
    env = {**os.environ, "DAGSTER_HOME": str(tmp / "home"), "PYTHONWARNINGS": "ignore"}
    (tmp / "home").mkdir(exist_ok=True)
    out, peak = run_sampled([sys.executable, "-m", "benchmarks.ct_pipeline", "--child", str(root)], env)
    result = json.loads(out.strip().splitlines()[-1])
    return result | {"scale": scale, "generated_s": generated, "peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=0.25, help="size relative to the seed's (~14,300 originals at 1.0)")
    parser.add_argument("--quick", action="store_true", help="small smoke run (scale 0.02 and 0.005)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child)
    scales = (0.02, 0.005) if args.quick else (args.scale, args.scale / 4)
    print(f"ct_hemorrhage whole pipeline on {os.cpu_count()} cores, scales {scales} of the seed's size")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [run(s, Path(tmp)) for s in scales]
    for r in rows:
        print(f"scale {r['scale']:<6} {r['labelled']:>6} labelled + {r['dicoms']:>5} DICOM -> {r['published_images']:>6} published images: "
              f"{r['seconds']:7.1f}s wall, peak RSS {r['peak_mb']:6.0f} MB (main + workers), checks {r['checks_passed']}/{r['checks']} passed, "
              f"{r['pngs_per_s']} PNG/s, {r['augmented_per_s']} augmented/s (inputs generated in {r['generated_s']:.0f}s)"
              + (f"; failed: {', '.join(r['failed_checks'])}" if r["failed_checks"] else ""))
    big, small = rows
    per_image = big["seconds"] / max(big["published_images"], 1)
    print(f"extrapolated to the seed's ~34,000 published images: {per_image * 34000 / 60:.1f} min wall; "
          f"peak memory at {big['scale']} vs {small['scale']} of the size: {big['peak_mb']:.0f} vs {small['peak_mb']:.0f} MB (target < 1,500 MB, independent of size)")


if __name__ == "__main__":
    main()
