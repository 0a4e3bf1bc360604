"""Splits and folds are the leak-prone part of the dataset: whole source images per split and fold,
proportions near target inside every stratum, determinism whatever the row order, and time order in
temporal mode."""

import numpy as np
import pandas as pd
import pytest

from dataprep_assets.defs.quality_prediction.config import SplitConfig
from dataprep_assets.defs.quality_prediction.stratify import (
    assign_folds,
    build_examples,
    group_table,
    largest_deficit,
    quantile_edges,
    ssim_strata,
    stratified_group_split,
    stratum_proportions,
    temporal_group_split,
)

FRACTIONS = {"train": 0.8, "validation": 0.15, "test": 0.05}


def synthetic_clean(n_groups: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    types = np.array(["simple", "text", "gradient", "complex"])
    for g in range(n_groups):
        logo_type = types[rng.choice(4, p=[0.3, 0.25, 0.25, 0.2])]
        base = {"simple": 0.93, "text": 0.88, "gradient": 0.9, "complex": 0.8}[logo_type]
        start = pd.Timestamp("2024-05-06", tz="UTC") + pd.Timedelta(hours=int(rng.integers(0, 24 * 21)))
        for r in range(int(rng.integers(5, 15))):
            rows.append(
                {
                    "result_id": f"r{g:04d}_{r:02d}",
                    "image_id": f"images/{logo_type}/{g:04d}.png",
                    "image_group": f"g{g:04d}",
                    "logo_type": logo_type,
                    "ssim": float(np.clip(base + rng.normal(0, 0.05), 0, 1)),
                    "timestamp": start + pd.Timedelta(hours=r),
                }
            )
    return pd.DataFrame(rows)


def test_largest_deficit_hits_the_fractions_exactly_on_equal_weights():
    names = largest_deficit([1] * 100, FRACTIONS)
    assert {k: names.count(k) for k in FRACTIONS} == {"train": 80, "validation": 15, "test": 5}


def test_largest_deficit_follows_weights_not_counts():
    names = largest_deficit([10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], {"a": 0.5, "b": 0.5})
    weight = {k: sum(w for w, n in zip([10] + [1] * 10, names, strict=True) if n == k) for k in "ab"}
    assert abs(weight["a"] - weight["b"]) <= 1


def test_stratified_split_keeps_groups_whole_and_every_stratum_near_target():
    clean = synthetic_clean()
    examples, _ = build_examples(clean, SplitConfig())
    assert examples.groupby("image_group")["split"].nunique().max() == 1
    shares = examples["split"].value_counts(normalize=True)
    for name, target in FRACTIONS.items():
        assert abs(shares[name] - target) < 0.01
    strata = stratum_proportions(examples, FRACTIONS, tolerance=0.05)
    assert len(strata) == 12 and strata["within_tolerance"].all()
    assert (strata["test_achieved"] > 0).all(), "even the 5 % split gets images from every stratum"


def test_split_depends_on_the_data_and_seed_not_on_row_order():
    clean = synthetic_clean(200)
    a, _ = build_examples(clean, SplitConfig(seed=7))
    b, _ = build_examples(clean.sample(frac=1.0, random_state=3), SplitConfig(seed=7))
    c, _ = build_examples(clean, SplitConfig(seed=8))
    key = ["result_id", "split", "cv_fold"]
    assert (
        a[key]
        .sort_values("result_id")
        .reset_index(drop=True)
        .equals(b[key].sort_values("result_id").reset_index(drop=True))
    )
    assert (
        not a[key]
        .sort_values("result_id")
        .reset_index(drop=True)
        .equals(c[key].sort_values("result_id").reset_index(drop=True))
    )


def test_ssim_bins_are_quantiles_within_each_logo_type():
    groups = group_table(synthetic_clean())
    strata, edges = ssim_strata(groups, 3)
    assert set(edges) == {"simple", "text", "gradient", "complex"} and all(len(e) == 2 for e in edges.values())
    counts = strata.value_counts()
    for logo_type in edges:
        per_type = counts[counts.index.str.startswith(logo_type)]
        assert len(per_type) == 3 and per_type.max() - per_type.min() <= 2, "tertiles of each type are equally full"
    assert quantile_edges([0.5] * 10, 3) == [0.5], "ties collapse instead of making empty bins"


def test_folds_are_grouped_balanced_and_only_in_train():
    examples, _ = build_examples(synthetic_clean(), SplitConfig(cv_folds=5))
    train = examples[examples["split"] == "train"]
    assert train.groupby("image_group")["cv_fold"].nunique().max() == 1
    sizes = train["cv_fold"].value_counts()
    assert set(sizes.index) == {0, 1, 2, 3, 4} and sizes.max() / sizes.min() < 1.1
    assert (examples.loc[examples["split"] != "train", "cv_fold"] == -1).all()


def test_temporal_mode_orders_splits_and_folds_by_time():
    examples, _ = build_examples(synthetic_clean(), SplitConfig(mode="temporal"))
    first = examples.groupby("image_group").agg(split=("split", "first"), t=("timestamp", "min"))
    assert first.loc[first["split"] == "train", "t"].max() <= first.loc[first["split"] == "validation", "t"].min()
    assert first.loc[first["split"] == "validation", "t"].max() <= first.loc[first["split"] == "test", "t"].min()
    train = examples[examples["split"] == "train"]
    assert train.groupby("cv_fold")["timestamp"].min().sort_index().is_monotonic_increasing
    shares = examples["split"].value_counts(normalize=True)
    assert abs(shares["train"] - 0.8) < 0.02


def test_temporal_mode_refuses_groups_without_time():
    groups = group_table(synthetic_clean(20))
    groups.loc[3, "first_timestamp"] = pd.NaT
    with pytest.raises(ValueError, match="no timestamp"):
        temporal_group_split(groups, FRACTIONS)


def test_grouping_by_file_name_leaks_copies_that_grouping_by_content_keeps_together():
    clean = synthetic_clean(200)
    copies = clean[clean["image_group"] < "g0060"].copy()
    copies["image_id"] = copies["image_id"].str.replace(".png", "_copy.png")
    copies["result_id"] = copies["result_id"] + "_c"
    both = pd.concat([clean, copies], ignore_index=True)
    by_content, _ = build_examples(both, SplitConfig())
    by_file, _ = build_examples(both, SplitConfig(group_by="image_id"))
    assert by_content.groupby("image_group")["split"].nunique().max() == 1
    assert by_file.groupby("image_group")["split"].nunique().max() == 2


def test_a_stratum_of_one_group_is_allowed_its_granularity():
    examples = pd.DataFrame({"stratum": ["a"] * 10, "image_group": ["g1"] * 10, "split": ["train"] * 10})
    row = stratum_proportions(examples, FRACTIONS, tolerance=0.05).iloc[0]
    assert (
        row["max_difference"] == pytest.approx(0.2)
        and row["allowed"] == pytest.approx(1.05)
        and row["within_tolerance"]
    )


def test_stratified_split_of_a_single_group_per_stratum_is_still_total():
    groups = pd.DataFrame({"image_group": ["a", "b", "c"], "stratum": ["x", "y", "z"], "rows": [3, 3, 3]})
    split = stratified_group_split(groups, FRACTIONS, seed=0)
    assert set(split.index) == {"a", "b", "c"} and set(split) <= set(FRACTIONS)
    folds = assign_folds(groups.assign(first_timestamp=pd.Timestamp("2024-01-01", tz="UTC")), 2, seed=0)
    assert set(folds) <= {0, 1}


@pytest.mark.parametrize("mode", ["stratified", "temporal"])
def test_refresh_with_new_source_images_keeps_every_group_and_fold_in_place(mode):
    config = SplitConfig(mode=mode)
    everything = synthetic_clean(n_groups=404, seed=5)
    old = everything[everything["image_group"] < "g0400"]
    first, _ = build_examples(old, config)
    groups = first.drop_duplicates("image_group").set_index("image_group")
    refreshed, _ = build_examples(
        everything, config, previous=groups["split"].to_dict(), previous_folds=groups["cv_fold"].to_dict()
    )
    after = refreshed.drop_duplicates("image_group").set_index("image_group")
    assert (after.loc[groups.index, "split"] == groups["split"]).all()
    assert (after.loc[groups.index, "cv_fold"] == groups["cv_fold"]).all()
    new = after.drop(groups.index)
    assert len(new) == 4 and new["split"].notna().all()
    assert ((new["split"] == "train") == (new["cv_fold"] >= 0)).all()
    shares = refreshed["split"].value_counts(normalize=True)
    for name, target in FRACTIONS.items():
        assert abs(shares[name] - target) < 0.02
    again, _ = build_examples(
        everything.sample(frac=1.0, random_state=1),
        config,
        previous=groups["split"].to_dict(),
        previous_folds=groups["cv_fold"].to_dict(),
    )
    pd.testing.assert_frame_equal(again, refreshed)
