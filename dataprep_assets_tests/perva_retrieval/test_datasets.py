"""Downstream finds upstream data through the declarations and the store, not the event log; the seed's
output-location options write a copy and leave the declared datasets where downstream reads them."""

import json

import dagster as dg

from dataprep_assets.defs.perva_retrieval import assets as A
from dataprep_assets.defs.perva_retrieval import checks as C
from dataprep_assets.defs.perva_retrieval.datasets import (
    CATALOG,
    CONCEPT_TABLE,
    PARTITIONS_NAME,
    retrieval_records,
    split_files,
)
from dataprep_assets_tests.perva_retrieval.conftest import materialize


def test_downstream_reads_the_declared_datasets_on_an_instance_that_never_saw_upstream(
    perva_store_root, store, instance
):
    ops = {
        "image_catalog": {"config": {"num_train": 5, "out": "exports/catalog.json"}},
        "concept_splits": {"config": {"out_dir": "exports/splits", "seed": 7}},
    }
    materialize(store, instance, selection=[A.image_catalog, A.concept_splits], ops=ops)
    assert json.loads((perva_store_root / "exports/catalog.json").read_text()) == store.read(CATALOG)
    assert (perva_store_root / "exports/catalog_images.parquet").is_file()
    train, validation, meta = split_files(0.65, 7)
    for declared in (train, validation, meta):
        copy = perva_store_root / "exports/splits" / declared.path.rsplit("/", 1)[1]
        assert copy.read_bytes() == (perva_store_root / declared.path).read_bytes()
    assert store.current_version(CONCEPT_TABLE.path).meta["seed"] == 7

    with dg.instance_for_test() as fresh:  # an empty event log: only the store knows what upstream wrote
        fresh.add_dynamic_partitions(PARTITIONS_NAME, ["cup"])
        result = materialize(
            store,
            fresh,
            selection=[A.retrieval_per_category],
            partition_key="cup",
            ops={"retrieval_per_category": {"config": {"out_dir": "exports/records", "max_workers": 1}}},
        )
        meta = result.asset_materializations_for_node("retrieval_per_category")[0].metadata
        assert meta["source"].value == train.path  # the split files named by the concept table's version
        assert {e.check_name: e.passed for e in result.get_asset_check_evaluations()} == {
            C.NEGATIVES_VALID: True,
            C.K_PER_QUERY: True,
        }
        declared = retrieval_records("cup", 23, 3)
        assert (
            meta["relpath"].value == declared.path
            and meta["exported_to"].value == "exports/records/cup/seed_23/retrieval_top3.json"
        )
        records = store.read(declared)
        cup_train = sum(len(v["train"]) for v in store.read(train)["cup"].values())
        assert len(records) == cup_train > 0
        assert (perva_store_root / meta["exported_to"].value).read_bytes() == (
            perva_store_root / declared.path
        ).read_bytes()

        leak = materialize(store, fresh, selection=dg.AssetSelection.checks(C.no_concept_in_train_and_validation))
        assert leak.get_asset_check_evaluations()[0].passed
