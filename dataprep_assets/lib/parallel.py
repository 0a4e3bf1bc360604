"""Ordered parallel map with progress callbacks, on the configured compute backend (`lib.compute`).

Results come back in input order (so outputs are deterministic whatever the worker count), and at
most a bounded number of tasks are in flight, so memory does not grow with the input size. Where
the work runs is `lib.compute.backend_from_env`: local worker processes by default, a Dask cluster
when `DATAPREP_DASK_ADDRESS` is set (then `max_workers` is the cluster's business, not ours).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeVar

from dataprep_assets.lib.compute import Backend, ProgressFn, backend_from_env, resolve_workers

__all__ = ["ordered_map", "batches", "resolve_workers", "ProgressFn"]

T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    fn: Callable[[T], R],
    items: Sequence[T] | Iterable[T],
    *,
    max_workers: int | None = 0,
    in_flight_per_worker: int = 4,
    progress: ProgressFn | None = None,
    progress_every: float = 5.0,
    backend: Backend | None = None,
) -> Iterator[R]:
    """Yield `fn(item)` for each item, in order; runs inline when one local worker is enough.

    `fn` must be picklable (a module-level function). `progress(done, total, elapsed_s)` is called
    at most every `progress_every` seconds and once at the end. `backend` overrides the environment's.
    """
    backend = backend or backend_from_env(max_workers)
    backend.in_flight_per_worker = in_flight_per_worker
    return backend.map(fn, items, progress=progress, progress_every=progress_every)


def batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    """`items` in consecutive slices of `size` (the last may be shorter): the unit of work sent to a worker."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    return [items[i : i + size] for i in range(0, len(items), size)]
