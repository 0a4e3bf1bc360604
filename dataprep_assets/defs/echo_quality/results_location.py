"""Where inference results are read from: one rule for the asset, the sensor and the schedule.

`results_uri` (asset config) > `$ECHO_RESULTS_URI` > `raw/echo_quality/inference_output` in the store.
A location is a local directory or `s3://bucket/prefix` (endpoint: `$AWS_ENDPOINT_URL_S3` or config).
With the store on S3, the default location is listed on S3 directly (never pulled into the local
cache to be listed: a sensor tick costs one listing, whatever the results hold).
"""

from __future__ import annotations

import os

from dataprep_assets.common.sensors import ChangeSource, S3PrefixSource, source_from_uri
from dataprep_assets.common.store import DatasetStore, S3DatasetStore
from dataprep_assets.defs.echo_quality.datasets import RESULTS_PREFIX

RESULTS_ENV = "ECHO_RESULTS_URI"
RESULT_SUFFIXES = (".json", ".csv")


def results_uri(store: DatasetStore, configured: str = "") -> str:
    uri = configured or os.environ.get(RESULTS_ENV, "")
    if uri:
        return uri
    in_store = store.uri(RESULTS_PREFIX)
    return in_store if in_store.startswith("s3://") else str(store.path(RESULTS_PREFIX))


def results_source(store: DatasetStore, configured: str = "", endpoint_url: str = "") -> ChangeSource:
    in_store = not endpoint_url and not (configured or os.environ.get(RESULTS_ENV))
    if in_store:
        endpoint_url = getattr(store, "endpoint_url", "") or ""  # the store's own bucket: the store's endpoint
    source = source_from_uri(results_uri(store, configured), suffixes=RESULT_SUFFIXES, endpoint_url=endpoint_url)
    if in_store and isinstance(store, S3DatasetStore) and isinstance(source, S3PrefixSource):
        source.use_client(store.client())  # the store's client: its region, retries and credentials
    return source
