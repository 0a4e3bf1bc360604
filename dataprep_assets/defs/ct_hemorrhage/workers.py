"""How ct_hemorrhage's per-item steps (DICOM -> PNG, augmentation) size their worker pool and report progress."""

from collections.abc import Callable

from dataprep_assets.lib.parallel import resolve_workers

MIN_TASKS_PER_WORKER = 256


def worker_count(requested: int, tasks: int) -> int:
    """Worker processes: as asked, or (0) one per core but inline for small batches, since a spawned
    worker spends seconds importing its libraries before it converts anything."""
    if requested > 0:
        return requested
    return max(1, min(resolve_workers(0), tasks // MIN_TASKS_PER_WORKER))


def progress_log(context, what: str) -> Callable[[int, int, float], None]:
    """A progress callback for `ordered_map` that writes `what: done/total in Ns` to the run log."""
    return lambda done, total, s: context.log.info(f"{what}: {done}/{total} in {s:.1f}s")
