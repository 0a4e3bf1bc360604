"""The whole cell_qa graph from a real Dagster instance on a real Dask LocalCluster (2 worker processes over
TCP on loopback): on the local store with a worker SIGKILLed mid-run, and on the S3 store (moto's server on
loopback). Every output is byte-identical to the run with 1 local worker (inline) and with 2 local worker
processes: the backend and the worker count change where the work runs, never what it writes. The stacked
crop layout keeps the S3 round trips few (one file pair per frame and competitor)."""

from pathlib import Path

import boto3
import dagster as dg
import pandas as pd
import pytest

from dataprep_assets.common.store import LocalDatasetStore, S3DatasetStore
from dataprep_assets.defs.cell_qa.datasets import CELL_TABLE, CELLS_INDEX, CROPS, SEG_SCORES, SPLITS
from dataprep_assets.sample_data.cell_qa import generate
from dataprep_assets_tests.compute.faults import KillAfterTask
from dataprep_assets_tests.harness import materialize_group

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dask")]

DATASETS = (CROPS.path, CELL_TABLE.path, SEG_SCORES.path, SPLITS.path, "rejects/cell_crops.csv")
"""Every output whose bytes depend on where the crops were cut."""


def _sample(root: Path) -> Path:
    return generate(root, seed=5, sequences=3, frames=2, size=128)


def _materialize(store, instance, workers: int = 1) -> dg.ExecuteInProcessResult:
    """The whole cell_qa graph (without its card) and every one of its checks, on a real instance."""
    ops = {"cell_crops": {"config": {"max_workers": workers, "layout": "stacked"}}}
    return materialize_group("cell_qa", store, instance, ops=ops)


def _hashes(store) -> dict[str, str]:
    return {relpath: store.manifest(relpath).dataset_hash for relpath in DATASETS}


@pytest.fixture(scope="module")
def inline_hashes(tmp_path_factory) -> dict[str, str]:
    """The reference: every output of the whole graph run inline (1 local worker, no pool)."""
    root = tmp_path_factory.mktemp("inline") / "store"
    _sample(root)
    store = LocalDatasetStore(root=str(root))
    with dg.instance_for_test() as instance:
        assert _materialize(store, instance).success
    return _hashes(store)


def test_two_local_worker_processes_write_the_same_bytes(inline_hashes, tmp_path, instance, monkeypatch):
    monkeypatch.delenv("DATAPREP_DASK_ADDRESS", raising=False)
    _sample(tmp_path / "store")
    store = LocalDatasetStore(root=str(tmp_path / "store"))
    result = _materialize(store, instance, workers=2)
    assert result.success
    run_info = instance.get_latest_materialization_event(dg.AssetKey("cell_crops")).asset_materialization
    assert run_info.metadata["run_info"].value["compute"] == "2 local process(es)"
    assert _hashes(store) == inline_hashes


def test_whole_graph_on_dask_survives_a_killed_worker_and_writes_the_same_bytes(
    inline_hashes, dask_address, tmp_path, instance
):
    from distributed import Client

    _sample(tmp_path / "store")
    store = LocalDatasetStore(root=str(tmp_path / "store"))
    marker = tmp_path / "killed.marker"
    with Client(dask_address) as client:
        client.register_plugin(KillAfterTask("process_frame_star", str(marker)))
        try:
            result = _materialize(store, instance)
        finally:
            client.unregister_worker_plugin(KillAfterTask.name)
            client.wait_for_workers(2, timeout=240)
    assert result.success
    assert marker.exists()  # a worker died right after cutting a frame's crops: that frame was cut again
    assert all(e.passed for e in result.get_asset_check_evaluations())
    meta = instance.get_latest_materialization_event(dg.AssetKey("cell_crops")).asset_materialization.metadata
    assert meta["run_info"].value["compute"] == f"Dask cluster at {dask_address}"
    assert _hashes(store) == inline_hashes  # no frame lost, none written twice, byte for byte
    cells = pd.read_parquet(store.path(CELLS_INDEX))
    assert cells["cell_id"].is_unique


def test_whole_graph_on_dask_through_s3_writes_the_same_bytes(
    inline_hashes, dask_address, s3_bucket, s3_env, tmp_path, instance
):
    uploader = tmp_path / "uploader"
    _sample(uploader)
    client = boto3.client("s3", endpoint_url=s3_env)
    for path in sorted(p for p in uploader.rglob("*") if p.is_file()):
        client.upload_file(str(path), s3_bucket, f"cells/{path.relative_to(uploader).as_posix()}")
    store = S3DatasetStore(bucket=s3_bucket, prefix="cells", cache_dir=str(tmp_path / "cache"))
    result = _materialize(store, instance)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    assert _hashes(store) == inline_hashes
    fresh = S3DatasetStore(bucket=s3_bucket, prefix="cells", cache_dir=str(tmp_path / "reader"))
    crops = fresh.version(CROPS.path)
    assert crops.dataset_hash == inline_hashes[CROPS.path]  # what the bucket holds, read by another machine
    checked_out = fresh.checkout(crops, tmp_path / "checkout")
    assert len(list(checked_out.rglob("*.npy"))) == crops.file_count - 2  # every crop stack, plus the two indexes
