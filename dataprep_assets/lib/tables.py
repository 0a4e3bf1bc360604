"""Tables for people, Dagster-free: column types from a DataFrame's dtypes and rows as plain Python values.

Integers stay integers (a count never shows as `834.000`), floats are rounded for reading, missing
values become None, and every cell is a JSON-friendly scalar.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd


def column_type(dtype) -> str:
    """A short type name for a pandas dtype: int, float, bool, datetime or string."""
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    return "string"


def column_types(frame: pd.DataFrame) -> dict[str, str]:
    return {str(name): column_type(dtype) for name, dtype in frame.dtypes.items()}


Plain = str | int | float | bool | None
"""A JSON-ready cell value."""


def plain(value, digits: int = 4) -> Plain:
    """One cell as a plain scalar: numpy ints -> int, floats rounded (NaN -> None), containers -> text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else round(float(value), digits)
    if isinstance(value, (list, tuple, dict, np.ndarray)):
        return str(list(value) if isinstance(value, np.ndarray) else value)
    return str(value)


def records(frame: pd.DataFrame, max_rows: int | None = None, digits: int = 4) -> list[dict[str, Plain]]:
    shown = frame if max_rows is None else frame.head(max_rows)
    cols = [str(c) for c in shown.columns]
    return [
        {c: plain(v, digits) for c, v in zip(cols, row, strict=True)}
        for row in shown.itertuples(index=False, name=None)
    ]


def counts_frame(counts: Mapping[str, Mapping[str, int]] | pd.DataFrame, index_name: str = "") -> pd.DataFrame:
    """A counts table with its row labels as the first column; counts are int64."""
    frame = counts if isinstance(counts, pd.DataFrame) else pd.DataFrame(counts).fillna(0).astype("int64")
    frame = frame.copy()
    for col in frame.columns:
        series = frame[col]
        if series.dtype == object:
            try:
                series = pd.to_numeric(series)
            except (TypeError, ValueError):
                continue
            frame[col] = series
        if pd.api.types.is_float_dtype(series) and series.notna().all() and (series == series.round()).all():
            frame[col] = series.astype("int64")
    frame.columns = [str(c) for c in frame.columns]
    if index_name:
        frame = frame.rename_axis(index_name).reset_index()
        frame[index_name] = frame[index_name].astype(str)
    return frame


def describe_by(frame: pd.DataFrame, value: str, by: str) -> pd.DataFrame:
    """Count, mean, median, min and max of `frame[value]` per group of `frame[by]`, one row per group (sorted)."""
    stats = frame.groupby(by)[value].describe()[["count", "mean", "50%", "min", "max"]]
    return stats.rename(columns={"50%": "median"}).astype({"count": "int64"}).rename_axis(by).reset_index()
