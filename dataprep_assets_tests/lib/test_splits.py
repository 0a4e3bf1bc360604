"""Group splits must be leak-free, deterministic, independent of row order, and honour fractions."""

import numpy as np
import pandas as pd
import pytest

from dataprep_assets.lib.splits import (
    allocate_counts,
    assign_group_splits,
    group_overlap,
    split_keys,
    stratified_split_keys,
    validate_fractions,
)

FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}


def _frame(n_groups=40, rows_per_group=5, seed=0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"img_{i:03d}" for i in range(n_groups)], rows_per_group)
    return pd.DataFrame({"key": groups, "value": rng.random(len(groups))})


def test_split_is_leak_free_and_covers_every_row():
    out = assign_group_splits(_frame(), "key", FRACTIONS, seed=42)
    assert out["split"].notna().all()
    assert group_overlap(out, "key") == {}
    assert out.groupby("key")["split"].nunique().max() == 1


def test_split_is_deterministic_and_row_order_independent():
    frame = _frame()
    a = assign_group_splits(frame, "key", FRACTIONS, seed=7)
    shuffled = frame.sample(frac=1.0, random_state=3)
    b = assign_group_splits(shuffled, "key", FRACTIONS, seed=7).loc[a.index]
    assert (a["split"] == b["split"]).all()
    c = assign_group_splits(frame, "key", FRACTIONS, seed=8)
    assert not (a["split"] == c["split"]).all()


def test_group_counts_follow_fractions():
    assignment = split_keys([f"k{i}" for i in range(20)], FRACTIONS, seed=1)
    counts = pd.Series(assignment).value_counts().to_dict()
    assert counts == {"train": 14, "validation": 3, "test": 3}


def test_small_sets_still_fill_every_split():
    assert allocate_counts(3, FRACTIONS) == {"train": 1, "validation": 1, "test": 1}
    assert sum(allocate_counts(101, FRACTIONS).values()) == 101


def test_overlap_is_reported_per_pair():
    frame = pd.DataFrame({"key": ["a", "a", "b", "c"], "split": ["train", "test", "train", "validation"]})
    assert group_overlap(frame, "key") == {("test", "train"): ["a"]}


@pytest.mark.parametrize(
    "fractions, message",
    [
        ({"train": 0.7, "validation": 0.2, "test": 0.2}, "sum to 1.0"),
        ({"train": 1.1, "validation": -0.1}, ">= 0"),
        ({"train": float("nan"), "test": 1.0}, "finite"),
    ],
)
def test_bad_fractions_name_the_field(fractions, message):
    with pytest.raises(ValueError, match=message) as err:
        validate_fractions(fractions, field="split_fractions")
    assert "split_fractions" in str(err.value)


def test_stratified_split_cuts_each_stratum():
    strata = {f"k{i}": ("rare" if i < 10 else "common") for i in range(50)}
    assignment = stratified_split_keys(strata, FRACTIONS, seed=0)
    rare = pd.Series({k: v for k, v in assignment.items() if strata[k] == "rare"}).value_counts()
    assert set(rare.index) == {"train", "validation", "test"}
