"""Find and read the conversion results that optimisation experiments leave behind.

Formats: JSON documents (`{"results": [...]}`, a list of records, or one record), JSON lines, and CSV
tables. Records may nest parameters (`parameters`/`params`) and metrics (`metrics`/`quality`) or keep
them flat; field-name aliases are in `params.py`. Every record becomes one row with raw values kept
where they could not be understood (`parse_issues`), so that cleaning can reject it with a reason.
Files that cannot be read at all, and garbled records, are rejects here.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from dataprep_assets.lib.accounting import Ledger, account
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.textio import ENCODING, load_json
from dataprep_assets.ml.vectorizer_params import (
    IMAGE_KEYS,
    LOGO_TYPE_KEYS,
    METHOD_KEYS,
    METRICS,
    METRICS_KEYS,
    PARAM_NAMES,
    PARAMS_KEYS,
    TIMESTAMP_KEYS,
    normalise_logo_type,
    normalise_method,
)

STAGE = "read_results"
LOG_SUFFIXES = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
COLUMNS = [
    "result_id",
    "source_file",
    "source_format",
    "record",
    "image_path",
    "logo_type",
    "logo_type_raw",
    "method",
    "method_raw",
    "timestamp",
    *PARAM_NAMES,
    "mode",
    *METRICS,
    "parse_issues",
]


def _first(record: dict, keys: tuple[str, ...]):
    for key in keys:
        if key in record and record[key] not in (None, ""):
            return record[key]
    return None


def _nested(record: dict, keys: tuple[str, ...]) -> dict:
    for key in keys:
        if isinstance(record.get(key), dict):
            return record[key]
    return record


def _number(value, name: str, issues: dict[str, list[str]]) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        issues["missing"].append(name)
        return math.nan
    if isinstance(value, bool):
        issues["not_numeric"].append(f"{name}={value!r}")
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        issues["not_numeric"].append(f"{name}={value!r}")
        return math.nan


def parse_timestamp(value) -> pd.Timestamp | None:
    """ISO 8601 text or seconds since the epoch -> a UTC timestamp (None when absent or unparseable)."""
    if value is None or value == "":
        return None
    try:
        if isinstance(value, (int, float)) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
            return pd.Timestamp(float(value), unit="s", tz="UTC")
        ts = pd.Timestamp(str(value))
        return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    except (ValueError, OverflowError):
        return None


def normalise_record(record: dict, *, source_file: str, source_format: str, position: int, default_method=None) -> dict:
    """One conversion result in any known shape -> a flat row (see `COLUMNS`)."""
    issues: dict[str, list[str]] = {"missing": [], "not_numeric": [], "invalid": []}
    params, metrics = _nested(record, PARAMS_KEYS), _nested(record, METRICS_KEYS)
    image = _first(record, IMAGE_KEYS)
    if image is None:
        issues["missing"].append("image_path")
    logo_raw = _first(record, LOGO_TYPE_KEYS)
    if logo_raw is None:
        issues["missing"].append("logo_type")
    method_raw = _first(record, METHOD_KEYS) or default_method
    if method_raw is None:
        issues["missing"].append("method")
    ts_raw = _first(record, TIMESTAMP_KEYS)
    timestamp = parse_timestamp(ts_raw)
    if ts_raw is not None and timestamp is None:
        issues["invalid"].append(f"timestamp={ts_raw!r}")
    mode = params.get("mode")
    if mode in (None, ""):
        issues["missing"].append("mode")
    row = {
        "result_id": hashlib.sha256(f"{source_file}#{position}".encode()).hexdigest()[:16],
        "source_file": source_file,
        "source_format": source_format,
        "record": position,
        "image_path": None if image is None else str(image),
        "logo_type": normalise_logo_type(logo_raw),
        "logo_type_raw": None if logo_raw is None else str(logo_raw),
        "method": normalise_method(method_raw),
        "method_raw": None if method_raw is None else str(method_raw),
        "timestamp": timestamp,
        **{name: _number(params.get(name), name, issues) for name in PARAM_NAMES},
        "mode": None if mode in (None, "") else str(mode).strip().lower(),
        **{name: _number(metrics.get(name), name, issues) for name in METRICS},
    }
    row["parse_issues"] = " | ".join(f"{kind}: {', '.join(items)}" for kind, items in issues.items() if items)
    return row


def _method_from_path(relpath: str):
    for part in reversed(Path(relpath).parts[:-1]):
        if normalise_method(part) is not None:
            return part
    return None


def _read_json(path: Path, rel: str, rejects: RejectLog, seen: list[str]) -> Iterator[tuple[int, dict, object]]:
    try:
        doc = load_json(path)  # a UTF-8 BOM is accepted
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        rejects.add(rel, STAGE, "unreadable_log", f"not valid JSON: {exc}")
        return
    default_method = None
    if isinstance(doc, dict) and isinstance(doc.get("results"), list):
        default_method, records = _first(doc, METHOD_KEYS), doc["results"]
    elif isinstance(doc, list):
        records = doc
    elif isinstance(doc, dict) and _first(doc, IMAGE_KEYS) is not None:
        records = [doc]
    else:
        rejects.add(rel, STAGE, "unrecognised_log", "JSON holds no `results` list, record list or single record")
        return
    for i, record in enumerate(records):
        seen.append(record_item(rel, "json", i))
        if isinstance(record, dict):
            yield i, record, default_method
        else:
            rejects.add(f"{rel}#{i}", STAGE, "corrupt_record", f"record is a {type(record).__name__}, not an object")


def _read_jsonl(path: Path, rel: str, rejects: RejectLog, seen: list[str]) -> Iterator[tuple[int, dict, object]]:
    with open(path, encoding=ENCODING, errors="replace") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            seen.append(record_item(rel, "jsonl", line_no))
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                rejects.add(f"{rel}:{line_no}", STAGE, "corrupt_record", f"line {line_no} is not valid JSON: {exc}")
                continue
            if isinstance(record, dict):
                yield line_no, record, None
            else:
                rejects.add(
                    f"{rel}:{line_no}",
                    STAGE,
                    "corrupt_record",
                    f"line {line_no} is a {type(record).__name__}, not an object",
                )


def _read_csv(path: Path, rel: str, rejects: RejectLog, seen: list[str]) -> Iterator[tuple[int, dict, object]]:
    with open(path, encoding=ENCODING, errors="replace", newline="") as fh:  # BOM dropped: not glued to a column name
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            rejects.add(rel, STAGE, "unrecognised_log", "CSV has no header row")
            return
        for row in reader:
            line_no = reader.line_num
            seen.append(record_item(rel, "csv", line_no))
            if None in row or any(v is None for v in row.values()):
                rejects.add(
                    f"{rel}:{line_no}",
                    STAGE,
                    "corrupt_record",
                    f"line {line_no} does not have the {len(reader.fieldnames)} fields of the header",
                )
                continue
            yield line_no, dict(row), None


READERS = {"json": _read_json, "jsonl": _read_jsonl, "csv": _read_csv}


def record_item(source_file: str, source_format: str, position: int) -> str:
    """The id of one record of a log, as its reject names it (`file#index` in a JSON list, `file:line` otherwise)."""
    return f"{source_file}#{position}" if source_format == "json" else f"{source_file}:{position}"


def scan_results(root: Path, exclude: tuple[str, ...] = ()) -> tuple[pd.DataFrame, RejectLog, dict[str, int]]:
    """Every conversion result in every log under `root` (sorted walk); returns rows, rejects, files per format."""
    frame, rejects, files, _ = scan_results_with_ledgers(root, exclude)
    return frame, rejects, files


def scan_results_with_ledgers(
    root: Path, exclude: tuple[str, ...] = ()
) -> tuple[pd.DataFrame, RejectLog, dict[str, int], tuple[Ledger, Ledger]]:
    """`scan_results` plus its accounting: every file found is a log read, an image (an input of later steps)
    or a reject; every record a log holds is a row or a reject."""
    rejects, rows, files = RejectLog(), [], {"json": 0, "jsonl": 0, "csv": 0}
    found, passed, records = [], [], []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".") or any(rel.startswith(prefix) for prefix in exclude) or "/." in rel:
            continue
        found.append(rel)
        suffix = path.suffix.lower()
        fmt = LOG_SUFFIXES.get(suffix)
        if fmt is None:
            if suffix not in IMAGE_SUFFIXES:
                rejects.add(
                    rel,
                    STAGE,
                    "unsupported_file",
                    f"`{suffix or 'no suffix'}` is neither a results log (.json, .jsonl, .csv) nor an image",
                )
            else:
                passed.append(rel)  # an image: read by the cleaning step
            continue
        files[fmt] += 1
        default_from_path = _method_from_path(rel)
        before = len(rejects)
        for position, record, default_method in READERS[fmt](path, rel, rejects, records):
            rows.append(
                normalise_record(
                    record,
                    source_file=rel,
                    source_format=fmt,
                    position=position,
                    default_method=default_method or default_from_path,
                )
            )
        if not any(r.item == rel for r in list(rejects)[before:]):
            passed.append(rel)
    frame = to_schema(pd.DataFrame(rows, columns=COLUMNS))
    refused, found_set, record_set = [r.item for r in rejects], set(found), set(records)
    ledgers = (
        account("files", found, passed, [i for i in refused if i in found_set]),
        account(
            "records",
            records,
            [
                record_item(f, fmt, int(n))
                for f, fmt, n in zip(frame["source_file"], frame["source_format"], frame["record"], strict=True)
            ],
            [i for i in refused if i in record_set],
        ),
    )
    return frame, rejects, files, ledgers


def to_schema(frame: pd.DataFrame) -> pd.DataFrame:
    """Stable dtypes whatever was found (also for an empty table)."""
    out = frame.copy()
    for col in (
        "result_id",
        "source_file",
        "source_format",
        "image_path",
        "logo_type",
        "logo_type_raw",
        "method_raw",
        "mode",
        "parse_issues",
    ):
        out[col] = out[col].astype("string")
    out["record"] = out["record"].astype("int64")
    out["method"] = out["method"].astype("Int64")
    out["timestamp"] = pd.to_datetime(out["timestamp"], utc=True).astype("datetime64[us, UTC]")
    for col in (*PARAM_NAMES, *METRICS):
        out[col] = out[col].astype("float64")
    return out.sort_values(["source_file", "record"], kind="stable").reset_index(drop=True)
