"""Catalog views (the seed's PerVA utilities): a k-concept subset near a target image count, concept definitions,
the analysis table."""

import pytest

from dataprep_assets.defs.perva_retrieval.catalog_views import create_perva_concepts, data_analysis, select_perva_subset

CATALOG = {
    "bag": {f"b{i}": {"train": [f"bag/b{i}/{j}.jpg" for j in range(i + 1)], "test": ["t.jpg"]} for i in range(6)},
    "cup": {f"c{i}": {"train": [f"cup/c{i}/{j}.jpg" for j in range(2 * i + 1)], "test": []} for i in range(5)},
}


def test_subset_hits_the_target_with_k_concepts_and_is_seeded():
    subset = select_perva_subset(CATALOG, k=3, target_images=20, seed=1)
    chosen = [(cat, con) for cat, cons in subset.items() for con in cons]
    total = sum(len(e["train"]) + len(e["test"]) for cons in subset.values() for e in cons.values())
    assert len(chosen) == 3 and total == 20
    assert select_perva_subset(CATALOG, k=3, target_images=20, seed=1) == subset
    assert (
        sum(
            len(e["train"]) + len(e["test"])
            for cons in select_perva_subset(CATALOG, 2, 1000).values()
            for e in cons.values()
        )
        == 9 + 7
    )
    with pytest.raises(ValueError, match="k must be"):
        select_perva_subset(CATALOG, k=12, target_images=5)


def test_concept_definitions_and_analysis_table():
    concepts = create_perva_concepts(CATALOG)
    assert len(concepts) == 11 and concepts[0] == {
        "name": "b0",
        "category": "bag",
        "train_images": 1,
        "test_images": 1,
        "reference_image": "bag/b0/0.jpg",
    }
    table = data_analysis(CATALOG).set_index("category")
    assert table.loc["cup"].tolist() == [5, 25, 0, 1, 5.0, 9] and table.loc["total", "concepts"] == 11
    assert table.loc["total", "train_images"] == 21 + 25 and table.loc["bag", "test_images"] == 6
