"""Steps 4 and 5: merge the categories' records, optionally sample, and build the HF dataset.

The HuggingFace dataset follows the seed's `05_convert_to_hf_dataset.py`: a `DatasetDict` with a
`train` split whose `image` column embeds the query image (original file bytes, no re-encoding),
`ret_paths` references the candidates by path, `names` labels them A, B, C..., and `solution` is
the positive's name. Listener columns of the seed (which need concept descriptions produced by a
VLM) are not built here.
"""

from __future__ import annotations

import random
import string
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import datasets

from dataprep_assets.lib.accounting import Ledger, account
from dataprep_assets.lib.storage import safe_join

CATEGORY_NAMES = {
    "veg": "vegetable",
    "decoration": "decoration object",
    "retail": "retail object",
    "tro_bag": "trolley bag",
}
HF_COLUMNS = [
    "image",
    "example_idx",
    "query_path",
    "category",
    "category_key",
    "concept",
    "ret_paths",
    "names",
    "label",
    "solution",
    "ret_concepts",
    "ret_similarities",
    "speaker_problem",
]


def combine_records(per_category: dict[str, list[dict]], num_samples: int | None, seed: int) -> list[dict]:
    """All records in category order; a seeded random sample of `num_samples` when set (as the seed)."""
    merged = [rec for category in sorted(per_category) for rec in per_category[category]]
    if num_samples is not None and num_samples < len(merged):
        merged = random.Random(seed).sample(merged, num_samples)
    return merged


def record_ids(records: Iterable[dict]) -> list[str]:
    """One id per retrieval record (category / query image), for the accounting."""
    return [f"{r['category']}/{r['query_path']}" for r in records]


def combine_ledger(per_category: dict[str, list[dict]], written: list[dict], sampled: bool) -> Ledger:
    """Every category's record is in the combined file as written, or (only when sampling) set aside: not drawn."""
    records = record_ids(rec for category in sorted(per_category) for rec in per_category[category])
    drawn = Counter(record_ids(written))
    aside = list((Counter(records) - drawn).elements()) if sampled else []
    return account("records", records, record_ids(written), [], set_aside=aside)


def hf_ledger(records: list[dict], category: str, saved: datasets.Dataset, shown: Callable[[str], str]) -> Ledger:
    """Every combined record is one row of the saved dataset, or set aside: another category than the one
    exported. `shown`: how a record's query path appears in the dataset (relative or absolute)."""
    exported = [category in ("all", r["category"]) for r in records]
    ids = [f"{r['category']}/{shown(r['query_path'])}" for r in records]
    rows = [f"{c}/{p}" for c, p in zip(saved["category_key"], saved["query_path"], strict=True)]
    return account("records", ids, rows, [], set_aside=[i for i, e in zip(ids, exported, strict=True) if not e])


def speaker_problem(category: str) -> str:
    return (
        f"Describe the {category} in the image in four parts.\n"
        f'<coarse>: five or six words starting with "A photo of a {category}".\n'
        f'<detailed>: one sentence starting with "The {category}" naming three or four permanent identity features '
        "(colour, pattern, markings, shape), nothing that could change between photos.\n"
        f"<state>: the pose or state of the {category} (open, folded, lying, standing...).\n"
        "<location>: where it is and what is around it.\n"
        "Answer as "
        "<thinking>...</thinking><coarse>...</coarse><detailed>...</detailed><state>...</state><location>...</location>."
    )


def hf_features(embed_retrieved: bool) -> datasets.Features:
    features = {
        "image": datasets.Image(),
        "example_idx": datasets.Value("int64"),
        "query_path": datasets.Value("string"),
        "category": datasets.Value("string"),
        "category_key": datasets.Value("string"),
        "concept": datasets.Value("string"),
        "ret_paths": datasets.Sequence(datasets.Value("string")),
        "names": datasets.Sequence(datasets.Value("string")),
        "label": datasets.Value("int64"),
        "solution": datasets.Value("string"),
        "ret_concepts": datasets.Sequence(datasets.Value("string")),
        "ret_similarities": datasets.Sequence(datasets.Value("float32")),
        "speaker_problem": datasets.Value("string"),
    }
    if embed_retrieved:
        features["ret_images"] = datasets.Sequence(datasets.Image())
    return datasets.Features(features)


def shown_path(store_root: Path, rel: str, absolute: bool) -> str:
    """A path as the HF dataset shows it: relative to the store, or absolute."""
    return str(safe_join(store_root, rel).resolve()) if absolute else rel


def hf_rows(records: list[dict], store_root: Path, *, absolute_paths: bool, embed_retrieved: bool) -> dict[str, list]:
    """Column-wise rows for `Dataset.from_dict`."""
    columns: dict[str, list] = {name: [] for name in HF_COLUMNS + (["ret_images"] if embed_retrieved else [])}

    def shown(rel: str) -> str:
        return shown_path(store_root, rel, absolute_paths)

    def image(rel: str) -> dict:
        return {"bytes": safe_join(store_root, rel).read_bytes(), "path": rel}

    for idx, rec in enumerate(records):
        sims = {n["path"]: n["similarity"] for n in rec["negatives"]}
        concepts = {n["path"]: n["concept"] for n in rec["negatives"]}
        sims[rec["positive_path"]] = rec["positive_similarity"]
        concepts[rec["positive_path"]] = rec["concept"]
        names = list(string.ascii_uppercase[: len(rec["ret_paths"])])
        label = int(rec["label"])
        display = CATEGORY_NAMES.get(rec["category"], rec["category"])
        columns["image"].append(image(rec["query_path"]))
        columns["example_idx"].append(idx)
        columns["query_path"].append(shown(rec["query_path"]))
        columns["category"].append(display)
        columns["category_key"].append(rec["category"])
        columns["concept"].append(rec["concept"])
        columns["ret_paths"].append([shown(p) for p in rec["ret_paths"]])
        columns["names"].append(names)
        columns["label"].append(label)
        columns["solution"].append(names[label])
        columns["ret_concepts"].append([concepts[p] for p in rec["ret_paths"]])
        columns["ret_similarities"].append([float(sims[p]) for p in rec["ret_paths"]])
        columns["speaker_problem"].append(speaker_problem(display))  # pyright: ignore[reportArgumentType]  # CATEGORY_NAMES maps to names; the key itself is the fallback
        if embed_retrieved:
            columns["ret_images"].append([image(p) for p in rec["ret_paths"]])
    return columns


def build_hf_dataset(
    records: list[dict], store_root: Path, *, absolute_paths: bool = False, embed_retrieved: bool = False
) -> datasets.DatasetDict:
    columns = hf_rows(records, store_root, absolute_paths=absolute_paths, embed_retrieved=embed_retrieved)
    dataset = datasets.Dataset.from_dict(columns, features=hf_features(embed_retrieved))
    return datasets.DatasetDict({"train": dataset})
