"""Peak resident memory while a block runs: this process (sampled) and its finished child processes."""

from __future__ import annotations

import os
import resource
import threading
import time


def current_rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):  # pragma: no cover - non-Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class PeakMemory:
    """`with PeakMemory() as peak: ...` then `peak.self_mb` (sampled every `interval` s) and `peak.children_mb`."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.self_bytes = 0
        self.start_bytes = 0
        self.children_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.self_bytes = max(self.self_bytes, current_rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        self.start_bytes = self.self_bytes = current_rss_bytes()
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.self_bytes = max(self.self_bytes, current_rss_bytes())
        self.seconds = time.perf_counter() - self._started
        self.children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    @property
    def self_mb(self) -> float:
        return self.self_bytes / 2**20

    @property
    def growth_mb(self) -> float:
        return (self.self_bytes - self.start_bytes) / 2**20
