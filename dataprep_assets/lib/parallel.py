"""Ordered parallel map over processes, with progress callbacks for long runs.

Results come back in input order (so outputs are deterministic whatever the worker count), and at
most a bounded number of tasks are in flight, so memory does not grow with the input size.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
ProgressFn = Callable[[int, int, float], None]


def resolve_workers(requested: int | None) -> int:
    """0 or None means every core this process may use."""
    if requested is None or requested <= 0:
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:  # pragma: no cover - non-Linux
            return max(1, os.cpu_count() or 1)
    return requested


def ordered_map(
    fn: Callable[[T], R],
    items: Sequence[T] | Iterable[T],
    *,
    max_workers: int | None = 0,
    in_flight_per_worker: int = 4,
    progress: ProgressFn | None = None,
    progress_every: float = 5.0,
) -> Iterator[R]:
    """Yield `fn(item)` for each item, in order; runs inline when one worker is enough.

    `fn` must be picklable (a module-level function). `progress(done, total, elapsed_s)` is called
    at most every `progress_every` seconds and once at the end.
    """
    items = list(items)
    total, workers = len(items), min(resolve_workers(max_workers), max(len(items), 1))
    start = last = time.monotonic()

    def report(done: int, force: bool = False) -> None:
        nonlocal last
        now = time.monotonic()
        if progress and (force or now - last >= progress_every):
            last = now
            progress(done, total, now - start)

    if workers <= 1:
        for done, item in enumerate(items, 1):
            yield fn(item)
            report(done, done == total)
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        pending: deque[Future] = deque()
        feed = iter(items)
        for item in feed:
            pending.append(pool.submit(fn, item))
            if len(pending) >= workers * in_flight_per_worker:
                break
        done = 0
        while pending:
            result = pending.popleft().result()
            for item in feed:
                pending.append(pool.submit(fn, item))
                break
            done += 1
            yield result
            report(done, done == total)
