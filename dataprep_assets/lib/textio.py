"""Reading users' text files the same way everywhere: UTF-8 with or without a BOM, CSV rows with their real line
numbers.

Spreadsheet exports on Windows start with a UTF-8 byte-order mark; read naively, it glues itself to the first
column name (`\\ufeffimage_path`) and every row loses that column. `read_text` / `load_json` strip it;
`read_csv_rows` also numbers each record by the line it starts on in the file, counting blank lines (pandas
skips them before numbering).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENCODING = "utf-8-sig"
"""UTF-8; a leading byte-order mark is dropped."""


class TextFormatError(ValueError):
    """A file that is not the text it claims to be (not UTF-8, not JSON, a CSV row wider than its header)."""


def decode(data: bytes) -> str:
    return data.decode(ENCODING)


def read_text(path: str | os.PathLike) -> str:
    return Path(path).read_text(encoding=ENCODING)


def load_json(source: str | os.PathLike | bytes, *, duplicate_keys: str = "last") -> Any:
    """Parse JSON from a path or bytes (BOM accepted). An object that names one key twice: `last` keeps the last
    value (JSON's usual, silent rule), `error` raises `DuplicateKeyError`, `mark` keeps every value in a
    `Duplicated` list in the key's place so the caller can reject each one naming the others."""
    text = decode(source) if isinstance(source, bytes) else read_text(source)
    hooks = {"last": None, "error": _no_duplicate_keys, "mark": _mark_duplicate_keys}
    return json.loads(text, object_pairs_hook=hooks[duplicate_keys])


class Duplicated(list):
    """Every value of a key that one JSON object names more than once, in file order."""


def _mark_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key not in out:
            out[key] = value
        elif isinstance(out[key], Duplicated):
            out[key].append(value)
        else:
            out[key] = Duplicated([out[key], value])
    return out


class DuplicateKeyError(ValueError):
    def __init__(self, key: str, first: object, second: object):
        super().__init__(f"key {key!r} appears twice in one object (values {_short(first)} and {_short(second)})")
        self.key, self.first, self.second = key, first, second


def _short(value: object) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKeyError(key, out[key], value)
        out[key] = value
    return out


@dataclass(frozen=True)
class CsvRows:
    header: list[str]
    rows: list[dict[str, str]]
    lines: list[int]
    """The 1-based line of the file each row starts on."""


def read_csv_rows(source: str | os.PathLike | bytes) -> CsvRows:
    """Header and rows of a CSV (BOM accepted, blank lines skipped but counted); all values are strings.
    A row with more fields than the header raises `TextFormatError` naming its line; missing fields are ""."""
    try:
        text = decode(source) if isinstance(source, bytes) else read_text(source)
    except UnicodeDecodeError as exc:
        raise TextFormatError(f"not UTF-8 text ({exc})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    rows, lines = [], []
    line = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise TextFormatError(f"line {line}: {exc}") from exc
        start, line = line, reader.line_num + 1
        if not record or all(not v.strip() for v in record):
            continue
        if header is None:
            header = [h.strip() for h in record]
            continue
        if len(record) > len(header):
            raise TextFormatError(f"line {start}: {len(record)} fields, the header has {len(header)}")
        rows.append(dict(zip(header, [*record, *[""] * (len(header) - len(record))], strict=True)))
        lines.append(start)
    return CsvRows(header or [], rows, lines)
