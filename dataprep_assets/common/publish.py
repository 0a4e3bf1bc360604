"""The one closing step of every dataset asset: its data version, where it is, its version and its rejects.

`materialized(store, DATASET, manifest, metadata=..., rejects=...)` returns the `MaterializeResult`: the data
version is the written content's hash; the domain metadata the asset computed comes first, then the dataset's
path, size, content hash, version and checkout command, then the rejects (written to their visible table),
then `run_info` (echoed config and speeds).
"""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg

from dataprep_assets.common.metadata import Metadata, data_version, dataset_metadata, rejects_metadata
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.lib.datasets import Dataset
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import Manifest


def materialized(
    store: DatasetStore,
    dataset: Dataset,
    manifest: Manifest | None,
    *,
    metadata: Metadata | None = None,
    rejects: RejectLog | None = None,
    version_of: Sequence[Manifest] = (),
    rejects_as: str = "",
) -> dg.MaterializeResult:
    """The asset's result for `dataset` as just written (`manifest`); `rejects` are recorded in their table.

    `version_of`: the manifests whose content makes the data version when it is not `manifest`'s alone.
    `rejects_as`: the rejects table's name when not the asset's (a partition's: `<asset>/<partition>`).
    """
    hashes = [m.dataset_hash for m in version_of] or ([manifest.dataset_hash] if manifest is not None else [])
    if not hashes:
        raise ValueError(f"{dataset.asset}: a data version needs the manifest of what was written")
    domain = dict(metadata or {})
    run = {"run_info": domain.pop("run_info")} if "run_info" in domain else {}
    closing = dataset_metadata(store, dataset.path, manifest)
    if rejects is not None:
        closing |= rejects_metadata(store, store.write_rejects(rejects_as or dataset.asset, rejects), rejects)
    return dg.MaterializeResult(data_version=data_version(*hashes), metadata={**domain, **closing, **run})
