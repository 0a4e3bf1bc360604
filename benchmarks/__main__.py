"""One benchmark run over every script, with the context every number needs, kept in a log file.

    .venv/bin/python -m benchmarks [--quick] [--only a,b] [--skip a,b] [--list]      (or: make bench)

Runs each script of `PLAN` in order, each as its own `python -m benchmarks.<name>` process (so one
script's imports and caches do not colour the next), streams its lines to the terminal and to
`var/bench/<UTC stamp>[-quick].txt`, and ends with a summary of every script's exit status and
duration. The log opens with the machine, the UTC date, the load average at start and the commit, so
the README's "Measured" table can name the one run it was copied from. A script that fails is
reported and the run goes on; the exit status is non-zero if any failed.

`--quick` gives each script its smoke size (seconds to a few minutes each) instead of its default,
for checking that every benchmark still runs; the default sizes are the ones the README quotes.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks._harness import machine

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Script:
    name: str
    args: tuple[str, ...] = ()
    """Arguments of the full run: the sizes the README quotes, chosen so that the whole run takes about an hour on
    a 2-core machine (each script's own defaults are larger: run it alone for those)."""
    quick: tuple[str, ...] = ("--quick",)
    """Arguments of the smoke run."""


PLAN: tuple[Script, ...] = (
    Script("ct_coco_build", ("--runs", "5", "--peer-runs", "3")),
    Script("ct_dicom_to_png", ("--n", "1500", "--peer-n", "500")),
    Script("cell_qa_crops", ("--frames", "40", "--naive-frames", "10")),
    Script("perva_retrieval_search"),
    Script("ct_augment", ("--n", "1000", "--naive-n", "150")),
    Script("ct_pipeline", ("--scales", "0.02,0.08")),
    Script("echo_prepare", ("--quick",)),
    Script("echo_sensor", ("--objects", "50000", "--ticks", "10")),
    Script("echo_results_tick", ("--objects", "1000", "--runs", "1"), ("--objects", "200", "--runs", "1")),
    Script("uploads_sensor_tick", ("--keys", "5000")),
    Script("quality_features", ("--images", "800", "--resnet-images", "32")),
    Script("quality_feature_storage"),
    Script("quality_loader", ("--examples", "5000", "--images", "1000")),
    Script("quality_pipeline", ("--quick",)),
    Script("versions_store", ("--files", "6000"), ("--files", "500")),
    Script(
        "incremental_rebuild",
        ("--ct-scale", "0.1", "--cell-frames", "20"),
        ("--ct-scale", "0.04", "--cell-frames", "5"),
    ),
    Script("scaling", ("--no-main", "--frames", "30", "--slices", "300", "--images", "100"), ("--quick", "--no-main")),
)


def scripts_on_disk() -> set[str]:
    """Every benchmark script in this folder (a module not starting with `_`)."""
    return {p.stem for p in Path(__file__).parent.glob("[a-z]*.py")}


def header(quick: bool) -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown (not a git checkout)"
    return (
        f"# make bench{' (quick sizes)' if quick else ''}\n"
        f"machine: {machine()}\ndate: {now}; load average at start (1/5/15 min): {load}\ncommit: {commit}\n"
    )


def run_script(script: Script, quick: bool, log) -> tuple[int, float]:
    """Run one script, copying its output line by line to stdout and `log`: (exit status, seconds)."""
    args = script.quick if quick else script.args
    cmd = [sys.executable, "-m", f"benchmarks.{script.name}", *args]
    banner = f"\n## {script.name} {' '.join(args)}\n"
    sys.stdout.write(banner)
    log.write(banner)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        log.write(line)
        log.flush()
    return proc.wait(), time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every script at its smoke size")
    parser.add_argument("--only", default="", help="comma-separated script names to run (default: all)")
    parser.add_argument("--skip", default="", help="comma-separated script names to leave out")
    parser.add_argument("--list", action="store_true", help="print the plan and exit")
    parser.add_argument("--out", default="", help="log file (default: var/bench/<UTC stamp>.txt)")
    args = parser.parse_args(argv)

    known = {s.name for s in PLAN}
    only = {n for n in args.only.split(",") if n}
    skip = {n for n in args.skip.split(",") if n}
    unknown = sorted((only | skip) - known)
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {sorted(known)}")
    plan = [s for s in PLAN if (not only or s.name in only) and s.name not in skip]
    if args.list:
        for s in plan:
            print(f"{s.name:<24} full: {' '.join(s.args) or '(defaults)'}   quick: {' '.join(s.quick)}")
        return 0

    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else ROOT / "var" / "bench" / f"{stamp}{'-quick' if args.quick else ''}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    results: list[tuple[str, int, float]] = []
    with out.open("w") as log:
        text = header(args.quick)
        sys.stdout.write(text)
        log.write(text)
        for script in plan:
            code, seconds = run_script(script, args.quick, log)
            results.append((script.name, code, seconds))
        summary = "\n## summary\n" + "".join(
            f"{name:<24} {'ok' if code == 0 else f'FAILED (exit {code})':<16} {seconds:8.1f} s\n"
            for name, code, seconds in results
        )
        sys.stdout.write(summary + f"log: {out}\n")
        log.write(summary)
    return 1 if any(code for _, code, _ in results) else 0


if __name__ == "__main__":
    raise SystemExit(main())
