"""Immutable dataset versions over a content-addressed object store in a local directory.

Every file a dataset version contains is stored once under its SHA-256 (`_objects/ab/abcd...`), so a
version that changes 1% of a dataset costs about 1% more bytes. A version is a record
(`_versions/<dataset>/<version_id>.json`) plus its file list (`<version_id>.files`, one
`sha256<TAB>size<TAB>path` line per file, streamed so that memory does not grow with the file count).
Writing the record is the commit point: objects first, record last, so no partial version is ever
listed. Version ids sort chronologically (`<UTC time>-<hash prefix>`).

Objects are hard links to the files that were written (no copy) where the file system allows, and are
never modified in place: everything in the store is replaced by rename. Reads verify the SHA-256, so
a corrupted object is a named error, never silently served.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dataprep_assets.lib.storage import Manifest, ManifestEntry, atomic_path, canonical_json, clean_debris, safe_join

OBJECTS_DIR = "_objects"
VERSIONS_DIR = "_versions"
LOCK_PATH = "_locks/objects.lock"
_COPY_CHUNK = 1 << 20


class VersionError(LookupError):
    """A version that does not exist (never written, or removed by GC)."""


class CorruptObjectError(IOError):
    """A stored object whose bytes no longer match the SHA-256 it is stored under."""


_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def object_relpath(sha256: str) -> str:
    if not _SHA256_HEX.fullmatch(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{OBJECTS_DIR}/{sha256[:2]}/{sha256}"


@dataclass(frozen=True)
class VersionRecord:
    """One immutable version of one dataset (a file or a directory in the store's current view)."""

    version_id: str
    dataset: str
    dataset_hash: str
    created_at: str
    kind: str
    file_count: int
    total_bytes: int
    run_id: str = ""
    asset_key: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def created(self) -> datetime:
        return datetime.fromisoformat(self.created_at)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict) -> VersionRecord:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in payload.items() if k in known})


def new_version_id(dataset_hash: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%S%fZ')}-{dataset_hash[:12]}"


def record_relpath(dataset: str, version_id: str) -> str:
    return f"{VERSIONS_DIR}/{dataset}/{version_id}.json"


def files_relpath(dataset: str, version_id: str) -> str:
    return f"{VERSIONS_DIR}/{dataset}/{version_id}.files"


# -- objects --------------------------------------------------------------------------------------
def put_object(root: Path, source: Path, sha256: str) -> bool:
    """Store `source` under its hash (a hard link where possible); True if it was not stored yet.

    An object that already exists gets its status-change time refreshed (a no-op chmod), so that a
    concurrent GC's grace period protects it until the version that reuses it is recorded. Its
    modification time is left alone: hash indexes recognise unchanged files by (size, mtime, inode).
    """
    target = root / object_relpath(sha256)  # a validated hex name in the store's own object area
    try:
        os.chmod(target, os.stat(target).st_mode & 0o7777)
        return False
    except FileNotFoundError:
        pass
    except OSError:
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
    return True


def copy_verified(source: Path, target: Path, sha256: str, label: str) -> None:
    """Copy `source` to `target` (atomically), hashing as it goes; a mismatch is a `CorruptObjectError`."""
    digest = hashlib.sha256()
    with atomic_path(target) as tmp:
        with open(source, "rb") as src, open(tmp, "wb") as dst:
            for chunk in iter(lambda: src.read(_COPY_CHUNK), b""):
                digest.update(chunk)
                dst.write(chunk)
        if digest.hexdigest() != sha256:
            raise CorruptObjectError(
                f"{label}: stored object {sha256[:16]}... is corrupt (its bytes hash to {digest.hexdigest()[:16]}...)"
            )


def verify_file(path: Path, sha256: str, label: str) -> None:
    with open(path, "rb") as fh:
        got = hashlib.file_digest(fh, "sha256").hexdigest()
    if got != sha256:
        raise CorruptObjectError(
            f"{label}: stored object {sha256[:16]}... is corrupt (its bytes hash to {got[:16]}...)"
        )


# -- records --------------------------------------------------------------------------------------
def write_version(root: Path, record: VersionRecord, manifest: Manifest) -> None:
    """Write the file list, then the record (the commit point)."""
    with (
        atomic_path(safe_join(root, files_relpath(record.dataset, record.version_id))) as tmp,
        open(tmp, "w", encoding="utf-8") as fh,
    ):
        for entry in sorted(manifest.entries, key=lambda e: e.path):
            fh.write(f"{entry.sha256}\t{entry.size}\t{entry.path}\n")
    with atomic_path(safe_join(root, record_relpath(record.dataset, record.version_id))) as tmp:
        tmp.write_text(canonical_json(record.to_dict()) + "\n", encoding="utf-8")


def read_record(path: Path) -> VersionRecord:
    return VersionRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))


def list_versions(root: Path, dataset: str) -> list[VersionRecord]:
    """The dataset's versions, oldest first."""
    folder = safe_join(root, VERSIONS_DIR, dataset)
    if not folder.is_dir():
        return []
    return [read_record(p) for p in sorted(folder.glob("*.json")) if p.is_file() and not p.name.startswith(".")]


def all_datasets(root: Path) -> list[str]:
    """Every dataset with at least one version."""
    base = Path(root) / VERSIONS_DIR
    if not base.is_dir():
        return []
    found = {
        p.parent.relative_to(base).as_posix()
        for p in base.rglob("*.json")
        if p.is_file() and not p.name.startswith(".")
    }
    return sorted(found)


def iter_entries(files_list: Path) -> Iterator[ManifestEntry]:
    """The files of a version, one at a time (a version of 100,000 files never sits in memory)."""
    with open(files_list, encoding="utf-8") as fh:
        for line in fh:
            sha, size, path = line.rstrip("\n").split("\t", 2)
            yield ManifestEntry(path=path, size=int(size), sha256=sha)


def manifest_of(files_list: Path) -> Manifest:
    return Manifest(list(iter_entries(files_list)))


def resolve(
    records: list[VersionRecord], dataset: str, version: str | None = None, run_id: str | None = None
) -> VersionRecord:
    """The version named by id, id prefix, dataset-hash prefix or run id (latest when none is given)."""
    if not records:
        raise VersionError(f"{dataset} has no versions in this store")
    if run_id:
        matches = [r for r in records if r.run_id == run_id or r.run_id.startswith(run_id)]
        what = f"run {run_id!r}"
    elif version and version != "latest":
        matches = [r for r in records if r.version_id.startswith(version) or r.dataset_hash.startswith(version)]
        what = f"version {version!r}"
    else:
        return records[-1]
    if not matches:
        listing = ", ".join(f"{r.version_id} (run {r.run_id[:8] or '-'})" for r in records[-10:])
        raise VersionError(
            f"{dataset} has no {what}; it may never have existed or been removed by GC. Versions that exist (newest "
            f"last): {listing}"
        )
    return matches[-1]


# -- locking --------------------------------------------------------------------------------------
@contextmanager
def object_lock(root: Path, exclusive: bool) -> Iterator[None]:
    """Writers hold it shared while they store objects and record a version; GC holds it exclusive.

    So GC never sees an object a writer has stored but not yet recorded (on one machine; across
    machines GC's grace period protects young objects).
    """
    path = Path(root) / LOCK_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# -- checkout -------------------------------------------------------------------------------------
def checkout(
    entries: Iterable[ManifestEntry],
    dest: Path,
    object_path: Callable[[str], Path],
    label: str,
    link: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Restore the files of a version under `dest`, verifying every byte; returns the file count.

    Files are copied (or hard-linked with `link`, after verifying the object) into `dest`, which the
    caller builds in a staging directory and renames into place.
    """
    count = 0
    for entry in entries:
        target = safe_join(dest, entry.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = object_path(entry.sha256)
        where = f"{label}: {entry.path}"
        if not source.exists():
            raise CorruptObjectError(f"{where}: stored object {entry.sha256[:16]}... is missing from the store")
        if link:
            verify_file(source, entry.sha256, where)
            try:
                os.link(source, target)
            except OSError:
                copy_verified(source, target, entry.sha256, where)
        else:
            copy_verified(source, target, entry.sha256, where)
        count += 1
        if progress and count % 1000 == 0:
            progress(count)
    return count


# -- retention ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RetentionPolicy:
    """Which versions GC keeps: the newest `keep_last` of each dataset, anything younger than
    `keep_days`, and every version pinned by a kept release. The newest version is always kept."""

    keep_last: int = 10
    keep_days: float = 30.0
    grace_seconds: float = 3600.0
    """Unreferenced objects younger than this are kept (a writer on another machine may be using them)."""

    def __post_init__(self):
        if self.keep_last < 1:
            raise ValueError(f"keep_last must be >= 1, got {self.keep_last}")
        if self.keep_days < 0 or self.grace_seconds < 0:
            raise ValueError("keep_days and grace_seconds must be >= 0")


def plan_retention(
    versions: dict[str, list[VersionRecord]], policy: RetentionPolicy, now: datetime | None = None
) -> tuple[list[VersionRecord], list[VersionRecord]]:
    """(kept, dropped) versions under `policy`; `meta["pins"]` (releases, derived datasets) keep what they pin,
    transitively."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=policy.keep_days)
    kept: dict[tuple[str, str], VersionRecord] = {}
    for dataset, records in versions.items():
        for i, record in enumerate(records):
            if i >= len(records) - policy.keep_last or record.created >= cutoff:
                kept[(dataset, record.version_id)] = record
    by_id = {(d, r.version_id): r for d, rs in versions.items() for r in rs}
    frontier = list(kept.values())
    while frontier:  # pins of pinned versions too (a CSV pins the 4-class set, which pins the 6-class set)
        for pin in (frontier.pop().meta.get("pins") or {}).items():
            if pin in by_id and pin not in kept:
                kept[pin] = by_id[pin]
                frontier.append(by_id[pin])
    dropped = [r for d, rs in versions.items() for r in rs if (d, r.version_id) not in kept]
    return sorted(kept.values(), key=lambda r: (r.dataset, r.version_id)), dropped


@dataclass
class GcReport:
    versions_kept: int = 0
    versions_dropped: list[str] = field(default_factory=list)
    objects_kept: int = 0
    objects_deleted: int = 0
    bytes_freed: int = 0
    objects_young: int = 0
    dry_run: bool = True

    def summary(self) -> str:
        verb = "would free" if self.dry_run else "freed"
        return (
            f"{verb} {self.bytes_freed:,} bytes: {self.objects_deleted} objects and {len(self.versions_dropped)} "
            "versions "
            f"(kept {self.versions_kept} versions, {self.objects_kept} objects; {self.objects_young} unreferenced "
            "objects "
            "younger than the grace period left alone)"
        )


def collect_garbage(root: Path, policy: RetentionPolicy, dry_run: bool = True, now: datetime | None = None) -> GcReport:
    """Drop versions the policy lets go, then objects no kept version refers to (local store)."""
    root = Path(root)
    now = now or datetime.now(UTC)
    report = GcReport(dry_run=dry_run)
    with object_lock(root, exclusive=True):
        versions = {d: list_versions(root, d) for d in all_datasets(root)}
        kept, dropped = plan_retention(versions, policy, now)
        referenced: set[str] = set()
        for record in kept:
            referenced.update(
                e.sha256 for e in iter_entries(safe_join(root, files_relpath(record.dataset, record.version_id)))
            )
        report.versions_kept = len(kept)
        report.versions_dropped = [f"{r.dataset}@{r.version_id}" for r in dropped]
        if not dry_run:  # records first: a crash mid-GC leaves orphaned objects, never a listed version with holes
            for record in dropped:
                _unlink(safe_join(root, record_relpath(record.dataset, record.version_id)))
                _unlink(safe_join(root, files_relpath(record.dataset, record.version_id)))
        objects = Path(root) / OBJECTS_DIR
        young_after = now.timestamp() - policy.grace_seconds
        for path in sorted(objects.glob("??/*")) if objects.is_dir() else []:
            if path.name.startswith("."):
                if not dry_run and path.name.count(".") >= 2:  # `.<sha>.tmp-<pid>-...` of a writer that died
                    clean_debris(path.parent / path.name[1:].split(".", 1)[0])
                continue
            if path.name in referenced:
                report.objects_kept += 1
                continue
            stat = path.stat()
            if max(stat.st_mtime, stat.st_ctime) > young_after:
                report.objects_young += 1
                continue
            report.objects_deleted += 1
            report.bytes_freed += stat.st_size
            if not dry_run:
                _unlink(path)
    return report


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
