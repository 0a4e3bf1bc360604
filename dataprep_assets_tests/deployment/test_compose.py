"""docker-compose.yml, the Dockerfile and deploy/dagster.prod.yaml agree with each other.

There is no Docker engine on our machines, so the compose file is validated by the real Compose v2
implementation (`config -q` needs no engine), and the resolved model is checked for what a
deployment needs: health-gated start order, buckets created, the data directory bind-mounted at
one absolute path everywhere, every variable the production instance config reads set in the
containers that load it, and the workspace pointing at the code server.
"""

import re
from pathlib import Path, PurePosixPath

import pytest
import yaml

from dataprep_assets_tests.deployment.compose import ENV_EXAMPLE, ROOT, resolved_config, run_compose

PROD_YAML = ROOT / "deploy" / "dagster.prod.yaml"
DAGSTER_SERVICES = ("dataprep_assets_code", "webserver", "daemon")


@pytest.fixture(scope="module")
def config() -> dict:
    return resolved_config()


@pytest.fixture(scope="module")
def prod() -> dict:
    return yaml.safe_load(PROD_YAML.read_text())


def _env_example() -> dict[str, str]:
    lines = ENV_EXAMPLE.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def _env_references(node) -> set[str]:
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return set().union(*(_env_references(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_env_references(v) for v in node)) if node else set()
    return set()


def test_compose_config_is_valid_for_compose_v2():
    result = run_compose("config", "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("secret", ["DAGSTER_POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"])
def test_compose_refuses_to_start_without_a_secret(secret):
    others = {k: v for k, v in _env_example().items() if k != secret}
    result = run_compose("config", "-q", env_file=None, extra_env=others)
    assert result.returncode != 0
    assert f"required variable {secret} is missing" in result.stderr


def test_compose_has_every_service_with_health_gated_start_order(config):
    services = config["services"]
    assert {"postgres", "minio", "minio-buckets", "data-dir", *DAGSTER_SERVICES} <= set(services)
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["minio"]["healthcheck"]["test"]
    for name in DAGSTER_SERVICES:
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy", name
    code = services["dataprep_assets_code"]
    assert code["depends_on"]["minio-buckets"]["condition"] == "service_completed_successfully"
    assert code["depends_on"]["data-dir"]["condition"] == "service_completed_successfully"
    assert "grpc-health-check" in code["healthcheck"]["test"]
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["dataprep_assets_code"]["condition"] == "service_healthy", name


def test_every_bucket_the_services_use_is_created(config):
    services = config["services"]
    script = " ".join(services["minio-buckets"]["entrypoint"])
    created = set(re.search(r"for bucket in ([^;]+);", script).group(1).split())
    assert "mc mb --ignore-existing" in script
    environment = services["daemon"]["environment"]
    used = {environment["DAGSTER_COMPUTE_LOGS_BUCKET"]}
    for name in ("DATAPREP_STORE_URL", "ECHO_RESULTS_URI"):
        assert environment[name].startswith("s3://"), name
        used.add(environment[name][len("s3://") :].split("/")[0])
    assert used == created


def test_one_image_for_code_server_webserver_daemon_and_runs(config):
    services = config["services"]
    images = {services[name]["image"] for name in DAGSTER_SERVICES}
    assert len(images) == 1
    assert services["dataprep_assets_code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == images.pop()
    assert services["dataprep_assets_code"]["build"]["dockerfile"] == "Dockerfile"


def test_data_directory_is_one_absolute_bind_mount_for_code_server_and_run_containers(config, prod):
    launcher = prod["run_launcher"]["config"]
    mounts = [m.split(":") for m in launcher["container_kwargs"]["volumes"]]
    assert len(mounts) == 1
    host, target = mounts[0][:2]
    assert PurePosixPath(host).is_absolute() and PurePosixPath(target).is_absolute()
    code_mounts = [v for v in config["services"]["dataprep_assets_code"]["volumes"] if v["type"] == "bind"]
    assert [(v["source"], v["target"]) for v in code_mounts] == [(host, target)]
    store_root = PurePosixPath(config["services"]["daemon"]["environment"]["DATAPREP_STORE_ROOT"])
    assert store_root.is_relative_to(target), f"DATAPREP_STORE_ROOT={store_root} is outside the mounted {target}"
    assert "DATAPREP_STORE_ROOT" in launcher["env_vars"]


def test_run_containers_join_the_compose_network(config, prod):
    assert prod["run_launcher"]["config"]["network"] == config["networks"]["dataprep"]["name"]


def test_every_variable_the_prod_instance_reads_is_set_where_it_is_loaded(config, prod):
    referenced = _env_references(prod)
    assert {"DAGSTER_POSTGRES_PASSWORD", "DAGSTER_COMPUTE_LOGS_BUCKET"} <= referenced
    for name in DAGSTER_SERVICES:
        environment = config["services"][name]["environment"]
        missing = referenced - set(environment)
        assert not missing, f"{name} lacks {sorted(missing)}"
    # The daemon hands these to each run container by name, so it must have every one of them.
    forwarded = set(prod["run_launcher"]["config"]["env_vars"])
    assert referenced <= forwarded
    assert forwarded <= set(config["services"]["daemon"]["environment"])


def test_postgres_credentials_match_between_server_and_clients(config):
    server = config["services"]["postgres"]["environment"]
    client = config["services"]["daemon"]["environment"]
    assert (server["POSTGRES_USER"], server["POSTGRES_PASSWORD"], server["POSTGRES_DB"]) == (
        client["DAGSTER_POSTGRES_USER"],
        client["DAGSTER_POSTGRES_PASSWORD"],
        client["DAGSTER_POSTGRES_DB"],
    )
    assert client["DAGSTER_POSTGRES_HOST"] == "postgres"


def test_workspace_points_at_the_code_server(config):
    workspace = yaml.safe_load((ROOT / "deploy" / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    server = entry["grpc_server"]
    assert server["host"] in config["services"]
    command = config["services"][server["host"]]["command"]
    assert command[command.index("-p") + 1] == str(server["port"])
    assert command[command.index("--location-name") + 1] == server["location_name"]
    for name in ("webserver", "daemon"):
        assert "/opt/dagster/app/workspace.yaml" in config["services"][name]["command"], name


def _dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerfile_installs_from_the_lock_and_copies_only_what_exists():
    dockerfile = (ROOT / "Dockerfile").read_text()
    syncs = re.findall(r"uv sync ([^\n]+)", dockerfile)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs)
    ignored = _dockerignore_patterns()
    for source, _dest in re.findall(r"^COPY (?!--from)(\S+(?: \S+)*?) (\S+)$", dockerfile, flags=re.M):
        for part in source.split():
            assert (ROOT / part).exists(), f"Dockerfile copies {part}, which does not exist"
            assert not any(Path(part).match(p) or part == p for p in ignored), f"{part} is excluded by .dockerignore"
    assert "COPY deploy/dagster.prod.yaml /opt/dagster/home/dagster.yaml" in dockerfile
    assert "DAGSTER_HOME=/opt/dagster/home" in dockerfile


def test_env_example_sets_every_required_secret():
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required == {"DAGSTER_POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"}
    assert required <= set(_env_example())
