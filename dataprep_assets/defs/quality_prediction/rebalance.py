"""Opt-in logo-type rebalancing of the training split (the seed's 30/25/25/20 mix), never of validation or test.

Over-represented logo types are down-sampled by whole source images (seeded), so a source image stays in one
split and the CV folds stay grouped; the type with the least supply relative to its target sets the size.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd


def train_quotas(counts: Mapping[str, int], targets: Mapping[str, float]) -> dict[str, int]:
    """Results to keep per logo type: the largest train set whose mix matches `targets`, capped by supply."""
    present = {t: share for t, share in targets.items() if share > 0 and counts.get(t, 0) > 0}
    if not present:
        return {t: int(n) for t, n in counts.items()}
    total = sum(present.values())
    size = min(counts[t] / (share / total) for t, share in present.items())
    return {
        t: (
            min(int(counts.get(t, 0)), int(np.floor(size * present[t] / total + 1e-9)))
            if t in present
            else int(counts.get(t, 0))
        )
        for t in counts
    }


def rebalance_train(
    examples: pd.DataFrame, targets: Mapping[str, float], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(examples without the dropped train rows, per-type table of before / kept / target / achieved share).

    Whole source images (`image_group`) are dropped in a seeded order until a type is within its quota."""
    train = examples[examples["split"] == "train"]
    counts = train["logo_type"].value_counts().to_dict()
    quotas = train_quotas(counts, targets)  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    rng = np.random.default_rng(seed)
    dropped: list[str] = []
    for logo_type in sorted(counts):  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
        rows = train[train["logo_type"] == logo_type]
        sizes = rows.groupby("image_group").size().sort_index()
        order = sizes.index.to_numpy()[rng.permutation(len(sizes))]
        excess = int(sizes.sum()) - quotas[logo_type]
        for group in order:
            if excess <= 0:
                break
            dropped.append(group)
            excess -= int(sizes[group])
    keep = ~((examples["split"] == "train") & examples["image_group"].isin(set(dropped)))
    out = examples[keep].reset_index(drop=True)
    kept = out[out["split"] == "train"]["logo_type"].value_counts()
    total = max(int(kept.sum()), 1)
    table = pd.DataFrame(
        [
            {
                "logo_type": t,
                "train_before": int(counts.get(t, 0)),
                "train_kept": int(kept.get(t, 0)),
                "target_share": float(targets.get(t, 0.0)),  # pyright: ignore[reportArgumentType, reportCallIssue]  # pandas-stubs types DataFrame cells and reductions as any scalar
                "achieved_share": round(float(kept.get(t, 0)) / total, 4),
            }
            for t in sorted(
                set(counts) | set(targets),
                key=lambda t: list(targets).index(t) if t in targets else len(targets),  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
            )
        ]
    )
    return out, table
