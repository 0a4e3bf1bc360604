"""Reading the published v4 COCO datasets: each split's COCO from the current folder or from one version's
stored objects, the version pins that tie a derived dataset to the version it was made from, and whether a
derived dataset still describes the current version of what it pins (a rebuild without re-export makes it
stale)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dataprep_assets.defs.ct_hemorrhage.datasets import ANNOTATIONS, SPLIT_ORDER
from dataprep_assets.lib.datasets import Dataset

if TYPE_CHECKING:
    from dataprep_assets.common.store import DatasetStore


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
