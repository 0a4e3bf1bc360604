"""Leak-free, stratified train/validation/test splits and cross-validation folds over source images.

The unit of assignment is the source image group (identical pixels = one group), so the same logo is
never in two splits or two folds. Each group has one stratum: its logo type and the quantile bin of its
mean SSIM among the groups of that type. Groups are ordered by stratum, shuffled within it (seeded), and walked once:
each goes to the
split whose result count lags its target the most (a largest-deficit rule). Proportions are then near
target within every stratum *and* exact overall, even for strata smaller than 1 / (smallest fraction)
groups, where a per-stratum cut would give the 5 % test split nothing or far too much.

Temporal mode orders groups by their first result's time instead: the earliest go to train, the latest
to test (no stratification), and folds are contiguous blocks of time.

Across refreshes, groups (and train groups' folds) of the previous version stay put: only new groups are
assigned, by the same largest-deficit rule (weighted by rows, strata walked in order), from where the kept
groups leave each split (`lib.splits.keep_or_split`). Without history, the first-build rules above run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dataprep_assets.lib.splits import keep_or_split

SPLITS = ("train", "validation", "test")


def group_table(clean: pd.DataFrame) -> pd.DataFrame:
    """One row per image group: its logo type (most frequent, then alphabetical), rows, mean SSIM, first time."""
    type_counts = clean.groupby(["image_group", "logo_type"], observed=True).size().rename("n").reset_index()
    top_type = (
        type_counts.sort_values(["image_group", "n", "logo_type"], ascending=[True, False, True])
        .drop_duplicates("image_group")
        .set_index("image_group")["logo_type"]
    )
    grouped = clean.groupby("image_group", observed=True)
    table = pd.DataFrame(
        {
            "logo_type": top_type,
            "rows": grouped.size(),
            "images": grouped["image_id"].nunique(),
            "mean_ssim": grouped["ssim"].mean(),
            "first_timestamp": grouped["timestamp"].min(),
        }
    )
    return (
        table.rename_axis("image_group").reset_index().sort_values("image_group", kind="stable").reset_index(drop=True)
    )


def quantile_edges(values: Sequence[float], bins: int) -> list[float]:
    """Inner bin edges at the quantiles of `values` (duplicates dropped, so ties cannot make empty bins)."""
    if bins <= 1 or len(values) == 0:
        return []
    qs = np.quantile(np.asarray(values, dtype=float), np.linspace(0, 1, bins + 1)[1:-1])
    return sorted({round(float(q), 6) for q in qs})


def _bin_name(i: int, lo: float, hi: float) -> str:
    if lo == -np.inf and hi == np.inf:
        return f"s{i} (all)"
    if lo == -np.inf:
        return f"s{i} (< {hi:.3f})"
    if hi == np.inf:
        return f"s{i} (>= {lo:.3f})"
    return f"s{i} [{lo:.3f}, {hi:.3f})"


def ssim_bin_labels(values: pd.Series, edges: Sequence[float]) -> pd.Series:
    """`s0 (< 0.840)`, `s1 [0.840, 0.900)`, `s2 (>= 0.900)` from inner edges."""
    bounds = [-np.inf, *edges, np.inf]
    names = [_bin_name(i, bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
    idx = np.searchsorted(np.asarray(edges, dtype=float), values.to_numpy(dtype=float), side="right")
    return pd.Series([names[i] for i in idx], index=values.index, dtype="string")


def ssim_strata(groups: pd.DataFrame, bins: int) -> tuple[pd.Series, dict[str, list[float]]]:
    """Stratum per group: its logo type and the quantile bin of its mean SSIM *within that type*.

    Bins per type keep every stratum populated: logo types differ in typical quality (complex logos
    vectorise worse), so global SSIM bins would leave e.g. "complex, high SSIM" nearly empty.
    """
    strata = pd.Series("", index=groups.index, dtype="string")
    edges: dict[str, list[float]] = {}
    for logo_type, part in groups.groupby("logo_type", sort=True, observed=True):
        edges[str(logo_type)] = quantile_edges(part["mean_ssim"], bins)  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
        strata.loc[part.index] = f"{logo_type} | " + ssim_bin_labels(part["mean_ssim"], edges[str(logo_type)])
    return strata, edges


def largest_deficit(weights: Sequence[float], fractions: Mapping[str, float]) -> list[str]:
    """Walk items in order; each goes to the name whose assigned weight lags `fraction * seen` the most."""
    names, targets = list(fractions), np.array([fractions[k] for k in fractions], dtype=float)
    assigned, seen, out = np.zeros(len(names)), 0.0, []
    for w in weights:
        seen += float(w)
        choice = int(np.argmax(targets * seen - assigned))
        assigned[choice] += float(w)
        out.append(names[choice])
    return out


def _stratified_order(groups: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    order = groups.sort_values(["stratum", "image_group"], kind="stable").copy()
    order["_shuffle"] = rng.permutation(len(order))
    return order.sort_values(["stratum", "_shuffle"], kind="stable").drop(columns="_shuffle")


def stratified_group_split(groups: pd.DataFrame, fractions: Mapping[str, float], seed: int) -> pd.Series:
    """image_group -> split, stratified by `stratum`, weighted by `rows`."""
    order = _stratified_order(groups, seed)
    return pd.Series(largest_deficit(order["rows"], fractions), index=order["image_group"].to_numpy(), dtype="string")  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar


def temporal_group_split(groups: pd.DataFrame, fractions: Mapping[str, float]) -> pd.Series:
    """image_group -> split by time: cumulative rows in order of first result, cut at the fractions."""
    missing = groups.loc[groups["first_timestamp"].isna(), "image_group"].tolist()
    if missing:
        raise ValueError(f"temporal split: {len(missing)} image group(s) have no timestamp, e.g. {missing[:3]}")
    order = groups.sort_values(["first_timestamp", "image_group"], kind="stable")
    mid = (order["rows"].cumsum() - order["rows"] / 2) / order["rows"].sum()
    cuts = np.cumsum([fractions[k] for k in fractions])
    idx = np.minimum(np.searchsorted(cuts, mid.to_numpy(), side="right"), len(cuts) - 1)
    return pd.Series(np.array(list(fractions))[idx], index=order["image_group"].to_numpy(), dtype="string")


def assign_folds(train_groups: pd.DataFrame, k: int, seed: int, temporal: bool = False) -> pd.Series:
    """image_group -> fold 0..k-1 for train groups (stratified largest-deficit, or contiguous time blocks)."""
    if k <= 1 or train_groups.empty:
        return pd.Series(0 if k == 1 else -1, index=train_groups["image_group"].to_numpy(), dtype="int64")
    equal = {str(i): 1.0 / k for i in range(k)}
    if temporal:
        order = train_groups.sort_values(["first_timestamp", "image_group"], kind="stable")
        mid = (order["rows"].cumsum() - order["rows"] / 2) / order["rows"].sum()
        return pd.Series(
            np.minimum((mid.to_numpy() * k).astype(int), k - 1), index=order["image_group"].to_numpy(), dtype="int64"
        )
    order = _stratified_order(train_groups, seed + 1)
    folds = [int(f) for f in largest_deficit(order["rows"], equal)]  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    return pd.Series(folds, index=order["image_group"].to_numpy(), dtype="int64")


def stratum_proportions(examples: pd.DataFrame, fractions: Mapping[str, float], tolerance: float) -> pd.DataFrame:
    """Per stratum: rows, groups, target and achieved row share per split, and whether it is within tolerance.

    The allowance is `tolerance` plus the largest single group's share of the stratum: one group is the
    finest step a grouped split can take.
    """
    rows = []
    for stratum, part in examples.groupby("stratum", sort=True, observed=True):
        n = len(part)
        group_sizes = part.groupby("image_group", observed=True).size()
        allowance = tolerance + float(group_sizes.max()) / n
        row = {"stratum": stratum, "rows": n, "groups": int(len(group_sizes))}
        worst = 0.0
        for split, target in fractions.items():
            achieved = float((part["split"] == split).sum()) / n
            row[f"{split}_target"] = float(target)
            row[f"{split}_achieved"] = achieved
            worst = max(worst, abs(achieved - target))
        row["max_difference"] = worst
        row["allowed"] = allowance
        row["within_tolerance"] = worst <= allowance
        rows.append(row)
    return pd.DataFrame(rows)


def split_unit(config) -> str:
    """The column of the examples table that is kept whole in one split (what `previous` is keyed by)."""
    return "image_group" if config.group_by == "content" else "image_id"


def _keep_or_split(
    groups: pd.DataFrame, previous: Mapping | None, first_build, fractions, seed: int, stratified: bool
) -> pd.Series:
    keys = groups["image_group"].tolist()
    strata = dict(zip(keys, groups["stratum"], strict=True)) if stratified else None
    assignment = keep_or_split(
        keys,
        previous,
        lambda: first_build().to_dict(),
        fractions,
        seed,
        strata=strata,
        weights=dict(zip(keys, groups["rows"], strict=True)),
    )
    return pd.Series([assignment[k] for k in keys], index=keys, dtype="string")


def _previous_folds(previous_folds: Mapping | None, k: int) -> dict:
    """Fold history as fold names; none when the number of folds changed (a fold outside 0..k-1)."""
    folds = {g: str(int(f)) for g, f in (previous_folds or {}).items() if int(f) >= 0}
    return folds if all(0 <= int(f) < k for f in folds.values()) else {}


def build_examples(
    clean: pd.DataFrame, config, previous: Mapping | None = None, previous_folds: Mapping | None = None
) -> tuple[pd.DataFrame, dict[str, list[float]]]:
    """Clean results with `stratum`, `split` and `cv_fold` (-1 outside train); also the SSIM bin edges per logo type.

    `config` has `fractions`, `mode`, `group_by`, `ssim_bins`, `cv_folds` and `seed` (a `SplitConfig`).
    `previous` / `previous_folds`: split unit (see `split_unit`) -> split / fold of the previous version, kept.
    """
    work = clean if config.group_by == "content" else clean.assign(image_group=clean["image_id"])
    groups = group_table(work)
    groups["stratum"], edges = ssim_strata(groups, config.ssim_bins)
    temporal = config.mode == "temporal"
    if temporal:
        first = lambda: temporal_group_split(groups, config.fractions)  # noqa: E731
    else:
        first = lambda: stratified_group_split(groups, config.fractions, config.seed)  # noqa: E731
    split = _keep_or_split(groups, previous, first, config.fractions, config.seed, stratified=not temporal)
    groups["split"] = groups["image_group"].map(split)
    train = groups[groups["split"] == "train"]
    fold_history = _previous_folds(previous_folds, config.cv_folds) if config.cv_folds > 1 else {}
    equal = {str(i): 1.0 / config.cv_folds for i in range(config.cv_folds)} if config.cv_folds > 1 else {}
    folds = _keep_or_split(
        train,
        fold_history,
        lambda: assign_folds(train, config.cv_folds, config.seed, temporal=temporal).astype(str),
        equal,
        config.seed + 1,
        stratified=not temporal,
    ).astype("int64")
    groups["cv_fold"] = groups["image_group"].map(folds).fillna(-1).astype("int64")
    per_group = groups.set_index("image_group")[["stratum", "split", "cv_fold"]]
    examples = work.join(per_group, on="image_group").assign(image_group=clean["image_group"])
    examples["split"] = examples["split"].astype("string")
    return examples.sort_values(["split", "image_id", "result_id"], kind="stable").reset_index(drop=True), edges
