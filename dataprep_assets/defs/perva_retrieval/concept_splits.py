"""Step 2: concept-level train/validation split of the catalog (the seed's `02_create_concept_splits.py`).

In every category with at least `min_concepts_threshold` concepts, `ceil(concept_frac * n)`
concepts are selected for training; their sampled test images are merged into their train list.
All other concepts (and every concept of smaller categories) go to validation unchanged, so no
concept is ever in both. RNGs are seeded per category and per concept with a stable hash (the
seed used Python's salted `hash()`, which changes between processes), and `max_test_images` is
applied (the seed documented it but had the line commented out).

Across refreshes, concepts of the previous version stay in their split: in a category that already has
split concepts, only new concepts are assigned (towards `concept_frac` of the category in train when it
meets the threshold, to validation otherwise); a category without history is split as above.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

import pandas as pd

from dataprep_assets.defs.perva_retrieval.catalog import stable_seed
from dataprep_assets.lib.accounting import Ledger, account
from dataprep_assets.lib.splits import extend_assignment


def create_concept_splits(
    catalog: dict,
    *,
    concept_frac: float,
    min_concepts_threshold: int,
    test_sample_frac: float,
    max_test_images: int,
    seed: int,
    previous: Mapping[str, str] | None = None,
) -> tuple[dict, dict, dict]:
    """(train_combined, validation_combined, metadata) as the seed writes them.

    `previous`: `<category>/<concept>` -> split of the previous version; those concepts keep their split.
    """
    train: dict = {}
    validation: dict = {}
    meta = {
        "seed": seed,
        "concept_frac": concept_frac,
        "min_concepts_threshold": min_concepts_threshold,
        "test_sample_frac": test_sample_frac,
        "max_test_images": max_test_images,
        "categories": {},
    }
    for category in sorted(catalog):
        concepts = catalog[category]
        names = sorted(concepts)
        selected: list[str] = []
        kept = {n: (previous or {})[f"{category}/{n}"] for n in names if f"{category}/{n}" in (previous or {})}
        if kept:
            fractions = {"train": concept_frac, "validation": 1.0 - concept_frac}
            if len(names) < min_concepts_threshold:
                fractions = {"train": 0.0, "validation": 1.0}
            assignment = extend_assignment(kept, names, fractions, stable_seed(seed, category))
            selected = [n for n in names if assignment[n] == "train"]
        elif len(names) >= min_concepts_threshold:
            shuffled = names[:]
            random.Random(stable_seed(seed, category)).shuffle(shuffled)
            selected = sorted(shuffled[: math.ceil(concept_frac * len(names))])
        train[category], validation[category] = {}, {}
        sampled_meta = {}
        for name in selected:
            lists = concepts[name]
            test = list(lists.get("test", []))
            n = min(math.floor(test_sample_frac * len(test)), max_test_images)
            if test_sample_frac > 0 and n == 0 and test and max_test_images > 0:
                n = 1
            sampled = sorted(random.Random(stable_seed(seed, category, name)).sample(test, n)) if n else []
            train[category][name] = {"train": list(lists.get("train", [])) + sampled, "test": []}
            sampled_meta[name] = {"n_original_test": len(test), "n_sampled": len(sampled), "sampled": sampled}
        for name in names:
            if name not in selected:
                validation[category][name] = {
                    "train": list(concepts[name].get("train", [])),
                    "test": list(concepts[name].get("test", [])),
                }
        meta["categories"][category] = {
            "n_concepts": len(names),
            "selected_count": len(selected),
            "selected_concepts": selected,
            "sampled_test_images_by_concept": sampled_meta,
        }
    return train, validation, meta


def concept_table(train: dict, validation: dict) -> pd.DataFrame:
    """One row per (split, category, concept) with its image count: what the leakage check reads."""
    rows = []
    for split, data in (("train", train), ("validation", validation)):
        for category, concepts in data.items():
            for concept, lists in concepts.items():
                images = len(lists.get("train", [])) + len(lists.get("test", []))
                rows.append((split, category, concept, f"{category}/{concept}", images))
    return pd.DataFrame(rows, columns=["split", "category", "concept", "concept_key", "images"])


def _images(data: Mapping, lists: tuple[str, ...] = ("train", "test")) -> list[str]:
    return [
        f"{category}/{concept}/{image}"
        for category, concepts in sorted(data.items())
        for concept, found in sorted(concepts.items())
        for part in lists
        for image in found.get(part, [])
    ]


def split_ledgers(catalog: Mapping, train: Mapping, validation: Mapping, meta: Mapping) -> tuple[Ledger, Ledger]:
    """Every catalog concept is in the concept table with a split; every catalog image is in a split file or
    set aside (a test image of a train concept that was not sampled into its train list)."""
    table = concept_table(dict(train), dict(validation))
    concepts = [f"{c}/{n}" for c, found in sorted(catalog.items()) for n in sorted(found)]
    listed = table.loc[table["split"].isin(["train", "validation"]), "concept_key"].tolist()
    aside = []
    for category, info in sorted(meta["categories"].items()):
        for name, sampled in sorted(info["sampled_test_images_by_concept"].items()):
            picked = set(sampled["sampled"])
            aside += [f"{category}/{name}/{i}" for i in catalog[category][name].get("test", []) if i not in picked]
    return (
        account("concepts", concepts, listed, []),
        account("images", _images(catalog), _images(train) + _images(validation), [], set_aside=aside),
    )
