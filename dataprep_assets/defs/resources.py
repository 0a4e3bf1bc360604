"""Resources shared by every pipeline, chosen from the environment.

`DATAPREP_STORE_ROOT` (default `var/store`) is the local dataset store's directory.
`DATAPREP_STORE_URL=s3://bucket/prefix` puts the store on S3 instead (endpoint from
`AWS_ENDPOINT_URL_S3` for MinIO and other S3-compatible servers, credentials from the usual `AWS_*`
variables, or the brain-CT seed's `AWS_ACCESS_KEY` / `AWS_SECRET_KEY` aliases); `DATAPREP_STORE_ROOT` is then
its local working copy.
"""

import os

import dagster as dg

from dataprep_assets.common.store import (
    DEFAULT_S3_CACHE,
    DEFAULT_STORE_ROOT,
    DatasetStore,
    LocalDatasetStore,
    S3DatasetStore,
)
from dataprep_assets.lib.awsenv import apply_aliases


def build_store(url: str | None = None, cache_dir: str | None = None) -> DatasetStore:
    """The S3 store when `url` (or `DATAPREP_STORE_URL`) is an s3:// URL, the local store otherwise."""
    apply_aliases()
    url = url if url is not None else os.environ.get("DATAPREP_STORE_URL", "")
    if url.startswith("s3://"):
        return S3DatasetStore.from_url(
            url, cache_dir=cache_dir or os.environ.get("DATAPREP_STORE_ROOT", DEFAULT_S3_CACHE)
        )
    return LocalDatasetStore(root=cache_dir or os.environ.get("DATAPREP_STORE_ROOT", DEFAULT_STORE_ROOT))


@dg.definitions
def resources() -> dg.Definitions:
    # In-process by default: a step's heavy work already runs in parallel worker processes, and a
    # process per step would re-import every pipeline (tens of seconds per run from the UI).
    return dg.Definitions(resources={"store": build_store()}, executor=dg.in_process_executor)
