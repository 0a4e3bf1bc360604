"""Uploads propagate with the real daemon, on a fresh instance, with the dataset store on S3 (moto on loopback).

`dagster dev` starts over a fresh `$DAGSTER_HOME` (the shipped dagster.yaml) with the cell_qa upload
sensor on (`DATAPREP_UPLOAD_SENSORS=running`, as `make watch`) and nothing else done by hand. Files
uploaded under `raw/cell_qa/` must give one upload-batch run, then the automation sensor's runs, until
`cell_qa_release` is materialized and the released split table holds the uploaded images; every run
is tagged `dataprep/pipeline=cell_qa`. The server is then restarted (the daemon, its sensors' cursors
and the automation cursor survive in the instance): nothing is run again, and a second upload after
the restart gives exactly one more batch and one more release holding the new images.
Tiny sample data and 10-second sensor intervals keep it short.
"""

import shutil
import time
from pathlib import Path

import boto3
import dagster as dg
import pytest

from dataprep_assets.common.store import S3DatasetStore
from dataprep_assets.defs.cell_qa.datasets import SPLITS
from dataprep_assets.sample_data.cell_qa import DATASETS, generate
from dataprep_assets_tests.deployment.conftest import ROOT
from dataprep_assets_tests.deployment.graphql_ui import DagsterGraphQL
from dataprep_assets_tests.deployment.webserver import DagsterDev

# Two server starts and two propagations: on a loaded 2-core box this exceeds the suite-wide 900 s timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]

LOCATION = "dataprep_assets"
RELEASE, UPLOADS = dg.AssetKey("cell_qa_release"), dg.AssetKey("cell_qa_uploads")
TINY = {
    "sequences": 3,
    "frames": 2,
    "size": 96,
    "datasets": {name: DATASETS[name] for name in list(DATASETS)[:1]},
    "defects": False,
}


def _wait(condition, timeout: float, what: str, log=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise TimeoutError(f"{what} within {timeout:.0f}s\n{log()}")


def _upload(client, bucket: str, generated: Path, rels: list[str]) -> None:
    for rel in rels:
        client.upload_file(str(generated / rel), bucket, f"store/{rel}")


def _materializations(instance, key) -> int:
    return len(instance.fetch_materializations(key, limit=100).records)


@pytest.fixture
def fresh_instance(tmp_path, s3_bucket, s3_env, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    env = {
        "DATAPREP_STORE_URL": f"s3://{s3_bucket}/store",
        "DATAPREP_STORE_ROOT": str(tmp_path / "code-server-cache"),
        "DATAPREP_UPLOAD_SENSORS": "running",
        "DATAPREP_UPLOAD_SENSOR_INTERVAL_SECONDS": "10",
        "DATAPREP_AUTOMATION_INTERVAL_SECONDS": "10",
        "DATAPREP_UPLOAD_QUIET_SECONDS": "15",  # an upload straddling a tick is still one batch
        "DAGSTER_GRPC_TIMEOUT_SECONDS": "180",  # a loaded 2-core CI box: slow code-server answers are not failures
    }
    return home, env


def _start(home: Path, env: dict, log: Path) -> DagsterDev:
    server = DagsterDev(workspace=ROOT / "workspace.yaml", dagster_home=home, log_path=log, env=env).start()
    try:
        DagsterGraphQL(server.url).wait_for_location(LOCATION)
    except BaseException:
        server.stop(strict=False)
        raise
    return server


def _released_images(bucket: str, tmp_path: Path) -> set[str]:
    store = S3DatasetStore(bucket=bucket, prefix="store", cache_dir=str(tmp_path / f"reader-{time.monotonic_ns()}"))
    store.pull(SPLITS.path)
    return set(store.read_table(SPLITS.path)["original_image_key"])


def test_uploads_reach_the_release_through_the_real_daemon_across_a_restart(
    fresh_instance, s3_bucket, s3_env, tmp_path
):
    home, env = fresh_instance
    generated = tmp_path / "generated"
    generate(generated, seed=3, **TINY)
    files = sorted(p.relative_to(generated).as_posix() for p in (generated / "raw/cell_qa").rglob("*.tif"))
    later = [f for f in files if "/03" in f]  # sequence 03 (frames, ground truth, competitors) comes after the restart
    first = [f for f in files if f not in later]
    client = boto3.client("s3", endpoint_url=s3_env)
    started = time.monotonic()

    server = _start(home, env, tmp_path / "dev-1.log")
    try:
        _upload(client, s3_bucket, generated, first)
        with dg.DagsterInstance.from_config(str(home)) as instance:
            _wait(
                lambda: _materializations(instance, RELEASE) >= 1,
                900,
                "no cell_qa_release after the upload",
                server.log_tail,
            )
            first_release = time.monotonic() - started
            time.sleep(25)  # two more automation ticks: nothing else may run
            runs = instance.get_runs()
            assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}, [(r.job_name, r.status) for r in runs]
            assert {r.tags.get("dataprep/pipeline") for r in runs} == {"cell_qa"}, (
                "every run is tagged with its pipeline"
            )
            assert _materializations(instance, UPLOADS) == 1 and _materializations(instance, RELEASE) == 1
            runs_before_restart = len(runs)
        released_first = _released_images(s3_bucket, tmp_path)
        assert released_first
    finally:
        server.stop()

    server = _start(home, env, tmp_path / "dev-2.log")
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            time.sleep(25)  # sensors and automation tick again after the restart: nothing to do
            assert len(instance.get_runs()) == runs_before_restart, "something ran again after the restart"
            _upload(client, s3_bucket, generated, later)
            _wait(
                lambda: _materializations(instance, RELEASE) >= 2,
                900,
                "no second release after the restart",
                server.log_tail,
            )
            time.sleep(25)
            assert _materializations(instance, UPLOADS) == 2 and _materializations(instance, RELEASE) == 2, (
                "one batch, one release"
            )
            runs = instance.get_runs()
            assert {r.status for r in runs} == {dg.DagsterRunStatus.SUCCESS}
            assert {r.tags.get("dataprep/pipeline") for r in runs} == {"cell_qa"}
    finally:
        server.stop()
    released = _released_images(s3_bucket, tmp_path)
    assert released_first < released, "the images uploaded after the restart are in the release"
    print(f"upload -> first release {first_release:.0f}s; whole test {time.monotonic() - started:.0f}s")
