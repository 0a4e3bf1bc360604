"""The feedback CSV -> no-hemorrhage candidates -> fetched DICOM slices kept by thickness.

`read_feedback` validates the CSV (missing columns fail at once, bad rows are rejects);
`select_for_fetch` orders false positives first, then a seeded choice of true negatives up to the
limit; `fetch_slice` downloads one object through the store with retries and reads its header only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dataprep_assets.defs.ct_hemorrhage.patients import image_key
from dataprep_assets.lib.dicom import DicomError, read_header, thickness_matches
from dataprep_assets.lib.itemcache import StampedResults, fingerprint
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import UnsafePathError
from dataprep_assets.lib.textio import TextFormatError, read_csv_rows

FEEDBACK_COLUMNS = (
    "study_instance_uid",
    "series_instance_uid",
    "sop_instance_uid",
    "instance_number",
    "patient_id",
    "s3_key",
    "feedback",
)
"""The feedback CSV's columns (seed 001's `no_hemorrhage_positive_feedback.csv`)."""
FEEDBACK_TIERS = {"FP": 0, "TN": 1}
"""Feedback values and their priority: false positives are taken before true negatives."""
FEEDBACK_NAMES = {tier: name for name, tier in FEEDBACK_TIERS.items()}
"""Tier -> feedback value."""
STAGE_CSV = "read_feedback_csv"
STAGE_FETCH = "fetch_dicom"


class FeedbackError(ValueError):
    """The feedback CSV cannot be used at all."""


def read_feedback(path: Path, name: str, rejects: RejectLog) -> pd.DataFrame:
    """Validated feedback rows with `key` (`<patient>_<instance>`) and `tier` (0 = FP, 1 = TN)."""
    if not path.is_file():
        raise FeedbackError(f"{name}: feedback CSV not found")
    try:
        csv_rows = read_csv_rows(path)
    except TextFormatError as exc:
        raise FeedbackError(f"{name}: unreadable CSV ({exc})") from exc
    missing = [c for c in FEEDBACK_COLUMNS if c not in csv_rows.header]
    if missing:
        raise FeedbackError(f"{name}: missing columns {missing}; expected {list(FEEDBACK_COLUMNS)}")
    frame = pd.DataFrame(csv_rows.rows, columns=csv_rows.header, dtype=str)
    frame = frame.reindex(columns=list(FEEDBACK_COLUMNS)).fillna("").apply(lambda col: col.astype(str).str.strip())
    frame["feedback"] = frame["feedback"].str.upper()
    frame["row"] = np.array(csv_rows.lines, dtype=np.int64)  # the line number a person sees in the file
    ok = pd.Series(True, index=frame.index)
    for idx, row in frame.iterrows():
        item = f"{name}:{row['row']}"
        if row["feedback"] not in FEEDBACK_TIERS:
            rejects.add(
                item,
                STAGE_CSV,
                "unknown_feedback",
                f"feedback {row['feedback']!r} is not one of {list(FEEDBACK_TIERS)}",
            )
        elif not row["s3_key"]:
            rejects.add(item, STAGE_CSV, "missing_s3_key", "empty s3_key")
        elif not row["instance_number"].lstrip("-").isdigit():
            rejects.add(
                item, STAGE_CSV, "bad_instance_number", f"instance_number {row['instance_number']!r} is not an integer"
            )
        elif not row["sop_instance_uid"]:
            rejects.add(item, STAGE_CSV, "missing_sop_instance_uid", "empty sop_instance_uid")
        else:
            continue
        ok[idx] = False  # pyright: ignore[reportArgumentType, reportCallIssue]  # pandas-stubs types DataFrame cells and reductions as any scalar
    frame = frame[ok].copy()
    dup = frame.duplicated("sop_instance_uid", keep="first")
    for row in frame[dup].itertuples(index=False):
        rejects.add(
            f"{name}:{row.row}",
            STAGE_CSV,
            "duplicate_row",
            f"sop_instance_uid {row.sop_instance_uid} already on an earlier line",
        )
    frame = frame[~dup].copy()
    frame["instance_number"] = frame["instance_number"].astype(int)
    frame["tier"] = frame["feedback"].map(FEEDBACK_TIERS).astype(int)
    frame["key"] = [
        image_key(p, i) if p else "" for p, i in zip(frame["patient_id"], frame["instance_number"], strict=True)
    ]
    frame = frame.sort_values("sop_instance_uid", kind="stable").reset_index(drop=True)
    frame.attrs["items"] = feedback_items(name, csv_rows.lines)  # every data row of the file, for the accounting
    return frame


def feedback_items(name: str, lines) -> list[str]:
    """The reject item of each feedback row: `<csv>:<line>`."""
    return [f"{name}:{line}" for line in lines]


def select_for_fetch(candidates: pd.DataFrame, max_images: int, fp_only: bool, seed: int) -> pd.DataFrame:
    """All false positives first, then true negatives (seeded choice) up to `max_images` in total."""
    fps = candidates[candidates["tier"] == 0].sort_values("sop_instance_uid")
    tns = candidates[candidates["tier"] != 0].sort_values("sop_instance_uid")
    tns = tns.iloc[np.random.default_rng(seed).permutation(len(tns))]
    chosen = fps if fp_only else pd.concat([fps, tns])
    if max_images > 0:
        chosen = chosen.head(max_images)
    return chosen.reset_index(drop=True)


@dataclass(frozen=True)
class FetchSettings:
    allowed_mm: tuple[float, ...]
    tolerance_mm: float
    attempts: int
    backoff_s: float


HEADER_FACTS_VERSION = 1
"""Bump when `header_facts` changes what it reads: remembered facts of an older version are not reused."""


def header_facts_name() -> str:
    """The remembered header facts' file name: their version and the parser's (pydicom) version."""
    import pydicom

    return f"facts-{fingerprint(HEADER_FACTS_VERSION, pydicom.__version__)[:16]}"


def header_facts(path: Path, name: str) -> dict:
    """What the fetch decision needs of a DICOM header (JSON-able, so it can be remembered per file):
    thickness, patient id and whether pixel data follows, or the reason the file cannot be used."""
    try:
        header = read_header(path, name=name)
    except DicomError as exc:
        return {"error": exc.reason, "detail": str(exc)}
    return {
        "slice_thickness": header.slice_thickness,
        "patient_id": header.patient_id,
        "has_pixel_data": header.has_pixel_data,
    }


def fetch_slice(
    row: dict,
    relpath: str,
    pull: Callable[[str], Path],
    settings: FetchSettings,
    headers: StampedResults | None = None,
) -> dict:
    """Fetch one object (retrying transient errors), read its header, decide ok / skipped / failed.

    `headers` remembers each file's header facts by its (size, mtime, inode): a rebuild re-reads only
    new or changed objects."""
    out = {
        **row,
        "dicom_path": relpath,
        "status": "failed",
        "reason": "",
        "detail": "",
        "slice_thickness": np.nan,
        "header_patient_id": "",
        "attempts": 0,
    }
    for attempt in range(1, settings.attempts + 1):
        out["attempts"] = attempt
        try:
            local = pull(relpath)
            break
        except UnsafePathError as exc:
            return out | {"reason": "unsafe_key", "detail": str(exc)}
        except Exception as exc:  # network and server errors: retried, then recorded
            out |= {"reason": "download_failed", "detail": f"{type(exc).__name__}: {exc}"}
            if attempt < settings.attempts:
                time.sleep(settings.backoff_s * 2 ** (attempt - 1))
    else:
        return out
    if not local.is_file():
        return out | {"reason": "missing_object", "detail": f"no object at {relpath}"}
    read = lambda path: header_facts(path, relpath)  # noqa: E731 - the one place both branches call
    facts = read(local) if headers is None else headers.get(relpath, read) or read(local)
    if "error" in facts:
        return out | {"reason": facts["error"], "detail": facts["detail"]}
    thickness = facts["slice_thickness"]
    out |= {
        "slice_thickness": thickness if thickness is not None else np.nan,
        "header_patient_id": facts["patient_id"],
        "reason": "",
        "detail": "",
    }
    if not facts["has_pixel_data"]:
        return out | {"reason": "missing_pixel_data", "detail": "the file ends before any pixel data"}
    patient = facts["patient_id"] or row.get("patient_id", "")
    if not patient:
        return out | {"reason": "missing_patient_id", "detail": "no PatientID in the header and none in the CSV"}
    out["patient_id"] = patient
    if not thickness_matches(thickness, settings.allowed_mm, settings.tolerance_mm):
        return out | {
            "status": "skipped_thickness",
            "reason": "slice_thickness",
            "detail": f"SliceThickness {thickness} mm not in {list(settings.allowed_mm)}",
        }
    return out | {"status": "ok"}


def fetch_summary(fetched: pd.DataFrame) -> dict[str, int]:
    """The seed's download summary."""
    status = fetched["status"].value_counts() if len(fetched) else pd.Series(dtype=int)
    return {
        "successful": int(status.get("ok", 0)),
        "skipped_thickness": int(status.get("skipped_thickness", 0)),
        "failed": int(status.get("failed", 0)),
        "attempted": len(fetched),
    }
