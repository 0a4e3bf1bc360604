"""The seed's validation report as pure functions over a published COCO dataset directory."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import cv2
import pandas as pd

from dataprep_assets.defs.ct_hemorrhage.augment import decode_complete
from dataprep_assets.lib.coco import CocoError, load_coco, problem_counts, pycocotools_load, validate_coco
from dataprep_assets.lib.parallel import ordered_map, resolve_workers

READ_CHUNK = 256
# What "this image decodes" depends on besides its bytes (the readable check remembers images by content).
DECODER_VERSION = ("decode_complete", 1, cv2.__version__)


def coco_report(
    dataset_dir: Path, splits: Sequence[str], annotations: str = "_annotations.coco.json"
) -> tuple[pd.DataFrame, list[str]]:
    """Per split: loads with pycocotools, counts, and every problem pycocotools lets through."""
    rows, examples = [], []
    for split in splits:
        split_dir = dataset_dir / split if split else dataset_dir
        row = {"split": split or ".", "images": 0, "annotations": 0, "pycocotools": "ok"}
        try:
            coco = load_coco(split_dir / annotations)
            api = pycocotools_load(coco)
            row |= {"images": len(api.getImgIds()), "annotations": len(api.getAnnIds())}
            problems = validate_coco(coco, split_dir)
        except CocoError as exc:
            row["pycocotools"] = "not loaded"
            rows.append(row | {"problems": 1})
            examples.append(str(exc))
            continue
        except Exception as exc:  # pycocotools itself refusing the file
            row["pycocotools"] = f"{type(exc).__name__}"
            rows.append(row | {"problems": 1})
            examples.append(f"{split}: pycocotools: {exc}")
            continue
        row |= {"problems": len(problems), **problem_counts(problems)}
        rows.append(row)
        examples += [f"{split}: {p.kind}: {p.item}: {p.detail}" for p in problems[:5]]
    return pd.DataFrame(rows).fillna(0), examples


def box_report(dataset_dir: Path, splits: Sequence[str], annotations: str = "_annotations.coco.json") -> pd.DataFrame:
    """Per split: boxes, boxes inside their image (non-positive sizes count as invalid), share valid."""
    rows = []
    for split in splits:
        coco = load_coco(dataset_dir / split / annotations)
        sizes = {im["id"]: (im["width"], im["height"]) for im in coco["images"]}
        valid = 0
        for a in coco["annotations"]:
            x, y, w, h = a["bbox"]
            iw, ih = sizes.get(a["image_id"], (0, 0))
            valid += int(w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= iw + 1e-6 and y + h <= ih + 1e-6)
        total = len(coco["annotations"])
        rows.append({"split": split, "boxes": total, "valid": valid, "valid_share": valid / total if total else 1.0})
    return pd.DataFrame(rows)


def class_presence(
    dataset_dir: Path, splits: Sequence[str], annotations: str = "_annotations.coco.json"
) -> pd.DataFrame:
    """Images containing each class, per split (classes x splits)."""
    table = {}
    for split in splits:
        coco = load_coco(dataset_dir / split / annotations)
        names = {c["id"]: c["name"] for c in coco["categories"]}
        pairs = {(a["image_id"], names.get(a["category_id"], "?")) for a in coco["annotations"]}
        table[split] = (
            pd.Series([n for _, n in pairs], dtype="object").value_counts().reindex(list(names.values()), fill_value=0)
        )
    return pd.DataFrame(table).fillna(0).astype(int)


def unreadable_chunk(paths: Sequence[str]) -> list[str]:
    """Files in `paths` that do not decode to a non-empty image (worker function)."""
    bad = []
    for path in paths:
        try:
            image = decode_complete(Path(path).read_bytes())
        except Exception:
            image = None
        if image is None:
            bad.append(path)
    return bad


def unreadable_images(paths: Sequence[str], max_workers: int = 0) -> list[str]:
    """Every path that does not decode; parallel in chunks when there are many (a worker per 4 chunks at most)."""
    chunks = [list(paths[i : i + READ_CHUNK]) for i in range(0, len(paths), READ_CHUNK)]
    workers = resolve_workers(max_workers, len(chunks), 4)
    return [p for bad in ordered_map(unreadable_chunk, chunks, max_workers=workers) for p in bad]


def links_report(
    four_dir: Path,
    six_objects: Mapping[str, str],
    object_path: Callable[[str], Path],
    splits: Sequence[str],
    annotations: str = "_annotations.coco.json",
) -> tuple[dict, list[str]]:
    """Every 4-class image must be a link (symbolic or hard) to the stored object of the 6-class file of the
    same name (`six_objects`: 6-class path -> SHA-256), so a later 6-class rebuild can never change it."""
    counts = {"images": 0, "symlinks": 0, "hardlinks": 0, "copies_or_missing": 0, "broken": 0}
    bad = []
    for split in splits:
        for im in load_coco(four_dir / split / annotations)["images"]:
            counts["images"] += 1
            name = f"{split}/{im['file_name']}"
            link, sha = four_dir / name, six_objects.get(name)
            target = object_path(sha) if sha else None
            if target is None or not target.exists():
                counts["broken"] += 1
                bad.append(f"{name}: no stored object of the 6-class file")
            elif link.is_symlink():
                if link.exists() and os.path.samefile(link, target):
                    counts["symlinks"] += 1
                else:
                    counts["broken"] += 1
                    bad.append(f"{name}: broken link")
            elif link.exists() and os.path.samefile(link, target):
                counts["hardlinks"] += 1
            else:
                counts["copies_or_missing"] += 1
                bad.append(f"{name}: not a link to the stored 6-class object")
    return counts, bad
