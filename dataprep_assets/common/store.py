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
from pydantic import Field

from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import (
    Manifest,
    atomic_path,
    atomic_write_json,
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
