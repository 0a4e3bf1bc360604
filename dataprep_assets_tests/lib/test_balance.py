"""Balancing the no-hemorrhage share: the seed's shortfall arithmetic, the pool spread in proportion to
shortfalls, false positives first, and never a patient in two splits, whatever the pool's order."""

import random

import pytest

from dataprep_assets.lib.balance import PoolItem, balance_table, distribute, fill_splits, shortfall


def test_shortfall_reproduces_the_seeds_table():
    assert shortfall(2747, 8620, 0.5) == 3126
    assert shortfall(537, 1617, 0.5) == 543
    assert shortfall(169, 544, 0.5) == 206
    assert shortfall(60, 100, 0.5) == 0
    assert shortfall(1, 10, 0.4) == 5  # (1 + 5) / (10 + 5) = 0.4
    with pytest.raises(ValueError, match="target"):
        shortfall(1, 2, 1.0)


def test_pool_spread_in_proportion_to_shortfalls():
    needs = {"train": 3126, "valid": 543, "test": 206}
    spread = distribute(3542, needs)
    assert sum(spread.values()) == 3542
    for split, need in needs.items():
        assert abs(spread[split] - 3542 * need / 3875) <= 1
    assert distribute(5000, needs) == needs
    assert distribute(0, needs) == {"train": 0, "valid": 0, "test": 0}


def _pool(n_fp: int, n_tn: int, patients: int):
    items = [PoolItem(f"fp{i}", f"p{i % patients}", 0) for i in range(n_fp)]
    return items + [PoolItem(f"tn{i}", f"p{(i * 7) % patients}", 1) for i in range(n_tn)]


def test_false_positives_are_taken_before_true_negatives():
    taken = fill_splits(_pool(12, 200, 200), {"train": 16, "valid": 3, "test": 1}, {}, seed=1)
    assert len(taken) == 20
    assert sum(str(i).startswith("fp") for i in taken) == 12


def test_no_patient_lands_in_two_splits_and_fixed_patients_stay_put():
    pool = _pool(30, 300, 40)
    fixed = {"p0": "test", "p1": "valid", "p2": "train"}
    taken = fill_splits(pool, {"train": 120, "valid": 30, "test": 10}, fixed, seed=3)
    group = {p.item: p.group for p in pool}
    split_of = {}
    for item, split in taken.items():
        assert split_of.setdefault(group[item], split) == split
    for patient, split in fixed.items():
        assert all(s == split for i, s in taken.items() if group[i] == patient)
    counts = {s: sum(v == s for v in taken.values()) for s in ("train", "valid", "test")}
    assert counts["train"] <= 120 and counts["valid"] <= 30 and counts["test"] <= 10


def test_assignment_is_deterministic_and_independent_of_pool_order():
    pool = _pool(20, 150, 60)
    needs = {"train": 70, "valid": 15, "test": 5}
    first = fill_splits(pool, needs, {"p3": "valid"}, seed=7)
    shuffled = pool[:]
    random.Random(0).shuffle(shuffled)
    assert fill_splits(shuffled, needs, {"p3": "valid"}, seed=7) == first
    assert fill_splits(pool, needs, {"p3": "valid"}, seed=8) != first


def test_balance_table_reports_before_shortfall_added_and_after():
    taken = {"a": "train", "b": "train", "c": "test"}
    table = balance_table(
        {"train": (2, 10), "test": (1, 4)}, taken, {"a": 0, "b": 1, "c": 1}, {"train": 6, "test": 2}, {0: "FP", 1: "TN"}
    )
    train = table.set_index("split").loc["train"]
    assert (train["added"], train["added_FP"], train["added_TN"], train["negatives_after"], train["total_after"]) == (
        2,
        1,
        1,
        4,
        12,
    )


def test_pool_items_placed_before_stay_put_and_only_the_remaining_need_is_filled():
    pool = _pool(30, 300, 80)
    needs = {"train": 60, "valid": 15, "test": 5}
    first = fill_splits(pool, needs, {"p0": "test"}, seed=2)
    assert fill_splits(pool, needs, {"p0": "test"}, seed=2, placed={}) == first
    grown = pool + [PoolItem(f"new{i}", f"q{i}", 1) for i in range(40)]
    bigger = {"train": 70, "valid": 18, "test": 6}
    second = fill_splits(grown, bigger, {"p0": "test"}, seed=2, placed=first)
    assert all(second[item] == split for item, split in first.items())
    counts = {s: sum(v == s for v in second.values()) for s in bigger}
    assert counts == bigger
    # a smaller need never evicts an image already placed
    third = fill_splits(grown, {"train": 10, "valid": 2, "test": 1}, {"p0": "test"}, seed=2, placed=second)
    assert third == second
    # an item whose pool image is gone is simply gone
    fewer = [p for p in grown if p.item != next(iter(first))]
    assert next(iter(first)) not in fill_splits(fewer, bigger, {"p0": "test"}, seed=2, placed=second)
