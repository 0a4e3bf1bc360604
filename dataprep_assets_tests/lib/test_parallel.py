"""The per-item helpers every pipeline shares: batches, worker counts, the ordered map."""

import os

import pytest

from dataprep_assets.lib.parallel import batches, ordered_map, resolve_workers


def square(x: int) -> int:
    return x * x


def test_batches_are_consecutive_slices_with_a_short_last_one():
    assert batches(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches([], 3) == []
    with pytest.raises(ValueError, match="at least 1"):
        batches([1], 0)


def test_worker_count_as_asked_or_per_core_but_inline_for_small_batches():
    cores = len(os.sched_getaffinity(0))
    assert resolve_workers(3) == 3
    assert resolve_workers(0) == resolve_workers(None) == cores
    assert resolve_workers(0, tasks=10, min_tasks_per_worker=256) == 1  # not worth a worker's start-up
    assert resolve_workers(0, tasks=256 * 64, min_tasks_per_worker=256) == cores
    assert resolve_workers(5, tasks=1, min_tasks_per_worker=256) == 5  # an explicit request wins


@pytest.mark.parametrize("workers", [1, 2])
def test_ordered_map_keeps_input_order_and_reports_progress(workers):
    seen = []
    out = list(ordered_map(square, range(50), max_workers=workers, progress=lambda d, t, s: seen.append((d, t))))
    assert out == [i * i for i in range(50)]
    assert seen[-1] == (50, 50)
