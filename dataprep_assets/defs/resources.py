"""Resources shared by every pipeline, chosen from the environment.

`DATAPREP_STORE_ROOT` (default `var/store`) is the local dataset store's directory.
"""


import os

import dagster as dg

from dataprep_assets.common.store import DEFAULT_STORE_ROOT, LocalDatasetStore


def build_store() -> LocalDatasetStore:
    return LocalDatasetStore(root=os.environ.get("DATAPREP_STORE_ROOT", DEFAULT_STORE_ROOT))


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(resources={"store": build_store()})
