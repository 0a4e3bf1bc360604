"""Step 3 for one category: which images, and the seed's retrieval records from a search result.

A record (one per query image) keeps the seed's fields — `query_path`, `ret_paths` (the positive
and the hard negatives, shuffled), `label` (the positive's index in `ret_paths`), `category` — and
adds what the seed only had in memory: the query's `concept`, the `positive_path` and each
negative's path, concept and similarity. Paths are store-relative.
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd

from dataprep_assets.defs.perva_retrieval.catalog import stable_seed
from dataprep_assets.defs.perva_retrieval.search import SearchResult

SPLITS = ("train", "test", "train+test")


def category_images(source: dict, category: str, split: str, prefix: str = "") -> tuple[pd.DataFrame, list[str]]:
    """(concept, path) rows of one category, sorted by concept then path, and the paths refused
    because they are listed under two concepts (their label is ambiguous). `prefix` makes the
    source's paths store-relative (catalogs written with `relative=True`)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    keys = ("train", "test") if split == "train+test" else (split,)
    rows = set()
    for concept, lists in (source.get(category) or {}).items():
        for key in keys:
            for path in lists.get(key, []):
                rows.add((concept, prefix + path if prefix and not path.startswith(prefix) else path))
    frame = pd.DataFrame(sorted(rows), columns=["concept", "path"])
    ambiguous = frame["path"].duplicated(keep=False)
    return frame[~ambiguous].reset_index(drop=True), sorted(set(frame.loc[ambiguous, "path"]))


def expected_negatives(concepts: pd.Series, k: int, one_per_concept: bool) -> np.ndarray:
    """How many negatives each query can have: K, or fewer when the category is too small."""
    sizes = concepts.map(concepts.value_counts())
    available = (concepts.nunique() - 1) if one_per_concept else (len(concepts) - sizes)
    return np.minimum(k, np.asarray(available, dtype=np.int64) * np.ones(len(concepts), dtype=np.int64))


def build_records(category: str, images: pd.DataFrame, result: SearchResult, seed: int) -> list[dict]:
    """One seed-format record per query; `ret_paths` is shuffled with a per-query seeded RNG."""
    paths = images["path"].tolist()
    concepts = images["concept"].tolist()
    records = []
    for q, query in enumerate(paths):
        negatives = [
            {"path": paths[j], "concept": concepts[j], "similarity": round(float(s), 6)}
            for j, s in zip(result.neg_idx[q], result.neg_sim[q], strict=True)
            if j >= 0
        ]
        p = int(result.pos_idx[q])
        positive = paths[p] if p >= 0 else query
        ret_paths = [positive] + [n["path"] for n in negatives]
        random.Random(stable_seed(seed, category, query)).shuffle(ret_paths)
        records.append(
            {
                "query_path": query,
                "category": category,
                "concept": concepts[q],
                "positive_path": positive,
                "positive_similarity": round(float(result.pos_sim[q]), 6) if p >= 0 else 1.0,
                "positive_is_query": p < 0,
                "negatives": negatives,
                "ret_paths": ret_paths,
                "label": ret_paths.index(positive),
            }
        )
    return records


def verify_records(
    records: list[dict],
    images: pd.DataFrame,
    category: str,
    k: int,
    one_per_concept: bool,
    truth: pd.DataFrame | None = None,
) -> dict[str, list[str]]:
    """Problems in a category's records, by kind (empty lists: all good); what the checks run.

    `truth` (the catalog's image table: store_path, category, concept) overrides what the
    partition's own image list says, so a mislabelled source file is caught too.
    """
    where = {p: (category, c) for p, c in zip(images["path"], images["concept"], strict=True)}
    if truth is not None:
        where |= {
            p: (cat, c) for p, cat, c in zip(truth["store_path"], truth["category"], truth["concept"], strict=True)
        }
    expected = dict(zip(images["path"], expected_negatives(images["concept"], k, one_per_concept), strict=True))
    problems: dict[str, list[str]] = {"wrong_negative": [], "too_few": [], "bad_label": []}
    for rec in records:
        q = rec["query_path"]
        q_cat, q_concept = where.get(q, (None, None))
        if rec["category"] != category or q_cat != category:
            problems["wrong_negative"].append(
                f"{q}: query is in category {q_cat}, record says {rec['category']}, partition is {category}"
            )
        for neg in rec["negatives"]:
            p = neg["path"]
            n_cat, n_concept = where.get(p, (None, None))
            if p == q:
                problems["wrong_negative"].append(f"{q}: the query itself is a negative")
            elif n_cat != category:
                problems["wrong_negative"].append(f"{q}: negative {p} is in category {n_cat}, not {category}")
            elif n_concept == q_concept or n_concept != neg["concept"]:
                problems["wrong_negative"].append(
                    f"{q}: negative {p} is concept {n_concept} (record says {neg['concept']}), query is {q_concept}"
                )
        if one_per_concept and len({n["concept"] for n in rec["negatives"]}) != len(rec["negatives"]):
            problems["wrong_negative"].append(f"{q}: two negatives share a concept")
        if len(rec["negatives"]) < expected.get(q, k):
            problems["too_few"].append(f"{q}: {len(rec['negatives'])} negatives, {expected.get(q, k)} possible")
        if not (0 <= rec["label"] < len(rec["ret_paths"])) or rec["ret_paths"][rec["label"]] != rec["positive_path"]:
            problems["bad_label"].append(f"{q}: label {rec['label']} does not point at the positive")
    return problems
