"""The optional Dask cluster of docker-compose.yml (profile `dask`), validated by the real Compose v2
implementation: off by default, the same image as the runs, workers pointed at the scheduler's port and
mounting the data directory where the runs see it, and its address reaching every run container."""

import pytest
import yaml

from dataprep_assets_tests.deployment.compose import ROOT, resolved_config, run_compose

DASK_SERVICES = ("dask-scheduler", "dask-worker")


@pytest.fixture(scope="module")
def config() -> dict:
    return resolved_config("dask", extra_env={"DATAPREP_DASK_ADDRESS": "tcp://dask-scheduler:8786"})


def test_the_dask_services_are_off_unless_their_profile_is_asked_for():
    assert not set(DASK_SERVICES) & set(resolved_config()["services"])
    assert run_compose("--profile", "dask", "config", "-q").returncode == 0


def test_workers_run_the_same_image_and_reach_the_scheduler_port(config):
    services = config["services"]
    scheduler, worker = services["dask-scheduler"], services["dask-worker"]
    assert scheduler["image"] == worker["image"] == services["dataprep_assets_code"]["image"]
    port = scheduler["command"][scheduler["command"].index("--port") + 1]
    assert worker["command"][:3] == ["dask", "worker", f"tcp://dask-scheduler:{port}"]
    assert worker["command"][worker["command"].index("--nthreads") + 1] == "1"
    assert worker["depends_on"]["dask-scheduler"]["condition"] == "service_healthy"
    assert port in " ".join(scheduler["healthcheck"]["test"])


def test_workers_mount_the_data_directory_where_the_runs_see_it(config):
    services = config["services"]
    binds = {
        name: [(v["source"], v["target"]) for v in services[name]["volumes"] if v["type"] == "bind"]
        for name in ("dataprep_assets_code", "dask-worker")
    }
    assert binds["dask-worker"] == binds["dataprep_assets_code"]
    prod = yaml.safe_load((ROOT / "deploy" / "dagster.prod.yaml").read_text())
    assert [tuple(m.split(":")[:2]) for m in prod["run_launcher"]["config"]["container_kwargs"]["volumes"]] == binds[
        "dask-worker"
    ]
    assert (
        services["dask-worker"]["environment"]["DATAPREP_STORE_ROOT"]
        == services["daemon"]["environment"]["DATAPREP_STORE_ROOT"]
    )


def test_the_scheduler_address_reaches_the_code_server_and_every_run_container(config):
    for name in ("dataprep_assets_code", "daemon"):
        assert config["services"][name]["environment"]["DATAPREP_DASK_ADDRESS"] == "tcp://dask-scheduler:8786"
    prod = yaml.safe_load((ROOT / "deploy" / "dagster.prod.yaml").read_text())
    assert "DATAPREP_DASK_ADDRESS" in prod["run_launcher"]["config"]["env_vars"]
    default = resolved_config()["services"]["daemon"]["environment"]
    assert default["DATAPREP_DASK_ADDRESS"] == ""  # no cluster unless asked for: local worker processes
