"""Montages for asset metadata: what the catalog holds, and what retrieval picked per query."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from dataprep_assets.lib.images import montage, png_bytes
from dataprep_assets.lib.storage import safe_join

TILE = 64


def thumb(store_root: Path, relpath: str, size: int = TILE) -> np.ndarray:
    try:
        with Image.open(safe_join(store_root, relpath)) as img:
            return np.asarray(ImageOps.pad(img.convert("RGB"), (size, size), color=(40, 40, 40)))
    except Exception:  # a picture for people: a missing tile must not fail the asset
        return np.full((size, size, 3), 90, dtype=np.uint8)


def catalog_montage(store_root: Path, images: pd.DataFrame, per_category: int = 8) -> bytes:
    """One row per category: the first image of up to `per_category` concepts."""
    tiles = []
    for _, group in images[images["split"] != "negative"].groupby("category", sort=True):
        firsts = group.sort_values("store_path").groupby("concept", sort=True).head(1)["store_path"].tolist()[:per_category]
        tiles += [thumb(store_root, p) for p in firsts]
        tiles += [np.zeros((TILE, TILE, 3), dtype=np.uint8)] * (per_category - len(firsts))
    return png_bytes(montage(tiles, columns=per_category, scale=1))


def retrieval_montage(store_root: Path, records: list[dict], k: int, rows: int = 6) -> bytes:
    """Per row: the query, its positive, then its hard negatives (most similar first)."""
    picked, seen = [], set()
    for rec in records:
        if rec["concept"] not in seen:
            seen.add(rec["concept"])
            picked.append(rec)
        if len(picked) == rows:
            break
    tiles = []
    for rec in picked:
        row = [thumb(store_root, rec["query_path"]), thumb(store_root, rec["positive_path"])]
        row += [thumb(store_root, n["path"]) for n in rec["negatives"]]
        row += [np.zeros((TILE, TILE, 3), dtype=np.uint8)] * (k + 2 - len(row))
        tiles += row
    return png_bytes(montage(tiles, columns=k + 2, scale=1))
