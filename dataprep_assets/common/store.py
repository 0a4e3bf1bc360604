"""`DatasetStore`: where every pipeline reads inputs and writes datasets.

Assets work on local paths (fast libraries want files); the store decides where those live and
publishes what is written. `LocalDatasetStore` is a directory; an object-store backend stages in a
local cache, pulls inputs on `pull` and uploads on `push`. Every dataset written gets a manifest
(files, sizes, SHA-256, one dataset hash) under `_manifests/`, and that hash is the data version.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field, PrivateAttr

from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import (
    Manifest,
    atomic_path,
    atomic_write_json,
    UnsafePathError,
    build_manifest,
    safe_join,
    staged_directory,
)

MANIFESTS_DIR = "_manifests"
REJECTS_DIR = "rejects"
DEFAULT_STORE_ROOT = "var/store"


@dataclass
class StagedDataset:
    """A directory being built; `manifest` is filled in when the block completes."""

    path: Path
    manifest: Manifest | None = None


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

    # -- manifests -----------------------------------------------------------------------------
    def _record(self, relpath: str, manifest: Manifest) -> Manifest:
        atomic_write_json(self.path(MANIFESTS_DIR, f"{relpath}.json"), manifest.to_dict())
        self.push(f"{MANIFESTS_DIR}/{relpath}.json")
        return manifest

    def manifest(self, relpath: str) -> Manifest | None:
        path = self.path(MANIFESTS_DIR, f"{relpath}.json")
        return Manifest.from_dict(json.loads(path.read_text())) if path.exists() else None

    # -- writing -------------------------------------------------------------------------------
    @contextmanager
    def write_file(self, relpath: str) -> Iterator[Path]:
        """Yield a temp path; on success it becomes `relpath` atomically, with a manifest, and is pushed."""
        target = self.path(relpath)
        with atomic_path(target) as tmp:
            yield tmp
        self._record(relpath, build_manifest(target))
        self.push(relpath)

    @contextmanager
    def write_dir(self, relpath: str) -> Iterator[StagedDataset]:
        """Build a directory in staging; on success swap it in whole, record its manifest, push it."""
        with staged_directory(self.path(relpath)) as staging:
            staged = StagedDataset(staging)
            yield staged
            staged.manifest = build_manifest(staging)
        self._record(relpath, staged.manifest)
        self.push(relpath)

    def write_table(self, relpath: str, frame: pd.DataFrame) -> Manifest:
        with self.write_file(relpath) as tmp:
            if relpath.endswith(".csv"):
                frame.to_csv(tmp, index=False)
            else:
                frame.to_parquet(tmp, index=False, compression="zstd")
        return self.manifest(relpath)

    def write_json(self, relpath: str, payload: object) -> Manifest:
        with self.write_file(relpath) as tmp:
            atomic_write_json(tmp, payload)
        return self.manifest(relpath)

    def write_rejects(self, asset_name: str, rejects: RejectLog) -> str:
        """Replace the asset's rejects table (written even when empty, so stale rejects never linger)."""
        relpath = f"{REJECTS_DIR}/{asset_name}.csv"
        self.write_table(relpath, rejects.to_frame())
        return relpath

    # -- reading -------------------------------------------------------------------------------
    def read_table(self, relpath: str) -> pd.DataFrame:
        path = self.pull(relpath)
        if not path.exists():
            raise FileNotFoundError(f"{relpath} does not exist in the dataset store ({self.uri()}); materialize its asset first")
        return pd.read_csv(path) if relpath.endswith(".csv") else pd.read_parquet(path)

    def read_json(self, relpath: str) -> object:
        path = self.pull(relpath)
        if not path.exists():
            raise FileNotFoundError(f"{relpath} does not exist in the dataset store ({self.uri()})")
        return json.loads(path.read_text())

    def read_rejects(self, asset_name: str) -> RejectLog:
        return RejectLog.from_frame(self.read_table(f"{REJECTS_DIR}/{asset_name}.csv").fillna(""))


class LocalDatasetStore(DatasetStore):
    """A dataset store in a local directory (the default: nothing to start)."""

    root: str = Field(
        default=DEFAULT_STORE_ROOT,
        description="Directory that holds inputs (`raw/...`) and every dataset written. Relative paths are taken from the working directory.",
    )

    def local_root(self) -> Path:
        root = Path(self.root).expanduser()
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


class S3DatasetStore(DatasetStore):
    """A dataset store in an S3 bucket (AWS, MinIO or any S3-compatible endpoint) via dagster-aws.

    A local cache directory is the working copy: `pull(prefix)` downloads the objects under the prefix
    whose size or ETag differ from the cached file (it never deletes a local file, so nothing written
    but not yet pushed is lost); `push(relpath)` uploads a file or the changed files of a directory;
    `write_dir` also deletes the keys its new version no longer has, so the bucket holds exactly the
    dataset that was swapped in. Credentials come only from the environment (`AWS_ACCESS_KEY_ID`, ...,
    or a profile/role), never from config, so they never reach logs or metadata. Keys found in the
    bucket that would land outside the cache (`..`, absolute) are skipped.
    """

    bucket: str = Field(description="Bucket name.")
    prefix: str = Field(default="", description="Key prefix under which the store's root lives (no leading or trailing slash needed).")
    endpoint_url: str = Field(default="", description="S3-compatible endpoint (e.g. MinIO); empty = `AWS_ENDPOINT_URL_S3` from the environment, else AWS.")
    region_name: str = Field(default="", description="Region; empty = from the environment / profile.")
    cache_dir: str = Field(default=DEFAULT_S3_CACHE, description="Local working copy of the bucket prefix.")
    max_attempts: int = Field(default=5, description="botocore retry attempts per request.")
    transfer_workers: int = Field(default=16, description="Concurrent uploads/downloads when mirroring a directory.")

    @classmethod
    def from_url(cls, url: str, cache_dir: str = DEFAULT_S3_CACHE, **kwargs) -> "S3DatasetStore":
        """`s3://bucket/prefix` -> a store."""
        if not url.startswith("s3://"):
            raise ValueError(f"not an s3:// URL: {url!r}")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {url!r}")
        return cls(bucket=bucket, prefix=prefix.strip("/"), cache_dir=cache_dir, **kwargs)

    # -- plumbing ------------------------------------------------------------------------------
    _client: object = PrivateAttr(default=None)

    def client(self):
        """A boto3 S3 client from dagster-aws's `S3Resource` (credentials from the environment)."""
        if self._client is None:
            from dagster_aws.s3 import S3Resource

            from dataprep_assets.lib.awsenv import apply_aliases

            apply_aliases()  # the seed's AWS_ACCESS_KEY / AWS_SECRET_KEY names
            endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or None
            self._client = S3Resource(endpoint_url=endpoint, region_name=self.region_name or None, max_attempts=self.max_attempts).get_client()
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
        paginator = self.client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=key):
            for obj in page.get("Contents", []):
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
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as fh:
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
        import logging

        rel = self._rel(relpath)
        remote, safe = self._remote(rel), {}
        for name, meta in remote.items():
            try:
                self.path(name)
                safe[name] = meta
            except UnsafePathError:
                logging.getLogger(__name__).warning("skipping S3 key %r: it would land outside the cache", name)
        self._each(self._download, [n for n, (etag, size) in sorted(safe.items()) if not self._same(self.path(n), etag, size)])
        return self.path(rel)

    def push(self, relpath: str) -> None:
        rel = self._rel(relpath)
        local = self.path(rel)
        if local.is_file():
            self._upload(rel)
            return
        remote = self._remote(rel)
        files = self._local_files(rel)
        self._each(self._upload, [f for f in files if f not in remote or not self._same(self.path(f), *remote[f])])

    @contextmanager
    def write_dir(self, relpath: str) -> Iterator[StagedDataset]:
        """As `DatasetStore.write_dir`, then delete the keys the new version of the directory no longer has."""
        with super().write_dir(relpath) as staged:
            yield staged
        rel = self._rel(relpath)
        gone = sorted(set(self._remote(rel)) - set(self._local_files(rel)))
        for start in range(0, len(gone), 1000):
            batch = [{"Key": self._key(name)} for name in gone[start : start + 1000]]
            self.client().delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def uri(self, relpath: str = "") -> str:
        return f"s3://{self.bucket}/{self._key(self._rel(relpath))}"

    def exists(self, relpath: str) -> bool:
        return bool(self._remote(self._rel(relpath)))
