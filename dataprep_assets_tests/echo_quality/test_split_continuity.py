"""echo_quality splits stay put across refreshes (real Dagster instance): new exams are assigned (one of them
joins an existing patient's group and renames it, and still lands in that group's split), no study folder
moves; an explicit re-split is accepted and recorded; a moved folder fails the blocking check before the release."""

import dagster as dg
import pandas as pd

from dataprep_assets.common.continuity import RESPLIT
from dataprep_assets.defs.echo_quality import assets as echo_assets
from dataprep_assets.defs.echo_quality.checks import FOLDERS_STAY_PUT
from dataprep_assets.defs.echo_quality.datasets import SPLITS
from dataprep_assets.sample_data.echo_quality import write_exam
from dataprep_assets_tests.echo_quality.conftest import materialize_echo


def _folders(store) -> dict:
    table = pd.read_csv(store.path(SPLITS.path), dtype={"folder": str})
    return dict(table.drop_duplicates("folder")[["folder", "split"]].itertuples(index=False))


def _check(result):
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == FOLDERS_STAY_PUT]
    return evaluation


def test_new_exams_join_without_moving_a_folder_and_a_resplit_is_recorded(store, instance, sample, store_root):
    assert materialize_echo(store, instance).success
    before = _folders(store)

    write_exam(
        store_root, "AFFINITI70G-0009", [0.99, 0.98, 0.02], seed=2, patient_id="PAT-001"
    )  # VIVIDE95-0001's patient
    write_exam(store_root, "EPIQ7-0009", [0.97, 0.03], seed=3, patient_id="PAT-NEW")
    refresh = materialize_echo(store, instance, raise_on_error=False)
    assert refresh.success
    after = _folders(store)
    assert {f: after[f] for f in before if f in after} == before
    assert {"AFFINITI70G-0009", "EPIQ7-0009"} <= set(after)
    assert after["AFFINITI70G-0009"] == before["VIVIDE95-0001"]  # the renamed group keeps its split
    evaluation = _check(refresh)
    assert evaluation.passed and evaluation.metadata["groups_moved"].value == 0
    assert evaluation.metadata["groups_added"].value == len(set(after) - set(before))

    resplit = materialize_echo(
        store,
        instance,
        selection=["echo_training_splits", "echo_dataset_release"],
        run_config={"ops": {"echo_training_splits": {"config": {"resplit": True, "seed": 3}}}},
    )
    assert resplit.success and _check(resplit).passed
    assert _check(resplit).metadata[RESPLIT].value is True
    assert store.versions(SPLITS.path)[-1].meta[RESPLIT] is True


def test_a_moved_group_fails_the_blocking_check_and_stops_the_release(store, instance, sample, monkeypatch):
    assert materialize_echo(store, instance).success
    released = instance.get_latest_materialization_event(dg.AssetKey("echo_dataset_release")).run_id
    before = pd.read_csv(store.path(SPLITS.path), dtype={"folder": str})
    real = echo_assets.stratified_split_keys

    def moving(key_strata, fractions, seed, previous=None):
        out = real(key_strata, fractions, seed, previous)
        group = sorted(out)[0]
        out[group] = (
            "test" if out[group] != "test" else "train"
        )  # one whole group moves: no overlap, but a leak over time
        return out

    monkeypatch.setattr(echo_assets, "stratified_split_keys", moving)
    result = materialize_echo(
        store, instance, selection=["echo_training_splits", "echo_dataset_release"], raise_on_error=False
    )
    assert not result.success
    evaluation = _check(result)
    moved_folders = before.loc[before["group_id"] == sorted(before["group_id"])[0], "folder"].nunique()
    assert not evaluation.passed and evaluation.metadata["groups_moved"].value == moved_folders
    assert instance.get_latest_materialization_event(dg.AssetKey("echo_dataset_release")).run_id == released


def test_a_blocked_version_never_becomes_the_reference_of_the_next_refresh(store, instance, sample, monkeypatch):
    """The blocked version stays in the store (and is the current view), but the next refresh keeps the groups of
    the last version that passed, and its check compares with that one: a moved group is never laundered."""
    assert materialize_echo(store, instance).success
    accepted = store.versions(SPLITS.path)[-1]
    before = _folders(store)
    real = echo_assets.stratified_split_keys

    def moving(key_strata, fractions, seed, previous=None):
        out = real(key_strata, fractions, seed, previous)
        group = sorted(out)[0]
        out[group] = "test" if out[group] != "test" else "train"
        return out

    monkeypatch.setattr(echo_assets, "stratified_split_keys", moving)
    selection = ["echo_training_splits", "echo_dataset_release"]
    blocked = materialize_echo(store, instance, selection=selection, raise_on_error=False)
    assert not _check(blocked).passed and _folders(store) != before
    assert store.versions(SPLITS.path)[-1].meta["reference"] == accepted.version_id

    monkeypatch.setattr(echo_assets, "stratified_split_keys", real)
    refresh = materialize_echo(store, instance, selection=selection)
    assert refresh.success
    assert _folders(store) == before  # the moved group is back in the split the accepted version gave it
    evaluation = _check(refresh)
    assert evaluation.passed and evaluation.metadata["previous_version"].value == accepted.version_id
    assert store.versions(SPLITS.path)[-1].meta["reference"] == accepted.version_id
