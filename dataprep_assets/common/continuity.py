"""Splits that stay put, the Dagster side: read a split asset's previous assignment before it is
overwritten, and describe what a new version changed (groups kept / added / moved / removed per split).

The pure mechanism is `lib.splits.keep_or_split`; the blocking comparison of two versions is
`common.checks.split_continuity_check`. A version written with `resplit=True` records
`{"resplit": True}` in its version metadata, which is what lets that check accept moved groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import dagster as dg
import pandas as pd

from dataprep_assets.common.metadata import Metadata, markdown_table
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.lib.splits import DEFAULT_SPLIT_NAMES, moved_groups, split_changes
from dataprep_assets.lib.versions import verify_file

RESPLIT = "resplit"
RESPLIT_DESCRIPTION = (
    "Re-split from scratch: run the first-build algorithm over all groups instead of keeping every existing "
    "group in its split. Recorded in the version's metadata (`resplit: true`), so the continuity check accepts it."
)


def current_table(store: DatasetStore, relpath: str, member: str | None = None) -> pd.DataFrame | None:
    """The table as it is now (the previous version, read before a rebuild overwrites it); None if never written.

    `member` is a table file inside a directory dataset (e.g. `examples.parquet`).
    """
    try:
        return store.read_table(f"{relpath}/{member}" if member else relpath)
    except FileNotFoundError:
        return None


def table_at(store: DatasetStore, relpath: str, version_id: str, member: str | None = None) -> pd.DataFrame:
    """A table as it was in one version of `relpath` (a file dataset, or `member` of a directory dataset),
    hash-verified."""
    if member is None:
        return store.read_table_at(relpath, version_id)
    record = store.version(relpath, version_id)
    for entry in store.entries(record):
        if entry.path == member:
            path = store.object_path(entry.sha256)
            verify_file(path, entry.sha256, f"{relpath}/{member}@{record.version_id}")
            return pd.read_csv(path) if member.endswith(".csv") else pd.read_parquet(path)
    raise FileNotFoundError(f"{member} is not a file of {relpath} version {version_id}")


def version_meta(resplit: bool) -> dict:
    """What a split asset records in the version it writes."""
    return {RESPLIT: bool(resplit)}


def changes_summary(previous: Mapping, current: Mapping, order: Sequence[str] = DEFAULT_SPLIT_NAMES) -> dict[str, int]:
    """Totals over splits: groups kept / added / moved / removed."""
    table = split_changes(previous, current, order)
    return {
        "groups_kept": int(table["kept"].sum()),
        "groups_added": int(table["added"].sum()),
        "groups_moved": int(table["moved_in"].sum()),
        "groups_removed": int(table["removed"].sum()),
    }


def continuity_metadata(
    previous: Mapping, current: Mapping, resplit: bool, order: Sequence[str] = DEFAULT_SPLIT_NAMES
) -> Metadata:
    """Asset metadata: per split, groups kept / added / moved since the previous version, and the totals."""
    table = split_changes(previous, current, order)
    moved = moved_groups(previous, current)
    return {
        RESPLIT: bool(resplit),
        "split_changes": dg.MetadataValue.md(markdown_table(table) if previous else "first version: every group added"),
        **changes_summary(previous, current, order),
        "first_moved_groups": dg.MetadataValue.json([f"{g}: {a} -> {b}" for g, a, b in moved[:20]]),
    }


def upstream_resplit(store: DatasetStore, upstream: str, downstream: str) -> bool:
    """True when `upstream`'s latest version is a re-split that `downstream` has not been rebuilt after
    (a table derived from a re-split must follow it, e.g. balancing after the patient split)."""
    ups = store.versions(upstream)
    if not ups or not (ups[-1].meta or {}).get(RESPLIT):
        return False
    downs = store.versions(downstream)
    return not downs or downs[-1].created_at < ups[-1].created_at
