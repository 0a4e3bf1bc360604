"""A run whose process dies is marked FAILED and retried, on the local instance config (dagster.yaml).

The real `dagster dev` (webserver, daemon, code server) runs a one-asset code location whose first
run hangs. The test SIGKILLs the whole `dagster dev` tree while that run is STARTED (a crash: the
code server cannot report anything), checks the run is left STARTED, starts `dagster dev` again on
the same instance, and waits for run monitoring to mark the run FAILED and for `run_retries` to
re-execute it once, successfully.
"""

import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from dataprep_assets_tests.deployment.conftest import ROOT
from dataprep_assets_tests.deployment.graphql_ui import DagsterGraphQL
from dataprep_assets_tests.deployment.webserver import DagsterDev, _alive

pytestmark = pytest.mark.slow

LOCATION, JOB = "crash_test", "hangs_on_first_attempt_job"


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"{what} within {timeout:.0f}s")


@pytest.fixture
def instance_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # dagster.yaml reads it
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    workspace = tmp_path / "workspace.yaml"
    location = Path(__file__).with_name("crash_location.py")
    workspace.write_text(
        f"load_from:\n  - python_file:\n      relative_path: {location}\n      location_name: {LOCATION}\n"
    )
    return home


def _server(home: Path, tmp_path: Path, name: str) -> DagsterDev:
    env = {"CRASH_TEST_MARKER": str(tmp_path / "worker.pid")}
    server = DagsterDev(
        workspace=tmp_path / "workspace.yaml", dagster_home=home, log_path=tmp_path / f"{name}.log", env=env
    )
    server.start()
    try:
        DagsterGraphQL(server.url).wait_for_location(LOCATION)
    except BaseException:
        server.stop(strict=False)
        raise
    return server


def test_a_run_killed_with_dagster_dev_is_marked_failed_and_retried(instance_home, tmp_path):
    marker, started = tmp_path / "worker.pid", time.monotonic()
    first = _server(instance_home, tmp_path, "first")
    try:
        run_id = DagsterGraphQL(first.url).launch_job(JOB, LOCATION)
        worker = int(_wait(lambda: marker.exists() and marker.read_text(), 120, "the run worker did not start"))
        first.kill()
    except BaseException:
        first.stop(strict=False)
        raise
    assert not _alive(worker), "the run worker survived the crash"
    with dg.DagsterInstance.from_config(str(instance_home)) as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # nobody could report the crash

    second = _server(instance_home, tmp_path, "second")
    try:
        with dg.DagsterInstance.from_config(str(instance_home)) as instance:
            _wait(
                lambda: instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE,
                90,
                "the dead run was not marked FAILED",
            )
            retry_filter = dg.RunsFilter(tags={"dagster/parent_run_id": run_id})
            retries = _wait(lambda: instance.get_runs(filters=retry_filter), 90, "the failed run was not retried")
            assert len(retries) == 1
            retry_id = retries[0].run_id
            done = _wait(
                lambda: instance.get_run_by_id(retry_id).is_finished and instance.get_run_by_id(retry_id),
                120,
                "retry unfinished",
            )
            assert done.status == dg.DagsterRunStatus.SUCCESS
            assert done.tags.get("dagster/retry_number") == "1"
            messages = [e.dagster_event.message or "" for e in instance.all_logs(run_id) if e.dagster_event]
            assert any(f"run worker process {worker} is gone" in m for m in messages), messages[-3:]
    finally:
        second.stop()
    print(
        f"crash -> FAILED -> retried SUCCESS; whole test {time.monotonic() - started:.0f}s, stop {second.stop_seconds}s"
    )
