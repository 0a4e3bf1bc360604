"""perva_retrieval concept splits stay put across refreshes (real Dagster instance): new concepts are assigned
and no concept moves; an explicit re-split is accepted and recorded; a moved concept fails the blocking check
and stops hard-negative mining; a rewritten split table is caught by the check on its own."""

import dagster as dg
import numpy as np

from dataprep_assets.common.continuity import RESPLIT
from dataprep_assets.defs.perva_retrieval import assets as A
from dataprep_assets.defs.perva_retrieval import checks as C
from dataprep_assets.defs.perva_retrieval.datasets import CONCEPT_TABLE
from dataprep_assets.sample_data.perva_retrieval import PREFIX, _concept_style, _draw_object, _write_concept

ASSETS = [A.image_catalog, A.concept_splits, A.retrieval_per_category]
CHECKS = [C.no_concept_in_train_and_validation, C.concepts_stay_put]
CATALOG_CONFIG = {"image_catalog": {"config": {"num_train": 5}}}
TABLE = CONCEPT_TABLE.path
STEPS = [A.image_catalog, A.concept_splits]


def _run(instance, store, selection, ops=None, partition=None):
    return dg.materialize(
        ASSETS + CHECKS,
        instance=instance,
        resources={"store": store},
        selection=selection,
        partition_key=partition,
        run_config={"ops": ops or {}},
        raise_on_error=False,
    )


def _concepts(store) -> dict:
    table = store.read_table(TABLE)
    return dict(zip(table["concept_key"], table["split"], strict=True))


def _check(result):
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == "concepts_stay_put"]
    return evaluation


def _add_concepts(store_root, names):
    """New concepts (fresh pictures) in the explicit train/test layout."""
    rng = np.random.default_rng(7)
    for key in names:
        category, concept = key.split("/")
        obj = _draw_object(category, _concept_style(rng))
        for part, n in (("train", 6), ("test", 4)):
            _write_concept(store_root / PREFIX / "PerVA" / part / category / concept, obj, rng, n)


def test_new_concepts_are_assigned_and_none_moves_and_a_resplit_is_recorded(perva_store_root, store, instance):
    assert _run(instance, store, STEPS, CATALOG_CONFIG).success
    before = _concepts(store)

    new = ["bag/zed", "plant/yucca", "plant/zinnia"]
    _add_concepts(perva_store_root, new)
    refresh = _run(instance, store, STEPS, CATALOG_CONFIG)
    assert refresh.success
    after = _concepts(store)
    assert {k: after[k] for k in before} == before and set(new) <= set(after)
    evaluation = _check(refresh)
    assert evaluation.passed and evaluation.metadata["groups_moved"].value == 0
    assert evaluation.metadata["groups_added"].value == len(new)
    meta = refresh.asset_materializations_for_node("concept_splits")[0].metadata
    assert (meta["groups_kept"].value, meta["groups_added"].value) == (len(before), len(new))

    resplit = _run(instance, store, [A.concept_splits], {"concept_splits": {"config": {"resplit": True, "seed": 5}}})
    assert resplit.success and _check(resplit).passed and _check(resplit).metadata[RESPLIT].value is True
    assert store.versions(TABLE)[-1].meta[RESPLIT] is True

    table = store.read_table(TABLE)  # rewritten by hand: one concept moved, no re-split recorded
    table.loc[0, "split"] = "validation" if table.loc[0, "split"] == "train" else "train"
    store.write_table(TABLE, table)
    alone = _run(instance, store, dg.AssetSelection.checks(C.concepts_stay_put))
    assert not _check(alone).passed and _check(alone).metadata["first_moved_groups"].value[0].startswith(
        table.loc[0, "concept_key"]
    )


def test_a_moved_concept_fails_the_blocking_check_and_stops_mining(perva_store_root, store, instance, monkeypatch):
    assert _run(instance, store, STEPS, CATALOG_CONFIG).success
    real = A.create_concept_splits

    def moving(catalog, **kwargs):
        train, validation, meta = real(catalog, **kwargs)
        concept = sorted(train["bag"])[0]
        validation["bag"][concept] = train["bag"].pop(concept)  # one whole concept moves to validation
        return train, validation, meta

    monkeypatch.setattr(A, "create_concept_splits", moving)
    result = _run(instance, store, [A.concept_splits, A.retrieval_per_category], partition="bag")
    assert not result.success
    assert not _check(result).passed and _check(result).metadata["groups_moved"].value == 1
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "concept_splits" in started and "retrieval_per_category" not in started
