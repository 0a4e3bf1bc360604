"""A file deleted from the upload prefix is a change too: the upload sensor names it, the day's batch records it
(so the pipeline that follows the batch rebuilds without it), and the same bytes uploaded again come back as new.
On a real S3 server (moto on loopback) and on a local store; date folders that leave the listing window are never
taken for deleted."""

from datetime import UTC, datetime, timedelta

import boto3
import dagster as dg

from dataprep_assets.common.sensors import LocalDirectorySource, ReportedLedger, evaluate_changes
from dataprep_assets.common.store import S3DatasetStore
from dataprep_assets.common.uploads import UploadWatch, upload_batch_definitions
from dataprep_assets.lib.changes import ObjectInfo, deleted_objects
from dataprep_assets_tests.harness import tick_sensor

WATCH = UploadWatch(pipeline="demo", prefix="raw/demo", lookback_seconds=0, max_files_per_tick=100)


def _materialize(asset, instance, store, request) -> dict:
    result = dg.materialize(
        [asset], instance=instance, resources={"store": store}, partition_key=request.partition_key,
        run_config=request.run_config,
    )  # fmt: skip
    (event,) = result.get_asset_materialization_events()
    return {k: v.value for k, v in event.materialization.metadata.items()}


def test_a_deleted_upload_is_a_batch_that_records_it_and_the_same_bytes_again_are_new(
    s3_bucket, s3_env, tmp_path, instance
):
    client = boto3.client("s3", endpoint_url=s3_env)
    for name in ("a.bin", "b.bin", "c.bin"):
        client.put_object(Bucket=s3_bucket, Key=f"store/raw/demo/{name}", Body=name.encode())
    store = S3DatasetStore(bucket=s3_bucket, prefix="store", cache_dir=str(tmp_path / "cache"))
    asset, sensor = upload_batch_definitions(WATCH)
    defs = dg.Definitions(assets=[asset], sensors=[sensor], resources={"store": store})
    first = tick_sensor(sensor, defs, instance, store, None)
    (request,) = first.run_requests
    _materialize(asset, instance, store, request)

    client.delete_object(Bucket=s3_bucket, Key="store/raw/demo/b.bin")
    gone = tick_sensor(sensor, defs, instance, store, first.cursor)
    (request,) = gone.run_requests
    config = request.run_config["ops"]["demo_uploads"]["config"]
    assert config["keys"] == [] and config["deleted"] == ["b.bin"]
    assert request.tags["dataprep/deleted_files"] == "1"
    metadata = _materialize(asset, instance, store, request)
    assert metadata["deleted_this_run"] == 1 and metadata["files_in_batch"] == 2
    assert metadata["accounting/uploaded files"]["records_unaccounted"] == 0
    batch = store.read_json(f"uploads/demo/{request.partition_key}.json")
    assert sorted(batch["files"]) == ["a.bin", "c.bin"] and list(batch["deleted"]) == ["b.bin"]
    assert not store.pull("raw/demo").joinpath("b.bin").exists(), "the pipeline's view of the prefix lost it"

    assert tick_sensor(sensor, defs, instance, store, gone.cursor).run_requests == [], "a deletion is reported once"
    client.put_object(Bucket=s3_bucket, Key="store/raw/demo/b.bin", Body=b"b.bin")  # the same bytes: same ETag
    back = tick_sensor(sensor, defs, instance, store, gone.cursor)
    (request,) = back.run_requests
    assert request.run_config["ops"]["demo_uploads"]["config"]["keys"] == ["b.bin"]
    _materialize(asset, instance, store, request)
    batch = store.read_json(f"uploads/demo/{request.partition_key}.json")
    assert sorted(batch["files"]) == ["a.bin", "b.bin", "c.bin"] and "deleted" not in batch
    assert tick_sensor(sensor, defs, instance, store, back.cursor).run_requests == []


def test_date_folders_leaving_the_listing_window_are_not_deletions_but_a_deletion_inside_it_is(store, tmp_path):
    root = store.path("raw/demo")
    today = datetime(2026, 11, 28, 12, tzinfo=UTC)
    for day in (today - timedelta(days=1), today):
        folder = root / day.strftime("%Y/%m/%d")
        folder.mkdir(parents=True)
        (folder / "x.dcm").write_bytes(b"x")
    source = LocalDirectorySource(root=str(root), date_prefix_format="%Y/%m/%d/", date_prefix_days=2)
    ledger = ReportedLedger(store, "demo_upload_sensor")
    listing = list(source.list_objects(today))
    assert len(listing) == 2
    present = {o.key: o.etag for o in listing}
    tomorrow = today + timedelta(days=1)  # yesterday's folder is out of the window now
    assert deleted_objects(present, source.list_objects(tomorrow), source.prefixes(tomorrow)) == {}
    (root / today.strftime("%Y/%m/%d") / "x.dcm").unlink()
    assert deleted_objects(present, source.list_objects(tomorrow), source.prefixes(tomorrow)) == {
        "2026/11/28/x.dcm": present["2026/11/28/x.dcm"]
    }

    # the sensor's own bookkeeping: a ledger written before deletions were tracked names no deletion
    plain = LocalDirectorySource(root=str(root))
    (root / "y.dcm").write_bytes(b"y")
    first = evaluate_changes(plain, None, max_changes=10, lookback_seconds=0, ledger=ledger)
    assert [o.key for o in first.changes] == ["2026/11/27/x.dcm", "y.dcm"] and first.deleted == {}
    (root / "y.dcm").unlink()
    second = evaluate_changes(plain, first.cursor.to_json(), max_changes=10, lookback_seconds=0, ledger=ledger)
    assert second.changes == [] and list(second.deleted) == ["y.dcm"]
    assert (
        evaluate_changes(plain, second.cursor.to_json(), max_changes=10, lookback_seconds=0, ledger=ledger).deleted
        == {}
    )


def test_deleted_objects_compares_keys_under_the_listed_prefixes_only():
    present = {"2026/11/27/a": "1", "2026/11/28/b": "2", "2026/11/28/c": "3"}
    listed = [ObjectInfo("2026/11/28/c", "3", 0.0)]
    assert deleted_objects(present, listed, ["2026/11/28/"]) == {"2026/11/28/b": "2"}
    assert deleted_objects(present, listed, [""]) == {"2026/11/27/a": "1", "2026/11/28/b": "2"}
    assert deleted_objects({}, listed, [""]) == {}
