"""Incremental per-item work: results keyed by what shapes them, reused instead of recomputed.

A per-item step (one frame's crops, one slice's PNG, one image's augmentations) names its result by
`key = sha256(fingerprint, input content hashes)`, where the fingerprint covers the config fields
and the code version that affect the output. The result's files live once in the store's object
store (`lib.versions`), and a small entry `_cache/<namespace>/<key[:2]>/<key>.json` maps output
names to objects plus a JSON-able result (rows, reject reasons...). A rebuild restores hits by hard
link (no bytes copied) and computes only misses, so its output is byte-identical to a from-scratch
build. Entries whose objects were garbage-collected are misses, never errors.

`InputHashes` gives the content hash of input files without rereading unchanged ones: it remembers
(size, mtime, inode) -> SHA-256 per path in the store, as `git` does for its index.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataprep_assets.lib.storage import (
    SafeFiles,
    atomic_write_json,
    atomic_write_text,
    canonical_json,
    child_path,
    safe_join,
    sha256_file,
)
from dataprep_assets.lib.versions import object_relpath, put_object

CACHE_DIR = "_cache"
_HEX_KEY = re.compile(r"[0-9a-f]{64}")


def fingerprint(*parts: object) -> str:
    """A stable hash of config values and code versions (canonical JSON)."""
    return hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()


@dataclass(frozen=True)
class CachedItem:
    files: dict[str, str]
    """Output name (relative to the item's output directory) -> SHA-256 of the stored object."""
    result: Any  # the item's JSON-ready result, as the worker returned it


class ItemCache:
    """Results of one kind of per-item work in one store; safe to use from worker processes."""

    def __init__(self, root: str | os.PathLike, namespace: str, config_fingerprint: str):
        self.root = Path(root)
        self.namespace = namespace
        self.config_fingerprint = config_fingerprint

    def key(self, *input_hashes: str) -> str:
        return hashlib.sha256("\n".join((self.config_fingerprint, *input_hashes)).encode()).hexdigest()

    def _entry(self, key: str) -> Path:
        if not _HEX_KEY.fullmatch(key):  # a key is a SHA-256 hex digest: nothing in it can leave the cache folder
            raise ValueError(f"item cache key {key!r} is not a SHA-256 hex digest")
        return self.root / CACHE_DIR / self.namespace / key[:2] / f"{key}.json"

    def get(self, key: str) -> CachedItem | None:
        """The stored result, or None (never computed, unreadable entry, or an object gone)."""
        path = self._entry(key)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            item = CachedItem(dict(payload["files"]), payload["result"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if not all((self.root / object_relpath(sha)).exists() for sha in item.files.values()):
            return None
        return item

    def restore(self, item: CachedItem, dest: str | os.PathLike, rename: Mapping[str, str] | None = None) -> None:
        """Put the item's files under `dest` (hard links to the objects; copies across file systems).

        `rename` maps stored names to the names wanted now (e.g. when a file's name depends on others).
        `dest` is a staging folder this process owns, so names are checked lexically (`child_path`)."""
        for name, sha in item.files.items():
            target = child_path(dest, (rename or {}).get(name, name))
            target.parent.mkdir(parents=True, exist_ok=True)
            source = self.root / object_relpath(sha)
            try:
                os.link(source, target)
            except FileExistsError:
                target.unlink()
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)

    def put(self, key: str, files: Mapping[str, str | os.PathLike], result: object) -> CachedItem:
        """Store freshly written output files (name -> path) and the result under `key`."""
        stored = {}
        for name, path in sorted(files.items()):
            sha = sha256_file(path)
            put_object(self.root, Path(path), sha)
            stored[name] = sha
        atomic_write_json(self._entry(key), {"files": stored, "result": result})
        return CachedItem(stored, result)


class InputHashes:
    """Content hashes of input files, recomputed only for files whose (size, mtime, inode) changed."""

    def __init__(self, root: str | os.PathLike, namespace: str):
        self.root = Path(root)
        self.path = safe_join(self.root, CACHE_DIR, namespace, "_input_hashes.json")
        try:
            self._known: dict[str, list] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._known = {}
        self._seen: dict[str, list] = {}
        self._files = SafeFiles(self.root)  # path checks once per directory, not a realpath per input
        self.computed = 0

    def __call__(self, relpath: str) -> str:
        """The SHA-256 of a store-relative input file ('' if it does not exist)."""
        if relpath in self._seen:
            return self._seen[relpath][3]
        path = self._files.file(relpath)
        if path is None:
            return ""
        try:
            stat = path.stat()
        except OSError:
            return ""
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        known = self._known.get(relpath)
        if known is None or known[:3] != stamp:
            known = stamp + [sha256_file(path)]
            self.computed += 1
        self._seen[relpath] = known
        return str(known[3])

    def save(self) -> None:
        """Remember the hashes of the files seen in this run (files no longer used are forgotten)."""
        atomic_write_json(self.path, self._seen)


class VerifiedObjects:
    """Content hashes for which a check already passed (e.g. "this image decodes"), so an incremental
    rebuild checks only new content. A property of bytes holds for every file with those bytes, so the
    set is keyed by SHA-256 and by the check's own fingerprint (its code and library versions): a new
    decoder version starts a new set. Kept as sorted hex lines under `_cache/verified/`."""

    def __init__(self, root: str | os.PathLike, name: str, check_fingerprint: str):
        self.path = safe_join(root, CACHE_DIR, "verified", f"{name}-{check_fingerprint[:16]}.txt")
        try:
            self._known = set(self.path.read_text(encoding="ascii").split())
        except OSError:
            self._known = set()
        self._now: set[str] = set()

    def __contains__(self, sha256: object) -> bool:
        return sha256 in self._known

    def add(self, sha256: str) -> None:
        self._now.add(sha256)

    def save(self, keep: set[str] | None = None) -> None:
        """Write the set: what passed before and now, limited to `keep` (the hashes still in use) if given."""
        hashes = self._known | self._now
        if keep is not None:
            hashes &= keep
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, "".join(f"{h}\n" for h in sorted(hashes)))
