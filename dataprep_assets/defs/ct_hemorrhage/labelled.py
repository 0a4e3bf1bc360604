"""The labelled sources -> one 6-class table of images and boxes.

Per source: the COCO file is loaded (malformed: `CocoError`), its categories mapped by name
(names the mapping does not list: a reject row per annotation, `unknown_category`, or `CocoError` when
the source says `on_unknown="fail"`), then images that cannot be used (duplicate id, missing on disk,
unreadable, wrong size, no patient in the name) and annotations that cannot be used (orphan,
undefined category, on a rejected image, mapped to `drop`, NaN / non-positive box, beyond the limits of
`lib/limits`, degenerate after clipping) become rejects with a reason. Boxes are clipped to their image
before anything else looks at them. Every image and annotation of the file is kept or rejected exactly
once (`SourceResult.ledgers`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from dataprep_assets.defs.ct_hemorrhage.datasets import CLASSES_6
from dataprep_assets.defs.ct_hemorrhage.patients import image_key, parse_name
from dataprep_assets.lib.accounting import Ledger, account
from dataprep_assets.lib.coco import DROP, CocoError, box_problem, category_map, clip_box, load_coco
from dataprep_assets.lib.limits import ImageTooLargeError, box_limit_problem, open_image
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import SafeFiles, UnsafePathError, safe_join

STAGE = "labelled_coco"


@dataclass(frozen=True)
class Source:
    name: str
    annotations: str
    """Store-relative path of the COCO file; images lie beside it."""
    mapping: dict[str, str]
    on_unknown: str = "reject"
    """A source category the mapping does not list: `reject` its annotations (one row each) or `fail` the source."""


UNKNOWN_CATEGORY_CHOICES = ("reject", "fail")


@dataclass
class SourceResult:
    images: pd.DataFrame
    boxes: pd.DataFrame
    stats: dict[str, int] = field(default_factory=dict)
    ledgers: tuple[Ledger, ...] = ()


def is_clipped(x: float, y: float, w: float, h: float, width: float, height: float) -> bool:
    """Whether the box reaches outside its image (compares the edges, never `(x + w) - x` with `w`)."""
    return x < 0 or y < 0 or x + w > width or y + h > height


def _source_categories(coco: dict, source: Source) -> tuple[dict[int, int | None], set[int]]:
    """Source category id -> target index (None: dropped) and the ids whose names the mapping does not list."""
    unknown = sorted({str(c["name"]) for c in coco["categories"]} - set(source.mapping))
    label = f"{source.name} ({source.annotations})"
    if unknown and source.on_unknown == "fail":
        return category_map(coco["categories"], source.mapping, CLASSES_6, label), set()  # raises naming them
    if source.on_unknown not in UNKNOWN_CATEGORY_CHOICES:
        raise CocoError(
            f"{label}: on_unknown must be one of {list(UNKNOWN_CATEGORY_CHOICES)}, got {source.on_unknown!r}"
        )
    cat_map = category_map(coco["categories"], {**source.mapping, **dict.fromkeys(unknown, DROP)}, CLASSES_6, label)
    return cat_map, {int(c["id"]) for c in coco["categories"] if str(c["name"]) in unknown}


def _image_size(path: Path) -> tuple[int, int]:
    with open_image(path) as img:
        return img.size


def load_source(
    root: Path, source: Source, pattern: str, min_box: float, verify_size: bool, rejects: RejectLog
) -> SourceResult:
    """One source's usable images (with patient ids) and clipped, remapped boxes."""
    coco = load_coco(safe_join(root, source.annotations))
    cat_map, unknown_ids = _source_categories(coco, source)
    names_of = {int(c["id"]): str(c["name"]) for c in coco["categories"]}
    image_dir = Path(source.annotations).parent.as_posix()
    stats = Counter()
    ids = Counter(im["id"] for im in coco["images"])
    seen_names: set[str] = set()
    files = SafeFiles(root)  # path checks and the existence check once per directory, not per image
    images, image_items, kept_items = [], [], []
    for im in sorted(coco["images"], key=lambda i: str(i["file_name"])):
        name = str(im["file_name"])
        item = f"{image_dir}/{name}"
        image_items.append(item)
        if ids[im["id"]] > 1:
            rejects.add(
                item,
                STAGE,
                "duplicate_image_id",
                f"{source.name}: image id {im['id']} is used by {ids[im['id']]} images",
            )
            continue
        if name in seen_names:
            rejects.add(item, STAGE, "duplicate_file_name", f"{source.name}: file_name listed twice")
            continue
        seen_names.add(name)
        parsed = parse_name(name, pattern)
        if parsed is None:
            rejects.add(item, STAGE, "no_patient_id", f"file name does not match {pattern!r}")
            continue
        try:
            path = files.file(image_dir, name)
        except UnsafePathError as exc:
            rejects.add(item, STAGE, "unsafe_path", str(exc))
            continue
        if path is None:
            rejects.add(item, STAGE, "missing_image", "listed in the COCO file but not on disk")
            continue
        width, height = im.get("width"), im.get("height")
        if verify_size:
            try:
                real = _image_size(path)
            except ImageTooLargeError as exc:
                rejects.add(item, STAGE, exc.reason, str(exc).replace(str(path), item))
                continue
            except Exception as exc:
                rejects.add(item, STAGE, "unreadable_image", f"{type(exc).__name__}: {exc}".replace(str(path), item))
                continue
            if (width, height) != real:
                rejects.add(item, STAGE, "size_mismatch", f"COCO says {width}x{height}, file is {real[0]}x{real[1]}")
                continue
        if not isinstance(width, (int, float)) or not isinstance(height, (int, float)) or width <= 0 or height <= 0:
            rejects.add(item, STAGE, "bad_image_size", f"width/height {width!r}x{height!r}")
            continue
        patient, slice_no = parsed
        kept_items.append(item)
        images.append(
            {
                "source": source.name,
                "source_id": im["id"],
                "file_name": f"{source.name}_{name}",
                "source_path": f"{image_dir}/{name}",
                "width": int(width),
                "height": int(height),
                "patient_id": patient,
                "slice": slice_no,
                "key": image_key(patient, slice_no),
            }
        )
    table = pd.DataFrame(
        images,
        columns=["source", "source_id", "file_name", "source_path", "width", "height", "patient_id", "slice", "key"],
    )
    sizes = {im["source_id"]: (im["width"], im["height"], im["source_path"]) for im in images}
    all_ids = set(ids)
    stats["duplicate_annotation_ids"] = sum(
        n - 1 for n in Counter(a["id"] for a in coco["annotations"]).values() if n > 1
    )
    boxes, ann_items, box_items = [], [], []
    for ann in sorted(coco["annotations"], key=lambda a: (str(a["image_id"]), str(a["id"]))):
        item = f"{source.annotations}#annotation={ann['id']}"
        ann_items.append(item)
        if ann["image_id"] not in all_ids:
            rejects.add(item, STAGE, "orphan_annotation", f"image_id {ann['image_id']!r} is not in the file")
            continue
        if ann["image_id"] not in sizes:
            stats["annotations_of_rejected_images"] += 1
            rejects.add(item, STAGE, "image_rejected", f"its image (id {ann['image_id']!r}) is a reject of this stage")
            continue
        if ann["category_id"] not in cat_map:
            rejects.add(
                item, STAGE, "undefined_category", f"category_id {ann['category_id']!r} is not defined in the file"
            )
            continue
        if ann["category_id"] in unknown_ids:
            stats["unknown_category"] += 1
            rejects.add(
                item,
                STAGE,
                "unknown_category",
                f"category {names_of[ann['category_id']]!r} is not in the {source.name} category mapping",
            )
            continue
        target = cat_map[ann["category_id"]]
        if target is None:
            stats["dropped_by_mapping"] += 1
            rejects.add(
                item,
                STAGE,
                "dropped_by_category_mapping",
                f"category {names_of[ann['category_id']]!r} is mapped to '{DROP}'",
            )
            continue
        issue = box_problem(ann["bbox"])
        if issue:
            rejects.add(item, STAGE, "invalid_box", issue)
            continue
        width, height, path = sizes[ann["image_id"]]
        x, y, w, h = map(float, ann["bbox"])
        beyond = box_limit_problem(x, y, w, h, width, height)
        if beyond:
            rejects.add(item, STAGE, "absurd_box", f"{beyond} in {path}")
            continue
        cx, cy, cw, ch = clip_box(x, y, w, h, width, height)
        clipped = is_clipped(x, y, w, h, width, height)
        if cw < min_box or ch < min_box:
            rejects.add(
                item,
                STAGE,
                "degenerate_box",
                f"bbox {ann['bbox']} is {cw:.1f}x{ch:.1f} px inside {width}x{height} (min {min_box}) in {path}",
            )
            continue
        stats["clipped_boxes"] += int(clipped)
        box_items.append(item)
        boxes.append(
            {
                "source": source.name,
                "source_image_id": ann["image_id"],
                "source_ann_id": ann["id"],
                "category_id": target,
                "x": cx,
                "y": cy,
                "w": cw,
                "h": ch,
                "iscrowd": int(ann.get("iscrowd", 0) or 0),
            }
        )
    box_table = pd.DataFrame(
        boxes, columns=["source", "source_image_id", "source_ann_id", "category_id", "x", "y", "w", "h", "iscrowd"]
    )
    stats |= {
        "images_in_file": len(coco["images"]),
        "images_kept": len(table),
        "annotations_in_file": len(coco["annotations"]),
        "annotations_kept": len(box_table),
    }
    ledgers = (
        account(f"{source.name} images", image_items, kept_items, rejected_items(rejects, image_items)),
        account(f"{source.name} annotations", ann_items, box_items, rejected_items(rejects, ann_items)),
    )
    return SourceResult(table, box_table, dict(stats), ledgers)


def rejected_items(rejects: RejectLog, items: list[str]) -> list[str]:
    """The reject rows of `rejects` that refer to one of `items` (one entry per row)."""
    wanted = set(items)
    return [r.item for r in rejects if r.item in wanted]


def merge_sources(results: list[SourceResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One image table and one box table with fresh, dense ids (image order: source, file name)."""
    images = pd.concat([r.images for r in results], ignore_index=True)
    images["id"] = range(len(images))
    id_map = dict(
        zip(
            zip(images["source"].tolist(), images["source_id"].tolist(), strict=True),
            images["id"].tolist(),
            strict=True,
        )
    )
    boxes = pd.concat([r.boxes for r in results], ignore_index=True)
    boxes["image_id"] = [
        id_map[key] for key in zip(boxes["source"].tolist(), boxes["source_image_id"].tolist(), strict=True)
    ]
    boxes = boxes.sort_values(
        ["image_id", "source_ann_id"],
        key=lambda col: col.astype(str) if col.name == "source_ann_id" else col,
        kind="stable",
    )
    boxes["id"] = range(len(boxes))
    boxes["area"] = boxes["w"] * boxes["h"]
    return images, boxes.reset_index(drop=True)
