"""Echo refreshes through the real daemon: a new inference results file -> exactly one run of the echo job.

`dagster dev` starts over a fresh `$DAGSTER_HOME` (the shipped dagster.yaml) with the local dataset store
holding two exams' videos and results. `echo_inference_results_sensor` is started the way a person does it
(the UI's start-sensor GraphQL mutation) and nothing else is done by hand: its first tick refreshes the
dataset once; a new exam's results file gives exactly one more run whose annotations contain it, and
later ticks (sensor, automation) request nothing more: one change, one refresh.
"""

import shutil
import time

import dagster as dg
import pytest

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.echo_quality.assets import read_annotations
from dataprep_assets.defs.echo_quality.automation import SENSOR_NAME
from dataprep_assets.sample_data.echo_quality import write_exam
from dataprep_assets_tests.deployment.conftest import ROOT
from dataprep_assets_tests.deployment.graphql_ui import DagsterGraphQL
from dataprep_assets_tests.deployment.test_daemon_uploads import LOCATION, _start, _wait

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename ... on Sensor { sensorState { status } } ... on PythonError { message }
  }
}
"""


def _echo_runs(instance) -> list[dg.DagsterRun]:
    return [r for r in instance.get_runs() if r.tags.get("dataprep/pipeline") == "echo_quality"]


def _annotated_folders(store: LocalDatasetStore) -> set[str]:
    try:
        return set(read_annotations(store)["folder"])
    except FileNotFoundError:
        return set()


def test_a_new_results_file_gives_exactly_one_refresh_through_the_real_daemon(tmp_path, monkeypatch):
    home, store_root = tmp_path / "dagster_home", tmp_path / "store"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for var in ("DATAPREP_STORE_URL", "ECHO_RESULTS_URI", "DATAPREP_UPLOAD_SENSORS"):
        monkeypatch.delenv(var, raising=False)
    env = {
        "DATAPREP_STORE_ROOT": str(store_root),
        "ECHO_SENSOR_INTERVAL_SECONDS": "5",
        "ECHO_SENSOR_LOOKBACK_SECONDS": "0",
        "DATAPREP_AUTOMATION_INTERVAL_SECONDS": "10",
        "DAGSTER_GRPC_TIMEOUT_SECONDS": "180",
    }
    for folder, scores in (("EPIQ7-0001", [0.98, 0.96, 0.02, 0.05]), ("VIVIDE95-0001", [0.99, 0.01, 0.4])):
        write_exam(store_root, folder, scores, seed=1)
    store = LocalDatasetStore(root=str(store_root))

    server = _start(home, env, tmp_path / "dev.log")
    try:
        ui = DagsterGraphQL(server.url)
        selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "sensorName": SENSOR_NAME}
        started = ui.query(START_SENSOR, {"selector": selector})["startSensor"]
        assert started["__typename"] == "Sensor", started
        with dg.DagsterInstance.from_config(str(home)) as instance:
            _wait(
                lambda: {"EPIQ7-0001", "VIVIDE95-0001"} <= _annotated_folders(store),
                600,
                "no echo refresh after the sensor was started",
                server.log_tail,
            )
            _wait(lambda: all(r.is_finished for r in _echo_runs(instance)), 120, "first refresh still running")
            assert len(_echo_runs(instance)) == 1

            write_exam(store_root, "AFFINITI70G-0009", [0.97, 0.03, 0.99], seed=2)
            _wait(
                lambda: "AFFINITI70G-0009" in _annotated_folders(store),
                600,
                "the new results file was not picked up",
                server.log_tail,
            )
            time.sleep(25)  # several sensor and automation ticks: nothing else may run
            runs = _echo_runs(instance)
            assert len(runs) == 2, [(r.job_name, r.status, r.tags.get("dagster/sensor_name")) for r in runs]
            assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
            assert all(r.tags.get("dagster/sensor_name") == SENSOR_NAME for r in runs)
            assert len(instance.get_runs()) == 2, "no other run (automation) for the same change"
    finally:
        server.stop()
