"""The seed's validation report as pure functions over a published COCO dataset directory."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import cv2
import pandas as pd

from dataprep_assets.defs.ct_hemorrhage.augment import decode_complete
from dataprep_assets.defs.ct_hemorrhage.published import CocoFile
from dataprep_assets.lib.coco import CocoError, Problem, box_problem, problem_counts, pycocotools_load
from dataprep_assets.lib.parallel import ordered_map, resolve_workers

READ_CHUNK = 256
# What "this image decodes" depends on besides its bytes (the readable check remembers images by content).
DECODER_VERSION = ("decode_complete", 1, cv2.__version__)


def coco_report(
    dataset_dir: Path, splits: Sequence[str], annotations: str = "_annotations.coco.json"
) -> tuple[pd.DataFrame, list[str]]:
    """Per split: loads with pycocotools, counts, and every problem pycocotools lets through (`streamed_problems`:
    the file read item by item, pycocotools indexing it `PYCOCOTOOLS_BATCH` records at a time)."""
    rows, examples = [], []
    for split in splits:
        split_dir = dataset_dir / split if split else dataset_dir
        row = {"split": split or ".", "images": 0, "annotations": 0, "pycocotools": "ok"}
        try:
            counts, problems = streamed_problems(split_dir / annotations, split_dir)
            row |= counts
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


PYCOCOTOOLS_BATCH = 2048
"""Records pycocotools indexes at a time: each record goes through its `createIndex` as in a whole load."""
REQUIRED = {
    "images": ("id", "file_name"),
    "annotations": ("id", "image_id", "category_id", "bbox"),
    "categories": ("id", "name"),
}


def _records(coco: CocoFile, key: str) -> Iterator[dict]:
    """`key`'s records, each checked to have its required fields (`load_coco`'s error otherwise)."""
    required = REQUIRED[key]
    for i, item in enumerate(coco.images() if key == "images" else coco.annotations()):
        missing = [k for k in required if not isinstance(item, dict) or k not in item]
        if missing:
            raise CocoError(f"{coco.path}: {key}[{i}] lacks {', '.join(missing)}")
        yield item


def _pycocotools_batches(records: Iterator[dict], key: str, categories: list) -> Iterator[dict]:
    """Pass `records` through, having pycocotools index them `PYCOCOTOOLS_BATCH` at a time."""
    batch: list[dict] = []
    for record in records:
        batch.append(record)
        yield record
        if len(batch) == PYCOCOTOOLS_BATCH:
            pycocotools_load({"images": [], "annotations": [], "categories": categories} | {key: batch})
            batch = []
    pycocotools_load({"images": [], "annotations": [], "categories": categories} | {key: batch})


def streamed_problems(path: Path, image_dir: Path | None, tolerance: float = 1e-6) -> tuple[dict, list[Problem]]:
    """`load_coco` + `pycocotools_load` + `validate_coco` of one COCO file, read item by item: ({images, annotations}
    as pycocotools counts them: distinct image ids, annotation records), the problems in `validate_coco`'s order).
    Held: each image's id and size, a 64-bit hash of its file name, each annotation's id (no records)."""
    coco = CocoFile(path)
    try:
        small = coco.small
        for key in ("images", "annotations", "categories"):
            if key not in coco.arrays and not isinstance(small.get(key), list):
                raise CocoError(f"{path}: COCO JSON needs a list `{key}`, got {type(small.get(key)).__name__}")
        categories = list(_checked(small["categories"], path))
        category_ids = {c.get("id") for c in categories}
        name_hashes: set = set()
        image_problems: list[Problem] = []
        ids_seen: dict = {}  # image id -> (width, height) of its last record, as `validate_coco`
        repeated_ids: dict = {}
        repeated_names: set = set()
        for im in _pycocotools_batches(_records(coco, "images"), "images", categories):
            i = im.get("id")
            if i in ids_seen:
                repeated_ids[i] = repeated_ids.get(i, 1) + 1
            w, h = im.get("width"), im.get("height")
            ids_seen[i] = (w, h)
            named = hash(str(im.get("file_name")))
            if named in name_hashes:
                repeated_names.add(named)
            name_hashes.add(named)
            if not isinstance(w, (int, float)) or not isinstance(h, (int, float)) or w <= 0 or h <= 0:
                image_problems.append(Problem("bad_image_size", str(im.get("file_name")), f"width/height {w!r}x{h!r}"))
            if image_dir is not None and not (Path(image_dir) / str(im.get("file_name"))).is_file():
                image_problems.append(
                    Problem("missing_image_file", str(im.get("file_name")), f"not found in {image_dir}")
                )
        sizes = ids_seen
        del name_hashes
        annotation_ids: set = set()
        records = 0  # pycocotools counts annotation records (`getAnnIds()`), image ids (`getImgIds()`)
        repeated_annotations: dict = {}
        annotation_problems: list[Problem] = []
        for a in _pycocotools_batches(_records(coco, "annotations"), "annotations", categories):
            if a.get("id") in annotation_ids:
                repeated_annotations[a.get("id")] = repeated_annotations.get(a.get("id"), 1) + 1
            annotation_ids.add(a.get("id"))
            records += 1
            annotation_problems += _annotation_problems(a, category_ids, sizes, tolerance)
    except FileNotFoundError as exc:
        raise CocoError(f"{path}: COCO file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CocoError(f"{path}: malformed COCO JSON ({exc})") from exc
    problems = _in_first_order(
        "duplicate_image_id", "images share id", repeated_ids, lambda: (im.get("id") for im in coco.images())
    )
    names = {}
    if repeated_names:  # the names behind the repeated hashes, counted exactly
        counted: dict = {}
        for im in coco.images():
            name = im.get("file_name")
            if hash(str(name)) in repeated_names:
                counted[name] = counted.get(name, 0) + 1
        names = {n: c for n, c in counted.items() if c > 1}
    problems += [Problem("duplicate_file_name", str(f), f"{n} images share file_name {f}") for f, n in names.items()]
    problems += _in_first_order(
        "duplicate_annotation_id",
        "annotations share id",
        repeated_annotations,
        lambda: (a.get("id") for a in coco.annotations()),
    )
    counts = {"images": len(sizes), "annotations": records}
    return counts, problems + image_problems + annotation_problems


def _checked(categories: object, path: Path) -> Iterator[dict]:
    for i, item in enumerate(categories if isinstance(categories, list) else []):
        missing = [k for k in REQUIRED["categories"] if not isinstance(item, dict) or k not in item]
        if missing:
            raise CocoError(f"{path}: categories[{i}] lacks {', '.join(missing)}")
        yield item


def _in_first_order(kind: str, what: str, repeated: dict, values: Callable[[], Iterable]) -> list[Problem]:
    """One problem per repeated value (with its total count), in the order the values first occur."""
    if not repeated:
        return []
    order = dict.fromkeys(v for v in values() if v in repeated)
    return [Problem(kind, str(v), f"{repeated[v]} {what} {v}") for v in order]


def _annotation_problems(a: dict, category_ids: set, sizes: dict, tolerance: float) -> list[Problem]:
    """`validate_coco`'s problems of one annotation."""
    item = f"annotation {a.get('id')}"
    problems = []
    if a.get("category_id") not in category_ids:
        problems.append(Problem("undefined_category", item, f"category_id {a.get('category_id')!r} is not defined"))
    if a.get("image_id") not in sizes:
        return [*problems, Problem("orphan_annotation", item, f"image_id {a.get('image_id')!r} does not exist")]
    issue = box_problem(a.get("bbox"))
    if issue:
        return [*problems, Problem("invalid_box", item, issue)]
    x, y, w, h = map(float, a["bbox"])
    iw, ih = sizes[a["image_id"]]
    if not (isinstance(iw, (int, float)) and isinstance(ih, (int, float))):
        return problems
    if x < -tolerance or y < -tolerance or x + w > iw + tolerance or y + h > ih + tolerance:
        problems.append(Problem("box_outside_image", item, f"bbox {a['bbox']} outside {iw}x{ih}"))
    return problems


def box_report(dataset_dir: Path, splits: Sequence[str], annotations: str = "_annotations.coco.json") -> pd.DataFrame:
    """Per split: boxes, boxes inside their image (non-positive sizes count as invalid), share valid. Read item by
    item (`CocoFile`); held: each image's size (an id and two numbers per image of one split)."""
    rows = []
    for split in splits:
        coco = CocoFile(dataset_dir / split / annotations)
        sizes = {im["id"]: (im["width"], im["height"]) for im in coco.images()}
        valid = total = 0
        for a in coco.annotations():
            x, y, w, h = a["bbox"]
            iw, ih = sizes.get(a["image_id"], (0, 0))
            valid += int(w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= iw + 1e-6 and y + h <= ih + 1e-6)
            total += 1
        rows.append({"split": split, "boxes": total, "valid": valid, "valid_share": valid / total if total else 1.0})
    return pd.DataFrame(rows)


def class_presence(
    dataset_dir: Path, splits: Sequence[str], annotations: str = "_annotations.coco.json"
) -> pd.DataFrame:
    """Images containing each class, per split (classes x splits). Read item by item (`CocoFile`); held: the
    classes of each annotated image of one split (an int per image id)."""
    table = {}
    for split in splits:
        coco = CocoFile(dataset_dir / split / annotations)
        names = {c["id"]: c["name"] for c in coco.categories}
        order = list(dict.fromkeys(names.values()))
        classes_of: dict = {}
        for a in coco.annotations():
            name = names.get(a["category_id"], "?")
            bit = 1 << order.index(name) if name in names.values() else 1 << len(order)
            classes_of[a["image_id"]] = classes_of.get(a["image_id"], 0) | bit
        counts = dict.fromkeys(order, 0)
        for mask in classes_of.values():
            for i, name in enumerate(order):
                counts[name] += mask >> i & 1
        table[split] = pd.Series(counts, dtype="int64").reindex(order, fill_value=0)
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
        for im in CocoFile(four_dir / split / annotations).images():
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
