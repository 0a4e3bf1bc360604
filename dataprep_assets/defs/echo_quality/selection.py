"""High/low quality labels from inference results, and capped sampling that keeps every machine.

Labels follow the seed: high = score >= t_high, status PASS, assessment contains the high phrase;
low = score <= t_low, status FAIL, assessment contains the low phrase; everything else is unused.

When a class has more candidates than its cap, the cap is shared across machine types first
(`equal`: max-min fair, so a machine with few videos keeps them all and the big ones are trimmed
evenly; `proportional`: by share of candidates, at least one each), then each machine takes its
rows in a seeded hash order of (folder, file_id). The hash order does not depend on which other rows
exist, so when new results land the earlier picks stay picked unless the quota shrinks.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from dataprep_assets.lib.accounting import Ledger, account
from dataprep_assets.lib.splits import allocate_counts

HIGH, LOW, UNUSED = 1, 0, -1
CLASS_NAMES = {HIGH: "high_quality", LOW: "low_quality"}


@dataclass(frozen=True)
class Criteria:
    high_min_score: float = 0.95
    high_status: str = "PASS"
    high_phrase: str = "Excellent quality"
    low_max_score: float = 0.1
    low_status: str = "FAIL"
    low_phrase: str = "Critical issues"
    case_sensitive: bool = True

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def label_rows(frame: pd.DataFrame, c: Criteria) -> np.ndarray:
    """1 (high), 0 (low) or -1 (neither) per row, vectorised."""
    text = frame["assessment"].astype(str)
    contains = lambda phrase: text.str.contains(phrase, case=c.case_sensitive, regex=False).to_numpy()  # noqa: E731
    score, status = frame["score"].to_numpy(dtype=float), frame["status"].to_numpy()
    high = (score >= c.high_min_score) & (status == c.high_status) & contains(c.high_phrase)
    low = (score <= c.low_max_score) & (status == c.low_status) & contains(c.low_phrase)
    return np.where(high, HIGH, np.where(low, LOW, UNUSED))


def allocate_quota(
    counts: dict[str, int], cap: int, mode: Literal["equal", "proportional"] = "equal"
) -> dict[str, int]:
    """How many rows each machine contributes so that the total is min(cap, all rows)."""
    total = sum(counts.values())
    if total <= cap:
        return dict(counts)
    if mode == "proportional":
        return allocate_counts(cap, {m: n / total for m, n in sorted(counts.items())})
    quota, left = {}, cap
    order = sorted(counts, key=lambda m: (counts[m], m))
    for i, machine in enumerate(order):
        quota[machine] = min(counts[machine], left // (len(order) - i))
        left -= quota[machine]
    for machine in reversed(order):  # rounding leftovers go to the machines with the most videos
        extra = min(left, counts[machine] - quota[machine])
        quota[machine] += extra
        left -= extra
    return dict(sorted(quota.items()))


def hash_rank(seed: int, folders: pd.Series, file_ids: pd.Series) -> np.ndarray:
    """A seeded pseudo-random uint64 per row that depends only on the row's own identity."""
    keys = (str(seed) + "\0" + folders.astype(str) + "\0" + file_ids.astype(str)).tolist()
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "big") for k in keys),
        dtype=np.uint64,
        count=len(keys),
    )


def select_capped(
    candidates: pd.DataFrame, cap: int, seed: int, mode: Literal["equal", "proportional"] = "equal"
) -> pd.Series:
    """Boolean mask over `candidates` (one class): at most `cap` rows spread across `machine_type`."""
    counts = candidates["machine_type"].value_counts().sort_index().to_dict()
    quota = allocate_quota({str(k): int(v) for k, v in counts.items()}, cap, mode)
    ranked = candidates.assign(_rank=hash_rank(seed, candidates["folder"], candidates["file_id"]))
    ranked = ranked.sort_values(["machine_type", "_rank", "folder", "file_id"], kind="stable")
    position = ranked.groupby("machine_type", sort=False).cumcount()
    chosen = position < ranked["machine_type"].map(quota)
    return chosen.reindex(candidates.index).fillna(False).astype(bool)


def ratio_caps(high_available: int, low_available: int, target_high_share: float) -> tuple[int, int]:
    """Class caps giving the largest set with high / (high + low) as close to `target_high_share` as the
    available counts allow (both already capped by the configured maxima)."""
    if high_available == 0 or low_available == 0:
        return high_available, low_available
    total = min(high_available / target_high_share, low_available / (1 - target_high_share))
    high = min(high_available, max(1, round(total * target_high_share)))
    low = min(low_available, max(1, round(total * (1 - target_high_share))))
    return int(high), int(low)


def select_training_rows(
    results: pd.DataFrame,
    criteria: Criteria,
    max_high: int,
    max_low: int,
    seed: int,
    mode: Literal["equal", "proportional"] = "equal",
    target_high_share: float | None = None,
) -> pd.DataFrame:
    """Every high/low candidate with `quality_label`, `selected` and the machine quota it fell under; with
    `target_high_share`, the class caps are lowered further to hit that high/(high+low) ratio (`ratio_caps`)."""
    labels = label_rows(results, criteria)
    out = results.assign(quality_label=labels)
    out = out[out["quality_label"] != UNUSED].copy()
    out["selected"] = False
    if target_high_share is not None:
        available = {
            c: min(cap, int((out["quality_label"] == c).sum())) for c, cap in ((HIGH, max_high), (LOW, max_low))
        }
        max_high, max_low = ratio_caps(available[HIGH], available[LOW], target_high_share)
    for label, cap in ((HIGH, max_high), (LOW, max_low)):
        mask = out["quality_label"] == label
        if mask.any():
            out.loc[mask, "selected"] = select_capped(out[mask], cap, seed + label, mode)
    return out.sort_values(
        ["quality_label", "machine_type", "folder", "file_id"], ascending=[False, True, True, True]
    ).reset_index(drop=True)


def result_ids(frame: pd.DataFrame) -> list[str]:
    """One id per inference result (study folder / file id), for the accounting."""
    return (frame["folder"].astype(str) + "/" + frame["file_id"].astype(str)).tolist()


def selection_ledger(results: pd.DataFrame, selection: pd.DataFrame, criteria: Criteria) -> Ledger:
    """Every result is selected, or set aside: matching neither class's criteria, or a candidate over its cap."""
    unused = results[label_rows(results, criteria) == UNUSED]
    chosen = selection["selected"].astype(bool).to_numpy()
    return account(
        "results",
        result_ids(results),
        result_ids(selection[chosen]),
        [],
        set_aside=result_ids(unused) + result_ids(selection[~chosen]),
    )


def availability_table(selection: pd.DataFrame) -> pd.DataFrame:
    """Per machine: candidates and selected per class."""
    if selection.empty:
        return pd.DataFrame(columns=["machine_type"])
    table = selection.assign(cls=selection["quality_label"].map(CLASS_NAMES)).pivot_table(
        index="machine_type", columns="cls", values="selected", aggfunc=["size", "sum"], fill_value=0
    )
    table.columns = [f"{cls}_{'candidates' if agg == 'size' else 'selected'}" for agg, cls in table.columns]
    return table.reindex(sorted(table.columns), axis=1).astype(int).reset_index()
