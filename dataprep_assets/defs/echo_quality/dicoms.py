"""Find each result's DICOM video under the store, read its header, copy and verify selected videos.

Inference runs elsewhere, so the `path` in a result is rarely valid here: the longest tail of it
that exists under the DICOM directory wins, else `<dicom_dir>/<folder>/<file_id>`. Headers are read
without pixel data (fast); copied files are read back and their first frame decoded. The worker
functions take chunks of paths so a process pool pays its overhead per chunk, not per file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path, PurePosixPath

import numpy as np

from dataprep_assets.lib import dicom
from dataprep_assets.lib.compute import fresh_output
from dataprep_assets.lib.itemcache import ItemCache
from dataprep_assets.lib.storage import UnsafePathError, safe_join

HEADER_FIELDS = (
    "patient_id",
    "study_uid",
    "series_uid",
    "sop_uid",
    "modality",
    "manufacturer",
    "model",
    "frames",
    "rows",
    "columns",
    "transfer_syntax",
)
"""What the inventory keeps of each header (`lib.dicom.DicomHeader` fields)."""
MAX_TAIL_PARTS = 4


class FileIndex(set):
    """Store-relative POSIX paths of the files under a root, with a case-insensitive lookup (`.DCM` vs `.dcm`)."""

    def __init__(self, paths=()):
        super().__init__(paths)
        folded: dict[str, list[str]] = {}
        for p in self:
            folded.setdefault(p.casefold(), []).append(p)
        self.folded = {k: v[0] for k, v in folded.items() if len(v) == 1}

    def find(self, rel: str) -> str | None:
        """`rel` itself if present, else the one file whose path differs from it only in case, else None."""
        return rel if rel in self else self.folded.get(rel.casefold())


def index_files(root: Path) -> FileIndex:
    """Every file under `root` as a POSIX path relative to it (one directory walk instead of a stat per guess)."""
    found = set()
    for dirpath, _, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root).as_posix()
        found.update(name if rel == "." else f"{rel}/{name}" for name in filenames)
    return FileIndex(found)


def resolve_dicom(
    dicom_root: Path, folder: str, file_id: str, path: str, existing: set[str] | None = None
) -> Path | None:
    """The DICOM file for a result under `dicom_root`, or None. Never leaves `dicom_root`: a candidate that
    exists only through a link out of it raises `UnsafePathError` (when no safe candidate exists).

    `existing` (from `index_files`) answers "is there such a file" without touching the disk, also for names
    that differ only in case (`.DCM`)."""
    candidates, unsafe = [], None
    if path:
        parts = [p for p in PurePosixPath(path.replace("\\", "/").split("://", 1)[-1]).parts if p not in ("/", "")]
        for n in range(min(len(parts), MAX_TAIL_PARTS), 0, -1):
            candidates.append(parts[-n:])
    candidates.append([folder, file_id])
    for parts in candidates:
        rel = PurePosixPath(*parts)
        if rel.is_absolute() or any(p in ("..", ".") for p in rel.parts) or "\x00" in str(rel):
            continue
        found = rel.as_posix()
        if existing is not None:
            found = existing.find(found) if isinstance(existing, FileIndex) else (found if found in existing else None)
            if found is None:
                continue
        try:
            candidate = safe_join(dicom_root, found)
        except UnsafePathError as exc:
            unsafe = unsafe or exc
            continue
        if candidate.is_file():
            return candidate
    if unsafe is not None:
        raise unsafe
    return None


def header_record(path: str) -> dict:
    """The inventory's record of one file's header (`lib.dicom.read_header`, the one reader), or
    `{"error": reason, "detail": ...}` with its reject reason."""
    try:
        header = dicom.read_header(path)
    except dicom.DicomError as exc:
        return {"error": exc.reason, "detail": exc.detail[:200]}
    return {name: getattr(header, name) for name in HEADER_FIELDS}


def read_headers(paths: list[str]) -> list[dict]:
    """Worker: headers of a chunk of files."""
    return [header_record(p) for p in paths]


def verify_dicom(path: str | os.PathLike, decode: bool = True) -> str:
    """'' if the file parses as DICOM with pixel data (and, with `decode`, its first frame decodes), else why not."""
    import pydicom
    from pydicom.pixels import pixel_array  # pyright: ignore[reportPrivateImportUsage]  # a public pydicom API its stubs do not export

    try:
        ds = pydicom.dcmread(path)
        if "PixelData" not in ds:
            return "no pixel data"
        if decode:
            frame = pixel_array(ds, index=0, raw=True)  # decoded, no colour conversion: enough to prove it reads
            if frame.size == 0:
                return "empty first frame"
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"[:200]
    return ""


COPY_CODE_VERSION = "echo_copy_verify/1"
"""Bump when a change to `copy_and_verify` changes what it writes or reports: cached videos are then redone."""
CACHED_VIDEO = "video.dcm"
"""The name a verified video is cached under (its published name depends on the selection)."""


def copy_and_verify(pairs: list[tuple[str, str, bool]]) -> list[str]:
    """Worker: copy each (src, dst, decode) and read it back; '' per file on success, else the error."""
    out = []
    for src, dst, decode in pairs:
        try:
            shutil.copyfile(src, fresh_output(dst))
        except OSError as exc:
            out.append(f"copy failed: {exc}")
            continue
        error = verify_dicom(dst, decode)
        if error:
            Path(dst).unlink(missing_ok=True)
        out.append(error)
    return out


def copy_and_verify_cached(args: tuple[list[tuple[str, str, bool, str]], ItemCache]) -> list[str]:
    """Worker: `copy_and_verify` of (src, dst, decode, cache key) items, each result stored in the cache
    (the verified copy as an object, or the error), so an unchanged video is never copied or decoded again."""
    items, cache = args
    errors = copy_and_verify([(src, dst, decode) for src, dst, decode, _ in items])
    for (_, dst, _, key), error in zip(items, errors, strict=True):
        cache.put(key, {} if error else {CACHED_VIDEO: dst}, error)
    return errors


def first_frame_gray(path: str | os.PathLike, size: int = 96) -> np.ndarray:
    """The first frame as a uint8 gray thumbnail (size x size, letterboxed) for montages."""
    from PIL import Image
    from pydicom.pixels import pixel_array  # pyright: ignore[reportPrivateImportUsage]  # a public pydicom API its stubs do not export

    from dataprep_assets.lib.images import thumbnail, to_uint8

    frame = np.asarray(pixel_array(path, index=0))
    if frame.ndim == 3:
        frame = frame.mean(axis=2)
    return thumbnail(Image.fromarray(to_uint8(frame, 0.5, 99.5)), size, fit="shrink")
