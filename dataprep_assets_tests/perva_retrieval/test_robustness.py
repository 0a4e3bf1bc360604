"""Issue 13 cases for perva_retrieval: a category with two concepts whose split leaves no training concept, and
a partition missing from a catalog given in config, give empty partitions with a note, never a KeyError that
blocks `retrieval_combined`."""

import json

import numpy as np
from PIL import Image

from dataprep_assets.defs.perva_retrieval import assets as A
from dataprep_assets.defs.perva_retrieval.datasets import PARTITIONS_NAME
from dataprep_assets_tests.perva_retrieval.conftest import materialize


def _image(root, rel: str, seed: int) -> str:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(path)
    return rel


def test_two_concept_category_and_missing_partition_do_not_block_combined(store, store_root, instance):
    catalog = {"duo": {}, "trio": {}}
    for c in ("a", "b"):  # two concepts: the concept split put both in validation, so `train` lists are empty
        catalog["duo"][c] = {"train": [], "test": [_image(store_root, f"raw/duo/{c}/{i}.png", i) for i in range(2)]}
    for k, c in enumerate(("x", "y", "z")):
        catalog["trio"][c] = {
            "train": [_image(store_root, f"raw/trio/{c}/{i}.png", 10 * k + i) for i in range(2)],
            "test": [],
        }
    (store_root / "catalog.json").write_text(json.dumps(catalog))
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["bag", "duo", "trio"])
    ops = {"retrieval_per_category": {"config": {"catalog": "catalog.json", "top_k": 2, "max_workers": 1}}}
    notes = {}
    for category in ("bag", "duo", "trio"):
        result = materialize(
            store, instance, selection=[A.retrieval_per_category], partition_key=category, ops=ops, raise_on_error=False
        )
        assert result.success, category
        meta = result.asset_materializations_for_node("retrieval_per_category")[0].metadata
        notes[category] = (meta["dagster/row_count"].value, meta.get("note").value if "note" in meta else "")
    assert notes["trio"] == (6, "")
    assert notes["duo"][0] == 0 and "no hard negatives possible" in notes["duo"][1]
    assert notes["bag"][0] == 0 and "bag: not in catalog.json" in notes["bag"][1]
    combined = materialize(
        store,
        instance,
        selection=[A.retrieval_combined],
        ops={"retrieval_combined": {"config": {"categories": ["bag", "duo", "trio"]}}},
    )
    assert combined.success
    assert combined.asset_materializations_for_node("retrieval_combined")[0].metadata["dagster/row_count"].value == 6


def test_categories_differing_only_in_case_keep_one_and_reject_the_other_image_by_image(tmp_path):
    from dataprep_assets.defs.perva_retrieval.catalog import (
        CatalogOptions,
        build_catalog,
        catalog_ledger,
        inspect_chunk,
        scan,
    )

    n = 0
    for category in ("Bag", "bag"):
        for c in ("a", "b"):
            for i in range(2):
                n += 1
                _image(tmp_path, f"raw/perva/{category}/{c}/{i}.png", n)
    opts = CatalogOptions(data_root="raw/perva", train_fraction=0.5)
    found, rejects, layout = scan(tmp_path, opts)
    assert {f.category for f in found} == {"Bag"}
    lost = sorted(r.item for r in rejects if r.reason == "output_name_collision")
    assert lost == [f"raw/perva/bag/{c}/{i}.png" for c in ("a", "b") for i in range(2)]
    inspected = {row[0]: row for row in inspect_chunk((str(tmp_path), [f.store_path for f in found]))}
    result = build_catalog(found, inspected, rejects, opts, layout)
    assert catalog_ledger(found, result).metadata()["records_unaccounted"] == 0
