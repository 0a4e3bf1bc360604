"""Where per-item work runs: local worker processes (the default) or a Dask distributed cluster.

One interface, `Backend.map(fn, items)`: `fn(item)` for every item, yielded in input order (so outputs
are the same whatever the backend and worker count), with a bounded number of tasks in flight (memory
does not grow with the input) and a progress callback for long runs.

- `LocalBackend(workers)`: a spawn process pool on this machine; one worker runs inline (no pool).
- `DaskBackend(address)`: tasks go to the Dask scheduler at `address` (`tcp://host:8786`); a worker
  that dies mid-task has its tasks re-run on another worker (the scheduler's `allowed-failures`), a
  task that raises is retried `retries` times before its error is raised here. A scheduler that
  cannot be reached is a `ComputeUnavailableError` naming the address after `connect_timeout` seconds.
  Each worker's allocator is reset once from the fixed trim threshold Dask's nanny gives it, which makes
  numpy-heavy tasks about 5x slower (`restore_malloc_thresholds`).

Workers do their own I/O: tasks carry paths, read their inputs and write their outputs themselves, and
return small results (names, hashes, counts, reject rows). With the Dask backend the workers must see the
dataset store's working directory at the same path (a shared volume: NFS, EFS, a Kubernetes PVC);
`require_shared(path)` checks that every worker does before any work is sent. A task may run twice (its
worker died after finishing): outputs are deterministic and written with `fresh_output`, so a rerun writes
the same bytes and never through a hard link into an already stored object.

The backend is chosen by the environment, like the store: `DATAPREP_DASK_ADDRESS` set (and
`DATAPREP_COMPUTE` not `local`) selects Dask; otherwise local processes (`backend_from_env`).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
import uuid
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar, cast

T = TypeVar("T")
R = TypeVar("R")
ProgressFn = Callable[[int, int, float], None]

ENV_BACKEND = "DATAPREP_COMPUTE"
ENV_DASK_ADDRESS = "DATAPREP_DASK_ADDRESS"
ENV_CONNECT_TIMEOUT = "DATAPREP_DASK_CONNECT_TIMEOUT"
ENV_WORKERS = "DATAPREP_WORKERS"
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_RETRIES = 2


class ComputeUnavailableError(RuntimeError):
    """The configured compute cluster cannot be reached or cannot see the data."""


def resolve_workers(requested: int | None, tasks: int | None = None, min_tasks_per_worker: int = 1) -> int:
    """Worker processes for `tasks` items: `requested` if > 0; else (0 / None) one per core this process may use,
    but no more than one per `min_tasks_per_worker` tasks (at least one), since a fresh worker spends seconds
    importing its libraries before it does anything: small batches run inline.
    `DATAPREP_WORKERS=N` pins every automatic count (0 / None) to N whatever the batch size (a benchmark comparing
    sizes runs the same process tree at each)."""
    if requested is not None and requested > 0:
        return requested
    pinned = os.environ.get(ENV_WORKERS, "").strip()
    if pinned:
        if not pinned.isdigit() or int(pinned) < 1:
            raise ValueError(f"{ENV_WORKERS} must be a whole number of worker processes >= 1, got {pinned!r}")
        return int(pinned)
    try:
        cores = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        cores = max(1, os.cpu_count() or 1)
    if tasks is None:
        return cores
    return max(1, min(cores, tasks // max(1, min_tasks_per_worker)))


def fresh_output(path: str | os.PathLike) -> Path:
    """`path`, with any file already there removed: a rerun of a task writes a new file instead of writing
    through a hard link into a stored object (cache restores and `put_object` link files)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    return path


class _Progress:
    def __init__(self, total: int, progress: ProgressFn | None, every: float):
        self.total, self.progress, self.every = total, progress, every
        self.start = self.last = time.monotonic()

    def __call__(self, done: int) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if done == self.total or now - self.last >= self.every:
            self.last = now
            self.progress(done, self.total, now - self.start)


def _windowed(submit: Callable[[Any], Any], result: Callable[[Any], R], items: list, window: int) -> Iterator[R]:
    """Submit at most `window` items ahead of the one being consumed; yield results in input order."""
    pending: deque = deque()
    feed = iter(items)
    for item in feed:
        pending.append(submit(item))
        if len(pending) >= window:
            break
    while pending:
        head = pending.popleft()
        for item in feed:
            pending.append(submit(item))
            break
        yield result(head)


class Backend(ABC):
    """Runs `fn` over items somewhere; results come back in input order."""

    in_flight_per_worker: int = 4

    @abstractmethod
    def map(
        self,
        fn: Callable[[T], R],
        items: Iterable[T],
        *,
        progress: ProgressFn | None = None,
        progress_every: float = 5.0,
    ) -> Iterator[R]:
        """Yield `fn(item)` per item in order; `fn` must be picklable (a module-level function)."""

    def require_shared(self, path: str | os.PathLike) -> None:  # noqa: B027 - a no-op unless overridden
        """Fail unless every worker sees `path` (the store's working directory); no-op on this machine."""

    def describe(self) -> str:
        return type(self).__name__


class LocalBackend(Backend):
    """Worker processes on this machine (spawned, so no state leaks from the parent).

    Each `map` starts and stops its own pool; inside `with backend:` one pool serves every `map`
    (start-up paid once, e.g. by a benchmark measuring steady-state throughput)."""

    def __init__(self, workers: int | None = 0, in_flight_per_worker: int = 4):
        self.workers = resolve_workers(workers)
        self.in_flight_per_worker = in_flight_per_worker
        self._pool: ProcessPoolExecutor | None = None

    def describe(self) -> str:
        return f"{self.workers} local process(es)"

    def _new_pool(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))

    def __enter__(self) -> LocalBackend:
        if self.workers > 1:
            self._pool = self._new_pool(self.workers)
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def map(self, fn, items, *, progress=None, progress_every=5.0):
        items = list(items)
        report = _Progress(len(items), progress, progress_every)
        workers = min(self.workers, max(len(items), 1))
        if workers <= 1:
            for done, item in enumerate(items, 1):
                yield fn(item)
                report(done)
            return
        pool = self._pool or self._new_pool(workers)
        try:
            results = _windowed(
                lambda item: pool.submit(fn, item), Future.result, items, workers * self.in_flight_per_worker
            )
            for done, result in enumerate(results, 1):
                yield result
                report(done)
        finally:
            if pool is not self._pool:
                pool.shutdown(cancel_futures=True)


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_malloc_restored = False


def restore_malloc_thresholds() -> bool:
    """Undo a fixed `MALLOC_TRIM_THRESHOLD_` in this process (Dask's nanny sets 65536 for its workers).

    A fixed trim threshold turns off glibc's adaptive mmap threshold, so every array over 128 KiB is
    mmapped and unmapped on each allocation: per-item numpy work (a 512x512 slice, a crop stack) runs
    about 5x slower on a Dask worker than in a plain process. Setting glibc's own adaptive ceilings
    (mmap above 32 MiB, trim above 64 MiB) restores plain-process speed; memory freed by a task is
    still returned to the OS above 64 MiB. Once per process; only where the variable is set, on glibc."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return False
    return use_malloc_ceilings()


def use_malloc_ceilings() -> bool:
    """Set glibc's adaptive ceilings from the start (mmap above 32 MiB, trim above 64 MiB), once per process.

    With glibc's defaults a process that allocates and frees the same few-MiB numpy temporaries per item
    (a frame's label lists, crop stacks) has them returned to the OS after each item and faults every page
    in again for the next (~47,000 minor faults for 40 cell_qa frames, a third of the kernel's CPU time on
    a VM); at the ceilings the freed memory is reused. At most 64 MiB of freed memory stays with the process."""
    global _malloc_restored
    if _malloc_restored:
        return False
    _malloc_restored = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 64 << 20))
    except (OSError, AttributeError):  # not glibc: nothing to undo
        return False


def _on_worker(fn: Callable[[T], R], item: T) -> R:
    """A task as a Dask worker runs it: the worker's allocator tuned once, then `fn(item)`."""
    restore_malloc_thresholds()
    return fn(item)


def _sees(path: str, token: str) -> bool:
    """On a worker: does the probe file the parent wrote exist here with the same content?"""
    try:
        return Path(path).read_text() == token
    except OSError:
        return False


class DaskBackend(Backend):
    """Tasks on a Dask distributed cluster (`distributed.Client(address)`)."""

    def __init__(
        self,
        address: str,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        in_flight_per_worker: int = 4,
    ):
        if not address:
            raise ValueError("a Dask scheduler address is required (e.g. tcp://scheduler:8786)")
        self.address, self.connect_timeout, self.retries = address, connect_timeout, retries
        self.in_flight_per_worker = in_flight_per_worker

    def describe(self) -> str:
        return f"Dask cluster at {self.address}"

    def client(self):
        """A new client connected to the scheduler, or `ComputeUnavailableError` within `connect_timeout`."""
        from distributed import Client

        try:
            return Client(self.address, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ComputeUnavailableError(
                f"cannot reach the Dask scheduler at {self.address} within {self.connect_timeout:g}s "
                f"({type(exc).__name__}: {exc}); start the cluster or fix {ENV_DASK_ADDRESS}"
            ) from exc

    def require_shared(self, path: str | os.PathLike) -> None:
        probe = Path(path) / f".compute-probe-{uuid.uuid4().hex}"
        token = uuid.uuid4().hex
        probe.write_text(token)
        try:
            with self.client() as client:
                seen = cast(dict, client.run(_sees, str(probe.resolve()), token))
        finally:
            probe.unlink(missing_ok=True)
        blind = sorted(worker for worker, ok in seen.items() if not ok)
        if not seen or blind:
            raise ComputeUnavailableError(
                f"Dask workers {blind or '(none connected)'} at {self.address} do not see {Path(path).resolve()}; "
                "the store's working directory must be mounted at the same path on every worker"
            )

    def map(self, fn, items, *, progress=None, progress_every=5.0):
        items = list(items)
        report = _Progress(len(items), progress, progress_every)
        if not items:
            return
        from dask.utils import funcname

        client = self.client()
        pending = []
        try:
            threads = max(1, sum(cast(dict, client.nthreads()).values()))

            def submit(item):
                future = (
                    client.submit(  # keyed by `fn`'s name, not the wrapper's: the dashboard and plugins see the work
                        _on_worker, fn, item, key=f"{funcname(fn)}-{uuid.uuid4().hex}", retries=self.retries
                    )
                )
                pending.append(future)
                return future

            results = _windowed(submit, lambda future: future.result(), items, threads * self.in_flight_per_worker)
            for done, result in enumerate(results, 1):
                yield result
                report(done)
        finally:
            unfinished = [f for f in pending if not f.done()]
            if unfinished:
                client.cancel(unfinished)
            client.close()


def backend_from_env(workers: int | None = 0, environ: dict | None = None) -> Backend:
    """Dask when `DATAPREP_DASK_ADDRESS` is set (unless `DATAPREP_COMPUTE=local`), else `workers` local processes."""
    env = os.environ if environ is None else environ
    kind = env.get(ENV_BACKEND, "").strip().lower()
    address = env.get(ENV_DASK_ADDRESS, "").strip()
    if kind not in ("", "local", "dask"):
        raise ValueError(f"{ENV_BACKEND} must be 'local' or 'dask', got {kind!r}")
    if kind == "dask" and not address:
        raise ValueError(f"{ENV_BACKEND}=dask needs {ENV_DASK_ADDRESS} (e.g. tcp://scheduler:8786)")
    if address and kind != "local":
        timeout = float(env.get(ENV_CONNECT_TIMEOUT, "") or DEFAULT_CONNECT_TIMEOUT)
        return DaskBackend(address, connect_timeout=timeout)
    return LocalBackend(workers)


def backend_for(workers: int | None, shared_root: str | os.PathLike) -> Backend:
    """The environment's backend, checked to see `shared_root` (where tasks read and write) from every worker."""
    backend = backend_from_env(workers)
    backend.require_shared(shared_root)
    return backend
