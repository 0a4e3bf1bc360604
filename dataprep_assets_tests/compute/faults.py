"""Fault injection run *on Dask workers* (importable there): per-item functions and a worker plugin
that SIGKILL the worker process they run in, once per marker file."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from distributed import WorkerPlugin


def _first(marker: str) -> bool:
    """True for exactly one caller across processes: the one that creates `marker`."""
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    except FileExistsError:
        return False


def write_square(args: tuple[str, str, int, int]) -> dict:
    """Write `<i>.txt` holding i*i; the item `kill_at` SIGKILLs its worker mid-task the first time."""
    out_dir, marker, i, kill_at = args
    target = Path(out_dir) / f"{i}.txt"
    target.write_text("partial")  # a killed attempt leaves a half-written file behind
    if i == kill_at and _first(marker):
        os.kill(os.getpid(), signal.SIGKILL)
    target.write_text(str(i * i))
    return {"item": i, "pid": os.getpid()}


def worker_pid(_: object = None) -> int:
    return os.getpid()


class KillAfterTask(WorkerPlugin):
    """SIGKILLs the worker right after it finished the first task whose key starts with `prefix`: its
    outputs are on disk but its result dies with the worker, so the scheduler runs the task again elsewhere."""

    name = "kill-after-task"

    def __init__(self, prefix: str, marker: str):
        self.prefix, self.marker = prefix, marker

    def transition(self, key, start, finish, **kwargs):
        name = key if isinstance(key, str) else str(key[0] if isinstance(key, tuple) else key)
        if finish == "memory" and name.startswith(self.prefix) and _first(self.marker):
            os.kill(os.getpid(), signal.SIGKILL)


def malloc_state(_item: object) -> dict:
    """What the worker's environment fixes for glibc's allocator, and whether the backend undid it here."""
    from dataprep_assets.lib import compute

    return {"trim_env": os.environ.get("MALLOC_TRIM_THRESHOLD_"), "restored": compute._malloc_restored}
