"""Reading the published v4 COCO datasets: each split's COCO from the current folder or from one version's
stored objects (whole, or item by item: `CocoFile`), the version pins that tie a derived dataset to the version it
was made from, and whether a derived dataset still describes the current version of what it pins (a rebuild
without re-export makes it stale)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from dataprep_assets.defs.ct_hemorrhage.datasets import ANNOTATIONS, SPLIT_ORDER
from dataprep_assets.lib.datasets import Dataset
from dataprep_assets.lib.jsonstream import array_items, small_members

if TYPE_CHECKING:
    from dataprep_assets.common.store import DatasetStore


class CocoFile:
    """One COCO file read item by item (`lib.jsonstream`): its small members (`categories`, `info`) are read once,
    `images()` and `annotations()` decode one record at a time on each call, so a pass holds one record, not the
    file."""

    LISTS = ("images", "annotations")

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    @cached_property
    def _members(self) -> tuple[dict, frozenset[str]]:
        arrays: set[str] = set()
        return small_members(self.path, self.LISTS, arrays), frozenset(arrays)

    @property
    def small(self) -> dict:
        """The top-level members but the `images` and `annotations` arrays."""
        return self._members[0]

    @property
    def arrays(self) -> frozenset[str]:
        """Which of `images` and `annotations` the file holds as arrays."""
        return self._members[1]

    @property
    def categories(self) -> list[dict]:
        return self.small.get("categories", [])

    def images(self) -> Iterator[dict]:
        return array_items(self.path, "images")  # pyright: ignore[reportReturnType]  # COCO records are objects

    def annotations(self) -> Iterator[dict]:
        return array_items(self.path, "annotations")  # pyright: ignore[reportReturnType]  # COCO records are objects


class CocoDict:
    """A COCO dict behind `CocoFile`'s interface (for code and tests that have the records in memory)."""

    def __init__(self, coco: dict):
        self.coco = coco
        self.small = {k: v for k, v in coco.items() if k not in CocoFile.LISTS}

    @property
    def categories(self) -> list[dict]:
        return self.coco.get("categories", [])

    def images(self) -> Iterator[dict]:
        return iter(self.coco.get("images", []))

    def annotations(self) -> Iterator[dict]:
        return iter(self.coco.get("annotations", []))


def split_files(store: DatasetStore, dataset: Dataset) -> dict[str, CocoFile]:
    """Each split's COCO file as it is in the dataset's current folder, to be read item by item."""
    return {s: CocoFile(store.path(dataset.path, s, ANNOTATIONS)) for s in SPLIT_ORDER}


def split_files_at(store: DatasetStore, record) -> dict[str, CocoFile]:
    """Each split's COCO file as it is in one version (its stored object, hash-verified), read item by item."""
    return {s: CocoFile(store.member_at(record, f"{s}/{ANNOTATIONS}")) for s in SPLIT_ORDER}


def split_objects(store: DatasetStore, record, split: str) -> dict[str, str]:
    """File name -> stored object (SHA-256) of one split folder's files in a directory version (streamed from the
    version's file list: only that split's names are held)."""
    prefix = f"{split}/"
    return {e.path[len(prefix) :]: e.sha256 for e in store.entries(record) if e.path.startswith(prefix)}


def read_split_coco(store: DatasetStore, dataset: Dataset, split: str) -> dict:
    """One split's COCO as it is in the dataset's current folder."""
    return json.loads(store.path(dataset.path, split, ANNOTATIONS).read_text())


def split_cocos_at(store: DatasetStore, record) -> dict[str, dict]:
    """Each split's COCO as it is in one version of a dataset (from its stored objects, hash-verified), not
    the live folder, which a rebuild may be replacing."""
    return {s: json.loads(store.member_at(record, f"{s}/{ANNOTATIONS}").read_text()) for s in SPLIT_ORDER}


def source_pins(record) -> dict:
    """Version metadata tying a derived dataset to the version it was made from (checkout restores it, GC keeps it)."""
    return {"pins": {record.dataset: record.version_id}, "source_version": f"{record.dataset}@{record.version_id}"}


def stale_pins(store: DatasetStore, derived: str) -> list[dict]:
    """One row per source the current version of `derived` pins whose current version has other content than
    the pinned one (so `derived` describes files the source's folder no longer holds); empty when up to date."""
    record = store.current_version(derived)
    stale = []
    for source, pinned_id in sorted((record.meta.get("pins") or {}).items()):
        pinned, current = store.version(source, pinned_id), store.current_version(source)
        if pinned.dataset_hash != current.dataset_hash:
            stale.append(
                {
                    "derived": f"{derived}@{record.version_id}",
                    "made_from": f"{source}@{pinned.version_id}",
                    "current": f"{source}@{current.version_id}",
                }
            )
    return stale
