"""A dataset release as an asset: the content hashes of its parts, i.e. what `dvc add` would record.

The release's version changes if and only if a byte of one of its parts changes; it is the data
version of the release asset, so downstream training jobs can pin it. The release also pins the exact
store versions of its parts: checking the release out restores all of them, and GC keeps them as long
as the release version is kept. `release_asset` declares a pipeline's release asset from its dataset declarations.
"""

from collections.abc import Sequence

import dagster as dg

from dataprep_assets.common.automation import FOLLOW_UPSTREAM
from dataprep_assets.common.metadata import dataset_metadata
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.lib.datasets import Dataset
from dataprep_assets.lib.storage import combine_hashes


def write_release(
    store: DatasetStore, *, dataset: str, relpath: str, parts: Sequence[str], split_table: str, group_col: str
) -> dg.MaterializeResult:
    """Record the manifests of `parts` and the per-split counts of `split_table` in `relpath`."""
    found = {part: store.manifest(part) for part in parts}
    manifests = {part: manifest for part, manifest in found.items() if manifest is not None}
    missing = [part for part in parts if part not in manifests]
    if missing:
        raise dg.Failure(
            f"the {dataset} release needs {', '.join(missing)}: materialize the assets that write them first"
        )
    table = store.read_table(split_table)
    release = {
        "dataset": dataset,
        "version": combine_hashes([m.dataset_hash for m in manifests.values()])[:16],
        "files": {
            part: {"sha256": m.dataset_hash, "files": len(m.entries), "bytes": m.total_bytes}
            for part, m in manifests.items()
        },
        "group_column": group_col,
        "rows_per_split": {k: int(v) for k, v in table["split"].value_counts().sort_index().items()},
        "groups_per_split": {k: int(v) for k, v in table.groupby("split")[group_col].nunique().sort_index().items()},
    }
    pins = {part: m.version_id for part, m in manifests.items() if m.version_id}
    manifest = store.write_json(relpath, release, meta={"pins": pins})
    return dg.MaterializeResult(
        data_version=dg.DataVersion(release["version"]),
        metadata={
            "version": release["version"],
            "release": dg.MetadataValue.json(release),
            **dataset_metadata(store, relpath, manifest),
        },
    )


def release_asset(release: Dataset, *, group: str, parts: Sequence[Dataset], group_col: str) -> dg.AssetsDefinition:
    """The asset `release.asset` of pipeline `group`, downstream of the assets that write `parts`: `write_release`
    of the parts into `release.path`, counting rows and `group_col` groups per split in the part that is a table."""
    tables = [part for part in parts if part.kind == "table"]
    if len(tables) != 1:
        raise ValueError(f"{release.asset}: the parts must hold one split table, got {[p.path for p in tables]}")

    @dg.asset(
        name=release.asset,
        group_name=group,
        deps=[part.asset for part in parts],
        kinds={"json"},
        automation_condition=FOLLOW_UPSTREAM,
        description=f"The versioned {group} dataset: content hashes of {' and '.join(p.path for p in parts)} (what "
        f"`dvc add` would record), with rows and `{group_col}` groups per split.",
    )
    def _release(store: DatasetStore) -> dg.MaterializeResult:
        return write_release(
            store,
            dataset=group,
            relpath=release.path,
            parts=[part.path for part in parts],
            split_table=tables[0].path,
            group_col=group_col,
        )

    return _release
