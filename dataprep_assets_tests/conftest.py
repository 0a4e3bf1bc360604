"""Shared fixtures: a temporary dataset store and a real (ephemeral) Dagster instance per test."""

from pathlib import Path

import dagster as dg
import pytest

from dataprep_assets.common.store import LocalDatasetStore


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
