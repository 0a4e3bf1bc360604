"""The seed's 10% visual inspection (a reproducible sample per stratum, a gallery, a CSV a person fills in and
that the next cleaning run reads back as rejects) and the opt-in logo-type rebalancing of train."""

import numpy as np
import pandas as pd
import pytest

from dataprep_assets.defs.quality_prediction.datasets import EXAMPLES, INSPECTION_GALLERY, INSPECTION_SHEET
from dataprep_assets.defs.quality_prediction.rebalance import rebalance_train, train_quotas
from dataprep_assets_tests.harness import config_refusal
from dataprep_assets_tests.quality_prediction.conftest import materialize

UP_TO_SPLITS = ["conversion_results", "clean_conversion_results", "quality_dataset_splits"]


def _meta(result, asset):
    return {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }[asset]


def test_inspection_sample_is_reproducible_and_bad_verdicts_become_rejects(sample_store, instance):
    result = materialize(sample_store, instance, selection=UP_TO_SPLITS + ["inspection_sample"])
    sheet = pd.read_csv(sample_store.path(INSPECTION_SHEET.path), dtype=str, keep_default_na=False)
    examples = sample_store.read_table(EXAMPLES)
    groups = examples.drop_duplicates("image_group").groupby("stratum").size()
    sampled = sheet.groupby("stratum").size()
    assert (sampled == np.ceil(0.10 * groups).astype(int).reindex(sampled.index)).all() and set(sampled.index) == set(
        groups.index
    )
    assert (
        list(sheet.columns) == ["image_id", "image_group", "stratum", "split", "verdict", "note"]
        and (sheet["verdict"] == "").all()
    )
    assert sample_store.path(INSPECTION_GALLERY.path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _meta(result, "inspection_sample")["verdicts"] == {"pending": len(sheet)}

    first = sample_store.path(INSPECTION_SHEET.path).read_bytes()
    materialize(sample_store, instance, selection=["inspection_sample"])
    assert sample_store.path(INSPECTION_SHEET.path).read_bytes() == first, "same data + seed = same sample"

    # a person marks one image bad and one ok; the next cleaning run rejects every result of the bad one
    bad = sheet.loc[0, "image_id"]
    sheet.loc[0, ["verdict", "note"]] = ["BAD", "traced outline is wrong"]
    sheet.loc[1, "verdict"] = "ok"
    sheet.to_csv(sample_store.path(INSPECTION_SHEET.path), index=False)
    materialize(sample_store, instance, selection=UP_TO_SPLITS + ["inspection_sample"])
    rejects = sample_store.read_rejects("clean_conversion_results").to_frame()
    marked = rejects[rejects["reason"] == "inspection_marked_bad"]
    assert (
        len(marked) > 0
        and marked["detail"].str.contains("traced outline is wrong").all()
        and marked["detail"].str.contains(bad, regex=False).all()
    )
    assert bad not in set(sample_store.read_table(EXAMPLES)["image_id"])
    kept = pd.read_csv(sample_store.path(INSPECTION_SHEET.path), dtype=str, keep_default_na=False).set_index("image_id")
    assert kept.loc[bad, "verdict"] == "bad" and kept.loc[sheet.loc[1, "image_id"], "verdict"] == "ok", (
        "verdicts survive a refresh"
    )

    sheet.loc[2, "verdict"] = "maybe"
    sheet.to_csv(sample_store.path(INSPECTION_SHEET.path), index=False)
    failed = materialize(sample_store, instance, selection=["clean_conversion_results"], raise_on_error=False)
    assert not failed.success


def test_train_quotas_follow_the_scarcest_type():
    quotas = train_quotas(
        {"simple": 600, "text": 250, "gradient": 400, "complex": 400},
        {"simple": 0.3, "text": 0.25, "gradient": 0.25, "complex": 0.2},
    )
    assert quotas == {"simple": 300, "text": 250, "gradient": 250, "complex": 200}


def test_opt_in_rebalancing_touches_train_only_and_reports_the_mix(sample_store, instance):
    off = materialize(sample_store, instance, selection=UP_TO_SPLITS)
    before = sample_store.read_table(EXAMPLES)
    assert _meta(off, "quality_dataset_splits")["logo_type_rebalance"].startswith("off")
    config = {"ops": {"quality_dataset_splits": {"config": {"rebalance_logo_types": True}}}}
    on = materialize(sample_store, instance, selection=["quality_dataset_splits"], run_config=config)
    after = sample_store.read_table(EXAMPLES)
    for split in ("validation", "test"):
        pd.testing.assert_frame_equal(
            before[before["split"] == split].reset_index(drop=True),
            after[after["split"] == split].reset_index(drop=True),
        )
    assert set(after["result_id"]) <= set(before["result_id"]) and len(after) < len(before)
    dropped = before[~before["result_id"].isin(after["result_id"])]
    assert (dropped["split"] == "train").all() and not set(dropped["image_group"]) & set(after["image_group"]), (
        "whole source images"
    )
    mix = _meta(on, "quality_dataset_splits")["train_logo_mix"]
    target = {"simple": 0.30, "text": 0.25, "gradient": 0.25, "complex": 0.20}
    before_mix = before[before["split"] == "train"]["logo_type"].value_counts(normalize=True)
    assert sum(abs(mix[t] - target[t]) for t in target) < sum(abs(before_mix[t] - target[t]) for t in target)
    again = materialize(sample_store, instance, selection=["quality_dataset_splits"], run_config=config)
    assert again.success and sample_store.read_table(EXAMPLES).equals(after), "seeded"


@pytest.mark.parametrize("share", [0.0, 1.5])
def test_bad_inspection_share_fails_naming_the_field(sample_store, instance, share):
    refusal = config_refusal(
        lambda: materialize(
            sample_store,
            instance,
            selection=["inspection_sample"],
            run_config={"ops": {"inspection_sample": {"config": {"share": share}}}},
            raise_on_error=False,
        )
    )
    assert refusal == f"invalid InspectionConfig config: share: must be in (0, 1], got {share}"


def test_rebalance_keeps_every_type_when_targets_match():
    frame = pd.DataFrame(
        {
            "split": "train",
            "logo_type": ["simple"] * 3 + ["text"] * 3,
            "image_group": list("abcdef"),
            "result_id": range(6),
        }
    )
    out, table = rebalance_train(frame, {"simple": 0.5, "text": 0.5}, seed=0)
    assert len(out) == 6 and table["achieved_share"].tolist() == [0.5, 0.5]
