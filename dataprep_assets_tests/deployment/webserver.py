"""`dagster dev` (webserver + daemon + code server) on 127.0.0.1, in its own process group.

Started with `start_new_session=True` and default SIGINT/SIGTERM handlers (a `dagster dev` started
with SIGINT ignored, as a background job of a non-interactive shell is, also ignores SIGTERM), so
SIGTERM reaches the whole group. `stop()` waits for every process of the tree (snapshotted from
/proc before signalling, so a child that left the group is still waited for) within a budget that
fits a loaded 2-core machine, then SIGKILLs what is left: nothing outlives the test.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from dataprep_assets_tests.deployment.net import free_port, wait_for_http


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _children_by_parent() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    return children


def process_tree(pid: int) -> set[int]:
    """`pid` and every descendant (from /proc; just `pid` where /proc is missing)."""
    children, tree, todo = _children_by_parent(), set(), [pid]
    while todo:
        current = todo.pop()
        if current not in tree:
            tree.add(current)
            todo.extend(children.get(current, ()))
    return tree


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (exited, not reaped yet) is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _reset_interrupts() -> None:
    """In the child before exec: default SIGINT/SIGTERM. Dagster maps SIGTERM to SIGINT's handler, and a
    SIGINT ignored by whoever started us (a background job of a non-interactive shell) would make the
    server ignore SIGTERM too."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class DagsterDev:
    workspace: Path
    dagster_home: Path
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    startup_seconds: float = 0.0
    stop_seconds: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 240, attempts: int = 3) -> DagsterDev:
        for attempt in range(attempts):  # a free port can be taken between choosing it and binding it
            try:
                return self._start(timeout)
            except RuntimeError:
                if attempt == attempts - 1 or "address already in use" not in self.log_tail().lower():
                    raise
        raise AssertionError("unreachable")

    def _start(self, timeout: float) -> DagsterDev:
        self.port = free_port()
        dagster = Path(sys.executable).parent / "dagster"
        env = {**os.environ, **self.env, "DAGSTER_HOME": str(self.dagster_home)}
        cmd = [str(dagster), "dev", "-w", str(self.workspace), "-h", "127.0.0.1", "-p", str(self.port)]
        self.started_at = time.monotonic()
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                cmd,
                cwd=self.workspace.parent,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_reset_interrupts,
            )
        try:
            wait_for_http(f"{self.url}/server_info", timeout, alive=lambda: self.process.poll() is None)
        except BaseException as exc:
            self.stop(strict=False)
            if isinstance(exc, Exception):
                raise RuntimeError(f"dagster dev did not come up ({exc}); its log:\n{self.log_tail()}") from None
            raise
        self.startup_seconds = time.monotonic() - self.started_at
        return self

    def log_tail(self, chars: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 180, strict: bool = True) -> None:
        """SIGTERM the process group and wait for every process of the tree; SIGKILL what is left after
        `timeout`. `dagster dev` itself gives its webserver and daemon 60 s each to shut down, so a
        loaded 2-core machine can need over two minutes. Raises (if strict) only when the server did not
        react to SIGTERM at all, or when something survived SIGKILL."""
        if self.process is None:
            return
        pgid = self.process.pid
        tree = process_tree(pgid) if _alive(pgid) else set()
        if _group_alive(pgid):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline and self._running(pgid, tree):
                time.sleep(0.2)
        except BaseException:  # interrupted (Ctrl-C twice): still leave nothing behind
            self._kill_tree(pgid, tree)
            raise
        self.stop_seconds = round(timeout - max(0.0, deadline - time.monotonic()), 1)
        leftover = self._running(pgid, tree)
        if leftover:
            tree |= process_tree(pgid)
            self._kill_tree(pgid, tree)
            time.sleep(0.5)
        survivors = sorted(p for p in tree if _alive(p))
        reacted = "Shutting down Dagster services" in self.log_tail(200_000)
        self.process = None
        if strict and survivors:
            raise RuntimeError(f"processes {survivors} of dagster dev survived SIGKILL")
        if strict and leftover and not reacted:
            raise RuntimeError(f"dagster dev ignored SIGTERM (no shutdown within {timeout:.0f}s); killed")

    def kill(self) -> None:
        """SIGKILL the whole process tree at once (a crash: nothing gets to clean up)."""
        if self.process is None:
            return
        tree = process_tree(self.process.pid)
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(p) for p in tree):
            time.sleep(0.1)
        self.process = None

    def _kill_tree(self, pgid: int, tree: set[int]) -> None:
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        self.process.wait(30)

    def _running(self, pgid: int, tree: set[int]) -> bool:
        return self.process.poll() is None or _group_alive(pgid) or any(_alive(p) for p in tree)
