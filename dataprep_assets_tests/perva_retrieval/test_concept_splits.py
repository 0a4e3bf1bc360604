"""Concept splits must never put a concept in both files, honour every option, and give the same
answer in every process (the seed seeded with Python's salted `hash()`, which does not)."""

import json
import math
import os
import subprocess
import sys

from dataprep_assets.defs.perva_retrieval.concept_splits import concept_table, create_concept_splits
from dataprep_assets.defs.perva_retrieval.datasets import split_file_names


def _catalog(sizes: dict[str, int], train=3, test=10) -> dict:
    return {
        cat: {
            f"{cat}_{i}": {
                "train": [f"{cat}/{i}/tr{j}.jpg" for j in range(train)],
                "test": [f"{cat}/{i}/te{j}.jpg" for j in range(test)],
            }
            for i in range(n)
        }
        for cat, n in sizes.items()
    }


def _split(catalog, **kw):
    args = {
        "concept_frac": 0.65,
        "min_concepts_threshold": 3,
        "test_sample_frac": 1.0,
        "max_test_images": 200,
        "seed": 23,
    } | kw
    return create_concept_splits(catalog, **args)


def test_no_concept_in_both_and_counts_follow_the_seed():
    catalog = _catalog({"bag": 6, "cup": 3, "veg": 2, "tumbler": 1})
    train, validation, meta = _split(catalog)
    table = concept_table(train, validation)
    assert not table.duplicated("concept_key").any()
    assert len(table) == 12
    assert len(train["bag"]) == math.ceil(0.65 * 6) and len(train["cup"]) == math.ceil(0.65 * 3)
    assert train["veg"] == {} and len(validation["veg"]) == 2 and len(validation["tumbler"]) == 1
    for lists in train["bag"].values():
        assert len(lists["train"]) == 3 + 10 and lists["test"] == []
    assert meta["categories"]["bag"]["selected_concepts"] == sorted(train["bag"])


def test_test_sampling_fraction_and_cap():
    catalog = _catalog({"bag": 4}, test=10)
    train, _, meta = _split(catalog, test_sample_frac=0.5, max_test_images=3)
    for name, lists in train["bag"].items():
        sampled = meta["categories"]["bag"]["sampled_test_images_by_concept"][name]["sampled"]
        assert len(sampled) == 3 and set(sampled) <= set(catalog["bag"][name]["test"])
        assert lists["train"] == catalog["bag"][name]["train"] + sampled
    train, _, _ = _split(catalog, test_sample_frac=0.05)
    assert all(len(lists["train"]) == 3 + 1 for lists in train["bag"].values())  # at least one when frac > 0
    train, _, _ = _split(catalog, test_sample_frac=0.0)
    assert all(len(lists["train"]) == 3 for lists in train["bag"].values())


def test_file_names():
    assert split_file_names(0.65, 23) == (
        "train_combined_concepts_subset_65_seed_23.json",
        "validation_combined_concepts_subset_65_seed_23.json",
        "train_val_combined_metadata_seed_23.json",
    )


def test_same_split_in_every_process():
    code = (
        "import json; from dataprep_assets_tests.perva_retrieval.test_concept_splits import _catalog, _split;"
        "print(json.dumps(_split(_catalog({'bag': 9, 'cup': 5}))[0], sort_keys=True))"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(h)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for h in (1, 2, 3)
    }
    assert len(outputs) == 1
    assert json.loads(outputs.pop()) == _split(_catalog({"bag": 9, "cup": 5}))[0]
