"""`DatasetStore`: where every pipeline reads inputs and writes datasets.

Assets work on local paths (fast libraries want files); the store decides where those live and
publishes what is written. `LocalDatasetStore` is a directory; an object-store backend stages in a
local cache, pulls inputs on `pull` and uploads on `push`.

Every dataset written becomes an immutable version (`lib.versions`): its files are stored once by
SHA-256 under `_objects/`, its record under `_versions/<dataset>/`, and the seed-layout path is the
*current view* of the latest version. Order of a write: build in staging -> store objects -> record
the version (the commit point) -> swap the view in -> update the `_manifests/<dataset>.json` pointer.
A write first repairs a view left behind by a crash and clears dead writers' staging debris.
"""

from __future__ import annotations

import json
import os
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from pydantic import Field, PrivateAttr

from dataprep_assets.lib import versions as V
from dataprep_assets.lib.crashpoints import crash_point
from dataprep_assets.lib.datasets import Dataset
from dataprep_assets.lib.itemcache import CACHE_DIR
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.s3uri import list_objects, parse_s3_uri
from dataprep_assets.lib.storage import (
    Manifest,
    ManifestEntry,
    StatHashIndex,
    UnsafePathError,
    atomic_path,
    atomic_write_json,
    build_manifest,
    clean_debris,
    safe_join,
    sha256_file,
    staged_directory,
)

MANIFESTS_DIR = "_manifests"
REJECTS_DIR = "rejects"
DEFAULT_STORE_ROOT = "var/store"


@dataclass
class StagedDataset:
    """A directory being built; `manifest` and `version` are filled in when the block completes."""

    path: Path
    manifest: Manifest | None = None
    version: V.VersionRecord | None = None

    @property
    def committed(self) -> Manifest:
        """The manifest, once the `write_dir` block completed (an error before that)."""
        if self.manifest is None:
            raise RuntimeError(f"{self.path}: read the manifest after the write_dir block, not inside it")
        return self.manifest


def _execution_ids() -> tuple[str, str]:
    """(run id, asset key) of the Dagster step writing, or ("", "") outside one."""
    try:
        context = dg.AssetExecutionContext.get()
    except Exception:
        return "", ""
    if context is None:
        return "", ""
    try:
        asset_key = context.asset_key.to_user_string()
    except Exception:  # a multi-asset step has no single key
        asset_key = ""
    return context.run_id, asset_key


class DatasetStore(dg.ConfigurableResource, ABC):
    """Abstract store: subclasses say where the local working copy lives and how it is published."""

    @abstractmethod
    def local_root(self) -> Path:
        """The local directory that mirrors the store's root (the store itself for a local store)."""

    def pull(self, relpath: str = "") -> Path:
        """Make the inputs under `relpath` available locally and return their local path."""
        return self.path(relpath)

    def push(self, relpath: str) -> None:
        """Publish a file or directory written locally under `relpath` (no-op for a local store)."""

    def uri(self, relpath: str = "") -> str:
        return self.path(relpath).resolve().as_uri()

    # -- paths ---------------------------------------------------------------------------------
    def path(self, *parts: str | os.PathLike) -> Path:
        """A local path under the root; parts from data can never escape it."""
        return safe_join(self.local_root(), *parts)

    def relpath(self, path: str | os.PathLike) -> str:
        return Path(path).resolve().relative_to(self.local_root().resolve()).as_posix()

    def exists(self, relpath: str) -> bool:
        return self.path(relpath).exists()

    # -- manifests and versions -----------------------------------------------------------------
    def written_manifest(self, relpath: str) -> Manifest:
        """The manifest of a dataset this store has just written (present once a write committed)."""
        manifest = self.manifest(relpath)
        if manifest is None:
            raise RuntimeError(f"{relpath}: written, but no manifest found")
        return manifest

    def manifest(self, relpath: str) -> Manifest | None:
        """The manifest of the dataset's current view (None if it was never written)."""
        pointer = self._pointer(relpath)
        if pointer is None:
            return None
        manifest = Manifest.from_dict(pointer)
        manifest.version_id = pointer.get("version_id", "")
        return manifest

    def _pointer(self, relpath: str) -> dict | None:
        path = self.path(MANIFESTS_DIR, f"{relpath}.json")
        return json.loads(path.read_text()) if path.exists() else None

    def versions(self, relpath: str, sync: bool = True) -> list[V.VersionRecord]:
        """Every version of a dataset still in the store, oldest first (`sync=False`: records already
        brought up to date, e.g. by `datasets()`)."""
        if sync:
            self._sync_versions(relpath)
        return V.list_versions(self.local_root(), relpath)

    def datasets(self, under: str = "") -> list[str]:
        """Every dataset with at least one version (only those under the folder `under`: on S3 only that folder's
        version records are synced)."""
        under = under.strip("/")
        self._sync_versions(under)
        found = V.all_datasets(self.local_root())
        return [d for d in found if d == under or d.startswith(f"{under}/")] if under else found

    def version(self, relpath: str, version: str | None = None, run_id: str | None = None) -> V.VersionRecord:
        """One version by id / id prefix / content-hash prefix / run id (the latest when none is given)."""
        return V.resolve(self.versions(relpath), relpath, version, run_id)

    def entries(self, record: V.VersionRecord):
        """The files of a version, streamed."""
        return V.iter_entries(self.path(V.files_relpath(record.dataset, record.version_id)))

    def hash_index(self, relpath: str) -> StatHashIndex:
        """The SHA-256 of the files of dataset `relpath` as hashed when it was written, by (size, mtime, inode):
        `known(path)` answers for a file that is still the very file written, without reading it."""
        return StatHashIndex(self.path(CACHE_DIR, "manifest_hashes", f"{relpath}.json"))

    def object_path(self, sha256: str) -> Path:
        """A local path holding the stored object (fetched first where the store is remote). No link check
        is needed: the name is a validated hex digest under the store's own object area."""
        return self.local_root() / V.object_relpath(sha256)

    def checkout(self, record: V.VersionRecord, dest: str | os.PathLike, link: bool = False, progress=None) -> Path:
        """Restore a version's files byte for byte at `dest/<dataset path>`, verifying every hash.

        Built in a staging directory and renamed into place: an interrupted checkout leaves nothing
        that looks complete. A release also restores every version it pins.
        """
        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        targets = [(record, dest)]
        for dataset, version_id in sorted((record.meta.get("pins") or {}).items()):
            targets.append((self.version(dataset, version_id), dest))
        for rec, root in targets:
            final = safe_join(root, rec.dataset)
            label = f"{rec.dataset}@{rec.version_id}"
            if rec.kind == "file":
                entry = next(iter(self.entries(rec)))
                final.parent.mkdir(parents=True, exist_ok=True)
                V.checkout(
                    [ManifestEntry(final.name, entry.size, entry.sha256)], final.parent, self.object_path, label, link
                )
                continue
            with staged_directory(final) as staging:
                V.checkout(self.entries(rec), staging, self.object_path, label, link, progress)
        return safe_join(dest, record.dataset)

    def current_version(self, relpath: str) -> V.VersionRecord:
        """The version the current view shows (the pointer's; the latest recorded if there is no pointer)."""
        pointer = self._pointer(relpath) or {}
        return self.version(relpath, pointer.get("version_id") or None)

    def member_at(self, record: V.VersionRecord, member: str) -> Path:
        """The stored object of one file of a directory version (`train/_annotations.coco.json`), hash-verified."""
        for entry in self.entries(record):
            if entry.path == member:
                path = self.object_path(entry.sha256)
                V.verify_file(path, entry.sha256, f"{record.dataset}/{member}@{record.version_id}")
                return path
        raise FileNotFoundError(f"{member} is not a file of {record.dataset} version {record.version_id}")

    def read_table_at(self, relpath: str, version_id: str) -> pd.DataFrame:
        """A table as it was in one version (hash-verified)."""
        record = self.version(relpath, version_id)
        entry = next(iter(self.entries(record)))
        source = self.object_path(entry.sha256)
        V.verify_file(source, entry.sha256, f"{relpath}@{record.version_id}")
        return pd.read_csv(source) if relpath.endswith(".csv") else pd.read_parquet(source)

    def gc(self, policy: V.RetentionPolicy, dry_run: bool = True) -> V.GcReport:
        """Drop the versions `policy` lets go and the objects no kept version refers to."""
        return V.collect_garbage(self.local_root(), policy, dry_run=dry_run)

    def _sync_versions(self, relpath: str) -> None:
        """Bring version records up to date locally (no-op for a local store)."""

    def _commit(self, relpath: str, view: Path, manifest: Manifest, kind: str, meta: dict | None) -> V.VersionRecord:
        """Store the objects of `manifest` (files under `view`) and record the version: the commit point."""
        run_id, asset_key = _execution_ids()
        root = self.local_root()
        record = V.VersionRecord(
            version_id=V.new_version_id(manifest.dataset_hash),
            dataset=relpath,
            dataset_hash=manifest.dataset_hash,
            created_at=datetime.now(UTC).isoformat(),
            kind=kind,
            file_count=len(manifest.entries),
            total_bytes=manifest.total_bytes,
            run_id=run_id,
            asset_key=asset_key,
            meta=dict(meta or {}),
        )
        with V.object_lock(root, exclusive=False):
            for entry in manifest.entries:
                # entry paths come from walking our own staging directory; links in it (the 4-class set) are followed
                V.put_object(root, view if kind == "file" else Path(view, entry.path), entry.sha256)
                crash_point("object")
            V.write_version(root, record, manifest)
        crash_point("record")
        return record

    def _point(self, relpath: str, manifest: Manifest, record: V.VersionRecord) -> None:
        """Make `_manifests/<relpath>.json` describe the view (after the view is in place)."""
        manifest.version_id = record.version_id
        payload = manifest.to_dict() | {"version_id": record.version_id, "created_at": record.created_at}
        atomic_write_json(self.path(MANIFESTS_DIR, f"{relpath}.json"), payload)

    def _prepare(self, relpath: str) -> None:
        """Before a write: clear dead writers' debris and repair a view a crash left behind."""
        clean_debris(self.path(relpath))
        clean_debris(self.path(MANIFESTS_DIR, f"{relpath}.json"))
        latest = V.list_versions(self.local_root(), relpath)
        pointer = self._pointer(relpath)
        if latest and (pointer is None or pointer.get("version_id") != latest[-1].version_id):
            self._restore_view(latest[-1])

    def _restore_view(self, record: V.VersionRecord) -> None:
        """Put the view of `record` back in place from its objects (after a crash mid-publish)."""
        target = self.path(record.dataset)
        nested = self._nested(record.dataset) if record.kind == "dir" else []
        if record.kind == "file":
            entry = next(iter(self.entries(record)))
            V.checkout(
                [ManifestEntry(target.name, entry.size, entry.sha256)],
                target.parent,
                self.object_path,
                record.dataset,
                link=True,
            )
        else:
            with staged_directory(target) as staging:
                V.checkout(self.entries(record), staging, self.object_path, record.dataset, link=True)
                self._carry_nested(record.dataset, nested, staging)
        self._point(
            record.dataset, V.manifest_of(self.path(V.files_relpath(record.dataset, record.version_id))), record
        )

    def _nested(self, relpath: str) -> list[str]:
        """Datasets of their own that live inside the directory `relpath` (e.g. a COCO file in a PNG folder)."""
        folder = self.path(MANIFESTS_DIR, relpath)
        if not folder.is_dir():
            return []
        return sorted(
            p.relative_to(self.path(MANIFESTS_DIR)).as_posix().removesuffix(".json") for p in folder.rglob("*.json")
        )

    def _carry_nested(self, relpath: str, nested: list[str], staging: Path) -> None:
        """Keep nested datasets across a swap of their parent: link their current files into the staging copy."""
        for inner in nested:
            current = self.path(inner)
            if current.is_file():
                target = safe_join(staging, Path(inner).relative_to(relpath).as_posix())
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    try:
                        os.link(current, target)
                    except OSError:
                        shutil.copy2(current, target)

    def _publish(self, relpath: str, record: V.VersionRecord) -> None:
        """Make a committed version visible beyond this machine (no-op for a local store)."""
        self.push(relpath)

    # -- writing -------------------------------------------------------------------------------
    @contextmanager
    def write_file(self, relpath: str, meta: dict | None = None) -> Iterator[Path]:
        """Yield a temp path; on success it becomes a new version of `relpath` and its current view."""
        target = self.path(relpath)
        self._prepare(relpath)
        with atomic_path(target) as tmp:
            yield tmp
            if not tmp.exists():
                raise FileNotFoundError(f"nothing was written to the temporary file for {relpath}")
            crash_point("staged")
            manifest = Manifest([ManifestEntry(target.name, tmp.stat().st_size, sha256_file(tmp))])
            record = self._commit(relpath, tmp, manifest, "file", meta)
        crash_point("swap")
        self._point(relpath, manifest, record)
        crash_point("pointer")
        self._publish(relpath, record)

    @contextmanager
    def write_dir(self, relpath: str, meta: dict | None = None) -> Iterator[StagedDataset]:
        """Build a directory in staging; on success it becomes a new version and is swapped in whole.

        Datasets nested inside the directory (their own versions) are carried over, not deleted.
        """
        self._prepare(relpath)
        nested = self._nested(relpath)
        with staged_directory(self.path(relpath)) as staging:
            staged = StagedDataset(staging)
            yield staged
            crash_point("staged")
            inner = {Path(n).relative_to(relpath).as_posix() for n in nested}
            index = self.hash_index(relpath)
            full = build_manifest(staging, index=index)  # reused files (links to stored objects): one stat each
            staged.manifest = Manifest([e for e in full.entries if e.path not in inner])
            staged.version = self._commit(relpath, staging, staged.manifest, "dir", meta)
            self._carry_nested(relpath, nested, staging)
            index.save()
        crash_point("swap")
        self._point(relpath, staged.manifest, staged.version)
        crash_point("pointer")
        self._publish(relpath, staged.version)

    def write_table(self, relpath: str, frame: pd.DataFrame, meta: dict | None = None) -> Manifest:
        with self.write_file(relpath, meta={"rows": len(frame)} | (meta or {})) as tmp:
            if relpath.endswith(".csv"):
                frame.to_csv(tmp, index=False)
            else:
                frame.to_parquet(tmp, index=False, compression="zstd")
        return self.written_manifest(relpath)

    def write_table_chunks(self, relpath: str, chunks: Iterable[pd.DataFrame], meta: dict | None = None) -> Manifest:
        """`write_table` of the chunks' concatenation (a CSV: the same bytes), written a chunk at a time, so the
        table is never whole in memory. The first chunk's columns make the header (give at least one chunk)."""
        if not relpath.endswith(".csv"):
            raise ValueError(f"{relpath}: only a CSV table is written in chunks")
        full_meta = {"rows": 0} | (meta or {})  # the row count is known once written, before the commit reads it
        with self.write_file(relpath, meta=full_meta) as tmp, open(tmp, "w", encoding="utf-8", newline="") as fh:
            for i, chunk in enumerate(chunks):
                chunk.to_csv(fh, index=False, header=i == 0)
                full_meta["rows"] += len(chunk)
        return self.written_manifest(relpath)

    def write_json(self, relpath: str, payload: object, meta: dict | None = None) -> Manifest:
        with self.write_file(relpath, meta=meta) as tmp:
            atomic_write_json(tmp, payload)
        return self.written_manifest(relpath)

    def write(self, dataset: Dataset, payload: Any, meta: dict | None = None) -> Manifest:
        """A new version of a declared table (a DataFrame) or json dataset."""
        if dataset.kind == "table":
            return self.write_table(dataset.path, payload, meta)
        if dataset.kind == "json":
            return self.write_json(dataset.path, payload, meta)
        raise TypeError(f"{dataset.asset} ({dataset.path}) is a {dataset.kind}: build it with write_dir/write_file")

    def write_rejects(self, asset_name: str, rejects: RejectLog) -> str:
        """Replace the asset's rejects table (written even when empty, so stale rejects never linger)."""
        relpath = f"{REJECTS_DIR}/{asset_name}.csv"
        self.write_table(relpath, rejects.store_relative(self.local_root()).to_frame())  # no absolute store paths
        return relpath

    # -- reading -------------------------------------------------------------------------------
    def read_table(self, relpath: str) -> pd.DataFrame:
        path = self.pull(relpath)
        if not path.exists():
            raise FileNotFoundError(
                f"{relpath} does not exist in the dataset store ({self.uri()}); materialize its asset first"
            )
        return pd.read_csv(path) if relpath.endswith(".csv") else pd.read_parquet(path)

    def read_json(self, relpath: str) -> Any:
        path = self.pull(relpath)
        if not path.exists():
            raise FileNotFoundError(f"{relpath} does not exist in the dataset store ({self.uri()})")
        return json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM from a hand-edited file is accepted

    def read(self, dataset: Dataset) -> Any:
        """The current version of a declared table (a DataFrame) or json dataset."""
        if dataset.kind == "table":
            return self.read_table(dataset.path)
        if dataset.kind == "json":
            return self.read_json(dataset.path)
        raise TypeError(f"{dataset.asset} ({dataset.path}) is a {dataset.kind}: read its files from pull()")

    def read_rejects(self, asset_name: str) -> RejectLog:
        return RejectLog.from_frame(self.read_table(f"{REJECTS_DIR}/{asset_name}.csv").fillna(""))


class LocalDatasetStore(DatasetStore):
    """A dataset store in a local directory (the default: nothing to start)."""

    root: str = Field(
        default=DEFAULT_STORE_ROOT,
        description="Directory that holds inputs (`raw/...`) and every dataset written. Relative paths are taken from "
        "the working directory.",
    )

    def local_root(self) -> Path:
        root = Path(self.root).expanduser()
        if not root.is_dir():  # one stat on the hot path (object paths ask per file), mkdir only when needed
            root.mkdir(parents=True, exist_ok=True)
        return root


S3_PART_SIZE = 8 * 1024 * 1024
DEFAULT_S3_CACHE = "var/s3_cache"


_ETAGS: dict[tuple, str] = {}
"""Local ETags by (path, inode, size, mtime): files are replaced, never edited in place, so a match is current."""


def _s3_etag(path: Path, part_size: int = S3_PART_SIZE) -> str:
    """The ETag S3 gives an object uploaded from `path` with `part_size` parts (MD5, or MD5 of part MD5s)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if key not in _ETAGS:
        if len(_ETAGS) > 500_000:
            _ETAGS.clear()
        _ETAGS[key] = _compute_etag(path, stat.st_size, part_size)
    return _ETAGS[key]


def _compute_etag(path: Path, size: int, part_size: int) -> str:
    import hashlib

    with open(path, "rb") as fh:
        if size <= part_size:
            return hashlib.md5(fh.read()).hexdigest()
        digests = [hashlib.md5(chunk).digest() for chunk in iter(lambda: fh.read(part_size), b"")]
    return f"{hashlib.md5(b''.join(digests)).hexdigest()}-{len(digests)}"


class MirrorIndex:
    """The cache files known to mirror an object of the bucket, with the (size, mtime) they had then.

    A SQLite file in the cache (safe for concurrent processes). A cached file whose object is gone from the
    bucket is removed only if it is recorded here and unchanged since: it came from the bucket (or was
    pushed to it), so its absence there means it was deleted upstream, not that it is new here.
    """

    NAME = ".s3_mirror.sqlite"

    def __init__(self, root: Path):
        import sqlite3

        self.root = root
        self._db = sqlite3.connect(root / self.NAME, timeout=60, isolation_level=None)
        self._db.execute("CREATE TABLE IF NOT EXISTS mirrored (rel TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER)")

    def close(self) -> None:
        self._db.close()

    def remember(self, rels) -> None:
        rows = []
        for rel in rels:
            try:
                stat = (self.root / rel).stat()
            except OSError:
                continue
            rows.append((rel, stat.st_size, stat.st_mtime_ns))
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO mirrored VALUES (?, ?, ?)", rows)

    def stale(self, rel: str, remote: set[str], local: list[str]) -> list[str]:
        """Cached files under `rel` that mirrored an object no longer in the bucket (and are unchanged since)."""
        like = f"{rel.rstrip('/')}/%" if rel else "%"
        known = {
            r: (size, mtime)
            for r, size, mtime in self._db.execute(
                "SELECT rel, size, mtime_ns FROM mirrored WHERE rel = ? OR rel LIKE ?", (rel, like)
            )
        }
        gone = []
        for name in local:
            if name in remote or name not in known:
                continue
            stat = (self.root / name).stat()
            if (stat.st_size, stat.st_mtime_ns) == known[name]:
                gone.append(name)
        forgotten = [r for r in known if r not in remote and (r in gone or not (self.root / r).exists())]
        with self._db:
            self._db.executemany("DELETE FROM mirrored WHERE rel = ?", [(r,) for r in forgotten])
        return gone


class S3DatasetStore(DatasetStore):
    """A dataset store in an S3 bucket (AWS, MinIO or any S3-compatible endpoint) via dagster-aws.

    A local cache directory is the working copy: `pull(prefix)` downloads the objects under the prefix
    whose size or ETag differ from the cached file, and removes the cached files whose objects were
    deleted from the bucket (an input removed upstream must not linger and be read as present). Only
    files the cache knows came from or went to the bucket, unchanged since, are removed (`MirrorIndex`),
    so a file written locally and not yet pushed is never lost; `push(relpath)` uploads a file or the
    changed files of a directory;
    `write_dir` also deletes the keys its new version no longer has, so the bucket holds exactly the
    dataset that was swapped in. Credentials come only from the environment (`AWS_ACCESS_KEY_ID`, ...,
    or a profile/role), never from config, so they never reach logs or metadata. Keys found in the
    bucket that would land outside the cache (`..`, absolute) are skipped.
    """

    bucket: str = Field(description="Bucket name.")
    prefix: str = Field(
        default="", description="Key prefix under which the store's root lives (no leading or trailing slash needed)."
    )
    endpoint_url: str = Field(
        default="",
        description="S3-compatible endpoint (e.g. MinIO); empty = `AWS_ENDPOINT_URL_S3` from the environment, else "
        "AWS.",
    )
    region_name: str = Field(default="", description="Region; empty = from the environment / profile.")
    cache_dir: str = Field(default=DEFAULT_S3_CACHE, description="Local working copy of the bucket prefix.")
    max_attempts: int = Field(default=5, description="botocore retry attempts per request.")
    transfer_workers: int = Field(default=16, description="Concurrent uploads/downloads when mirroring a directory.")

    @classmethod
    def from_url(cls, url: str, cache_dir: str = DEFAULT_S3_CACHE, **kwargs) -> S3DatasetStore:
        """`s3://bucket/prefix` -> a store."""
        bucket, prefix = parse_s3_uri(url)
        return cls(bucket=bucket, prefix=prefix, cache_dir=cache_dir, **kwargs)

    # -- plumbing ------------------------------------------------------------------------------
    _client: Any = PrivateAttr(default=None)  # a boto3 S3 client (boto3 ships no type stubs)

    def client(self):
        """A boto3 S3 client from dagster-aws's `S3Resource` (credentials from the environment)."""
        if self._client is None:
            from dagster_aws.s3 import S3Resource

            from dataprep_assets.lib.awsenv import apply_aliases

            apply_aliases()  # the seed's AWS_ACCESS_KEY / AWS_SECRET_KEY names
            endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or None
            self._client = S3Resource(
                endpoint_url=endpoint, region_name=self.region_name or None, max_attempts=self.max_attempts
            ).get_client()
        return self._client

    def local_root(self) -> Path:
        root = Path(self.cache_dir).expanduser()
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _rel(self, relpath: str | os.PathLike) -> str:
        """The normalised store-relative path ('' for the root); refuses escapes."""
        rel = self.path(relpath).relative_to(self.local_root()).as_posix()
        return "" if rel == "." else rel

    def _key(self, rel: str) -> str:
        return "/".join(p for p in (self.prefix.strip("/"), rel) if p)

    def _remote(self, rel: str) -> dict[str, tuple[str, int]]:
        """Objects at `rel` (the object itself, or everything under `rel/`): store-relative path -> (etag, size)."""
        key = self._key(rel)
        base = f"{self.prefix.strip('/')}/" if self.prefix.strip("/") else ""
        found: dict[str, tuple[str, int]] = {}
        for obj in list_objects(self.client(), self.bucket, key):
            name = obj["Key"]
            if key and name != key and not name.startswith(key.rstrip("/") + "/"):
                continue
            found[name[len(base) :]] = (obj["ETag"].strip('"'), int(obj["Size"]))
        return found

    def _same(self, path: Path, etag: str, size: int) -> bool:
        return path.is_file() and path.stat().st_size == size and _s3_etag(path) == etag

    def _download(self, rel: str) -> None:
        target = self.path(rel)
        body = self.client().get_object(Bucket=self.bucket, Key=self._key(rel))["Body"]
        with atomic_path(target) as tmp, open(tmp, "wb") as fh:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                fh.write(chunk)

    def _upload(self, rel: str) -> None:
        source = self.path(rel)
        if source.stat().st_size > S3_PART_SIZE:
            from boto3.s3.transfer import TransferConfig

            config = TransferConfig(multipart_threshold=S3_PART_SIZE, multipart_chunksize=S3_PART_SIZE)
            self.client().upload_file(str(source), self.bucket, self._key(rel), Config=config)
        else:
            with open(source, "rb") as fh:
                self.client().put_object(Bucket=self.bucket, Key=self._key(rel), Body=fh.read())

    def _each(self, fn, items) -> None:
        from concurrent.futures import ThreadPoolExecutor

        items = list(items)
        if len(items) <= 1:
            for item in items:
                fn(item)
            return
        with ThreadPoolExecutor(max_workers=max(1, self.transfer_workers)) as pool:
            list(pool.map(fn, items))

    def _local_files(self, rel: str) -> list[str]:
        from dataprep_assets.lib.storage import _iter_files

        local = self.path(rel)
        if local.is_file():
            return [rel]
        if not local.is_dir():
            return []
        root = self.local_root()
        return [p.relative_to(root).as_posix() for p in _iter_files(local)]

    # -- the DatasetStore protocol ---------------------------------------------------------------
    def pull(self, relpath: str = "") -> Path:
        self.mirror(relpath)
        return self.path(self._rel(relpath))

    def mirror(self, relpath: str = "", rejects: RejectLog | None = None) -> dict[str, int]:
        """Make the cache under `relpath` hold the bucket's objects there (`pull`); counts of what it did.

        Only objects whose size or ETag differ from the cached file are downloaded. Keys that differ only in case
        (`A.png`, `a.png`: one file on a case-insensitive disk) are one local name: the first (sorted) is mirrored,
        every other is an `output_name_collision` reject in `rejects` (items relative to `relpath`; a warning when
        no log is given). Keys that would land outside the cache are skipped with a warning."""
        import logging

        from dataprep_assets.lib.naming import name_key, reject_collisions

        log = logging.getLogger(__name__)
        rel = self._rel(relpath)
        remote, safe = self._remote(rel), {}
        for name, meta in remote.items():
            try:
                self.path(name)
                safe[name] = meta
            except UnsafePathError:
                log.warning("skipping S3 key %r: it would land outside the cache", name)
        short = {name: name.removeprefix(f"{rel}/") if rel else name for name in safe}
        collisions = RejectLog() if rejects is None else rejects
        seen = len(collisions)
        kept_short = reject_collisions({s: s for s in short.values()}, collisions, "mirror_s3")
        if rejects is None:
            for reject in list(collisions)[seen:]:
                log.warning("skipping S3 key %r: %s", reject.item, reject.detail)
        kept = {name: meta for name, meta in safe.items() if short[name] in kept_short}
        todo = [n for n, (etag, size) in sorted(kept.items()) if not self._same(self.path(n), etag, size)]
        self._each(self._download, todo)
        removed = 0
        index = MirrorIndex(self.local_root())
        try:
            index.remember(sorted(kept))
            mirrored = {name_key(name) for name in kept}
            for name in index.stale(rel, set(kept), self._local_files(rel)):  # deleted upstream
                if name_key(name) in mirrored:  # on a case-insensitive disk that is a file just mirrored
                    continue
                if name not in self._remote(name):  # not pushed by another writer since the listing
                    self.path(name).unlink(missing_ok=True)
                    removed += 1
        finally:
            index.close()
        return {
            "objects": len(kept),
            "downloaded": len(todo),
            "unchanged": len(kept) - len(todo),
            "removed": removed,
            "name_collisions": len(safe) - len(kept),
        }

    def push(self, relpath: str) -> None:
        rel = self._rel(relpath)
        local = self.path(rel)
        if local.is_file():
            self._upload(rel)
            self._remember([rel])
            return
        remote = self._remote(rel)
        files = self._local_files(rel)
        self._each(self._upload, [f for f in files if f not in remote or not self._same(self.path(f), *remote[f])])
        self._remember(files)

    def _remember(self, rels: list[str]) -> None:
        index = MirrorIndex(self.local_root())
        try:
            index.remember(rels)
        finally:
            index.close()

    # -- versions on S3 ------------------------------------------------------------------------
    def _sync_versions(self, relpath: str) -> None:
        self.pull(f"{V.VERSIONS_DIR}/{relpath}".rstrip("/"))

    def _prepare(self, relpath: str) -> None:
        self._sync_versions(relpath)
        super()._prepare(relpath)

    def object_path(self, sha256: str) -> Path:
        local = self.local_root() / V.object_relpath(sha256)
        if not local.exists():
            try:
                self._download(V.object_relpath(sha256))
            except self.client().exceptions.NoSuchKey:
                pass  # reported by the caller as a missing object
        return local

    def _publish(self, relpath: str, record: V.VersionRecord) -> None:
        """Upload the view, then the objects the bucket lacks (server-side copies), then the record, then
        the pointer; a directory's keys that the new version no longer has are deleted last."""
        rel = self._rel(relpath)
        self.push(rel)
        previous = [r for r in V.list_versions(self.local_root(), relpath) if r.version_id < record.version_id]
        known = {e.sha256 for e in self.entries(previous[-1])} if previous else set()
        first_path: dict[str, str] = {}
        for entry in self.entries(record):
            if entry.sha256 not in known:
                first_path.setdefault(entry.sha256, rel if record.kind == "file" else f"{rel}/{entry.path}")

        def copy(item: tuple[str, str]) -> None:
            sha, source = item
            self.client().copy_object(
                Bucket=self.bucket,
                Key=self._key(V.object_relpath(sha)),
                CopySource={"Bucket": self.bucket, "Key": self._key(source)},
            )

        self._each(copy, sorted(first_path.items()))
        self._upload(V.files_relpath(relpath, record.version_id))
        self._upload(V.record_relpath(relpath, record.version_id))
        self._upload(f"{MANIFESTS_DIR}/{relpath}.json")
        if record.kind == "dir":
            gone = sorted(set(self._remote(rel)) - set(self._local_files(rel)))
            for start in range(0, len(gone), 1000):
                batch = [{"Key": self._key(name)} for name in gone[start : start + 1000]]
                self.client().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def gc(self, policy: V.RetentionPolicy, dry_run: bool = True) -> V.GcReport:
        """GC in the bucket: records first, then unreferenced objects older than the grace period."""
        now = datetime.now(UTC)
        report = V.GcReport(dry_run=dry_run)
        root = self.local_root()
        with V.object_lock(root, exclusive=True):
            self._sync_versions("")
            versions = {d: V.list_versions(root, d) for d in V.all_datasets(root)}
            kept, dropped = V.plan_retention(versions, policy, now)
            referenced = {e.sha256 for r in kept for e in self.entries(r)}
            report.versions_kept, report.versions_dropped = len(kept), [f"{r.dataset}@{r.version_id}" for r in dropped]
            if not dry_run:
                keys = [
                    k
                    for r in dropped
                    for k in (V.record_relpath(r.dataset, r.version_id), V.files_relpath(r.dataset, r.version_id))
                ]
                self._delete([self._key(k) for k in keys])
                for k in keys:
                    self.path(k).unlink(missing_ok=True)
            young_after = now.timestamp() - policy.grace_seconds
            doomed = []
            for obj in list_objects(self.client(), self.bucket, self._key(V.OBJECTS_DIR) + "/"):
                sha = obj["Key"].rsplit("/", 1)[-1]
                if sha in referenced:
                    report.objects_kept += 1
                elif obj["LastModified"].timestamp() > young_after:
                    report.objects_young += 1
                else:
                    report.objects_deleted += 1
                    report.bytes_freed += int(obj["Size"])
                    doomed.append(obj["Key"])
            if not dry_run:
                self._delete(doomed)
                for key in doomed:
                    self.path(V.object_relpath(key.rsplit("/", 1)[-1])).unlink(missing_ok=True)
        return report

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            self.client().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def uri(self, relpath: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(self._rel(relpath))}"

    def exists(self, relpath: str) -> bool:
        return bool(self._remote(self._rel(relpath)))


def s3_source(uri: str, cache_dir: str | os.PathLike, settings_from: DatasetStore | None = None) -> S3DatasetStore:
    """`s3://bucket/prefix` outside the dataset store (e.g. results an experiment wrote) as a store to `mirror`
    into `cache_dir`, connected with the settings of `settings_from` when that is an S3 store (endpoint,
    region, retries, transfer workers), else from the environment."""
    settings = {}
    if isinstance(settings_from, S3DatasetStore):
        fields = ("endpoint_url", "region_name", "max_attempts", "transfer_workers")
        settings = {name: getattr(settings_from, name) for name in fields}
    return S3DatasetStore.from_url(uri, cache_dir=str(cache_dir), **settings)
