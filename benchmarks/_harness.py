"""The one benchmark harness: every run in a fresh child process, warm-up excluded, N runs, medians.

A benchmark script registers its jobs as module-level functions `job(warmup: bool, **params) -> dict`
(the dict has an `items` count and anything else worth printing). `measure` starts
`python -m benchmarks._harness <module> <job> <params-json>` `runs` times; each child calls the job once
with `warmup=True` (lazy imports, first-call costs, page cache: not counted), then once timed, and
prints the wall seconds and the CPU seconds (its own + its workers', live or joined) of the timed call.

Memory is measured from the OS, never with tracemalloc or a profiler around timed code: the parent
samples the proportional set size (PSS, `/proc/<pid>/smaps_rollup`) of the child and all its
descendants every 50 ms and keeps the highest sum. PSS splits shared pages between the processes that
map them, so the sum over a process tree is the tree's real footprint (summed RSS counts shared
pages once per process). The peak includes the interpreter and imports (~baseline of the child).

Per core: items per CPU-second of the timed call (user + system time of the child and of its worker
processes over the timed call, whether joined inside it or kept alive from the warm-up; BLAS threads
included). On a machine shared with other work, wall-clock time stretches with the load; CPU time much
less, so both are printed.
`ratio` prints ours over the other side for both: wall-clock (median items/s over median items/s)
and per core (items per CPU-second over items per CPU-second).
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

SAMPLE_S = 0.05
PAGE = os.sysconf("SC_PAGE_SIZE")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- memory of a process tree, from /proc -------------------------------------------------------------


def descendants(root_pid: int) -> set[int]:
    """`root_pid` and every live process below it (from the parent ids in /proc/<pid>/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    members, frontier = {root_pid}, [root_pid]
    while frontier:
        for child in parents.get(frontier.pop(), ()):
            if child not in members:
                members.add(child)
                frontier.append(child)
    return members


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_pss_mb(root_pid: int) -> float:
    return sum(pss_bytes(pid) for pid in descendants(root_pid)) / 2**20


def run_child(
    cmd: Sequence[str], env: dict | None = None, timeout: float | None = None, timeline: list | None = None
) -> tuple[str, float]:
    """Run `cmd`, sampling the PSS of its process tree every 50 ms: (stdout, peak MiB). Raises on failure.
    `timeline`, if given, receives every sample as (epoch seconds, MiB)."""
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            mb = tree_pss_mb(proc.pid)
            peak[0] = max(peak[0], mb)
            if timeline is not None:
                timeline.append((time.time(), mb))
            time.sleep(SAMPLE_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate(timeout=timeout)
    sampler.join()
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} exited with {proc.returncode}:\n{err[-4000:]}")
    return out, peak[0]


# ---- one measurement: N child runs --------------------------------------------------------------------


@dataclass
class Measurement:
    label: str
    items: int
    seconds: list[float]
    cpu_seconds: list[float]
    peaks_mb: list[float]
    processes: int = 1
    """How many processes the side runs (1, or its worker count): printed beside the ratios."""
    unit: str = "items"
    extra: dict = field(default_factory=dict)
    """The last run's job result (anything the script wants to print)."""
    timeline: list = field(default_factory=list)
    """The last run's PSS samples: (epoch seconds, MiB)."""

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.items / self.median_s

    @property
    def rates(self) -> list[float]:
        return [self.items / s for s in self.seconds]

    @property
    def per_core(self) -> float:
        """Items per CPU-second (median CPU time of the runs)."""
        return self.items / max(statistics.median(self.cpu_seconds), 1e-9)

    @property
    def peak_mb(self) -> float:
        return max(self.peaks_mb)


def measure(
    module: str,
    job: str,
    label: str,
    runs: int = 3,
    processes: int = 1,
    unit: str = "items",
    env: dict | None = None,
    python: str | None = None,
    **params,
) -> Measurement:
    """`runs` fresh children of `module.job(**params)`: warm-up call, then the timed call (see the module doc).
    `python`: another interpreter (a peer library's own venv); the default is this one."""
    cmd = [python or sys.executable, "-m", "benchmarks._harness", module, job, json.dumps(params)]
    seconds, cpu, peaks, result, timeline = [], [], [], {}, []
    for _ in range(runs):
        timeline = []
        out, peak = run_child(cmd, env=env, timeline=timeline)
        result = json.loads(out.strip().splitlines()[-1])
        seconds.append(result.pop("_seconds"))
        cpu.append(result.pop("_cpu_seconds"))
        peaks.append(peak)
    m = Measurement(label, int(result.get("items", 0)), seconds, cpu, peaks, processes, unit, result, timeline)
    print(row(m), flush=True)
    return m


def _child_main(module: str, job: str, params_json: str) -> None:
    fn: Callable[..., dict] = getattr(importlib.import_module(module), job)
    params = json.loads(params_json)
    fn(warmup=True, **params)
    cpu0, wall0 = _cpu(), time.perf_counter()
    result = fn(warmup=False, **params)
    wall, cpu = time.perf_counter() - wall0, _cpu() - cpu0
    print(json.dumps({**result, "_seconds": wall, "_cpu_seconds": cpu}))


def _cpu() -> float:
    """CPU seconds so far of this process, the children it reaped, and every live descendant (theirs and their
    reaped children's, from /proc): a worker pool kept alive across the warm-up and the timed call (persistent
    DataLoader workers) counts only the CPU it spent in between, a pool joined inside the timed call all of it."""
    t = os.times()
    me = os.getpid()
    return t.user + t.system + t.children_user + t.children_system + sum(_proc_cpu(p) for p in descendants(me) - {me})


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / CLK_TCK  # utime, stime, cutime, cstime (fields 14-17)


# ---- printing -----------------------------------------------------------------------------------------


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    with open("/proc/meminfo") as fh:
        mem_gb = int(fh.readline().split()[1]) / 2**20
    return f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB, Python {platform.python_version()}"


def header(title: str, columns: bool = True) -> None:
    """Title, machine, UTC date and the load average at start: the context every number needs;
    then the column names of `row` (unless the script prints its own lines)."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    now = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"== {title}\n   machine: {machine()}\n   date: {now}; load average at start (1/5/15 min): {load}", flush=True
    )
    if columns:
        column_names()


def column_names(title: str = "") -> None:
    """The column names of `row` (after `title`, if given): for a table that starts after other lines."""
    print(
        f"   {title:<52} {'runs':>4} {'n':>8} {'median s':>9}  {'per second: median (min-max)':<34} "
        f"{'per CPU-s':>10} {'peak PSS':>9}",
        flush=True,
    )


def row(m: Measurement) -> str:
    lo, hi = min(m.rates), max(m.rates)
    rate = f"{_num(m.rate)} {m.unit} ({_num(lo)}-{_num(hi)})"
    return (
        f"   {m.label:<52} {len(m.seconds):>4} {m.items:>8,} {m.median_s:>9.3f}  {rate:<34} "
        f"{_num(m.per_core):>10} {m.peak_mb:>6.0f} MB"
    )


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}" if x >= 10 else f"{x:,.2f}"


def ratio(ours: Measurement, other: Measurement, what: str = "") -> tuple[float, float]:
    """Print and return (wall-clock ratio, per-core ratio) of ours over `other`: median rates."""
    wall, core = ours.rate / other.rate, ours.per_core / other.per_core
    print(
        f"   ratio {ours.label} / {other.label}: {wall:.2f}x wall-clock, {core:.2f}x per core (CPU time)"
        f"; {ours.processes} vs {other.processes} processes{'; ' + what if what else ''}",
        flush=True,
    )
    return wall, core


if __name__ == "__main__":
    _child_main(*sys.argv[1:4])
