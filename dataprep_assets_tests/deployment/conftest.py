"""Fixtures of the deployment tests: a real PostgreSQL server and small cell_qa sample data."""

from pathlib import Path

import pytest

from dataprep_assets.sample_data.cell_qa import generate
from dataprep_assets_tests.deployment.postgres import PostgresCluster

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
# Small enough for seconds, large enough for the 70/15/15 split of every dataset and the demo's bad inputs.
SMALL_CELL_QA = {"sequences": 3, "frames": 2, "size": 128}


@pytest.fixture(scope="module")
def postgres():
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


def write_cell_qa_sample(store_root: Path) -> Path:
    return generate(store_root, seed=0, **SMALL_CELL_QA)
