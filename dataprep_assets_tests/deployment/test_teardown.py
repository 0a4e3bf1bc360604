"""Teardown of `dagster dev` in the deployment tests, on plain processes (fast): every process of the
tree is waited for and, past the budget, killed, even one that left the process group; a server that
ignores SIGTERM is reported; and a child started with SIGINT ignored gets default handlers back."""

import signal
import subprocess
import sys
import time

import pytest

from dataprep_assets_tests.deployment.webserver import DagsterDev, _alive, _reset_interrupts, process_tree

# A parent that ignores SIGTERM, with a child in the group and a grandchild in a session of its own.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
print("ready", flush=True)
time.sleep(600)
"""


def _server(tmp_path, code: str) -> DagsterDev:
    server = DagsterDev(workspace=tmp_path / "workspace.yaml", dagster_home=tmp_path, log_path=tmp_path / "dev.log")
    server.process = subprocess.Popen(  # default SIGINT/SIGTERM, whatever an in-process Dagster run left in pytest
        [sys.executable, "-c", code], stdout=subprocess.PIPE, start_new_session=True, preexec_fn=_reset_interrupts
    )
    assert server.process.stdout.readline().strip() == b"ready"
    return server


def test_a_process_tree_that_ignores_sigterm_is_killed_whole_and_reported(tmp_path):
    server = _server(tmp_path, STUBBORN)
    deadline = time.monotonic() + 10
    while len(process_tree(server.process.pid)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    tree = process_tree(server.process.pid)
    assert len(tree) == 3
    with pytest.raises(RuntimeError, match="ignored SIGTERM"):
        server.stop(timeout=2)
    assert not any(_alive(pid) for pid in tree), "nothing outlives the test, not even the child in its own session"


def test_a_tree_that_stops_on_sigterm_stops_quietly(tmp_path):
    server = _server(tmp_path, "import time; print('ready', flush=True); time.sleep(600)")
    pid = server.process.pid
    server.stop(timeout=30)
    assert not _alive(pid) and server.stop_seconds < 30


def test_children_get_default_interrupt_handlers_even_when_we_ignore_sigint():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a background job of a non-interactive shell
    try:
        probe = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"]
        inherited = subprocess.run(probe, capture_output=True, text=True, check=True).stdout.strip()
        reset = subprocess.run(
            probe, capture_output=True, text=True, check=True, preexec_fn=_reset_interrupts
        ).stdout.strip()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert (inherited, reset) == ("True", "False")
