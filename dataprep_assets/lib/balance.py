"""Fill each split towards a target share of one kind of item (e.g. negatives) from a tiered pool.

1. `shortfall`: how many items each split needs to reach the target share.
2. `distribute`: the pool spread over the splits in proportion to their shortfalls (largest
   remainder), never more than a split needs.
3. `fill_splits`: items taken tier by tier (tier 0 first, e.g. false positives), in a seeded order
   within a tier. A group (patient) that already lives in a split can only go there; a new group
   goes to the split with the largest unfilled share of its quota and stays there, so no group ever
   ends up in two splits. A second pass offers what is left to splits still short of their need.
   Items `placed` by a previous version that are still in the pool stay in their split (and fix their
   group there) even when the need has shrunk; only the remaining need is filled with new items.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from dataprep_assets.lib.splits import allocate_counts


def shortfall(negatives: int, total: int, target: float) -> int:
    """Items to add so that `(negatives + k) / (total + k) >= target` (0 when already there)."""
    if not 0.0 <= target < 1.0:
        raise ValueError(f"target share must be in [0, 1), got {target}")
    need = (target * total - negatives) / (1.0 - target)
    return max(0, math.ceil(need - 1e-9))


def distribute(pool_size: int, shortfalls: Mapping[str, int]) -> dict[str, int]:
    """Split `pool_size` items over splits in proportion to their shortfalls, capped at each shortfall."""
    total = sum(shortfalls.values())
    if total <= 0 or pool_size <= 0:
        return dict.fromkeys(shortfalls, 0)
    if pool_size >= total:
        return dict(shortfalls)
    fractions = {name: need / total for name, need in shortfalls.items()}
    counts = allocate_counts(pool_size, fractions)
    return {name: min(counts[name], shortfalls[name]) for name in shortfalls}


@dataclass(frozen=True)
class PoolItem:
    item: Hashable
    group: Hashable
    tier: int


def _order(pool: Sequence[PoolItem], seed: int) -> list[PoolItem]:
    """Tier first, then a seeded shuffle of the items sorted by key: independent of input order."""
    items = sorted(pool, key=lambda p: (p.tier, str(p.item)))
    rank = np.random.default_rng(seed).permutation(len(items))
    return [p for _, p in sorted(zip(rank, items, strict=True), key=lambda pair: (pair[1].tier, pair[0]))]


def _fill(ordered: Sequence[PoolItem], quotas: Mapping[str, int], group_split: dict, taken: dict) -> None:
    remaining = dict(quotas)
    for entry in ordered:
        if entry.item in taken:
            continue
        split = group_split.get(entry.group)
        if split is None:
            open_splits = [s for s in quotas if remaining[s] > 0]
            if not open_splits:
                continue
            split = max(open_splits, key=lambda s: (remaining[s] / max(quotas[s], 1), remaining[s]))
            group_split[entry.group] = split
        if remaining.get(split, 0) > 0:
            taken[entry.item] = split
            remaining[split] -= 1


def fill_splits(
    pool: Sequence[PoolItem],
    needs: Mapping[str, int],
    fixed_groups: Mapping[Hashable, str],
    seed: int,
    placed: Mapping[Hashable, str] | None = None,
) -> dict[Hashable, str]:
    """Assign pool items to splits (item -> split); items left out are simply not in the result.

    `placed` (item -> split, from the previous version) stay put when still in the pool, unless their
    group is now fixed to another split (only after a re-split); they count against their split's need.
    """
    ordered = _order(pool, seed)
    group_split = dict(fixed_groups)
    taken: dict = {}
    for entry in ordered:
        split = (placed or {}).get(entry.item)
        if split is not None and split in needs and group_split.setdefault(entry.group, split) == split:
            taken[entry.item] = split
    kept = dict(taken)
    kept_counts = pd.Series(list(kept.values()), dtype="object").value_counts()
    needs = {s: max(0, needs[s] - int(kept_counts.get(s, 0))) for s in needs}
    _fill([p for p in ordered if p.item not in kept], distribute(len(ordered) - len(kept), needs), group_split, taken)
    added = pd.Series([s for i, s in taken.items() if i not in kept], dtype="object").value_counts()
    leftover = {s: max(0, needs[s] - int(added.get(s, 0))) for s in needs}
    if any(leftover.values()):
        _fill(ordered, leftover, group_split, taken)
    return taken


def balance_table(
    before: Mapping[str, tuple[int, int]],
    assignment: Mapping[Hashable, str],
    tiers: Mapping[Hashable, int],
    needs: Mapping[str, int],
    tier_names: Mapping[int, str],
) -> pd.DataFrame:
    """Per split: negatives/total before, shortfall, added per tier, negatives/total and share after."""
    rows = []
    for split, (neg, total) in before.items():
        added = [i for i, s in assignment.items() if s == split]
        row = {
            "split": split,
            "negatives_before": neg,
            "total_before": total,
            "share_before": neg / total if total else 0.0,
            "shortfall": needs[split],
            "added": len(added),
        }
        for tier, name in sorted(tier_names.items()):
            row[f"added_{name}"] = sum(1 for i in added if tiers[i] == tier)
        row |= {
            "negatives_after": neg + len(added),
            "total_after": total + len(added),
            "share_after": (neg + len(added)) / (total + len(added)) if total + len(added) else 0.0,
        }
        rows.append(row)
    return pd.DataFrame(rows)
