"""How long an upload sensor tick takes over a bucket that already holds many keys.

Starts moto's S3 server on loopback, puts N existing objects under `raw/cell_qa/` of an S3 dataset
store, then times real `cell_qa_upload_sensor` evaluations (Dagster sensor context, real instance):
the catch-up tick(s) that take the existing keys in, a quiet tick, and a tick
with one new upload. Beside it, the naive tick that keeps every seen key in the cursor. Times are
single in-process measurements (each tick is a different state of the cursor; the server shares the
process): no ratio is claimed from them.

Usage: python -m benchmarks.uploads_sensor_tick [--keys 10000] [--quick]
"""

import argparse
import json
import logging
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import boto3
import dagster as dg
from moto.server import ThreadedMotoServer

from benchmarks._harness import header
from dataprep_assets.common.store import S3DatasetStore
from dataprep_assets.common.uploads import UploadBatchConfig
from dataprep_assets.defs.cell_qa.uploads import cell_qa_upload_sensor, cell_qa_uploads


def tick(instance, store, cursor):
    defs = dg.Definitions(assets=[cell_qa_uploads], sensors=[cell_qa_upload_sensor], resources={"store": store})
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), cursor=cursor, resources={"store": store}, definitions=defs
    ) as ctx:
        started = time.perf_counter()
        result = cell_qa_upload_sensor.evaluate_tick(ctx)
        seconds = time.perf_counter() - started
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    new = sum(  # a batch names its keys inline or, when large, in a listing file in the store
        len(UploadBatchConfig(**r.run_config["ops"]["cell_qa_uploads"]["config"]).changes(store))
        for r in result.run_requests  # pyright: ignore[reportOptionalIterable]  # a sensor tick always returns its run requests (maybe empty) and a cursor
    )
    return result.cursor, seconds, new


def naive_tick(client, bucket, seen: set) -> tuple[float, int, int]:
    """The naive side, the simplest correct cursor for the same new keys: every key+ETag ever seen kept in the cursor.
    What differs: the cursor grows with the bucket, and this is the bare listing loop (no Dagster sensor context, no
    run requests), so it is printed for scale, not as a ratio."""
    started = time.perf_counter()
    new = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="store/raw/cell_qa/"):
        for item in page.get("Contents", ()):
            key = f"{item['Key']}\0{item['ETag']}"
            if key not in seen:
                seen.add(key)
                new += 1
    return time.perf_counter() - started, new, len(json.dumps(sorted(seen)))


def dated_tick(client, n: int) -> None:
    """The same number of keys in a date-prefixed layout: a tick lists only the last two days."""
    from datetime import UTC, datetime, timedelta

    from dataprep_assets.common.uploads import UploadWatch, upload_batch_definitions

    today = datetime.now(UTC)
    days = [(today - timedelta(days=d)).strftime("%Y/%m/%d") for d in range(100)]
    keys = [f"store/raw/dated/{days[i % 100]}/img_{i:06d}.tif" for i in range(n)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket="bench", Key=k, Body=b"x" * 64), keys))
    os.environ["DATAPREP_DATED_UPLOAD_DATE_PREFIX"] = "%Y/%m/%d/"  # the deployment setting, read on each tick
    asset, sensor = upload_batch_definitions(UploadWatch(pipeline="dated", prefix="raw/dated"))
    with tempfile.TemporaryDirectory() as cache, dg.instance_for_test() as instance:
        store = S3DatasetStore(bucket="bench", prefix="store", cache_dir=cache)
        defs = dg.Definitions(assets=[asset], sensors=[sensor], resources={"store": store})
        with dg.build_sensor_context(
            instance=instance, instance_ref=instance.get_ref(), resources={"store": store}, definitions=defs
        ) as ctx:
            started = time.perf_counter()
            result = sensor.evaluate_tick(ctx)
            seconds = time.perf_counter() - started
    new = sum(len(r.run_config["ops"]["dated_uploads"]["config"]["keys"]) for r in result.run_requests)  # pyright: ignore[reportOptionalIterable]  # a sensor tick always returns its run requests (maybe empty) and a cursor
    print(f"ours  date-prefixed layout ({n} keys over 100 days), first tick lists 2 days: {seconds:.2f} s, {new} new")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="1,500 keys")
    args = parser.parse_args()
    n = 1_500 if args.quick else args.keys
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL_S3=f"http://{host}:{port}",
        DATAPREP_UPLOAD_QUIET_SECONDS="0",  # keys put a moment ago are batched at once: this times the listing
    )
    try:
        client = boto3.client("s3")
        client.create_bucket(Bucket="bench")
        keys = [f"store/raw/cell_qa/DS-{i // 1000:02d}/{(i // 50) % 20:02d}/t{i % 50:03d}.tif" for i in range(n)]
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda k: client.put_object(Bucket="bench", Key=k, Body=b"x" * 64), keys))
        header(
            f"upload sensor tick over {n} existing keys (moto S3 server on loopback, 1,000 keys per list page); one "
            "run, in-process",
            columns=False,
        )
        with tempfile.TemporaryDirectory() as cache, dg.instance_for_test() as instance:
            store = S3DatasetStore(bucket="bench", prefix="store", cache_dir=cache)
            cursor, taken, ticks = None, 0, []
            while taken < n:
                cursor, seconds, new = tick(instance, store, cursor)
                if not new:
                    raise SystemExit(f"the sensor took in {taken} of {n} existing keys and then nothing more")
                taken += new
                ticks.append(seconds)
            print(
                f"ours  catch-up: {len(ticks)} tick(s) for {taken:,} keys, {sum(ticks) / len(ticks):.2f} s/tick, "
                f"cursor {len(cursor) / 1024:.1f} kB"  # pyright: ignore[reportArgumentType]  # a sensor tick always returns its run requests (maybe empty) and a cursor
            )
            cursor, quiet, new = tick(instance, store, cursor)
            print(f"ours  quiet tick (nothing new):     {quiet:.2f} s, {new} new, cursor {len(cursor) / 1024:.1f} kB")  # pyright: ignore[reportArgumentType]  # a sensor tick always returns its run requests (maybe empty) and a cursor
            client.put_object(Bucket="bench", Key="store/raw/cell_qa/DS-new/01/t000.tif", Body=b"y" * 64)
            cursor, one, new = tick(instance, store, cursor)
            print(f"ours  tick with one new upload:     {one:.2f} s, {new} new, cursor {len(cursor) / 1024:.1f} kB")  # pyright: ignore[reportArgumentType]  # a sensor tick always returns its run requests (maybe empty) and a cursor
        dated_tick(client, n)
        seen: set = set()
        naive_tick(client, "bench", seen)
        seconds, new, size = naive_tick(client, "bench", seen)
        print(f"naive quiet tick (every key in the cursor): {seconds:.2f} s, {new} new, cursor {size / 1024:.1f} kB")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
