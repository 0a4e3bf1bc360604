"""One echo results-sensor tick over many existing result objects on S3 (moto's server on loopback).

    .venv/bin/python -m benchmarks.echo_results_tick [--objects 10000] [--runs 3]

- ours: the store's results location listed on S3 directly (`results_location.results_source`);
- NAIVE (what it did before, and the simplest code for the same listing: the store's own `pull`, then
  the local listing): pull the whole prefix into the local cache, then list the cache.

Each tick runs in fresh child processes (benchmarks/_harness.py), on an empty cache ("cold": the warm-up
call only creates the store's S3 client and sends one request) and on a filled one ("warm": the warm-up
call is a whole tick). Printed: objects listed per second (median and spread of `--runs`), per
CPU-second and peak PSS of the tick's process; moto's server runs in the parent, so its CPU and memory
are in neither.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor

from benchmarks._harness import header, measure, ratio

MODULE = "benchmarks.echo_results_tick"
_STORE: dict = {}


def tick(warmup: bool, mode: str, state: str, cache_root: str) -> dict:
    """One sensor tick's listing (`mode` ours or naive) with the cache `state` cold or warm (see the docstring)."""
    from dataprep_assets.common.sensors import source_from_uri
    from dataprep_assets.common.store import S3DatasetStore
    from dataprep_assets.defs.echo_quality.datasets import RESULTS_PREFIX
    from dataprep_assets.defs.echo_quality.results_location import RESULT_SUFFIXES, results_source

    if "store" not in _STORE:
        cache = tempfile.mkdtemp(dir=cache_root)
        _STORE["store"] = S3DatasetStore(bucket="bench", prefix="store", cache_dir=cache)
    store = _STORE["store"]
    if warmup and state == "cold":
        store.client().list_objects_v2(Bucket="bench", Prefix="nothing/", MaxKeys=1)
        return {}
    if mode == "ours":
        listed = sum(1 for _ in results_source(store).list_objects())
    else:
        local = store.pull(RESULTS_PREFIX)
        listed = sum(1 for _ in source_from_uri(str(local), suffixes=RESULT_SUFFIXES).list_objects())
    return {"items": listed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    import boto3
    from moto.server import ThreadedMotoServer

    from dataprep_assets.defs.echo_quality.datasets import RESULTS_PREFIX

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
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
        header(
            f"echo results-sensor tick: {args.objects} result objects under s3://bench/store/{RESULTS_PREFIX}/ "
            "(moto on loopback); objects listed/s"
        )
        with tempfile.TemporaryDirectory() as tmp:
            rows = {
                (mode, state): measure(
                    MODULE, "tick", label, args.runs, unit="obj", mode=mode, state=state, cache_root=tmp
                )
                for mode, state, label in (
                    ("ours", "cold", "ours, S3 listing (cold)"),
                    ("ours", "warm", "ours, S3 listing (warm)"),
                    ("naive", "cold", "naive, pull + local listing (cold cache)"),
                    ("naive", "warm", "naive, pull + local listing (warm cache)"),
                )
            }
        for state in ("cold", "warm"):
            ratio(rows[("ours", state)], rows[("naive", state)], f"same listing, {state}")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
