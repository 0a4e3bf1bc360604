"""Shared fixtures: a temporary dataset store and a real (ephemeral) Dagster instance per test."""

from pathlib import Path

import dagster as dg
import pytest

from dataprep_assets.common.store import LocalDatasetStore


@pytest.fixture(autouse=True)
def uploads_batched_without_waiting(monkeypatch):
    """Tests tick upload sensors right after writing files: no quiet period unless a test sets one
    (`test_an_upload_still_arriving_is_held_and_then_batched_whole`, the real-daemon test)."""
    monkeypatch.setenv("DATAPREP_UPLOAD_QUIET_SECONDS", "0")


@pytest.fixture
def store_root(tmp_path: Path) -> Path:
    root = tmp_path / "store"
    root.mkdir()
    return root


@pytest.fixture
def store(store_root: Path) -> LocalDatasetStore:
    return LocalDatasetStore(root=str(store_root))


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


@pytest.fixture(scope="session")
def defs() -> dg.Definitions:
    from dataprep_assets.definitions import defs as load

    return load()


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 protocol server (moto's) on 127.0.0.1 with a free port, for the whole session."""
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_env(s3_endpoint, monkeypatch):
    """Credentials from the environment, as in production (dummy values for the loopback server)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing-key-id")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    return s3_endpoint


@pytest.fixture
def s3_bucket(s3_env, request) -> str:
    """A fresh, empty bucket per test."""
    import re
    import uuid

    import boto3

    name = re.sub(r"[^a-z0-9-]", "-", f"t-{request.node.name.lower()}")[:40].strip("-") + "-" + uuid.uuid4().hex[:8]
    boto3.client("s3", endpoint_url=s3_env).create_bucket(Bucket=name)
    return name
