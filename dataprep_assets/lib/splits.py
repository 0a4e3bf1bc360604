"""Leak-free splits: whole groups (source image, patient, concept, study) go to one split.

Keys are de-duplicated and sorted before a seeded shuffle, so the assignment depends only on the
set of keys, the fractions and the seed: never on row order.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

DEFAULT_SPLIT_NAMES = ("train", "validation", "test")


def validate_fractions(fractions: Mapping[str, float], field: str = "fractions", tol: float = 1e-6) -> None:
    """Raise a `ValueError` naming `field` unless the fractions are finite, >= 0 and sum to 1."""
    if not fractions:
        raise ValueError(f"{field}: at least one split is required")
    for name, value in fractions.items():
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"{field}: fraction for {name!r} must be a finite number >= 0, got {value!r}")
    total = float(sum(fractions.values()))
    if abs(total - 1.0) > tol:
        raise ValueError(f"{field}: fractions must sum to 1.0, got {total:.6g} ({dict(fractions)})")


def allocate_counts(n: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """Split `n` items by fractions with the largest-remainder rule.

    Every split with a non-zero fraction gets at least one item when there are enough items.
    """
    names = list(fractions)
    exact = np.array([fractions[k] * n for k in names], dtype=float)
    counts = np.floor(exact).astype(int)
    remainder = exact - counts
    for idx in np.argsort(-remainder, kind="stable")[: n - counts.sum()]:
        counts[idx] += 1
    wanted = [i for i, k in enumerate(names) if fractions[k] > 0]
    if n >= len(wanted):
        for i in wanted:
            if counts[i] == 0:
                donors = [j for j in wanted if counts[j] > 1]
                donor = max(donors, key=lambda j: (counts[j] - exact[j], counts[j]))
                counts[donor] -= 1
                counts[i] += 1
    return dict(zip(names, counts.tolist()))


def _sorted_unique(keys: Iterable[Hashable]) -> list:
    unique = set(keys)
    try:
        return sorted(unique)
    except TypeError:
        return sorted(unique, key=repr)


def split_keys(keys: Iterable[Hashable], fractions: Mapping[str, float], seed: int) -> dict:
    """Assign each unique key to a split: seeded shuffle of the sorted keys, cut by fractions."""
    validate_fractions(fractions)
    unique = _sorted_unique(keys)
    order = np.random.default_rng(seed).permutation(len(unique))
    counts = allocate_counts(len(unique), fractions)
    assignment: dict = {}
    start = 0
    for name, count in counts.items():
        for idx in order[start : start + count]:
            assignment[unique[idx]] = name
        start += count
    return assignment


def stratified_split_keys(
    key_strata: Mapping[Hashable, Hashable], fractions: Mapping[str, float], seed: int
) -> dict:
    """Split keys so that each stratum is cut by the same fractions (one stratum label per key)."""
    validate_fractions(fractions)
    by_stratum: dict = {}
    for key, stratum in key_strata.items():
        by_stratum.setdefault(stratum, []).append(key)
    assignment: dict = {}
    for offset, stratum in enumerate(_sorted_unique(by_stratum)):
        assignment.update(split_keys(by_stratum[stratum], fractions, seed + offset))
    return assignment


def assign_group_splits(
    frame: pd.DataFrame,
    group_col: str,
    fractions: Mapping[str, float],
    seed: int,
    split_col: str = "split",
) -> pd.DataFrame:
    """Return a copy of `frame` with `split_col` set per `group_col` value."""
    assignment = split_keys(frame[group_col].dropna().unique().tolist(), fractions, seed)
    out = frame.copy()
    out[split_col] = out[group_col].map(assignment).astype("string")
    return out


def group_overlap(frame: pd.DataFrame, group_col: str, split_col: str = "split") -> dict[tuple[str, str], list]:
    """Groups found in more than one split, per pair of splits (empty dict: leak-free)."""
    pairs = frame[[group_col, split_col]].drop_duplicates()
    by_split = {s: set(g[group_col]) for s, g in pairs.groupby(split_col, observed=True)}
    names = sorted(by_split)
    overlap = {}
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = by_split[a] & by_split[b]
            if shared:
                overlap[(a, b)] = _sorted_unique(shared)
    return overlap


def split_summary(
    frame: pd.DataFrame, group_col: str, split_col: str = "split", order: Sequence[str] = DEFAULT_SPLIT_NAMES
) -> pd.DataFrame:
    """Rows and groups per split, with fractions of each."""
    grouped = frame.groupby(split_col, observed=True)
    summary = pd.DataFrame({"rows": grouped.size(), "groups": grouped[group_col].nunique()})
    summary = summary.reindex([s for s in order if s in summary.index] + [s for s in summary.index if s not in order])
    summary["row_fraction"] = summary["rows"] / max(int(summary["rows"].sum()), 1)
    summary["group_fraction"] = summary["groups"] / max(int(summary["groups"].sum()), 1)
    return summary.rename_axis(split_col).reset_index()
