"""cell_qa splits stay put across refreshes (real Dagster instance): new frames are assigned and no existing
original_image_key moves; an explicit re-split is accepted and recorded in the version; a moved key fails the
blocking continuity check and stops the release."""

import shutil

import dagster as dg

from dataprep_assets.common.continuity import RESPLIT
from dataprep_assets.defs.cell_qa import assets as cell_assets
from dataprep_assets.defs.cell_qa import checks as cell_checks
from dataprep_assets.defs.cell_qa.datasets import SPLITS
from dataprep_assets.lib.splits import split_keys
from dataprep_assets.sample_data.cell_qa import DATASETS, generate

ASSETS = [
    cell_assets.cell_qa_inventory,
    cell_assets.cell_crops,
    cell_assets.cell_level_dataframe,
    cell_assets.competitor_seg_scores,
    cell_assets.cell_level_dataframe_with_splits,
    cell_assets.cell_qa_release,
]
CHECKS = [cell_checks.no_image_key_overlap, cell_checks.image_keys_stay_put]
SMALL = {"sequences": 3, "frames": 2, "size": 96, "datasets": dict(list(DATASETS.items())[:2]), "defects": False}
STAY_PUT = "original_image_keys_stay_put"


def _run(store, instance, selection=None, split_config=None):
    config = {"ops": {} if selection else {"cell_crops": {"config": {"max_workers": 1}}}}
    if split_config:
        config["ops"]["cell_level_dataframe_with_splits"] = {"config": split_config}
    return dg.materialize(
        ASSETS + CHECKS,
        instance=instance,
        resources={"store": store},
        run_config=config,
        selection=selection,
        raise_on_error=False,
    )


def _splits(store) -> dict:
    table = store.read_table(SPLITS.path)
    return dict(table.drop_duplicates("original_image_key")[["original_image_key", "split"]].itertuples(index=False))


def _check(result, name=STAY_PUT):
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == name]
    return evaluation


def _add_sequence(store_root, tmp_path, seq="04"):
    """New frames from the sample generator: sequence `seq` of a bigger tree, copied into the store's raw tree."""
    other = generate(tmp_path / "other", seed=11, **(SMALL | {"sequences": int(seq)}))
    target = store_root / other.relative_to(tmp_path / "other")
    for path in other.rglob("*.tif"):
        if any(part in (seq, f"{seq}_GT", f"{seq}_RES") for part in path.parts):
            (target / path.relative_to(other)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target / path.relative_to(other))


def test_new_frames_are_added_existing_keys_stay_put_and_a_resplit_is_recorded(store, store_root, tmp_path, instance):
    generate(store_root, seed=3, **SMALL)
    first = _run(store, instance)
    assert first.success and _check(first).passed
    before = _splits(store)

    _add_sequence(store_root, tmp_path)
    refresh = _run(store, instance)
    assert refresh.success
    after = _splits(store)
    added = set(after) - set(before)
    assert added and set(before) <= set(after)
    assert {k: after[k] for k in before} == before
    assert {after[k] for k in added} <= {"train", "validation", "test"}
    evaluation = _check(refresh)
    assert evaluation.passed
    assert evaluation.metadata["groups_moved"].value == 0
    assert evaluation.metadata["groups_added"].value == len(added)
    meta = refresh.asset_materializations_for_node("cell_level_dataframe_with_splits")[0].metadata
    assert (meta["groups_kept"].value, meta["groups_added"].value, meta["groups_moved"].value) == (
        len(before),
        len(added),
        0,
    )

    resplit = _run(
        store, instance, ["cell_level_dataframe_with_splits", "cell_qa_release"], {"resplit": True, "seed": 7}
    )
    assert resplit.success
    evaluation = _check(resplit)
    assert evaluation.passed and evaluation.metadata[RESPLIT].value is True
    assert evaluation.metadata["groups_moved"].value > 0  # a new seed over all keys: today's shuffle, recorded
    assert store.versions(SPLITS.path)[-1].meta[RESPLIT] is True
    assert _splits(store) == split_keys(list(after), {"train": 0.7, "validation": 0.15, "test": 0.15}, seed=7)


def test_a_moved_key_fails_the_blocking_check_and_stops_the_release(store, store_root, instance, monkeypatch):
    generate(store_root, seed=3, **SMALL)
    assert _run(store, instance).success
    released = instance.get_latest_materialization_event(dg.AssetKey("cell_qa_release")).run_id
    real = cell_assets.assign_group_splits

    def moving_split(frame, group_col, fractions, seed, split_col="split", previous=None):
        out = real(frame, group_col, fractions, seed, split_col, previous)
        key = sorted(out[group_col])[0]
        other = "test" if out.loc[out[group_col] == key, split_col].iloc[0] != "test" else "train"
        out.loc[out[group_col] == key, split_col] = other  # one image moves: every cell of it, so no overlap
        return out

    monkeypatch.setattr(cell_assets, "assign_group_splits", moving_split)
    result = _run(store, instance, ["cell_level_dataframe_with_splits", "cell_qa_release"])
    assert not result.success
    evaluation = _check(result)
    assert not evaluation.passed
    assert evaluation.metadata["groups_moved"].value == 1
    assert "resplit=True" in evaluation.description
    assert _check(result, "no_original_image_key_overlap").passed
    assert instance.get_latest_materialization_event(dg.AssetKey("cell_qa_release")).run_id == released
