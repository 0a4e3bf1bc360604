"""Where an upstream perva_retrieval output is now: its declaration (`datasets.py`) and the store's version records.

Fixed-path datasets are read as declared. Files the seed names after their parameters are found from the
parameters recorded with a fixed dataset's current version (the split files, from the concept table's), or as the
newest version among the declared names (one category's records, the combined file, the HuggingFace dataset).
Nothing here reads the Dagster event log.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from dataprep_assets.defs.perva_retrieval.datasets import (
    CATALOG,
    COMBINED_PATTERN,
    CONCEPT_TABLE,
    HF_PATTERN,
    RECORDS_PATTERN,
    split_files,
)
from dataprep_assets.lib.datasets import Dataset

if TYPE_CHECKING:  # a store is passed in: this module stays importable without Dagster
    from dataprep_assets.common.store import DatasetStore


class NotMaterialized(LookupError):
    """The upstream asset has written nothing (or nothing this version of the pipeline can find)."""


def recorded(store: DatasetStore, path: str) -> dict:
    """The parameters recorded with the current version of `path` ({} if it was never written)."""
    if store.manifest(path) is None:
        return {}
    return dict(store.current_version(path).meta or {})


def catalog_source(store: DatasetStore) -> dict:
    """`data_root` and `path_prefix` of the current catalog ({} before the first catalog)."""
    return recorded(store, CATALOG.path)


def current_split_files(store: DatasetStore) -> tuple[Dataset, Dataset, Dataset]:
    """The train, validation and metadata files of concept_splits' current version."""
    meta = recorded(store, CONCEPT_TABLE.path)
    if "concept_frac" not in meta or "seed" not in meta:
        raise NotMaterialized(f"{CONCEPT_TABLE.path} has no current version: materialize concept_splits first")
    return split_files(float(meta["concept_frac"]), int(meta["seed"]))


def newest(store: DatasetStore, pattern: str, asset: str, kind: str) -> tuple[Dataset, dict] | None:
    """The dataset matching `pattern` (a glob over store paths) written last, with its recorded parameters."""
    folder = re.split(r"[*?\[]", pattern, maxsplit=1)[0].rsplit("/", 1)[0]  # the pattern's fixed leading folders
    found = [(store.current_version(p), p) for p in store.datasets(under=folder) if fnmatchcase(p, pattern)]
    if not found:
        return None
    record, path = max(found, key=lambda item: (item[0].created_at, item[1]))
    return Dataset(asset, path, kind), dict(record.meta or {})  # pyright: ignore[reportArgumentType]  # kind is a DatasetKind


def current_records(store: DatasetStore, category: str) -> tuple[Dataset, dict] | None:
    """The records retrieval_per_category wrote last for `category`, with its retrieval settings."""
    return newest(store, RECORDS_PATTERN.format(category=category), "retrieval_per_category", "json")


def current_combined(store: DatasetStore) -> tuple[Dataset, dict] | None:
    """The combined file retrieval_combined wrote last, with its settings (`top_k`, seeds, samples)."""
    return newest(store, COMBINED_PATTERN, "retrieval_combined", "json")


def current_hf_dataset(store: DatasetStore) -> tuple[Dataset, dict] | None:
    """The HuggingFace dataset hf_retrieval_dataset saved last, with its `source` and `category`."""
    return newest(store, HF_PATTERN, "hf_retrieval_dataset", "directory")
