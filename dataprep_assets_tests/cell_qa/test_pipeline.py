"""The cell_qa graph end to end on a real Dagster instance: outputs in the seed's layout, every check
evaluated, rejects recorded. (Byte-identical reruns whatever the worker count, leakage stopped by the blocking
check, atomic writes: `test_guarantees.py`, for every pipeline.)"""

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.cell_qa.extract import load_crop
from dataprep_assets.sample_data.cell_qa import DATASETS
from dataprep_assets_tests.cell_qa.conftest import crops_config, materialize, small_sample
from dataprep_assets_tests.harness import accounting_gaps, config_refusal, group_checks


@pytest.fixture
def sample_store(store, store_root):
    small_sample(store_root)
    return store


def test_whole_graph_builds_the_seed_layout_and_passes_every_check(sample_store, store_root, instance):
    result = materialize(sample_store, instance)
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == dict.fromkeys(
        (key.name for check in group_checks("cell_qa") for key in check.check_keys), True
    )

    cells = pd.read_parquet(store_root / "data" / "cell_level_dataframe_with_splits.parquet")
    assert {
        "cell_id",
        "stacked_crop_path",
        "original_image_key",
        "competitor",
        "cell_jaccard",
        "gt_label",
        "area",
        "bbox_y0",
        "split",
    } <= set(cells.columns)
    assert cells["cell_jaccard"].between(0, 1).all() and cells["cell_id"].is_unique
    assert set(cells["competitor"]) == {"competitor_A", "competitor_B", "competitor_C", "competitor_D"}
    assert set(cells["split"]) == {"train", "validation", "test"}
    assert cells.groupby("original_image_key")["split"].nunique().max() == 1
    assert cells["original_image_key"].nunique() == 12
    sample = cells.sample(20, random_state=0)
    for ref in sample["stacked_crop_path"]:
        assert ref.startswith("data/cell_crops/") and ref.endswith(".tif")
        assert load_crop(store_root, ref).shape == (2, 64, 64)
    # The precise competitor scores best and the one without background worst, as their error modes say.
    seg = pd.read_parquet(store_root / "data" / "competitor_seg_scores.parquet").groupby("competitor")["seg"].mean()
    assert seg.idxmax() == "competitor_A" and seg.idxmin() == "competitor_D"
    release = json.loads((store_root / "data" / "cell_qa_release.json").read_text())
    assert sum(release["rows_per_split"].values()) == len(cells)
    # Records in = out + rejects, shown by every asset that consumes records (found in the code location).
    assert accounting_gaps("cell_qa", [result]) == {}


def test_bad_inputs_become_named_rejects_and_the_run_goes_on(sample_store, store_root, instance):
    assert materialize(sample_store, instance).success
    rejects = pd.concat(
        [pd.read_csv(store_root / "rejects" / f"{name}.csv") for name in ("cell_qa_inventory", "cell_crops")]
    )
    reasons = dict(zip(rejects["item"].str.replace("raw/cell_qa/", ""), rejects["reason"], strict=True))
    first, last = list(DATASETS)[0], list(DATASETS)[-1]
    assert reasons == {
        f"{first}/01/t001.tif": "no_ground_truth",
        **{
            f"competitors/{c}/{first}/01_RES/mask001.tif": "no_ground_truth"
            for c in ("competitor_A", "competitor_B", "competitor_C", "competitor_D")
        },
        f"competitors/competitor_B/{first}/02_RES/mask001.tif": "missing_competitor_mask",
        f"competitors/competitor_C/{last}/01_RES/mask000.tif": "unreadable_tiff",
        f"competitors/competitor_A/{last}/02_RES/mask000.tif": "empty_mask",
        f"competitors/competitor_D/{last}/03_RES/mask000.tif": "shape_mismatch",
    }
    events = instance.get_latest_materialization_event(dg.AssetKey("cell_crops")).asset_materialization.metadata
    assert events["rejects"].value == 3


def test_stacked_layout_gives_the_same_crops_as_tiff_per_cell(sample_store, store_root, instance):
    assert materialize(sample_store, instance).success
    per_cell = pd.read_parquet(store_root / "data" / "cell_level_dataframe.parquet").set_index("cell_id")
    tiff_crops = {cid: load_crop(store_root, per_cell.loc[cid, "stacked_crop_path"]) for cid in per_cell.index[::97]}
    assert materialize(sample_store, instance, ops=crops_config(layout="stacked")).success
    stacked = pd.read_parquet(store_root / "data" / "cell_level_dataframe.parquet").set_index("cell_id")
    assert stacked.index.equals(per_cell.index)
    assert not any(
        p.suffix == ".tif" for p in (store_root / "data" / "cell_crops").iterdir()
    )  # old layout swapped out whole
    for cell_id, expected in tiff_crops.items():
        ref = stacked.loc[cell_id, "stacked_crop_path"]
        assert ref.startswith("data/cell_crops/stacks/") and "#" in ref
        np.testing.assert_array_equal(load_crop(store_root, ref), expected)


@pytest.mark.parametrize(
    "op, config, message",
    [
        ("cell_crops", {"crop_size": 0}, "invalid CellCropsConfig config: crop_size: must be > 0, got 0"),
        ("cell_crops", {"layout": "zarr"}, "layout"),  # outside the Literal: refused at launch
        (
            "cell_level_dataframe_with_splits",
            {"train_fraction": 0.8, "validation_fraction": 0.15, "test_fraction": 0.15},
            "train_fraction + validation_fraction + test_fraction: fractions must sum to 1.0, got 1.1",
        ),
        ("cell_level_dataframe_with_splits", {"validation_fraction": 1.5}, "validation_fraction: must be in [0, 1]"),
    ],
)
def test_bad_config_fails_at_once_naming_the_field(sample_store, instance, op, config, message):
    refusal = config_refusal(
        lambda: materialize(sample_store, instance, selection=[op], ops={op: {"config": config}}, raise_on_error=False)
    )
    assert message in refusal
    assert instance.get_latest_materialization_event(dg.AssetKey(op)) is None


def test_sequential_naming_gives_the_seeds_numbered_crops_stable_across_reruns(
    sample_store, store_root, instance, tmp_path
):
    assert materialize(sample_store, instance, ops=crops_config(naming="sequential")).success
    cells = (
        pd.read_parquet(store_root / "data" / "cell_level_dataframe.parquet")
        .sort_values("cell_id")
        .reset_index(drop=True)
    )
    assert cells["cell_id"].tolist() == [f"{i:05d}" for i in range(1, len(cells) + 1)]
    assert cells["stacked_crop_path"].tolist() == [f"data/cell_crops/{i:05d}.tif" for i in range(1, len(cells) + 1)]
    assert cells["descriptive_cell_id"].is_monotonic_increasing, "numbered in the order of the descriptive ids"
    assert (store_root / "data/cell_crops/00001.tif").is_file()
    crop = load_crop(store_root, cells.loc[0, "stacked_crop_path"])
    assert crop.shape == (2, 64, 64)

    other = LocalDatasetStore(root=str(tmp_path / "again"))
    small_sample(tmp_path / "again")
    with dg.instance_for_test() as fresh:
        assert materialize(other, fresh, ops=crops_config(naming="sequential")).success
    again = (
        pd.read_parquet(tmp_path / "again/data/cell_level_dataframe.parquet")
        .sort_values("cell_id")
        .reset_index(drop=True)
    )
    assert again[["cell_id", "descriptive_cell_id"]].equals(cells[["cell_id", "descriptive_cell_id"]])
    assert (tmp_path / "again/data/cell_crops/00001.tif").read_bytes() == (
        store_root / "data/cell_crops/00001.tif"
    ).read_bytes()
