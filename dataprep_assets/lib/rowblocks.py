"""Per-item tables (one row per cell, per image...) kept column by column, so that the rows of thousands of items
are read, sliced and joined as a few arrays instead of thousands of small ones.

`Rows` is the view of rows `start:stop` of a block (a dict of equally long numpy arrays). Fresh rows are a block
of their own (`Rows.of(columns)`); rows read from an item cache's index are views of its blocks. `concat_rows`
joins parts in order with one slice per run of adjacent rows of one block, so a rebuild that reuses most items
joins a handful of slices. `encode_blocks` / `decode_blocks` store blocks as raw little-endian bytes (numbers)
and JSON lists (anything else), exactly like the JSON form of one item's rows (`rows_to_json`) reads back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

Columns = dict[str, np.ndarray]
_RAW_KINDS = "biufc"  # dtypes stored as their bytes; everything else (objects, strings) as a JSON list


def dtype_name(dtype: np.dtype) -> str:
    return "object" if dtype.kind == "O" else dtype.str


def _array(values: list, name: str) -> np.ndarray:
    return np.array(values, dtype=object if name == "object" else np.dtype(name))


def _length(columns: Mapping[str, np.ndarray]) -> int:
    lengths = {len(v) for v in columns.values()}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    return lengths.pop() if lengths else 0


@dataclass(frozen=True, eq=False)
class Rows:
    """Rows `start:stop` of `block` (the arrays are shared, never modified)."""

    block: Columns
    start: int
    stop: int

    @classmethod
    def of(cls, columns: Mapping[str, np.ndarray]) -> Rows:
        block = {str(k): np.asarray(v) for k, v in columns.items()}
        return cls(block, 0, _length(block))

    def __len__(self) -> int:
        return self.stop - self.start

    @property
    def schema(self) -> tuple[tuple[str, str], ...]:
        return tuple((k, dtype_name(v.dtype)) for k, v in self.block.items())

    def columns(self) -> Columns:
        return {k: v[self.start : self.stop] for k, v in self.block.items()}


def concat_rows(parts: Sequence[Rows]) -> Columns:
    """The parts' rows one after the other, column by column (the columns of the first part, in its order);
    what `np.concatenate` of each part's arrays gives, joined with one slice per run of adjacent rows."""
    if not parts:
        return {}
    names = list(parts[0].block)
    runs: list[Rows] = []
    for part in parts:
        if list(part.block) != names:
            raise ValueError(f"rows with columns {list(part.block)} cannot follow rows with columns {names}")
        last = runs[-1] if runs else None
        if last is not None and last.block is part.block and last.stop == part.start:
            runs[-1] = Rows(last.block, last.start, part.stop)
        else:
            runs.append(part)
    return {name: np.concatenate([r.block[name][r.start : r.stop] for r in runs]) for name in names}


def rows_to_json(columns: Mapping[str, np.ndarray]) -> list:
    """One item's rows as JSON: `[[column, dtype, values], ...]`, in column order."""
    return [[str(k), dtype_name(np.asarray(v).dtype), np.asarray(v).tolist()] for k, v in columns.items()]


def rows_from_json(payload: object) -> Rows | None:
    """`rows_to_json`'s rows back, or None when the payload is not well formed."""
    if not isinstance(payload, list):
        return None
    try:
        columns = {}
        for name, dtype, values in payload:
            if not isinstance(name, str) or not isinstance(values, list):
                return None
            columns[name] = _array(values, dtype)
        return Rows.of(columns)
    except (TypeError, ValueError):
        return None


def encode_blocks(blocks: Sequence[Columns]) -> tuple[list[dict], bytes]:
    """The blocks as a JSON-able description and their data (concatenated), for `decode_blocks`."""
    described, chunks, offset = [], [], 0
    for block in blocks:
        columns = []
        for name, array in block.items():
            if array.dtype.kind in _RAW_KINDS:
                data, how = np.ascontiguousarray(array).tobytes(), "raw"
            else:
                data, how = json.dumps(array.tolist(), ensure_ascii=False, separators=(",", ":")).encode(), "json"
            columns.append([name, dtype_name(array.dtype), how, offset, len(data)])
            chunks.append(data)
            offset += len(data)
        described.append({"length": _length(block), "columns": columns})
    return described, b"".join(chunks)


def decode_blocks(described: object, data: bytes) -> list[Columns]:
    """`encode_blocks`' blocks back; a `ValueError` when the description does not fit the data exactly."""
    if not isinstance(described, list):
        raise ValueError("block description is not a list")
    blocks, end = [], 0
    for block in described:
        length, columns = block["length"], block["columns"]
        if not isinstance(length, int) or length < 0 or not isinstance(columns, list):
            raise ValueError("malformed block description")
        decoded = {}
        for name, dtype, how, offset, size in columns:
            if offset != end or size < 0 or offset + size > len(data):
                raise ValueError(f"column {name!r} lies outside the block data")
            chunk, end = data[offset : offset + size], offset + size
            if how == "raw":
                kind = np.dtype(dtype)
                if kind.kind not in _RAW_KINDS or size != length * kind.itemsize:
                    raise ValueError(f"column {name!r}: {size} bytes do not hold {length} values of {dtype}")
                decoded[name] = np.frombuffer(chunk, dtype=kind).copy()
            elif how == "json":
                decoded[name] = _array(json.loads(chunk), dtype)
            else:
                raise ValueError(f"column {name!r}: unknown encoding {how!r}")
            if len(decoded[name]) != length or decoded[name].ndim != 1:
                raise ValueError(f"column {name!r} does not hold {length} values")
        blocks.append(decoded)
    if end != len(data):
        raise ValueError("block data longer than its description")
    return blocks
