"""Montages for asset metadata: what the catalog holds, and what retrieval picked per query."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dataprep_assets.lib.images import captioned_montage, png_bytes, thumbnail_file
from dataprep_assets.lib.storage import safe_join

TILE = 96


def thumb(store_root: Path, relpath: str, size: int = TILE) -> np.ndarray:
    """A padded tile of a store image; a gray placeholder where it cannot be read."""
    try:
        return thumbnail_file(safe_join(store_root, relpath), size, fit="pad", fill=(40, 40, 40))
    except Exception:  # a picture for people: a missing tile must not fail the asset
        return np.full((size, size, 3), 90, dtype=np.uint8)


def catalog_montage(store_root: Path, images: pd.DataFrame, per_category: int = 8) -> bytes:
    """One row per category (named on the left): the first image of up to `per_category` concepts, captioned."""
    tiles, captions, rows = [], [], []
    for category, group in images[images["split"] != "negative"].groupby("category", sort=True):
        firsts = group.sort_values("store_path").groupby("concept", sort=True).head(1)[:per_category]
        tiles += [thumb(store_root, p) for p in firsts["store_path"]] + [None] * (per_category - len(firsts))
        captions += [str(c)[:12] for c in firsts["concept"]] + [""] * (per_category - len(firsts))
        rows.append(str(category))
    return png_bytes(captioned_montage(tiles, captions, per_category, row_labels=rows))


def retrieval_montage(store_root: Path, records: list[dict], k: int, rows: int = 6) -> bytes:
    """Per row: the query, its positive, then its hard negatives (most similar first), each captioned with its
    concept and cosine similarity to the query; columns are labelled and only as many as the records fill."""
    picked, seen = [], set()
    for rec in records:
        if rec["concept"] not in seen:
            seen.add(rec["concept"])
            picked.append(rec)
        if len(picked) == rows:
            break
    negatives = min(k, max((len(r["negatives"]) for r in picked), default=0))
    columns = 2 + negatives
    tiles, captions = [], []
    for rec in picked:
        tiles += [thumb(store_root, rec["query_path"]), thumb(store_root, rec["positive_path"])]
        captions += [f"{rec['concept']}"[:14], f"{rec['concept']}"[:14] + f"\nsim {rec['positive_similarity']:.2f}"]
        shown = rec["negatives"][:negatives]
        tiles += [thumb(store_root, n["path"]) for n in shown] + [None] * (negatives - len(shown))
        captions += [f"{n.get('concept', '')}"[:14] + f"\nsim {n['similarity']:.2f}" for n in shown] + [""] * (
            negatives - len(shown)
        )
    labels = ["query", "positive", *[f"negative {i}" for i in range(1, negatives + 1)]]
    return png_bytes(captioned_montage(tiles, captions, columns, column_labels=labels))
