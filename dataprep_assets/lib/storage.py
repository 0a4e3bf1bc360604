"""Atomic writes, content hashes and path safety for everything a pipeline writes.

Every write goes to a temporary sibling and is renamed into place, so a crash never leaves a
half-written file or dataset that looks complete. Paths built from data go through `safe_join`,
which refuses anything that would land outside the root.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MANIFEST_VERSION = 1
_HASH_CHUNK = 1 << 20


class UnsafePathError(ValueError):
    """A path built from data would leave the root it must stay under."""


def safe_join(root: str | os.PathLike, *parts: str | os.PathLike) -> Path:
    """Join `parts` under `root`, refusing absolute parts, `..`, NUL bytes and symlink escapes."""
    root_path = Path(root)
    rel = PurePosixPath(*[str(p).replace("\\", "/") for p in parts]) if parts else PurePosixPath(".")
    text = str(rel)
    if "\x00" in text:
        raise UnsafePathError(f"path {text!r} contains a NUL byte")
    if rel.is_absolute() or any(part == ".." for part in rel.parts):
        raise UnsafePathError(f"path {text!r} escapes the root {str(root_path)!r}")
    candidate = root_path.joinpath(*rel.parts)
    resolved_root = _resolved_root(str(root_path))
    resolved = candidate.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise UnsafePathError(f"path {text!r} resolves outside the root {str(root_path)!r} (via a link)")
    return candidate


@functools.lru_cache(maxsize=256)
def _resolved_root(root: str) -> Path:
    """A root's real path, resolved once per process. Conservative if the root is re-pointed later: a path
    is accepted only when it resolves under the root as it was first resolved."""
    return Path(root).resolve()


def child_path(directory: str | os.PathLike, name: str) -> Path:
    """`directory / name` for a file this process creates in a folder it owns (a staging folder): `name` is one
    plain file name or several joined by `/` (`stacks/0001.npy`). What `safe_join` guards against cannot happen
    there (no `..`, no absolute part, no NUL, and the folder holds no links to follow), so the check is lexical:
    no per-file `realpath`."""
    parts = name.split("/") if name else [""]
    if any(not p or p in (".", "..") or "\\" in p or "\x00" in p for p in parts):
        raise UnsafePathError(f"output name {name!r} is not a plain relative file name")
    return Path(directory).joinpath(*parts)


def _temp_sibling(path: Path, tag: str) -> Path:
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it into place only if the block succeeds."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(final, "tmp")
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"nothing was written to the temporary file for {final}")
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, payload: object) -> Path:
    """Write canonical JSON (sorted keys, fixed separators) so equal payloads give equal bytes.
    Encoded straight into the file: no whole-document string (and its bytes) beside the payload in memory."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        json.dump(payload, fh, sort_keys=True, indent=2, ensure_ascii=False, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    return Path(path)


class StreamedJsonWriter:
    """`atomic_write_json(path, {**fixed, key: [items...], ...})`, the same bytes, with the lists' items fed one
    at a time (`add`) instead of held: each item is encoded when it arrives into an anonymous spool file per list,
    and `close` joins the spools and the fixed values in key order into the target (atomically). Memory: one item.
    Use as a context manager (`close` on success; on error nothing is written)."""

    def __init__(self, path: str | os.PathLike, fixed: Mapping[str, object], lists: Sequence[str]):
        self.path = Path(path)
        self.fixed = dict(fixed)
        self._spools = {  # open for the writer's life, closed by `close` / `discard`
            key: tempfile.TemporaryFile("w+", encoding="utf-8", newline="\n")  # noqa: SIM115
            for key in lists
        }
        self.counts = dict.fromkeys(lists, 0)
        self._closed = False

    def add(self, key: str, item: object) -> None:
        text = json.dumps(item, sort_keys=True, indent=2, ensure_ascii=False, default=str)
        self._spools[key].write((",\n    " if self.counts[key] else "    ") + text.replace("\n", "\n    "))
        self.counts[key] += 1

    def close(self) -> Path:
        keys = sorted([*self.fixed, *self._spools])
        with atomic_path(self.path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write("{\n" if keys else "{")
            for i, key in enumerate(keys):
                fh.write(("," if i else "") + ("\n" if i else "") + "  " + json.dumps(key, ensure_ascii=False) + ": ")
                spool = self._spools.get(key)
                if spool is None:
                    value = json.dumps(self.fixed[key], sort_keys=True, indent=2, ensure_ascii=False, default=str)
                    fh.write(value.replace("\n", "\n  "))
                elif not self.counts[key]:
                    fh.write("[]")
                else:
                    fh.write("[\n")
                    spool.seek(0)
                    shutil.copyfileobj(spool, fh)
                    fh.write("\n  ]")
            fh.write("\n}\n" if keys else "}\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.discard()
        return self.path

    def discard(self) -> None:
        self._closed = True
        for spool in self._spools.values():
            spool.close()

    def __enter__(self) -> StreamedJsonWriter:
        return self

    def __exit__(self, kind, *_) -> None:
        if kind is None and not self._closed:
            self.close()
        else:
            self.discard()


def canonical_json(payload: object) -> str:
    return json.dumps(payload, sort_keys=True, indent=2, ensure_ascii=False, default=str)


@contextmanager
def staged_directory(path: str | os.PathLike) -> Iterator[Path]:
    """Build a directory in a staging sibling and swap it in whole when the block succeeds.

    Readers see the old directory or the new one, never a mix and never neither: on Linux the two
    are exchanged in one `renameat2(RENAME_EXCHANGE)`; elsewhere two renames leave a brief gap. On
    failure the old one is untouched and the staging directory is removed.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = _temp_sibling(final, "staging")
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if final.exists() and _exchange(staging, final):
        shutil.rmtree(staging, ignore_errors=True)  # now holds the old directory
        return
    trash = _temp_sibling(final, "old")
    if final.exists():
        os.replace(final, trash)
    os.replace(staging, final)
    shutil.rmtree(trash, ignore_errors=True)


def symlink_keeping(link: str | os.PathLike, target: str, previous: str | os.PathLike) -> None:
    """Create symlink `link` -> `target`, reusing `previous` (the same name in the folder being replaced) when it
    already points at `target`: the new name becomes a hard link to that symlink's inode.

    A symlink whose target is longer than ~60 bytes keeps it in a disk block of its own. Creating one and, after
    the swap, deleting the old one allocates and frees a block per link; on file systems mounted with `discard`
    (common on cloud VMs) that costs milliseconds per link (9,574 links: 25 s to delete). A hard link to the
    unchanged link allocates nothing, and deleting the replaced folder then only drops a link count."""
    try:
        if os.readlink(previous) == target:
            os.link(previous, link, follow_symlinks=False)
            return
    except OSError:  # absent, not a link, or a file system without hard links to symlinks
        pass
    os.symlink(target, link)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`); False where unsupported."""
    libc = _libc()
    if libc is None or not hasattr(libc, "renameat2"):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    size: int
    sha256: str


@dataclass
class Manifest:
    """What a dataset consists of: its files, their sizes and hashes, and one hash over all of them."""

    entries: list[ManifestEntry] = field(default_factory=list)
    version_id: str = ""
    """The store version this manifest was recorded as (empty until recorded)."""

    @property
    def dataset_hash(self) -> str:
        digest = hashlib.sha256()
        for entry in sorted(self.entries, key=lambda e: e.path):
            digest.update(f"{entry.path}\0{entry.sha256}\n".encode())
        return digest.hexdigest()

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self.entries)

    def to_dict(self) -> dict:
        return {
            "manifest_version": MANIFEST_VERSION,
            "dataset_hash": self.dataset_hash,
            "file_count": len(self.entries),
            "total_bytes": self.total_bytes,
            "files": [e.__dict__ for e in sorted(self.entries, key=lambda e: e.path)],
        }

    @classmethod
    def from_dict(cls, payload: dict) -> Manifest:
        return cls([ManifestEntry(**e) for e in payload["files"]])


def _walk(root: Path) -> Iterator[tuple[str, list[str]]]:
    """(folder, sorted non-hidden file names) for every non-hidden folder under `root`, in sorted order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        yield dirpath, sorted(name for name in filenames if not name.startswith("."))


def _iter_files(root: Path) -> Iterable[Path]:
    for dirpath, names in _walk(root):
        for name in names:
            yield Path(dirpath) / name


class StatHashIndex:
    """SHA-256 of files remembered by (size, mtime ns, inode), so re-hashing a file that did not change
    costs one `stat`. A dataset rebuilt incrementally is mostly hard links to stored objects (same inode,
    same mtime as last time) and symlinks to them (stat follows the link): those are not read again.
    Kept as JSON at `path`; `save()` keeps only the stamps seen since loading (bounded by one dataset)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        try:
            self._known: dict[str, str] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self._known = {}
        self._seen: dict[str, str] = {}
        self.hashed = 0

    @staticmethod
    def _stamp(stat: os.stat_result) -> str:
        return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_dev}:{stat.st_ino}"

    def known(self, path: str | os.PathLike) -> str:
        """The SHA-256 of `path` if the index hashed this very file (same size, mtime and inode), else ''.
        Never reads the file: a file replaced or edited since is simply unknown."""
        try:
            return self._known.get(self._stamp(os.stat(path)), "")
        except OSError:
            return ""

    def sha256(self, path: str | os.PathLike) -> tuple[int, str]:
        """(size, SHA-256) of `path`, hashing it only when its stamp is new."""
        stat = os.stat(path)
        stamp = self._stamp(stat)
        sha = self._known.get(stamp)
        if sha is None:
            sha = sha256_file(path)
            self.hashed += 1
        self._seen[stamp] = sha
        return stat.st_size, sha

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self._seen, separators=(",", ":"), sort_keys=True))


def build_manifest(
    target: str | os.PathLike, relative_to: str | os.PathLike | None = None, index: StatHashIndex | None = None
) -> Manifest:
    """Hash a file or every (non-hidden) file under a directory; paths are relative and POSIX.

    With `index`, files whose (size, mtime, inode) it knows are not read again."""
    target = Path(target)
    base = Path(relative_to) if relative_to is not None else (target if target.is_dir() else target.parent)
    if not target.is_dir():
        return Manifest([_entry(target, target.relative_to(base).as_posix(), index)])
    entries = []
    for dirpath, names in _walk(target):  # strings, one relative folder per directory: thousands of files
        folder = Path(dirpath).relative_to(base).as_posix()
        prefix = "" if folder == "." else f"{folder}/"
        entries.extend(_entry(f"{dirpath}/{name}", prefix + name, index) for name in names)
    return Manifest(entries)


def _entry(path: str | os.PathLike, relpath: str, index: StatHashIndex | None) -> ManifestEntry:
    size, sha = index.sha256(path) if index is not None else (os.stat(path).st_size, sha256_file(path))
    return ManifestEntry(path=relpath, size=size, sha256=sha)


def combine_hashes(hashes: Iterable[str]) -> str:
    """One version string for an asset made of several datasets (order-sensitive on purpose)."""
    digest = hashlib.sha256()
    for h in hashes:
        digest.update(h.encode() + b"\n")
    return digest.hexdigest()


def _plain_name(name: str) -> bool:
    """A single path component that needs no parsing (not empty, `.`, `..`; no separator or NUL)."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\x00" not in name


class SafeFiles:
    """`safe_join` + "is it a file?" for many names under one root, with the costly part once per directory.

    `file(*parts)` refuses exactly what `safe_join` refuses (absolute parts, `..`, NUL bytes: the same
    `UnsafePathError`), then resolves and lists the name's directory once (a directory that is, or
    passes through, a link leading outside the root is refused by `safe_join` on that directory) and
    answers from the listing: the path of a regular file, or None when the name is absent or not a
    file. A name that is itself a symbolic link still gets the full per-name `safe_join` check.
    Listings are cached for the object's life: make one per pass over a source.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._listings: dict[tuple[str, ...], dict[str, str]] = {}
        self._plain_dirs: dict[str, dict[str, str]] = {}
        """Directory texts (first of two parts) that passed the checks, with their listings."""

    def file(self, *parts: str | os.PathLike) -> Path | None:
        found = self._find(parts)
        return self.root.joinpath(found) if isinstance(found, str) else found

    def is_file(self, *parts: str | os.PathLike) -> bool:
        """`file(*parts) is not None`, without building the path (the same checks, the same refusals)."""
        return self._find(parts) is not None

    def _find(self, parts: tuple[str | os.PathLike, ...]) -> Path | str | None:
        """The file's path, or its root-relative text when that is all `file` needs to join; None if absent."""
        head, name = (parts[0], parts[1]) if len(parts) == 2 else (None, None)
        listing = self._plain_dirs.get(head) if isinstance(head, str) else None
        if listing is not None and isinstance(name, str) and _plain_name(name):
            kind = listing.get(name)  # a plain name in a directory listed before: no parse
            if kind == "file":
                return f"{head}/{name}"
            if kind != "link":
                return None
        texts = [str(p) for p in parts]
        joined = "/".join(texts)
        names = [n for n in joined.split("/") if n and n != "."]
        if "\\" in joined or "\x00" in joined or ".." in names or any(t.startswith("/") for t in texts):
            return self._file_checked(*parts)  # the rare names that need safe_join's full parse
        if not names:
            return None
        directory = tuple(names[:-1])
        listing = self._listings.get(directory)
        if listing is None:
            listing = self._listings[directory] = self._list(PurePosixPath(*directory))
        if (
            len(parts) == 2
            and isinstance(parts[0], str)
            and tuple(n for n in parts[0].split("/") if n and n != ".") == directory
        ):
            self._plain_dirs[parts[0]] = listing
        kind = listing.get(names[-1])
        if kind is None:
            return None
        if kind == "link":
            path = safe_join(self.root, *names)
            return path if path.is_file() else None
        return joined if kind == "file" else None

    def _file_checked(self, *parts: str | os.PathLike) -> Path | None:
        rel = PurePosixPath(*[str(p).replace("\\", "/") for p in parts]) if parts else PurePosixPath(".")
        text = str(rel)
        if "\x00" in text or rel.is_absolute() or ".." in rel.parts:
            safe_join(self.root, *parts)  # raises UnsafePathError with its message
            raise UnsafePathError(f"path {text!r} escapes the root {str(self.root)!r}")
        return self.file(*rel.parts)

    def _list(self, rel_dir: PurePosixPath) -> dict[str, str]:
        directory = safe_join(self.root, *rel_dir.parts)
        try:
            with os.scandir(directory) as entries:
                return {e.name: "link" if e.is_symlink() else "file" if e.is_file() else "other" for e in entries}
        except (FileNotFoundError, NotADirectoryError):
            return {}


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_debris(path: str | os.PathLike) -> list[Path]:
    """Remove the temp/staging/old siblings of `path` left by processes that died (e.g. a SIGKILLed run).

    Siblings of a live process (a concurrent writer) are left alone. Returns what was removed.
    """
    final = Path(path)
    removed = []
    if not final.parent.is_dir():
        return removed
    prefix = f".{final.name}."
    for sibling in final.parent.iterdir():
        if not sibling.name.startswith(prefix):
            continue
        tag, _, rest = sibling.name[len(prefix) :].partition("-")
        pid_text = rest.split("-", 1)[0]
        if tag not in ("tmp", "staging", "old") or not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        if sibling.is_dir() and not sibling.is_symlink():
            shutil.rmtree(sibling, ignore_errors=True)
        else:
            sibling.unlink(missing_ok=True)
        removed.append(sibling)
    return removed
