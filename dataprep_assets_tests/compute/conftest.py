"""A real Dask `LocalCluster`: 2 worker processes (1 thread each) over TCP on loopback, one per session."""

import pytest


@pytest.fixture(scope="session")
def dask_cluster():
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2,
        processes=True,
        threads_per_worker=1,
        host="127.0.0.1",
        protocol="tcp",
        dashboard_address=None,  # pyright: ignore[reportArgumentType] - None: no dashboard
    )
    yield cluster
    cluster.close()


@pytest.fixture
def dask_address(dask_cluster, monkeypatch) -> str:
    """The cluster's address, also selected for every `ordered_map` of this test through the environment."""
    monkeypatch.setenv("DATAPREP_DASK_ADDRESS", dask_cluster.scheduler_address)
    monkeypatch.delenv("DATAPREP_COMPUTE", raising=False)
    return dask_cluster.scheduler_address
