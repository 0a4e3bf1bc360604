"""Compute backends: results in input order whatever runs them, the environment choosing the backend, an
unreachable scheduler failing fast with its address, and a worker SIGKILLed mid-task on a real LocalCluster
(2 worker processes over TCP on loopback) costing nothing: its item reruns elsewhere, none lost or doubled."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

import pytest

from dataprep_assets.lib.compute import (
    ComputeUnavailableError,
    DaskBackend,
    LocalBackend,
    backend_from_env,
)
from dataprep_assets.lib.parallel import ordered_map
from dataprep_assets_tests.compute.faults import malloc_state, write_square


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _items(tmp_path: Path, n: int, kill_at: int = -1) -> list[tuple]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    return [(str(out), str(tmp_path / "killed.marker"), i, kill_at) for i in range(n)]


@pytest.mark.parametrize("workers", [1, 2])
def test_local_backend_yields_in_input_order_and_reports_progress(tmp_path, workers):
    seen = []
    results = list(
        LocalBackend(workers).map(write_square, _items(tmp_path, 9), progress=lambda d, t, s: seen.append((d, t)))
    )
    assert [r["item"] for r in results] == list(range(9))
    assert [(tmp_path / "out" / f"{i}.txt").read_text() for i in range(9)] == [str(i * i) for i in range(9)]
    assert seen[-1] == (9, 9)


def test_the_environment_chooses_the_backend():
    local = backend_from_env(3, environ={})
    assert isinstance(local, LocalBackend) and local.workers == 3
    dask = backend_from_env(0, environ={"DATAPREP_DASK_ADDRESS": "tcp://sched:8786"})
    assert isinstance(dask, DaskBackend) and dask.address == "tcp://sched:8786"
    forced = backend_from_env(2, environ={"DATAPREP_DASK_ADDRESS": "tcp://sched:8786", "DATAPREP_COMPUTE": "local"})
    assert isinstance(forced, LocalBackend)
    with pytest.raises(ValueError, match="DATAPREP_DASK_ADDRESS"):
        backend_from_env(0, environ={"DATAPREP_COMPUTE": "dask"})
    with pytest.raises(ValueError, match="'local' or 'dask'"):
        backend_from_env(0, environ={"DATAPREP_COMPUTE": "ray"})


def test_an_unreachable_scheduler_is_a_clear_error_naming_its_address_within_seconds(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    backend = backend_from_env(0, environ={"DATAPREP_DASK_ADDRESS": address, "DATAPREP_DASK_CONNECT_TIMEOUT": "2"})
    started = time.monotonic()
    with pytest.raises(ComputeUnavailableError, match=address.replace(".", r"\.")):
        backend.require_shared(tmp_path)  # what an asset does before it sends any work
    with pytest.raises(ComputeUnavailableError, match="cannot reach the Dask scheduler"):
        list(ordered_map(write_square, _items(tmp_path, 2), backend=backend))
    assert time.monotonic() - started < 15
    assert not list(tmp_path.glob(".compute-probe-*"))


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_dask_backend_yields_in_input_order_and_checks_the_workers_see_the_store(dask_address, tmp_path):
    backend = backend_from_env(0)
    assert isinstance(backend, DaskBackend)
    backend.require_shared(tmp_path)
    assert not list(tmp_path.glob(".compute-probe-*"))
    backend.in_flight_per_worker = 1  # a window of 2 tasks over 30: the window has to slide
    results = list(backend.map(write_square, _items(tmp_path, 30)))
    assert [r["item"] for r in results] == list(range(30))
    assert len({r["pid"] for r in results}) == 2  # both worker processes took work


def test_dask_workers_get_glibc_adaptive_malloc_back(dask_address):
    """Dask's nanny fixes MALLOC_TRIM_THRESHOLD_ (numpy tasks ~5x slower); every task's worker undoes it once."""
    states = list(backend_from_env(0).map(malloc_state, range(8)))
    assert {s["trim_env"] for s in states} == {"65536"}  # the cluster's own setting is still there
    assert all(s["restored"] for s in states)


@pytest.mark.parametrize("env", [{"MALLOC_TRIM_THRESHOLD_": "65536"}, {}])
def test_restore_malloc_thresholds_acts_once_and_only_where_the_variable_is_set(env):
    code = "from dataprep_assets.lib.compute import restore_malloc_thresholds as r; print(r(), r())"
    base = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True, check=True)
    assert out.stdout.split() == (["True", "False"] if env else ["False", "False"])


@pytest.mark.parametrize("tuned", [True, False])
def test_malloc_ceilings_are_set_once_per_process_and_keep_arrays_up_to_32_mib_on_the_heap(tuned):
    code = (
        "import ctypes, numpy as np\n"
        "from dataprep_assets.lib.compute import use_malloc_ceilings as u\n"
        "class Info(ctypes.Structure):\n"
        "    _fields_ = [(n, ctypes.c_size_t) for n in 'arena ord smb hblks hblkhd usm fsm uord ford keep'.split()]\n"
        "libc = ctypes.CDLL('libc.so.6'); libc.mallinfo2.restype = Info\n"
        "np.ones(1 << 19).sum()  # 4 MiB, freed: glibc's own threshold adapts to it\n"
        f"calls = (u(), u()) if {tuned} else ()\n"
        "before = libc.mallinfo2().hblks\n"
        "a = np.ones(1 << 20)  # 8 MiB: mmapped at glibc's adapted threshold, on the heap under the ceilings\n"
        "print(*calls, libc.mallinfo2().hblks - before)"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True, check=True)
    assert out.stdout.split() == (["True", "False", "0"] if tuned else ["1"])


@pytest.mark.slow
@pytest.mark.xdist_group("dask")
def test_a_worker_killed_mid_task_costs_no_item(dask_cluster, dask_address, tmp_path):
    from distributed import Client

    n, kill_at = 40, 7
    with Client(dask_address) as client:
        before = set(cast(dict, client.run(os.getpid)).values())
    results = list(ordered_map(write_square, _items(tmp_path, n, kill_at)))
    assert (tmp_path / "killed.marker").exists()  # a worker really died mid-task
    assert [r["item"] for r in results] == list(range(n))  # none lost, none doubled, in order
    outputs = sorted((tmp_path / "out").iterdir(), key=lambda p: int(p.stem))
    assert [p.read_text() for p in outputs] == [str(i * i) for i in range(n)]  # the half-written file was redone
    with Client(dask_address) as client:
        client.wait_for_workers(2, timeout=240)  # the nanny restarted the dead worker (slow on a loaded box)
        after = set(cast(dict, client.run(os.getpid)).values())
    assert before - after  # one of the original worker processes is gone
