"""Splits that stay put, the Dagster side: read a split asset's previous assignment before it is
overwritten, and describe what a new version changed (groups kept / added / moved / removed per split).

The pure mechanism is `lib.splits.keep_or_split`; the blocking comparison of two versions is
`common.checks.split_continuity_check`. A version written with `resplit=True` records
`{"resplit": True}` in its version metadata, which is what lets that check accept moved groups.

The *reference* a new version is kept continuous with is not simply the latest version: a version whose
blocking checks failed (a moved group, a group in two splits) stays in the store (and may be the current
view), but it must never become the reference, or the next refresh would launder its moved groups. So
the reference is the newest *accepted* version (`reference_version`): the first one, an explicit re-split,
or one that kept every group of its own reference (recorded as `reference` in its metadata), each with no
group in two splits. Split assets read their previous assignment from it and record it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import dagster as dg
import pandas as pd

from dataprep_assets.common.metadata import Metadata, markdown_table
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.lib.splits import (
    DEFAULT_SPLIT_NAMES,
    group_overlap,
    moved_groups,
    previous_assignment,
    split_changes,
)
from dataprep_assets.lib.versions import VersionRecord, verify_file

RESPLIT = "resplit"
REFERENCE = "reference"
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


def version_meta(resplit: bool, reference: str = "") -> dict:
    """What a split asset records in the version it writes: re-split or not, and the version it kept groups of."""
    return {RESPLIT: bool(resplit), REFERENCE: reference}


Rows = Callable[[pd.DataFrame], pd.DataFrame]


def _assignment(
    store: DatasetStore, relpath: str, version_id: str, group_col: str, member: str | None, rows: Rows | None
) -> tuple[dict, bool]:
    """(group -> split, whether some group is in two splits) of one version of a split table."""
    frame = table_at(store, relpath, version_id, member)
    frame = rows(frame) if rows else frame
    return previous_assignment(frame, group_col), bool(group_overlap(frame, group_col))


def own_reference(versions: Sequence[VersionRecord], index: int) -> VersionRecord | None:
    """The version `versions[index]` was kept continuous with: its recorded `reference`, else (a version written
    before references were recorded) the one before it; None for a first build."""
    record = versions[index]
    if REFERENCE in (record.meta or {}):
        wanted = record.meta[REFERENCE]
        return next((v for v in versions[:index] if v.version_id == wanted), None) if wanted else None
    return versions[index - 1] if index > 0 else None


def is_accepted(
    store: DatasetStore,
    relpath: str,
    versions: Sequence[VersionRecord],
    index: int,
    group_col: str,
    member: str | None = None,
    rows: Rows | None = None,
) -> bool:
    """Whether `versions[index]` passes the blocking split checks: no group in two splits, and every group of
    its reference kept (or an explicit re-split, or nothing to compare with)."""
    record = versions[index]
    current, overlap = _assignment(store, relpath, record.version_id, group_col, member, rows)
    if overlap:
        return False
    reference = own_reference(versions, index)
    if reference is None or (record.meta or {}).get(RESPLIT):
        return True
    before, _ = _assignment(store, relpath, reference.version_id, group_col, member, rows)
    return not moved_groups(before, current)


def reference_version(
    store: DatasetStore,
    relpath: str,
    group_col: str,
    member: str | None = None,
    rows: Rows | None = None,
    versions: Sequence[VersionRecord] | None = None,
) -> VersionRecord | None:
    """The newest accepted version of a split table (of `versions`, default all): what a new version keeps
    groups of and is compared with. None when there is none (a first build)."""
    versions = list(store.versions(relpath) if versions is None else versions)
    for index in range(len(versions) - 1, -1, -1):
        if is_accepted(store, relpath, versions, index, group_col, member, rows):
            return versions[index]
    return None


def reference_table(
    store: DatasetStore, relpath: str, group_col: str, member: str | None = None
) -> tuple[pd.DataFrame | None, str]:
    """(the split table of the reference version, its version id) — (None, "") on a first build."""
    record = reference_version(store, relpath, group_col, member)
    if record is None:
        return None, ""
    return table_at(store, relpath, record.version_id, member), record.version_id


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
