"""Incremental rebuilds: the cost of a refresh after an upload batch, against a from-scratch build.

ct_hemorrhage: the whole `ct_hemorrhage_job` at `--ct-scale` times the seed's size is built from scratch
with the no-hemorrhage fetch capped at 99% of the candidates; then the cap is lifted (a batch adding 1%
new no-hemorrhage slices arrives) and the job runs again, as the upload automation would. Printed: both
wall times, their ratio (target <= 10%), and computed vs reused items of the heavy steps (DICOM -> PNG
slices, augmented images).

cell_qa: `cell_qa_job` over `--cell-frames` frames per sequence with 5% of the frames held back; then they
arrive and the job runs again (target <= 15% of from scratch). Printed: both wall times, their ratio,
and (frame, competitor) pairs computed vs reused.

Dagster floor: each job's assets and checks rebuilt as no-ops (same keys, dependencies and checks), run the same
way, in fresh child processes (benchmarks/_harness.py: the no-op job is built and run once as the warm-up, then
one timed run on a fresh instance made before it; 3 runs, median and spread, peak PSS); what a rebuild costs
beyond it is the pipeline's own work.

Both sides run in the same fresh child process per pipeline (in-process executor, workers = all cores),
back to back, on the same inputs, one run each (each is a different state of the store: the "from scratch"
figure is the first build, which has nothing to reuse; the rebuild the second). The rebuild's output equals a
from-scratch build of the final inputs (the tests check that bytes are identical). The naive side is a
from-scratch build of the final inputs: the same job, the same output, nothing reused.

Usage: python -m benchmarks.incremental_rebuild [--ct-scale 1.0] [--cell-frames 20] [--only cell_qa|ct]
                                              [--inputs DIR]

`--inputs DIR` keeps the generated ct inputs (minutes to write at 1x) in DIR and links them into each run.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from benchmarks._harness import Measurement, header, measure

MODULE = "benchmarks.incremental_rebuild"
SEED = {"v3_patients": 1550, "roboflow_patients": 840, "pool_patients": 1200}


def _run(job_name: str, root: str, run_config: dict, assets: list[str] | None = None) -> tuple[float, dict]:
    import dagster as dg

    from dataprep_assets.definitions import defs

    os.environ["DATAPREP_STORE_ROOT"] = root  # the code location's store resource reads it when defs() builds
    os.environ.pop("DATAPREP_STORE_URL", None)
    job = defs().resolve_job_def(job_name)
    selection = [dg.AssetKey(a) for a in assets] if assets else None
    with dg.instance_for_test() as instance:
        start = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            run_config=run_config,
            raise_on_error=False,
            asset_selection=selection,
        )
        seconds = time.perf_counter() - start
        steps = _step_seconds(instance, result.run_id)
    if not result.success:
        raise SystemExit(f"{job_name} failed")
    meta: dict[str, dict] = {
        e.materialization.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    meta["_steps"] = steps
    return seconds, meta


def _step_seconds(instance, run_id: str) -> dict[str, float]:
    """Seconds per step of a run, slowest first (from the run's STEP_START / STEP_SUCCESS events)."""
    import dagster as dg

    starts, seconds = {}, {}
    for record in instance.get_records_for_run(
        run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    ).records:
        entry = record.event_log_entry
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            starts[entry.step_key] = entry.timestamp
        elif entry.step_key in starts:
            seconds[entry.step_key] = round(entry.timestamp - starts[entry.step_key], 2)
    return dict(sorted(seconds.items(), key=lambda kv: -kv[1]))


def _generated_inputs(root: str, scale: float, kept: str) -> None:
    """The ct sample inputs at `scale` under `root`: generated, or hard-linked from `kept` (generated there once;
    minutes at 1x) when given. The job only reads its raw inputs, so links are safe."""
    from dataprep_assets.sample_data.ct_hemorrhage import generate

    sizes = {k: max(4, round(v * scale)) for k, v in SEED.items()}
    if not kept:
        generate(root, seed=0, **sizes)  # pyright: ignore[reportArgumentType]  # the ** dict holds only the int size parameters of generate
        return
    source = Path(kept, f"ct-{scale:g}x-seed0")
    if not (source / ".complete").exists():
        shutil.rmtree(source, ignore_errors=True)
        generate(str(source), seed=0, **sizes)  # pyright: ignore[reportArgumentType]  # as above
        (source / ".complete").touch()
    shutil.copytree(source, root, copy_function=os.link, ignore=shutil.ignore_patterns(".complete"))


def child_ct(root: str, scale: float, kept: str = "") -> None:
    _generated_inputs(root, scale, kept)
    _, meta = _run("ct_hemorrhage_job", root, {}, assets=["labelled_coco", "no_hem_candidates"])
    candidates = meta["no_hem_candidates"]["dagster/row_count"]
    cap = max(1, int(candidates * 0.99))
    scratch, m1 = _run("ct_hemorrhage_job", root, {"ops": {"no_hem_dicoms": {"config": {"max_images": cap}}}})
    rebuild, m2 = _run("ct_hemorrhage_job", root, {"ops": {"no_hem_dicoms": {"config": {"max_images": 0}}}})
    print(
        json.dumps(
            {
                "candidates": candidates,
                "cap": cap,
                "scratch_s": scratch,
                "rebuild_s": rebuild,
                "published": m2["augmented_coco_6class"]["dagster/row_count"],
                "slices": [m2["no_hem_pngs"]["slices_computed"], m2["no_hem_pngs"]["slices_reused"]],
                "images": [
                    m2["augmented_coco_6class"]["images_computed"],
                    m2["augmented_coco_6class"]["images_reused"],
                ],
                "scratch_slices": m1["no_hem_pngs"]["slices_computed"],
                "scratch_steps": dict(list(m1["_steps"].items())[:8]),
                "rebuild_steps": dict(list(m2["_steps"].items())[:8]),
            }
        )
    )


def child_cell(root: str, frames: int) -> None:
    from dataprep_assets.sample_data.cell_qa import generate

    generate(root, seed=0, sequences=5, frames=frames, size=512)
    raw = Path(root) / "raw" / "cell_qa"
    held = sorted(
        p
        for p in raw.rglob("*.tif")
        if p.stem[-3:].isdigit() and int(p.stem[-3:]) >= frames - max(1, round(0.05 * frames * 5) // 5)
    )
    stash = Path(root).parent / "stash"
    for path in held:
        target = stash / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)
    config = {"ops": {"cell_crops": {"config": {"layout": "stacked"}}}}
    scratch, m1 = _run("cell_qa_job", root, config)
    for path in stash.rglob("*.tif"):
        shutil.move(path, Path(root) / path.relative_to(stash))
    rebuild, m2 = _run("cell_qa_job", root, config)
    crops = m2["cell_crops"]
    print(
        json.dumps(
            {
                "scratch_s": scratch,
                "rebuild_s": rebuild,
                "cells": crops["cells"],
                "pairs": [crops["pairs_computed"], crops["pairs_reused"]],
                "held_files": len(held),
                "scratch_steps": dict(list(m1["_steps"].items())[:8]),
                "rebuild_steps": dict(list(m2["_steps"].items())[:8]),
            }
        )
    )


_FLOOR: dict = {}


def floor(warmup: bool, job_name: str, group: str) -> dict:
    """Dagster's own cost of a run of `job_name`: the same assets and checks, each a no-op, timed the same way.
    Warm-up: build the no-op job and run it once."""
    import dagster as dg

    if warmup:
        from dataprep_assets.definitions import defs

        graph = defs().resolve_job_def(job_name).asset_layer.asset_graph
        assets, checks = [], []
        for key in sorted(graph.get_all_asset_keys()):
            node = graph.get(key)
            if not node.is_materializable or node.group_name != group:
                continue
            assets.append(dg.asset(key=key, deps=list(node.parent_keys))(_noop_asset))
            checks += [dg.asset_check(asset=key, name=ck.name)(_noop_check) for ck in node.check_keys]
        _FLOOR.update(
            assets=len(assets),
            checks=len(checks),
            job=dg.Definitions(
                assets=assets, asset_checks=checks, jobs=[dg.define_asset_job("noop", dg.AssetSelection.all())]
            ).resolve_job_def("noop"),
        )
        stack = ExitStack()
        atexit.register(stack.close)
        _FLOOR["instances"] = [stack.enter_context(dg.instance_for_test()) for _ in range(2)]
    # a fresh instance for each run, made before the timing (as `_run` times only the run)
    _FLOOR["job"].execute_in_process(instance=_FLOOR["instances"][0 if warmup else 1])
    return {"items": 1, "assets": _FLOOR["assets"], "checks": _FLOOR["checks"]}


def _noop_asset(context):
    import dagster as dg

    return dg.MaterializeResult(metadata={"rows": 1})


def _noop_check(context):
    import dagster as dg

    return dg.AssetCheckResult(passed=True, metadata={"rows": 1})


def _child(fn: str, *args) -> dict:
    code = f"from benchmarks.incremental_rebuild import {fn}; {fn}(*{args!r})"
    out = subprocess.run([sys.executable, "-c", code], check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ct-scale", type=float, default=1.0)
    parser.add_argument("--cell-frames", type=int, default=20)
    parser.add_argument("--only", choices=("cell_qa", "ct"), help="run one pipeline's part")
    parser.add_argument(
        "--inputs", default="", help="a folder that keeps the generated ct inputs between runs (made once per scale)"
    )
    args = parser.parse_args()
    header(
        f"incremental rebuilds: cell_qa {args.cell_frames} frames per sequence, ct_hemorrhage at {args.ct_scale}x the "
        "seed; one run each (scratch, rebuild), the Dagster floor 3 runs",
        columns=False,
    )
    if args.only != "ct":
        _cell(args.cell_frames)
    if args.only != "cell_qa":
        _ct(args.ct_scale, args.inputs)


def _cell(frames: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cell = _child("child_cell", str(Path(tmp) / "cell" / "store"), frames)
    print(
        f"cell_qa  from scratch {cell['scratch_s']:.1f}s, rebuild after +5% frames {cell['rebuild_s']:.1f}s "
        f"= {cell['rebuild_s'] / cell['scratch_s']:.0%} (target <= 15%); pairs computed {cell['pairs'][0]}, reused "
        f"{cell['pairs'][1]}"
    )
    _print_steps(cell)
    _print_floor(
        measure(MODULE, "floor", "cell_qa Dagster floor", 3, unit="runs", job_name="cell_qa_job", group="cell_qa"),
        cell["rebuild_s"],
    )


def _ct(scale: float, kept: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ct = _child("child_ct", str(Path(tmp) / "ct"), scale, kept)
    print(
        f"ct       from scratch {ct['scratch_s']:.1f}s ({ct['published']:,} published images), rebuild after +1% "
        f"slices {ct['rebuild_s']:.1f}s "
        f"= {ct['rebuild_s'] / ct['scratch_s']:.0%} (target <= 10%)"
    )
    print(
        f"         DICOM->PNG slices computed {ct['slices'][0]}, reused {ct['slices'][1]} (from scratch: "
        f"{ct['scratch_slices']}); "
        f"augmentation images computed {ct['images'][0]}, reused {ct['images'][1]}"
    )
    _print_steps(ct)
    _print_floor(
        measure(
            MODULE, "floor", "ct Dagster floor", 3, unit="runs", job_name="ct_hemorrhage_job", group="ct_hemorrhage"
        ),
        ct["rebuild_s"],
    )


def _print_floor(floor: Measurement, rebuild_s: float) -> None:
    print(
        f"         Dagster floor: the same {floor.extra['assets']} assets and {floor.extra['checks']} checks as no-ops "
        f"{floor.median_s:.1f}s (median of {len(floor.seconds)}) = {floor.median_s / rebuild_s:.0%} of the rebuild"
    )


def _print_steps(result: dict) -> None:
    for label in ("scratch", "rebuild"):
        steps = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in result[f"{label}_steps"].items())
        print(f"         slowest steps ({label}): {steps}")


if __name__ == "__main__":
    main()
