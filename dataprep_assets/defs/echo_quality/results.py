"""Read the files an echo-quality inference run writes into one table of validated results.

Accepted formats (by content, not by name):
- per-folder JSON, `<folder>/inference_results.json`: `{file_id: {score, status, assessment, path}}`;
- run summary JSON, `summary.json`: `{"folder_results": [{"folder", "results": {file_id: {...}}}]}`;
- one folder's result object: `{"folder": ..., "results": {file_id: {...}}}`;
- a JSON list of records, or a CSV summary, with columns `score, status, assessment` and
  `file_id` or `filename`, optionally `folder, path, machine_type`;
- `<folder>_failed_files.json` (files the inference could not process): each becomes a reject.

Every refused file or row is a reject with a reason; a key given twice in one JSON object (two results for
one file id) is a `duplicate_key` reject per occurrence naming the others, never last-wins; rows that repeat with
identical values
(a folder JSON and the summary both list it) collapse into one, rows that disagree are rejected.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Literal, get_args

import pandas as pd

from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.textio import Duplicated, load_json

STAGE = "read_results"
Status = Literal["PASS", "FAIL"]
"""An inference status (the results' `status` column; also the choices of the selection config)."""
STATUSES = get_args(Status)
RESULT_COLUMNS = ["folder", "file_id", "score", "status", "assessment", "path", "machine_hint", "source"]


@dataclass(frozen=True)
class ResultFile:
    key: str
    content: bytes


def _folder_of(key: str) -> str:
    parent = PurePosixPath(key).parent.name
    return parent or PurePosixPath(key).stem


def _records_from_mapping(results: object, folder: str, source: str, rejects: RejectLog) -> list[dict]:
    if not isinstance(results, dict):
        rejects.add(
            source,
            STAGE,
            "malformed_file",
            f"`results` of folder {folder!r} is {type(results).__name__}, not an object",
        )
        return []
    records = []
    for file_id, entry in results.items():
        if isinstance(entry, Duplicated):
            _reject_duplicates(f"{source}:{folder}/{file_id}", f"file id {file_id!r}", entry, rejects)
            continue
        if not isinstance(entry, dict):
            rejects.add(
                f"{source}:{folder}/{file_id}",
                STAGE,
                "malformed_entry",
                f"entry is {type(entry).__name__}, not an object",
            )
            continue
        records.append(
            {
                "file_id": file_id,
                "folder": entry.get("folder", folder),
                **{k: v for k, v in entry.items() if k != "folder"},
            }
        )
    return records


def _reject_duplicates(item: str, what: str, values: list, rejects: RejectLog) -> None:
    """Every occurrence of a key named twice in one JSON object is a reject naming the others (no last-wins)."""
    shown = [json.dumps(v, sort_keys=True, default=str)[:80] for v in values]
    for i, value in enumerate(shown):
        others = "; ".join(f"#{j + 1}: {v}" for j, v in enumerate(shown) if j != i)
        rejects.add(
            f"{item}#{i + 1}",
            STAGE,
            "duplicate_key",
            f"{what} appears {len(values)} times in one object: this one {value}, also {others}",
        )


def _json_records(key: str, payload: object, rejects: RejectLog) -> list[dict]:
    folder = _folder_of(key)
    if isinstance(payload, list):
        return [
            {**r, "_row": i} if isinstance(r, dict) else {"_malformed": r, "_row": i} for i, r in enumerate(payload)
        ]
    if not isinstance(payload, dict):
        rejects.add(key, STAGE, "unrecognised_format", f"top-level JSON is {type(payload).__name__}")
        return []
    if "failed_files" in payload:
        for item in payload.get("failed_files") or []:
            item = item if isinstance(item, dict) else {"filename": str(item)}
            name = f"{payload.get('folder', folder)}/{item.get('filename', '?')}"
            rejects.add(
                name,
                "inference",
                "inference_failed",
                "; ".join(map(str, item.get("reasons", []))) or "listed in a failed-files report",
            )
        return []
    if "folder_results" in payload:
        records = []
        for block in payload["folder_results"] or []:
            if not isinstance(block, dict) or "folder" not in block:
                rejects.add(key, STAGE, "malformed_file", f"folder_results entry without a folder: {str(block)[:80]}")
                continue
            if block.get("results") is not None:
                records += _records_from_mapping(block["results"], str(block["folder"]), key, rejects)
        return records
    if "results" in payload:
        return _records_from_mapping(payload["results"], str(payload.get("folder") or folder), key, rejects)
    if any(isinstance(v, dict) and "score" in v for v in payload.values()):
        return _records_from_mapping(payload, folder, key, rejects)
    rejects.add(
        key,
        STAGE,
        "unrecognised_format",
        f"JSON object with keys {sorted(payload)[:6]} is no known inference-results format",
    )
    return []


def _csv_records(key: str, content: bytes, rejects: RejectLog) -> list[dict]:
    try:
        frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        rejects.add(key, STAGE, "malformed_csv", str(exc).splitlines()[0][:200])
        return []
    frame.columns = [str(c).strip().lower().replace(" ", "_") for c in frame.columns]
    if "filename" in frame.columns and "file_id" not in frame.columns:
        frame = frame.rename(columns={"filename": "file_id"})
    missing = sorted({"score", "status", "assessment", "file_id"} - set(frame.columns))
    if missing:
        rejects.add(key, STAGE, "missing_columns", f"CSV lacks column(s) {missing}; has {list(frame.columns)}")
        return []
    return [{**r, "_row": i} for i, r in enumerate(frame.to_dict("records"))]


def parse_score(value: Any) -> tuple[float | None, str]:
    """A float in [0, 1], or None and the reject reason."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        return None, "score_not_a_number"
    try:
        score = float(value)
    except (TypeError, ValueError):
        return None, "score_not_a_number"
    if not math.isfinite(score):
        return None, "score_not_a_number"
    if not 0.0 <= score <= 1.0:
        return None, "score_out_of_range"
    return score, ""


def _validate(record: dict, key: str, rejects: RejectLog) -> dict | None:
    file_id = str(record.get("file_id") or record.get("filename") or "").strip()
    path = str(record.get("path") or "").strip()
    folder = (
        str(record.get("folder") or "").strip() or (PurePosixPath(path).parent.name if path else "") or _folder_of(key)
    )
    row_label = f"row {record.get('_row', '?')}"
    item = f"{key}:{folder}/{file_id or row_label}"
    duplicated = sorted(k for k, v in record.items() if isinstance(v, Duplicated))
    if duplicated:
        rejects.add(
            item,
            STAGE,
            "duplicate_key",
            "; ".join(f"field {k!r} is given {len(record[k])} times: {list(record[k])}" for k in duplicated),
        )
        return None
    if "_malformed" in record:
        rejects.add(item, STAGE, "malformed_entry", f"entry is {type(record['_malformed']).__name__}, not an object")
        return None
    if not file_id:
        rejects.add(item, STAGE, "missing_file_id", f"no file_id/filename in {str(record)[:120]}")
        return None
    score, reason = parse_score(record.get("score"))
    if score is None:
        rejects.add(item, STAGE, reason, f"score={record.get('score')!r} (must be a number in [0, 1])")
        return None
    status = str(record.get("status") or "").strip().upper()
    if status not in STATUSES:
        rejects.add(item, STAGE, "unknown_status", f"status={record.get('status')!r} (must be PASS or FAIL)")
        return None
    assessment = record.get("assessment")
    return {
        "folder": folder,
        "file_id": file_id,
        "score": score,
        "status": status,
        "assessment": "" if assessment is None else str(assessment).strip(),
        "path": path,
        "machine_hint": str(record.get("machine_type") or record.get("machine") or "").strip(),
        "source": key,
    }


def parse_result_files(files: Iterable[ResultFile]) -> tuple[pd.DataFrame, RejectLog]:
    """All valid result rows (one per folder + file_id), sorted; everything refused is in the log."""
    rejects, rows = RejectLog(), []
    for f in sorted(files, key=lambda f: f.key):
        if f.key.lower().endswith(".csv"):
            records = _csv_records(f.key, f.content, rejects)
        else:
            try:
                payload = load_json(f.content, duplicate_keys="mark")
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                rejects.add(f.key, STAGE, "malformed_json", str(exc)[:200])
                continue
            records = _json_records(f.key, payload, rejects)
        rows += [row for row in (_validate(r, f.key, rejects) for r in records) if row is not None]
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    return collapse_duplicates(frame, rejects), rejects


def collapse_duplicates(frame: pd.DataFrame, rejects: RejectLog) -> pd.DataFrame:
    """One row per (folder, file_id): identical repeats collapse, conflicting ones are all rejected."""
    if frame.empty:
        return frame.reset_index(drop=True)
    frame = frame.sort_values(["folder", "file_id", "source"], kind="stable")
    values = ["score", "status", "assessment"]
    distinct = frame.drop_duplicates(["folder", "file_id", *values])
    conflicted = distinct.duplicated(["folder", "file_id"], keep=False)
    for (folder, file_id), group in distinct[conflicted].groupby(["folder", "file_id"], sort=True):
        detail = "; ".join(f"{r.source}: {r.score:g} {r.status} {r.assessment[:40]!r}" for r in group.itertuples())  # pyright: ignore[reportIndexIssue, reportOptionalSubscript]  # pandas-stubs types DataFrame cells and reductions as any scalar
        rejects.add(f"{folder}/{file_id}", STAGE, "conflicting_results", detail)
    keep = distinct[~conflicted]
    # Fill a missing path/machine from another source of the same row.
    extra = frame.groupby(["folder", "file_id"], sort=True).agg(
        path=("path", "max"), machine_hint=("machine_hint", "max")
    )
    keep = keep.drop(columns=["path", "machine_hint"]).join(extra, on=["folder", "file_id"])
    return keep[RESULT_COLUMNS].sort_values(["folder", "file_id"]).reset_index(drop=True)
