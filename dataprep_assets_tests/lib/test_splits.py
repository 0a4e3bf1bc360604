"""Group splits must be leak-free, deterministic, independent of row order, and honour fractions."""

import numpy as np
import pandas as pd
import pytest

from dataprep_assets.lib.splits import (
    allocate_counts,
    assign_group_splits,
    extend_assignment,
    group_overlap,
    inherit_group_splits,
    moved_groups,
    previous_assignment,
    split_changes,
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


# -- splits that stay put across refreshes ---------------------------------------------------------------------
SEED_FRACTIONS = {"train": 0.80, "validation": 0.15, "test": 0.05}


def _patient_ids(n: int, seed: int, exclude=()) -> list[int]:
    """Realistic patient ids: distinct 9-digit numbers."""
    rng = np.random.default_rng(seed)
    ids = set()
    while len(ids) < n:
        ids |= {int(x) for x in rng.integers(100_000_000, 999_999_999, size=n)} - set(exclude)
    return sorted(ids)[:n]


def _shares(assignment: dict) -> dict:
    counts = pd.Series(assignment).value_counts()
    return {s: counts.get(s, 0) / len(assignment) for s in SEED_FRACTIONS}


def test_adding_one_percent_new_patients_moves_none_and_keeps_fractions_near_target():
    patients = _patient_ids(2864, seed=0)
    first = split_keys(patients, SEED_FRACTIONS, seed=42)
    added = _patient_ids(29, seed=1, exclude=patients)
    refreshed = split_keys(patients + added, SEED_FRACTIONS, seed=42, previous=first)
    assert moved_groups(first, refreshed) == []
    assert all(refreshed[p] in SEED_FRACTIONS for p in added)
    for split, share in _shares(refreshed).items():
        assert abs(share - SEED_FRACTIONS[split]) < 1 / len(refreshed) + 1e-9
    # today's shuffle without history: the measured problem this mechanism solves
    reshuffled = split_keys(patients + added, SEED_FRACTIONS, seed=42)
    assert len(moved_groups(first, reshuffled)) > 0.2 * len(patients)


def test_twenty_refreshes_of_one_percent_stay_put_and_near_target():
    patients = _patient_ids(1000, seed=3)
    assignment = split_keys(patients, SEED_FRACTIONS, seed=5)
    rng = np.random.default_rng(9)
    for _ in range(20):
        gone = set(rng.choice(patients, size=3, replace=False).tolist())
        new = _patient_ids(10, seed=int(rng.integers(1 << 30)), exclude=patients)
        patients = [p for p in patients if p not in gone] + new
        refreshed = split_keys(patients, SEED_FRACTIONS, seed=5, previous=assignment)
        assert moved_groups(assignment, refreshed) == []
        assert set(refreshed) == set(patients)
        assignment = refreshed
    for split, share in _shares(assignment).items():
        assert abs(share - SEED_FRACTIONS[split]) < 0.01


def test_no_history_is_todays_shuffle_exactly():
    keys = [f"k{i}" for i in range(50)]
    today = split_keys(keys, FRACTIONS, seed=11)
    assert split_keys(keys, FRACTIONS, seed=11, previous={}) == today
    assert split_keys(keys, FRACTIONS, seed=11, previous={"gone": "test"}) == today
    strata = {k: i % 3 for i, k in enumerate(keys)}
    assert stratified_split_keys(strata, FRACTIONS, seed=2, previous={}) == stratified_split_keys(
        strata, FRACTIONS, seed=2
    )


def test_extension_is_deterministic_and_independent_of_key_order():
    keys = [f"k{i}" for i in range(60)]
    previous = split_keys(keys[:50], FRACTIONS, seed=1)
    a = split_keys(keys, FRACTIONS, seed=1, previous=previous)
    b = split_keys(list(reversed(keys)), FRACTIONS, seed=1, previous=dict(reversed(previous.items())))
    assert a == b
    assert {k: a[k] for k in keys[:50]} == previous
    others = [split_keys(keys, FRACTIONS, seed=s, previous=previous) for s in range(2, 8)]
    assert any({k: o[k] for k in keys[50:]} != {k: a[k] for k in keys[50:]} for o in others)


def test_new_groups_fill_the_split_that_lags_its_target():
    previous = {f"k{i}": "train" for i in range(10)}  # all in train: validation and test lag
    out = split_keys([*previous, "n1", "n2", "n3", "n4"], FRACTIONS, seed=0, previous=previous)
    new = pd.Series({k: out[k] for k in ("n1", "n2", "n3", "n4")}).value_counts().to_dict()
    assert new == {"validation": 2, "test": 2}


def test_stratified_extension_keeps_each_stratum_balanced():
    strata = {f"k{i}": ("rare" if i % 10 == 0 else "common") for i in range(400)}
    previous = stratified_split_keys({k: s for k, s in strata.items() if int(k[1:]) < 200}, FRACTIONS, seed=4)
    out = stratified_split_keys(strata, FRACTIONS, seed=4, previous=previous)
    assert moved_groups(previous, out) == []
    for stratum in ("rare", "common"):
        part = pd.Series({k: v for k, v in out.items() if strata[k] == stratum}).value_counts(normalize=True)
        for split, target in FRACTIONS.items():
            assert abs(part.get(split, 0.0) - target) < 0.06, (stratum, split)


def test_weighted_extension_balances_weights():
    keys = [f"g{i}" for i in range(100)]
    weights = {k: 1 + i % 5 for i, k in enumerate(keys)}
    out = extend_assignment({"g0": "test"}, keys, FRACTIONS, seed=3, weights=weights)
    assert out["g0"] == "test"
    total = sum(weights.values())
    for split, target in FRACTIONS.items():
        assert abs(sum(w for k, w in weights.items() if out[k] == split) / total - target) < 5 / total


def test_previous_split_unknown_to_the_fractions_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\['holdout'\].*resplit=True"):
        split_keys(["a", "b", "c"], FRACTIONS, seed=0, previous={"a": "holdout"})


def test_split_changes_counts_kept_added_moved_removed():
    previous = {"a": "train", "b": "train", "c": "test", "d": "validation"}
    current = {"a": "train", "b": "test", "c": "test", "e": "validation"}
    table = split_changes(previous, current).set_index("split")
    assert table.loc["train"].to_dict() == {
        "groups": 1,
        "kept": 1,
        "added": 0,
        "moved_in": 0,
        "moved_out": 1,
        "removed": 0,
    }
    assert table.loc["test"].to_dict() == {
        "groups": 2,
        "kept": 1,
        "added": 0,
        "moved_in": 1,
        "moved_out": 0,
        "removed": 0,
    }
    assert table.loc["validation"].to_dict() == {
        "groups": 1,
        "kept": 0,
        "added": 1,
        "moved_in": 0,
        "moved_out": 0,
        "removed": 1,
    }
    assert moved_groups(previous, current) == [("b", "train", "test")]
    frame = pd.DataFrame({"key": ["a", "a", "b", None], "split": ["train", "train", None, "test"]})
    assert previous_assignment(frame, "key") == {"a": "train"}
    assert previous_assignment(None, "key") == {}


def test_groups_inherit_the_split_of_their_known_members():
    members = {"f1": "train", "f2": "test", "f3": "test", "f4": "validation"}
    groups = {"f1": "g1", "f2": "g2", "f3": "g2", "f5": "g2", "f4": "g3", "f6": "g4"}
    assert inherit_group_splits(members, groups) == {"g1": "train", "g2": "test", "g3": "validation"}
    merged = {"f1": "g", "f4": "g"}  # a later link merges two groups: ties go to the alphabetically first split
    assert inherit_group_splits(members, merged) == {"g": "train"}
