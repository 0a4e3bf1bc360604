"""Dataset versions for people and training code: list, check out, read, verify, collect garbage.

Python:
    from dataprep_assets import versions
    versions.list_versions("data/cell_level_dataframe_with_splits.parquet")      # a DataFrame
    frame = versions.read_table("data/cell_level_dataframe_with_splits.parquet", version="20261128T...")
    root = versions.checkout("cell_qa_release", run_id="3f2a...", to="/data/exp42")  # release + every part it pins

Shell: `python -m dataprep_assets list | checkout | verify | gc` (see `--help`).

A name is a dataset path in the store (`data/cell_crops`) or an asset key (`cell_crops`): an asset
stands for every dataset its materialization wrote in one run. The store comes from the same
environment as the pipelines (`DATAPREP_STORE_URL` / `DATAPREP_STORE_ROOT`). Every byte restored is
checked against its SHA-256; a corrupted or missing object is an error naming the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dataprep_assets.common.store import DatasetStore
from dataprep_assets.lib.versions import CorruptObjectError, RetentionPolicy, VersionError, VersionRecord, verify_file

KEEP_LAST_ENV = "DATAPREP_KEEP_LAST"
KEEP_DAYS_ENV = "DATAPREP_KEEP_DAYS"
GRACE_HOURS_ENV = "DATAPREP_GC_GRACE_HOURS"


def default_store() -> DatasetStore:
    from dataprep_assets.defs.resources import build_store

    return build_store()


def retention_policy(
    keep_last: int | None = None, keep_days: float | None = None, grace_hours: float | None = None
) -> RetentionPolicy:
    """The retention policy: arguments, else `DATAPREP_KEEP_LAST` / `DATAPREP_KEEP_DAYS` / `DATAPREP_GC_GRACE_HOURS`,
    else 10 / 30 / 1."""

    def pick(value, env, default, cast):
        if value is not None:
            return cast(value)
        raw = os.environ.get(env, "")
        try:
            return cast(raw) if raw else default
        except ValueError as exc:
            raise ValueError(f"{env}={raw!r} is not a number") from exc

    return RetentionPolicy(
        keep_last=pick(keep_last, KEEP_LAST_ENV, 10, int),
        keep_days=pick(keep_days, KEEP_DAYS_ENV, 30.0, float),
        grace_seconds=3600.0 * pick(grace_hours, GRACE_HOURS_ENV, 1.0, float),
    )


@dataclass(frozen=True)
class Selection:
    """The versions a name + version/run stand for: one dataset's version, or every dataset an asset wrote in one
    run."""

    name: str
    records: tuple[VersionRecord, ...]


def select(
    name: str, version: str | None = None, run_id: str | None = None, store: DatasetStore | None = None
) -> Selection:
    """Resolve a dataset path or asset key to concrete versions (the latest when neither is given)."""
    store = store or default_store()
    datasets = store.datasets()
    if name in datasets:
        return Selection(name, (store.version(name, version, run_id),))
    owned = {d: recs for d in datasets if (recs := [r for r in store.versions(d, sync=False) if r.asset_key == name])}
    if not owned:
        known = sorted({r.asset_key for d in datasets for r in store.versions(d, sync=False) if r.asset_key})
        raise VersionError(
            f"{name!r} is neither a dataset nor an asset with versions in this store. Assets: "
            f"{', '.join(known) or '(none)'}"
        )
    records = sorted((r for recs in owned.values() for r in recs), key=lambda r: r.version_id)
    if run_id:
        chosen_run = _resolve_run(records, name, run_id)
    elif version and version != "latest":
        matches = [r for r in records if r.version_id.startswith(version) or r.dataset_hash.startswith(version)]
        if not matches:
            listing = ", ".join(f"{r.version_id} ({r.dataset})" for r in records[-10:])
            raise VersionError(
                f"asset {name} has no version {version!r}; it may have been removed by GC. Versions (newest last): "
                f"{listing}"
            )
        chosen_run = matches[-1].run_id
    else:
        chosen_run = records[-1].run_id
    picked = [
        max((r for r in recs if r.run_id == chosen_run), key=lambda r: r.version_id, default=None)
        for recs in owned.values()
    ]
    return Selection(name, tuple(r for r in picked if r is not None))


def _resolve_run(records: list[VersionRecord], name: str, run_id: str) -> str:
    runs = sorted({r.run_id for r in records if r.run_id and r.run_id.startswith(run_id)})
    if len(runs) != 1:
        listing = ", ".join(sorted({r.run_id[:8] for r in records if r.run_id})[-10:])
        what = "no run" if not runs else "several runs"
        raise VersionError(f"asset {name} has {what} matching {run_id!r}; runs with versions: {listing or '(none)'}")
    return runs[0]


def list_versions(name: str | None = None, store: DatasetStore | None = None) -> pd.DataFrame:
    """Versions with their dates, runs, assets, sizes and row counts (every dataset's latest when `name` is None)."""
    store = store or default_store()
    if name is None:
        rows = []
        for dataset in store.datasets():
            recs = store.versions(dataset, sync=False)
            rows.append(_row(recs[-1]) | {"versions": len(recs)})
        return pd.DataFrame(rows)
    datasets = store.datasets()
    records = (
        store.versions(name, sync=False)
        if name in datasets
        else [r for d in datasets for r in store.versions(d, sync=False) if r.asset_key == name]
    )
    if not records:
        select(name, store=store)  # raises with the list of what exists
    return pd.DataFrame([_row(r) for r in sorted(records, key=lambda r: r.version_id)])


def _row(record: VersionRecord) -> dict:
    return {
        "dataset": record.dataset,
        "version": record.version_id,
        "created_at": record.created_at[:19].replace("T", " "),
        "run_id": record.run_id[:8],
        "asset": record.asset_key,
        "files": record.file_count,
        "bytes": record.total_bytes,
        "rows": record.meta.get("rows", ""),
        "pins": len(record.meta.get("pins") or {}),
        "resplit": bool(record.meta.get("resplit", False)),
    }


def checkout(
    name: str,
    to: str | os.PathLike,
    version: str | None = None,
    run_id: str | None = None,
    link: bool = False,
    store: DatasetStore | None = None,
) -> list[Path]:
    """Restore the selected versions under `to`, in the store's layout (`to/data/cell_crops/...`)."""
    store = store or default_store()
    return [store.checkout(record, to, link=link) for record in select(name, version, run_id, store).records]


def read_table(
    name: str, version: str | None = None, run_id: str | None = None, store: DatasetStore | None = None
) -> pd.DataFrame:
    """A parquet/CSV dataset as it was in one version, hash-verified, without touching the current view."""
    store = store or default_store()
    records = select(name, version, run_id, store).records
    tables = [r for r in records if r.kind == "file" and r.dataset.endswith((".parquet", ".csv"))]
    if len(tables) != 1:
        raise VersionError(f"{name} is not one table (found {[r.dataset for r in records]}); name the dataset path")
    return store.read_table_at(tables[0].dataset, tables[0].version_id)


def verify(name: str, version: str | None = None, run_id: str | None = None, store: DatasetStore | None = None) -> int:
    """Hash every object of the selected versions; returns the file count or raises `CorruptObjectError`."""
    store = store or default_store()
    count = 0
    for record in select(name, version, run_id, store).records:
        for entry in store.entries(record):
            path = store.object_path(entry.sha256)
            if not path.exists():
                raise CorruptObjectError(
                    f"{record.dataset}@{record.version_id}: {entry.path}: stored object is missing"
                )
            verify_file(path, entry.sha256, f"{record.dataset}@{record.version_id}: {entry.path}")
            count += 1
    return count
