"""Incremental per-item work: results keyed by what shapes them, reused instead of recomputed.

A per-item step (one frame's crops, one slice's PNG, one image's augmentations) names its result by
`key = sha256(fingerprint, input content hashes)`, where the fingerprint covers the config fields
and the code version that affect the output. The result's files live once in the store's object
store (`lib.versions`), and a small entry `_cache/<namespace>/<key[:2]>/<key>.json` maps output
names to objects plus a JSON-able result (rows, reject reasons...). A rebuild restores hits by hard
link (no bytes copied) and computes only misses, so its output is byte-identical to a from-scratch
build. Entries whose objects were garbage-collected are misses, never errors.

A run that reuses many items reads them from one index (`save_index`): a single file per namespace and
fingerprint holding the entries the last run used, checked against the SHA-256 in its first line. An index
that is missing, cut short or altered is ignored (the per-item entries are read instead), and a malformed
entry in it is a miss: what the cache cannot vouch for is recomputed, never trusted.

`InputHashes` gives the content hash of input files without rereading unchanged ones: it remembers
(size, mtime, inode) -> SHA-256 per path in the store, as `git` does for its index; `StampedResults` does
the same for any pure function of a file's bytes (a DICOM header read for the thickness filter).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataprep_assets.lib.storage import (
    SafeFiles,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    canonical_json,
    child_path,
    safe_join,
    sha256_file,
)
from dataprep_assets.lib.versions import OBJECTS_DIR, put_object

CACHE_DIR = "_cache"
INDEX_FORMAT = 1
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
        self._index: dict | None = None  # loaded on first use (not in worker processes that only put)
        self._used: dict[str, dict] = {}  # entries this process read, for `save_index`

    def __getstate__(self) -> dict:  # sent to worker processes: what they need to `put`, not the loaded index
        return {**self.__dict__, "_index": None, "_used": {}}

    def key(self, *input_hashes: str) -> str:
        return hashlib.sha256("\n".join((self.config_fingerprint, *input_hashes)).encode()).hexdigest()

    def _entry(self, key: str) -> Path:
        if not _HEX_KEY.fullmatch(key):  # a key is a SHA-256 hex digest: nothing in it can leave the cache folder
            raise ValueError(f"item cache key {key!r} is not a SHA-256 hex digest")
        return self.root / CACHE_DIR / self.namespace / key[:2] / f"{key}.json"

    def _index_path(self) -> Path:
        return self.root / CACHE_DIR / self.namespace / f"_index-{self.config_fingerprint[:16]}.json"

    def _load_index(self) -> dict:
        """The entries of the last saved index; {} when there is none or it fails its checksum."""
        if self._index is None:
            self._index = {}
            try:
                data = self._index_path().read_bytes()
                header, _, body = data.partition(b"\n")
                head = json.loads(header)
                if head.get("format") == INDEX_FORMAT and head.get("sha256") == hashlib.sha256(body).hexdigest():
                    entries = json.loads(body)
                    self._index = entries if isinstance(entries, dict) else {}
            except (OSError, ValueError, AttributeError):
                pass
        return self._index

    def get(self, key: str) -> CachedItem | None:
        """The stored result, or None (never computed, unreadable entry, or an object gone)."""
        payload = self._load_index().get(key)
        if payload is None:
            try:
                payload = json.loads(self._entry(key).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
        item = _cached_item(payload)
        if item is None or not all(os.path.exists(self._object(sha)) for sha in item.files.values()):
            return None
        self._used[key] = payload
        return item

    def _object(self, sha: str) -> str:
        return f"{self.root}/{OBJECTS_DIR}/{sha[:2]}/{sha}"  # sha is checked hex (`_cached_item`)

    def restore(self, item: CachedItem, dest: str | os.PathLike, rename: Mapping[str, str] | None = None) -> None:
        """Put the item's files under `dest` (hard links to the objects; copies across file systems).

        `rename` maps stored names to the names wanted now (e.g. when a file's name depends on others).
        `dest` is a staging folder this process owns, so names are checked lexically (`child_path`)."""
        for name, sha in item.files.items():
            target = child_path(dest, (rename or {}).get(name, name))
            target.parent.mkdir(parents=True, exist_ok=True)
            source = self._object(sha)
            try:
                os.link(source, target)
            except FileExistsError:
                target.unlink()
                os.link(source, target)
            except OSError:
                shutil.copyfile(source, target)

    def save_index(self, keys: Iterable[str]) -> None:
        """Write one index of the entries `keys` (a run's items, reused or computed by any process), so that
        the next run reads one file instead of one per item. Keys without a readable entry are left out."""
        keys = list(keys)
        if self._index and set(keys) == self._index.keys() and all(self._used.get(k) is self._index[k] for k in keys):
            return  # every item came from the index as it stands: nothing to rewrite
        entries = {}
        for key in keys:
            payload = self._used.get(key)
            if payload is None:
                try:
                    payload = json.loads(self._entry(key).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue
            if _cached_item(payload) is not None:
                entries[key] = payload
        body = json.dumps(entries, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        header = json.dumps({"format": INDEX_FORMAT, "sha256": hashlib.sha256(body).hexdigest()}).encode()
        atomic_write_bytes(self._index_path(), header + b"\n" + body)

    def put(self, key: str, files: Mapping[str, str | os.PathLike], result: object) -> CachedItem:
        """Store freshly written output files (name -> path) and the result under `key`."""
        stored = {}
        for name, path in sorted(files.items()):
            sha = sha256_file(path)
            put_object(self.root, Path(path), sha)
            stored[name] = sha
        text = canonical_json({"files": stored, "result": result})
        atomic_write_text(self._entry(key), text + "\n")  # the bytes `atomic_write_json` writes
        self._used[key] = json.loads(text)  # as the entry reads back (tuples become lists)
        return CachedItem(stored, result)


def _cached_item(payload: object) -> CachedItem | None:
    """An entry's item, or None when it is not well formed (files: name -> SHA-256 hex)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("files"), dict) or "result" not in payload:
        return None
    files = payload["files"]
    if not all(isinstance(n, str) and isinstance(h, str) and _HEX_KEY.fullmatch(h) for n, h in files.items()):
        return None
    return CachedItem(dict(files), payload["result"])


class StampedResults:
    """A pure function of a file's bytes (its hash, its parsed header), remembered per store path and recomputed
    only for files whose (size, mtime, inode) changed, as `git` does for its index. Kept in one JSON file,
    `_cache/<namespace>/<name>.json`; a file that is missing or unreadable starts empty. Safe to call from
    threads (each path is one dict entry); `save` keeps only the paths seen in this run."""

    def __init__(self, root: str | os.PathLike, namespace: str, name: str):
        self.root = Path(root)
        self.path = safe_join(self.root, CACHE_DIR, namespace, f"{name}.json")
        try:
            known = json.loads(self.path.read_text(encoding="utf-8"))
            self._known: dict[str, list] = known if isinstance(known, dict) else {}
        except (OSError, ValueError):
            self._known = {}
        self._seen: dict[str, list] = {}
        self._files = SafeFiles(self.root)  # path checks once per directory, not a realpath per input
        self.computed = 0

    def get(self, relpath: str, compute: Callable[[Path], Any], missing: Any = None) -> Any:
        """`compute(path)` for the store-relative file `relpath`, or what it returned for the same stamp
        (`missing` if the file does not exist). Exceptions from `compute` propagate and nothing is kept."""
        if relpath in self._seen:
            return self._seen[relpath][3]
        path = self._files.file(relpath)
        if path is None:
            return missing
        try:
            stat = path.stat()
        except OSError:
            return missing
        stamp = [stat.st_size, stat.st_mtime_ns, stat.st_ino]
        known = self._known.get(relpath)
        if not isinstance(known, list) or len(known) != 4 or known[:3] != stamp:
            known = [*stamp, compute(path)]
            self.computed += 1
        self._seen[relpath] = known
        return known[3]

    def save(self) -> None:
        """Remember the results of the files seen in this run (files no longer used are forgotten)."""
        atomic_write_json(self.path, self._seen)


class InputHashes(StampedResults):
    """Content hashes of input files, recomputed only for files whose (size, mtime, inode) changed."""

    def __init__(self, root: str | os.PathLike, namespace: str):
        super().__init__(root, namespace, "_input_hashes")

    def __call__(self, relpath: str) -> str:
        """The SHA-256 of a store-relative input file ('' if it does not exist)."""
        return str(self.get(relpath, sha256_file, ""))


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
