"""Upload-sensor state on a real S3 server (moto on loopback): the same key + ETag re-uploaded long after
is not a change, a catch-up of many existing keys is one batch (its listing in the store, not in the run
config), and the cursor stays small because the reported digests live in the store."""

import time

import boto3
import dagster as dg

from dataprep_assets.common.store import S3DatasetStore
from dataprep_assets.common.uploads import INLINE_KEYS, UploadWatch, upload_batch_definitions
from dataprep_assets_tests.harness import tick_sensor

WATCH = UploadWatch(pipeline="demo", prefix="raw/demo", lookback_seconds=0, max_files_per_tick=100)


def test_catch_up_is_one_batch_reuploads_are_not_changes_and_the_cursor_stays_small(
    s3_bucket, s3_env, tmp_path, instance
):
    client = boto3.client("s3", endpoint_url=s3_env)
    existing = INLINE_KEYS + 1  # more than one tick's cap, and than fits inline
    for i in range(existing):
        client.put_object(Bucket=s3_bucket, Key=f"store/raw/demo/old/{i:05d}.bin", Body=f"payload {i}".encode())
    store = S3DatasetStore(bucket=s3_bucket, prefix="store", cache_dir=str(tmp_path / "cache"))
    asset, sensor = upload_batch_definitions(WATCH)
    defs = dg.Definitions(assets=[asset], sensors=[sensor], resources={"store": store})

    catch_up = tick_sensor(sensor, defs, instance, store, None)
    (request,) = catch_up.run_requests
    config = request.run_config["ops"]["demo_uploads"]["config"]
    assert config["keys"] == [] and config["listing"], "a catch-up batch is passed as a listing in the store"
    run = dg.materialize(
        [asset],
        instance=instance,
        resources={"store": store},
        partition_key=request.partition_key,
        run_config=request.run_config,
    )
    (event,) = run.get_asset_materialization_events()
    assert event.materialization.metadata["files_in_batch"].value == existing
    assert len(catch_up.cursor) < 200, f"cursor of {len(catch_up.cursor)} characters after {existing} objects"

    assert tick_sensor(sensor, defs, instance, store, catch_up.cursor).run_requests == []
    time.sleep(1.1)  # past the watermark second, and lookback_seconds=0: only the ledger remembers
    client.put_object(Bucket=s3_bucket, Key="store/raw/demo/old/00007.bin", Body=b"payload 7")  # same bytes: same ETag
    client.put_object(Bucket=s3_bucket, Key="store/raw/demo/old/00008.bin", Body=b"new content")
    client.put_object(Bucket=s3_bucket, Key="store/raw/demo/new.bin", Body=b"a new file")
    later = tick_sensor(sensor, defs, instance, store, catch_up.cursor)
    (request,) = later.run_requests
    assert sorted(request.run_config["ops"]["demo_uploads"]["config"]["keys"]) == ["new.bin", "old/00008.bin"]
    assert len(later.cursor) < 200
    assert tick_sensor(sensor, defs, instance, store, later.cursor).run_requests == [], "nothing twice"


def test_an_upload_still_arriving_is_held_and_then_batched_whole(s3_bucket, s3_env, tmp_path, instance):
    client = boto3.client("s3", endpoint_url=s3_env)
    store = S3DatasetStore(bucket=s3_bucket, prefix="store", cache_dir=str(tmp_path / "cache"))
    # 12 s: S3 times are whole seconds and a loaded CI box took 3 s from the puts to the tick (a 3 s period flaked)
    watch = UploadWatch(pipeline="demo", prefix="raw/demo", quiet_seconds=12)
    asset, sensor = upload_batch_definitions(watch)
    defs = dg.Definitions(assets=[asset], sensors=[sensor], resources={"store": store})
    first = tick_sensor(sensor, defs, instance, store, None)  # an empty bucket: the cursor starts here
    for name in ("a.bin", "b.bin"):
        client.put_object(Bucket=s3_bucket, Key=f"store/raw/demo/{name}", Body=name.encode())

    arriving = tick_sensor(sensor, defs, instance, store, first.cursor)
    assert arriving.run_requests == [] and "still arriving" in (arriving.skip_message or ""), arriving.skip_message
    assert arriving.cursor == first.cursor, "a held upload leaves the cursor where it was"
    client.put_object(Bucket=s3_bucket, Key="store/raw/demo/c.bin", Body=b"c")
    time.sleep(13.5)  # the upload has gone quiet

    (request,) = tick_sensor(sensor, defs, instance, store, arriving.cursor).run_requests
    assert sorted(request.run_config["ops"]["demo_uploads"]["config"]["keys"]) == ["a.bin", "b.bin", "c.bin"]
