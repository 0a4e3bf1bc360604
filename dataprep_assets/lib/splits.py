"""Leak-free splits: whole groups (source image, patient, concept, study) go to one split.

Keys are de-duplicated and sorted before a seeded shuffle, so the assignment depends only on the
set of keys, the fractions and the seed: never on row order.

Splits stay put across refreshes: given the previous assignment (group -> split, read from the
previous version of the split table), `keep_or_split` keeps every existing group in its split and
assigns only the new groups, each to the split whose share lags its target of the new total the most
(a largest-deficit walk over the new keys in a seeded order; strata walked one after another so each
stays balanced). With no previous group left, the first-build algorithm runs unchanged (for
`split_keys`: the seeded shuffle), so a first build is byte-identical to one without history.
Groups that disappeared are simply gone. `split_changes` counts, per split, groups kept / added /
moved / removed between two assignments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence

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
    return dict(zip(names, counts.tolist(), strict=True))


def _sorted_unique(keys: Iterable[Hashable]) -> list:
    unique = set(keys)
    try:
        return sorted(unique)  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    except TypeError:
        return sorted(unique, key=repr)


def split_keys(
    keys: Iterable[Hashable], fractions: Mapping[str, float], seed: int, previous: Mapping | None = None
) -> dict:
    """Assign each unique key to a split: seeded shuffle of the sorted keys, cut by fractions.

    With a `previous` assignment, existing keys keep their split and only new keys are assigned.
    """
    validate_fractions(fractions)
    unique = _sorted_unique(keys)
    if previous:
        return keep_or_split(unique, previous, lambda: split_keys(unique, fractions, seed), fractions, seed)
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
    key_strata: Mapping[Hashable, Hashable], fractions: Mapping[str, float], seed: int, previous: Mapping | None = None
) -> dict:
    """Split keys so that each stratum is cut by the same fractions (one stratum label per key).

    With a `previous` assignment, existing keys keep their split; new keys fill each stratum's splits.
    """
    validate_fractions(fractions)
    if previous:
        return keep_or_split(
            list(key_strata),
            previous,
            lambda: stratified_split_keys(key_strata, fractions, seed),
            fractions,
            seed,
            strata=key_strata,
        )
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
    previous: Mapping | None = None,
) -> pd.DataFrame:
    """Return a copy of `frame` with `split_col` set per `group_col` value (existing groups of `previous` stay put)."""
    assignment = split_keys(frame[group_col].dropna().unique().tolist(), fractions, seed, previous)
    out = frame.copy()
    out[split_col] = out[group_col].map(assignment).astype("string")
    return out


def extend_assignment(
    previous: Mapping,
    keys: Iterable[Hashable],
    fractions: Mapping[str, float],
    seed: int,
    *,
    strata: Mapping[Hashable, Hashable] | None = None,
    weights: Mapping[Hashable, float] | None = None,
) -> dict:
    """Keep every key of `previous` that is still among `keys` in its split; assign the new keys.

    Strata are walked in sorted order; within one, its kept keys count first, then its new keys (a
    seeded permutation of the sorted new keys) each go to the split whose assigned weight lags
    `fraction * weight seen so far` the most. Kept keys in splits the fractions do not name are an error.
    """
    validate_fractions(fractions)
    names = list(fractions)
    index = {name: i for i, name in enumerate(names)}
    unique = _sorted_unique(keys)
    kept = {k: previous[k] for k in unique if k in previous and _is_split(previous[k])}
    unknown = sorted({str(s) for s in kept.values()} - set(names))
    if unknown:
        raise ValueError(
            f"the previous split assignment has split(s) {unknown} that the fractions ({names}) do not name; "
            "re-split from scratch (resplit=True) to change the set of splits"
        )
    new = [k for k in unique if k not in kept]
    rank = dict(zip(new, np.random.default_rng(seed).permutation(len(new)).tolist(), strict=True))
    stratum_of = (lambda k: strata[k]) if strata is not None else (lambda k: None)
    weight_of = (lambda k: float(weights[k])) if weights is not None else (lambda k: 1.0)
    by_stratum: dict = {}
    for key in unique:
        by_stratum.setdefault(stratum_of(key), ([], []))[key in kept].append(key)
    targets = np.array([float(fractions[n]) for n in names])
    assigned, seen = np.zeros(len(names)), 0.0
    assignment = dict(kept)
    for stratum in _sorted_unique(by_stratum):
        fresh, old = by_stratum[stratum]
        for key in old:
            seen += weight_of(key)
            assigned[index[kept[key]]] += weight_of(key)
        for key in sorted(fresh, key=rank.__getitem__):
            seen += weight_of(key)
            choice = int(np.argmax(targets * seen - assigned))
            assigned[choice] += weight_of(key)
            assignment[key] = names[choice]
    return assignment


def keep_or_split(
    keys: Iterable[Hashable],
    previous: Mapping | None,
    first_build: Callable[[], Mapping],
    fractions: Mapping[str, float],
    seed: int,
    *,
    strata: Mapping[Hashable, Hashable] | None = None,
    weights: Mapping[Hashable, float] | None = None,
) -> dict:
    """`first_build()` when no key of `previous` is still present, else `extend_assignment` (groups stay put)."""
    unique = _sorted_unique(keys)
    if not previous or not any(k in previous and _is_split(previous[k]) for k in unique):
        return dict(first_build())
    return extend_assignment(previous, unique, fractions, seed, strata=strata, weights=weights)


def _is_split(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and value is not pd.NA


def previous_assignment(frame: pd.DataFrame | None, group_col: str, split_col: str = "split") -> dict:
    """Group -> split from a split table (e.g. the previous version); empty for no table or missing columns."""
    if frame is None or frame.empty or group_col not in frame or split_col not in frame:
        return {}
    pairs = frame[[group_col, split_col]].dropna().drop_duplicates(group_col)
    return dict(zip(pairs[group_col].tolist(), pairs[split_col].astype(str).tolist(), strict=True))


def inherit_group_splits(member_splits: Mapping, member_group: Mapping) -> dict:
    """Group -> split from the previous splits of its members (e.g. study folders of a patient group).

    Groups whose ids are derived from their members (and so change when a new member joins) keep the
    split their known members had; a group whose members were in different splits (a link found
    later) takes the split most of them were in (ties: the alphabetically first), and the others move.
    """
    votes: dict = {}
    for member, group in member_group.items():
        if member in member_splits and _is_split(member_splits[member]):
            split = str(member_splits[member])
            votes.setdefault(group, {}).setdefault(split, 0)
            votes[group][split] += 1
    return {g: min(v, key=lambda s: (-v[s], s)) for g, v in votes.items()}


def moved_groups(previous: Mapping, current: Mapping) -> list[tuple]:
    """(group, previous split, current split) for every group present in both with a different split, sorted."""
    moved = [(k, previous[k], current[k]) for k in current if k in previous and str(previous[k]) != str(current[k])]
    return sorted(moved, key=lambda m: (str(m[0]), m[0].__class__.__name__))


def split_changes(previous: Mapping, current: Mapping, order: Sequence[str] = DEFAULT_SPLIT_NAMES) -> pd.DataFrame:
    """Per split of `current`: groups, and how many were kept / added / moved in / moved out / removed since
    `previous`."""
    names = [s for s in order if s in set(map(str, current.values())) | set(map(str, previous.values()))]
    names += sorted((set(map(str, current.values())) | set(map(str, previous.values()))) - set(names))
    rows = {s: {"groups": 0, "kept": 0, "added": 0, "moved_in": 0, "moved_out": 0, "removed": 0} for s in names}
    for key, split in current.items():
        split = str(split)
        rows[split]["groups"] += 1
        if key not in previous:
            rows[split]["added"] += 1
        elif str(previous[key]) == split:
            rows[split]["kept"] += 1
        else:
            rows[split]["moved_in"] += 1
            rows[str(previous[key])]["moved_out"] += 1
    for key, split in previous.items():
        if key not in current:
            rows[str(split)]["removed"] += 1
    return pd.DataFrame(
        [{"split": s, **r} for s, r in rows.items()],
        columns=["split", "groups", "kept", "added", "moved_in", "moved_out", "removed"],
    )


def group_overlap(frame: pd.DataFrame, group_col: str, split_col: str = "split") -> dict[tuple[str, str], list]:
    """Groups found in more than one split, per pair of splits (empty dict: leak-free)."""
    pairs = frame[[group_col, split_col]].drop_duplicates()
    by_split = {s: set(g[group_col]) for s, g in pairs.groupby(split_col, observed=True)}
    names = sorted(by_split)  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
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
