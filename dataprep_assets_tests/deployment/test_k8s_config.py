"""The Kubernetes deployment (deploy/k8s/): the instance file passes Dagster's own instance schema and the
K8sRunLauncher's config schema (dagster-k8s), so a typo fails here, not at deploy time; the Dask cluster
mounts the store's volume where the run pods have it; perva's category partitions stay one run each."""

import shutil

import pytest
import yaml
from dagster._config import process_config
from dagster._core.instance.config import dagster_instance_config

from dataprep_assets_tests.deployment.compose import ROOT

K8S = ROOT / "deploy" / "k8s"
INSTANCE = K8S / "dagster.k8s.yaml"


@pytest.fixture
def instance_yaml() -> dict:
    return yaml.safe_load(INSTANCE.read_text())


def _launcher_errors(config: dict) -> list[str]:
    from dagster_k8s import K8sRunLauncher

    result = process_config(K8sRunLauncher.config_type(), config)
    return [] if result.success else [e.message for e in result.errors or []]


def test_the_instance_file_passes_dagsters_instance_schema(tmp_path, monkeypatch):
    for name in ("HOST", "PORT", "DB", "USER", "PASSWORD"):
        monkeypatch.setenv(f"DAGSTER_POSTGRES_{name}", "5432" if name == "PORT" else "x")
    monkeypatch.setenv("DAGSTER_COMPUTE_LOGS_BUCKET", "logs")
    shutil.copy(INSTANCE, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["run_launcher"]["class"] == "K8sRunLauncher"


def test_the_run_launcher_config_passes_the_k8s_run_launchers_schema(instance_yaml):
    launcher = instance_yaml["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_k8s", "K8sRunLauncher")
    assert _launcher_errors(launcher["config"]) == []
    typo = {**launcher["config"], "job_namesapce": "dataprep"}
    assert any("job_namesapce" in e for e in _launcher_errors(typo))  # the check has teeth


def test_the_dask_cluster_mounts_the_store_where_the_run_pods_have_it(instance_yaml):
    launcher = instance_yaml["run_launcher"]["config"]
    cluster = yaml.safe_load((K8S / "dask-cluster.yaml").read_text())
    worker = cluster["spec"]["worker"]["spec"]
    (container,) = worker["containers"]
    assert container["volumeMounts"] == [
        {"name": m["name"], "mountPath": m["mountPath"]} for m in launcher["volume_mounts"]
    ]
    assert worker["volumes"] == launcher["volumes"]
    assert container["args"][container["args"].index("--nthreads") + 1] == "1"
    assert {"configMapRef": {"name": launcher["env_config_maps"][0]}} in container["envFrom"]
    assert cluster["metadata"]["namespace"] == launcher["job_namespace"]


def test_perva_category_partitions_run_as_separate_runs_in_a_backfill(instance_yaml):
    import dagster as dg

    from dataprep_assets.defs.perva_retrieval.assets import perva_categories, retrieval_per_category

    assert isinstance(perva_categories, dg.DynamicPartitionsDefinition)
    policy = retrieval_per_category.backfill_policy
    assert policy is None or policy.max_partitions_per_run == 1  # one run (one pod) per category
    limits = {lim["key"]: lim["limit"] for lim in instance_yaml["concurrency"]["runs"]["tag_concurrency_limits"]}
    assert 0 < limits["dagster/backfill"] < instance_yaml["concurrency"]["runs"]["max_concurrent_runs"]
