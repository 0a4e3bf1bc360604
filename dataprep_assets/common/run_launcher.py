"""The local instance's run launcher: Dagster's default one, plus a health check for run monitoring.

`DefaultRunLauncher` starts each run as a process of the code server but cannot tell the daemon's
run monitoring whether that process still lives, so a run whose process died with the code server
(`dagster dev` killed, a laptop rebooted) stayed STARTED forever and `run_retries` never retried it.
This launcher reads the run worker's pid from the run's own "Started process for run" engine event
and checks it on this host: a vanished (or zombie, or reused) pid is a dead worker, which run
monitoring marks FAILED and `run_retries` re-executes. Only for instances whose daemon runs on the
same host as the code server (the local `dagster.yaml`); production uses the Docker launcher.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster import DagsterEventType, DagsterRun, DefaultRunLauncher
from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

# A pid whose process started this long after the worker announced it belongs to another process.
PID_REUSE_TOLERANCE_SECONDS = 5.0


def process_start_time(pid: int) -> float | None:
    """When `pid` started (seconds since the epoch), from /proc; None where /proc is unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime ")
        )
    except (OSError, IndexError, StopIteration, ValueError):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_state(pid: int) -> str | None:
    """The one-letter /proc state of `pid` (`Z` = zombie), or None where /proc is unavailable."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def worker_alive(pid: int, announced_at: float) -> tuple[bool, str]:
    """Whether the process that announced `pid` at `announced_at` still runs, and why not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, f"run worker process {pid} is gone"
    except PermissionError:
        pass  # exists, owned by someone else
    if process_state(pid) == "Z":
        return False, f"run worker process {pid} exited (zombie)"
    started = process_start_time(pid)
    if started is not None and started > announced_at + PID_REUSE_TOLERANCE_SECONDS:
        return False, f"run worker process {pid} is gone (the pid now belongs to a process started later)"
    return True, f"run worker process {pid} is running"


class MonitoredLocalRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` whose run workers run monitoring can check (same host only)."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        announced = self._worker_pid(run)
        if announced is None:  # not started yet: the start timeout of run monitoring covers it
            return CheckRunHealthResult(WorkerStatus.RUNNING, "run worker has not announced its pid yet")
        pid, at = announced
        alive, why = worker_alive(pid, at)
        return CheckRunHealthResult(WorkerStatus.RUNNING if alive else WorkerStatus.FAILED, why, run_worker_id=str(pid))

    def _worker_pid(self, run: DagsterRun) -> tuple[int, float] | None:
        """The pid of the run's first engine event that carries one ("Started process for run (pid: N)",
        emitted by the run worker itself) and when it was emitted."""
        records = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ENGINE_EVENT, limit=20
        ).records
        for record in records:
            event = record.event_log_entry.dagster_event
            metadata = (event.engine_event_data.metadata or {}) if event is not None else {}
            if "pid" in metadata:
                return int(str(metadata["pid"].value)), record.event_log_entry.timestamp
        return None
