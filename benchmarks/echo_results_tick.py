"""One echo results-sensor tick over many existing result objects on S3 (moto's server on loopback).

- ours: the store's results location listed on S3 directly (`results_location.results_source`);
- naive (what it did before): pull the whole prefix into the local cache, then list the cache.

Prints seconds per tick (first tick with an empty cache, then a warm one) for each.

Usage: python -m benchmarks.echo_results_tick [--objects 10000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import boto3

from dataprep_assets.common.sensors import source_from_uri
from dataprep_assets.common.store import S3DatasetStore
from dataprep_assets.defs.echo_quality.datasets import RESULTS_PREFIX
from dataprep_assets.defs.echo_quality.results_location import RESULT_SUFFIXES, results_source


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    args = parser.parse_args()
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL_S3=endpoint,
    )
    client = boto3.client("s3", endpoint_url=endpoint)
    client.create_bucket(Bucket="bench")
    keys = [f"store/{RESULTS_PREFIX}/FOLDER-{i // 100:04d}/result_{i:06d}.json" for i in range(args.objects)]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket="bench", Key=k, Body=b'{"score": 0.9}'), keys))
    print(f"{args.objects} result objects under s3://bench/store/{RESULTS_PREFIX}/")
    with tempfile.TemporaryDirectory() as tmp:
        store = S3DatasetStore(bucket="bench", prefix="store", cache_dir=os.path.join(tmp, "ours"))
        for tick in ("cold", "warm"):
            started = time.perf_counter()
            listed = sum(1 for _ in results_source(store).list_objects())
            print(f"ours  ({tick}): {time.perf_counter() - started:6.2f} s per tick, {listed} listed")
        naive_store = S3DatasetStore(bucket="bench", prefix="store", cache_dir=os.path.join(tmp, "naive"))
        for tick in ("cold", "warm"):
            started = time.perf_counter()
            local = naive_store.pull(RESULTS_PREFIX)
            listed = sum(1 for _ in source_from_uri(str(local), suffixes=RESULT_SUFFIXES).list_objects())
            print(
                f"naive ({tick}): {time.perf_counter() - started:6.2f} s per tick, {listed} listed (pull + local "
                "listing)"
            )
    server.stop()


if __name__ == "__main__":
    main()
