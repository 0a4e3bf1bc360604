"""Join validated inference results with their DICOM videos: path, header, machine, duplicates.

A result is kept only if its video exists under the DICOM directory, parses as DICOM, has an
allowed modality and enough frames, and is not the same SOP instance as an earlier result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from dataprep_assets.defs.echo_quality.dicoms import index_files, read_headers, resolve_dicom
from dataprep_assets.defs.echo_quality.machines import normalize_machine
from dataprep_assets.lib.parallel import batches, ordered_map, resolve_workers
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import UnsafePathError

STAGE = "match_dicom"
INLINE_BELOW = 1000
CHUNK = 32
TABLE_COLUMNS = [
    "folder", "file_id", "score", "status", "assessment", "machine_type", "dicom_path",
    "patient_id", "study_uid", "series_uid", "sop_uid", "modality", "manufacturer", "model",
    "frames", "rows", "columns", "source",
]  # fmt: skip


def store_rel(path: Path, store_root: Path) -> str:
    return Path(path).relative_to(store_root).as_posix()


def attach_dicoms(
    results: pd.DataFrame,
    dicom_root: Path,
    store_root: Path,
    rejects: RejectLog,
    *,
    aliases: Mapping[str, str] | None = None,
    modalities: Sequence[str] = ("US",),
    min_frames: int = 2,
    max_workers: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
) -> pd.DataFrame:
    """The inference-results table (`TABLE_COLUMNS`), one row per usable video."""
    item = lambda r: f"{r.folder}/{r.file_id}"  # noqa: E731
    located, paths, existing = [], [], index_files(dicom_root)
    for r in results.itertuples(index=False):
        try:
            path = resolve_dicom(dicom_root, r.folder, r.file_id, r.path, existing)  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
        except UnsafePathError as exc:
            rejects.add(item(r), STAGE, "unsafe_path", str(exc).replace(str(store_root), "<store>"))
            continue
        if path is None:
            tried = f"{r.path!r} or " if r.path else ""
            rejects.add(
                item(r),
                STAGE,
                "missing_dicom",
                f"no DICOM at {tried}{r.folder}/{r.file_id} under {store_rel(dicom_root, store_root)}",
            )
            continue
        located.append(r)
        paths.append(str(path))
    workers = resolve_workers(max_workers, len(paths), INLINE_BELOW)
    headers = [
        h
        for chunk in ordered_map(read_headers, batches(paths, CHUNK), max_workers=workers, progress=progress)
        for h in chunk
    ]
    allowed = {m.upper() for m in modalities}
    rows, first_by_sop = [], {}
    for r, path, header in zip(located, paths, headers, strict=True):
        if "error" in header:
            rejects.add(item(r), STAGE, header["error"], f"{store_rel(path, store_root)}: {header['detail']}")
            continue
        if allowed and header["modality"].upper() not in allowed:
            rejects.add(item(r), STAGE, "wrong_modality", f"Modality {header['modality']!r} not in {sorted(allowed)}")
            continue
        if header["frames"] < min_frames:
            rejects.add(
                item(r),
                STAGE,
                "too_few_frames",
                f"{header['frames']} frame(s) < min_frames={min_frames} (a still, not a video)",
            )
            continue
        sop = header["sop_uid"]
        if sop and sop in first_by_sop:
            rejects.add(item(r), STAGE, "duplicate_dicom", f"same SOPInstanceUID as {first_by_sop[sop]}")
            continue
        if sop:
            first_by_sop[sop] = item(r)
        rows.append(
            {
                "folder": r.folder,
                "file_id": r.file_id,
                "score": r.score,
                "status": r.status,
                "assessment": r.assessment,
                "machine_type": normalize_machine(r.machine_hint, r.folder, header["model"], aliases),
                "dicom_path": store_rel(path, store_root),
                "source": r.source,
                **{k: header[k] for k in TABLE_COLUMNS if k in header},
            }
        )
    frame = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    for col in ("frames", "rows", "columns"):
        frame[col] = frame[col].astype("int64")
    frame["score"] = frame["score"].astype("float64")
    return frame
