"""An upload turns into a dataset update: sensor tick -> upload-batch run -> declarative automation
rebuilds cell_qa downstream -> the new image is in the split dataframe and every check passes.

Runs the same flow on the local store and on S3 (moto's real server on loopback), the way the daemon
would: sensor evaluation with the cursor carried over, then automation evaluations until quiet.
"""

import shutil
from pathlib import Path

import boto3
import dagster as dg
import pandas as pd
import pytest

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.cell_qa import assets as cell_assets
from dataprep_assets.defs.cell_qa import checks as cell_checks
from dataprep_assets.defs.cell_qa import uploads as cell_uploads
from dataprep_assets.sample_data.cell_qa import DATASETS, generate

ASSETS = [
    cell_uploads.cell_qa_uploads,
    cell_assets.cell_qa_inventory,
    cell_assets.cell_crops,
    cell_assets.cell_level_dataframe,
    cell_assets.competitor_seg_scores,
    cell_assets.cell_level_dataframe_with_splits,
    cell_assets.cell_qa_release,
]
CHECKS = [
    cell_checks.no_image_key_overlap,
    cell_checks.split_fractions_near_target,
    cell_checks.cell_jaccard_valid,
    cell_checks.crops_readable,
]
SMALL = {name: DATASETS[name] for name in list(DATASETS)[:2]}


def _defs(store) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS, asset_checks=CHECKS, sensors=[cell_uploads.cell_qa_upload_sensor], resources={"store": store}
    )


def _tick(defs, instance, cursor):
    sensor = defs.resolve_sensor_def("cell_qa_upload_sensor")
    with dg.build_sensor_context(
        instance=instance,
        instance_ref=instance.get_ref(),
        cursor=cursor,
        resources={"store": defs.resources["store"]},
        definitions=defs,
    ) as ctx:
        result = sensor.evaluate_tick(ctx)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _run_request(defs, instance, request) -> dg.ExecuteInProcessResult:
    job = defs.resolve_implicit_job_def_def_for_assets(request.asset_selection)
    return job.execute_in_process(
        instance=instance,
        partition_key=request.partition_key,
        run_config=request.run_config,
        asset_selection=request.asset_selection,
        tags=request.tags,
    )


class Automation:
    """What the daemon's automation sensor does: evaluate with its cursor, run what is requested, repeat."""

    def __init__(self, defs, instance):
        self.defs, self.instance, self.cursor = defs, instance, None
        assert self.follow() == []  # the first evaluation, before any upload: nothing can run yet

    def follow(self, max_rounds=8) -> list[str]:
        return _follow_automation(self, max_rounds)


def _follow_automation(auto, max_rounds) -> list[str]:
    defs, instance, materialized = auto.defs, auto.instance, []
    for _ in range(max_rounds):
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=auto.cursor)
        auto.cursor = result.cursor
        keys = [r.key for r in result.results if r.true_subset.size > 0]
        if not keys:
            return materialized
        run = defs.resolve_implicit_job_def_def_for_assets(keys).execute_in_process(
            instance=instance,
            asset_selection=keys,
            run_config={"ops": {"cell_crops": {"config": {"max_workers": 1}}}},
            raise_on_error=False,
        )
        assert run.success
        failed = [
            e.check_name
            for e in run.get_asset_check_evaluations()
            if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
        ]
        assert not failed, failed
        materialized += [k.to_user_string() for k in keys]
    raise AssertionError(f"automation did not settle: {materialized}")


def _copy_sequence(src_root: Path, dst_root: Path, dataset: str, seq: str) -> list[Path]:
    """The files of one sequence (raw, ground truth, every competitor), relative to the store root."""
    base = Path("raw/cell_qa")
    rels = [p.relative_to(src_root) for p in (src_root / base / dataset / seq).rglob("*.tif")]
    rels += [p.relative_to(src_root) for p in (src_root / base / dataset / f"{seq}_GT").rglob("*.tif")]
    rels += [p.relative_to(src_root) for p in (src_root / base / "competitors").glob(f"*/{dataset}/{seq}_RES/*.tif")]
    return sorted(rels)


@pytest.fixture
def staged_sample(tmp_path):
    """Sample data generated aside; tests 'upload' it into the store in two rounds."""
    root = tmp_path / "generated"
    generate(root, seed=5, sequences=3, frames=2, size=96, datasets=SMALL, defects=False)
    return root


def test_local_upload_triggers_one_batch_run_and_downstream_follows(staged_sample, tmp_path, instance):
    store_root = tmp_path / "store"
    store = LocalDatasetStore(root=str(store_root))
    defs = _defs(store)
    automation = Automation(defs, instance)
    first = [r for seq in ("01", "02") for ds in SMALL for r in _copy_sequence(staged_sample, store_root, ds, seq)]
    for rel in first:
        (store_root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(staged_sample / rel, store_root / rel)

    tick = _tick(defs, instance, None)
    assert len(tick.run_requests) == 1
    assert len(tick.run_requests[0].run_config["ops"]["cell_qa_uploads"]["config"]["keys"]) == len(first)
    assert _run_request(defs, instance, tick.run_requests[0]).success
    built = automation.follow()
    assert {"cell_qa_inventory", "cell_crops", "cell_level_dataframe_with_splits", "cell_qa_release"} <= set(built)
    keys_before = set(
        pd.read_parquet(store_root / "data/cell_level_dataframe_with_splits.parquet")["original_image_key"]
    )

    quiet = _tick(defs, instance, tick.cursor)
    assert not quiet.run_requests and automation.follow() == []

    new = [r for ds in SMALL for r in _copy_sequence(staged_sample, store_root, ds, "03")]
    for rel in new:
        (store_root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(staged_sample / rel, store_root / rel)
    tick2 = _tick(defs, instance, quiet.cursor)
    assert len(tick2.run_requests) == 1
    assert sorted(tick2.run_requests[0].run_config["ops"]["cell_qa_uploads"]["config"]["keys"]) == sorted(
        str(r.relative_to("raw/cell_qa")) for r in new
    )
    assert _run_request(defs, instance, tick2.run_requests[0]).success
    assert "cell_level_dataframe_with_splits" in automation.follow()
    keys_after = set(
        pd.read_parquet(store_root / "data/cell_level_dataframe_with_splits.parquet")["original_image_key"]
    )
    assert keys_after - keys_before == {f"{ds}/03" for ds in SMALL}


def test_failed_blocking_check_stops_automation_downstream(staged_sample, tmp_path, instance, monkeypatch):
    store_root = tmp_path / "store"
    shutil.copytree(staged_sample / "raw", store_root / "raw")
    store = LocalDatasetStore(root=str(store_root))
    defs = _defs(store)
    automation = Automation(defs, instance)
    tick = _tick(defs, instance, None)
    assert _run_request(defs, instance, tick.run_requests[0]).success

    def leaky_split(frame, group_col, fractions, seed, split_col="split", previous=None):
        out = frame.copy()
        out[split_col] = ["train", "validation", "test"] * (len(out) // 3) + ["train"] * (len(out) % 3)
        return out

    monkeypatch.setattr(cell_assets, "assign_group_splits", leaky_split)
    with pytest.raises(AssertionError):  # the run with the leaky split fails its blocking check
        automation.follow()
    assert instance.get_latest_materialization_event(dg.AssetKey("cell_qa_release")) is None
    result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=automation.cursor)
    assert result.get_num_requested(dg.AssetKey("cell_qa_release")) == 0


def test_s3_upload_flows_through_the_loopback_server(staged_sample, tmp_path, instance, s3_bucket, s3_endpoint):
    from dataprep_assets.defs.resources import build_store

    store = build_store(url=f"s3://{s3_bucket}/datasets", cache_dir=str(tmp_path / "cache"))
    defs = _defs(store)
    automation = Automation(defs, instance)
    client = boto3.client("s3", endpoint_url=s3_endpoint)
    for path in sorted((staged_sample / "raw").rglob("*.tif")):
        client.upload_file(str(path), s3_bucket, f"datasets/{path.relative_to(staged_sample).as_posix()}")

    tick = _tick(defs, instance, None)
    assert len(tick.run_requests) == 1
    assert _run_request(defs, instance, tick.run_requests[0]).success
    built = automation.follow()
    assert "cell_qa_release" in built
    listed = client.list_objects_v2(Bucket=s3_bucket, Prefix="datasets/data/cell_level_dataframe_with_splits.parquet")
    assert listed["KeyCount"] == 1
    assert not _tick(defs, instance, tick.cursor).run_requests
