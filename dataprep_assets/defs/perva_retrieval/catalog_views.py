"""Views derived from a catalog (`{category: {concept: {"train": [...], "test": [...]}}}`, what `image_catalog`
writes): a subset, concept definitions and per-category statistics, as the seed's PerVA utilities made them:

- `select_perva_subset(catalog, k, target_images, seed)`: k concepts whose image count is as close as possible to a
  target (the seed's `select_perva_subset.py`), returned as a catalog of just those concepts;
- `create_perva_concepts(catalog)`: one concept definition per concept (the seed's `create_perva_concepts.py`):
  name, category, image counts and a reference image;
- `data_analysis(catalog)`: per category, concepts and images per split with per-concept min / mean / max (the
  seed's `data_analysis.py`), as a table.

    from dataprep_assets.defs.perva_retrieval.catalog_views import select_perva_subset
    subset = select_perva_subset(json.load(open("var/store/manifests/PerVA/catalog.json")), k=20, target_images=1000)
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import pandas as pd

SPLITS = ("train", "test")


def _count(entry: Mapping, splits: Sequence[str]) -> int:
    return sum(len(entry.get(s, [])) for s in splits)


def select_perva_subset(
    catalog: Mapping, k: int, target_images: int, seed: int = 0, splits: Sequence[str] = SPLITS
) -> dict:
    """k concepts (across categories) whose images in `splits` add up closest to `target_images`: a seeded start,
    then single swaps while they bring the total closer (deterministic for a catalog, k, target and seed)."""
    concepts = sorted((cat, con) for cat, cons in catalog.items() for con in cons)
    if not 0 < k <= len(concepts):
        raise ValueError(f"k must be in [1, {len(concepts)}] (the catalog's concepts), got {k}")
    size = {c: _count(catalog[c[0]][c[1]], splits) for c in concepts}
    chosen = set(random.Random(seed).sample(concepts, k))
    total = sum(size[c] for c in chosen)
    improved = True
    while improved:
        improved = False
        for inside in sorted(chosen):
            best = min(
                (c for c in concepts if c not in chosen),
                key=lambda c: (abs(total - size[inside] + size[c] - target_images), c),
                default=None,
            )
            if best is not None and abs(total - size[inside] + size[best] - target_images) < abs(total - target_images):
                chosen.remove(inside)
                chosen.add(best)
                total += size[best] - size[inside]
                improved = True
                break
    out: dict = {}
    for cat, con in sorted(chosen):
        out.setdefault(cat, {})[con] = catalog[cat][con]
    return out


def create_perva_concepts(catalog: Mapping) -> list[dict]:
    """One definition per concept, sorted: `name`, `category`, `train_images`, `test_images`, `reference_image`
    (the first train image, else the first test image)."""
    out = []
    for cat in sorted(catalog):
        for con in sorted(catalog[cat]):
            entry = catalog[cat][con]
            images = list(entry.get("train", [])) + list(entry.get("test", []))
            out.append(
                {
                    "name": con,
                    "category": cat,
                    "train_images": len(entry.get("train", [])),
                    "test_images": len(entry.get("test", [])),
                    "reference_image": images[0] if images else "",
                }
            )
    return out


def data_analysis(catalog: Mapping) -> pd.DataFrame:
    """Per category (and a `total` row): concepts, train and test images, and images per concept (min, mean, max)."""
    rows = []
    for cat in [*sorted(catalog), "total"]:
        entries = [e for c in (sorted(catalog) if cat == "total" else [cat]) for e in catalog[c].values()]
        per_concept = [_count(e, SPLITS) for e in entries]
        rows.append(
            {
                "category": cat,
                "concepts": len(entries),
                "train_images": sum(len(e.get("train", [])) for e in entries),
                "test_images": sum(len(e.get("test", [])) for e in entries),
                "min_per_concept": min(per_concept, default=0),
                "mean_per_concept": round(sum(per_concept) / len(per_concept), 2) if per_concept else 0.0,
                "max_per_concept": max(per_concept, default=0),
            }
        )
    return pd.DataFrame(rows)
