"""`dagster dev` (webserver + daemon + code server) on 127.0.0.1, in its own process group.

Started with `start_new_session=True`, so SIGTERM reaches the whole group (a `dagster dev` started
in the background of a shell ignores it otherwise) and nothing outlives the test: `stop()` waits
for every process of the group and raises when one had to be killed.
"""

from __future__ import annotations

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
                cmd, cwd=self.workspace.parent, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
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

    def stop(self, timeout: float = 60, strict: bool = True) -> None:
        """SIGTERM the process group, wait for all of it; SIGKILL (and raise, if strict) on timeout."""
        if self.process is None:
            return
        pgid = self.process.pid
        if _group_alive(pgid):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and (self.process.poll() is None or _group_alive(pgid)):
            time.sleep(0.2)
        leftover = self.process.poll() is None or _group_alive(pgid)
        if leftover:
            os.killpg(pgid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None
        if leftover and strict:
            raise RuntimeError(f"dagster dev did not stop within {timeout:.0f}s of SIGTERM; killed")
