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

import functools
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dataprep_assets.defs.ct_hemorrhage.datasets import CLASSES_6
from dataprep_assets.defs.ct_hemorrhage.patients import image_key, parse_name
from dataprep_assets.lib.accounting import Ledger, account
from dataprep_assets.lib.coco import DROP, CocoError, box_problem, category_map, clip_boxes, load_coco, usable_boxes
from dataprep_assets.lib.itemcache import StampedResults, fingerprint
from dataprep_assets.lib.limits import ImageTooLargeError, beyond_box_limits, box_limit_problem, open_image
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


IMAGE_COLUMNS = ["source", "source_id", "file_name", "source_path", "width", "height", "patient_id", "slice", "key"]


IMAGE_FACTS_VERSION = 1
"""Bump when `image_facts` changes: remembered facts of an older version are not reused."""


def image_facts_name() -> str:
    """The remembered image facts' file name: their version and the image reader's (Pillow) version."""
    import PIL

    return f"facts-{fingerprint(IMAGE_FACTS_VERSION, PIL.__version__)[:16]}"


def image_facts(path: Path, item: str) -> dict:
    """An image's size, or why it cannot be read (JSON-able, so it can be remembered per file); errors name
    `item` (its store path), never the local path."""
    try:
        with open_image(path) as img:
            return {"size": list(img.size)}
    except ImageTooLargeError as exc:
        return {"error": exc.reason, "detail": str(exc).replace(str(path), item)}
    except Exception as exc:
        return {"error": "unreadable_image", "detail": f"{type(exc).__name__}: {exc}".replace(str(path), item)}


def load_source(
    root: Path,
    source: Source,
    pattern: str,
    min_box: float,
    verify_size: bool,
    rejects: RejectLog,
    facts: StampedResults | None = None,
) -> SourceResult:
    """One source's usable images (with patient ids) and clipped, remapped boxes.

    `facts` remembers each image's size check by its (size, mtime, inode): a rebuild opens only new images."""
    coco = load_coco(safe_join(root, source.annotations))
    cat_map, unknown_ids = _source_categories(coco, source)
    names_of = {int(c["id"]): str(c["name"]) for c in coco["categories"]}
    image_dir = Path(source.annotations).parent.as_posix()
    stats = Counter()
    ids = Counter(im["id"] for im in coco["images"])
    shared_ids = {i for i, n in ids.items() if n > 1}
    seen_names: set[str] = set()
    files = SafeFiles(root)  # path checks and the existence check once per directory, not per image
    name_pattern = re.compile(pattern)
    images, image_items, kept_items = [], [], []
    for im in sorted(coco["images"], key=lambda i: str(i["file_name"])):
        name = str(im["file_name"])
        item = f"{image_dir}/{name}"
        image_items.append(item)
        if shared_ids and im["id"] in shared_ids:
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
        parsed = parse_name(name, name_pattern)
        if parsed is None:
            rejects.add(item, STAGE, "no_patient_id", f"file name does not match {pattern!r}")
            continue
        try:
            path = files.file(image_dir, name) if verify_size else None  # only the size check needs the path
            present = path is not None or (not verify_size and files.is_file(image_dir, name))
        except UnsafePathError as exc:
            rejects.add(item, STAGE, "unsafe_path", str(exc))
            continue
        if not present:
            rejects.add(item, STAGE, "missing_image", "listed in the COCO file but not on disk")
            continue
        width, height = im.get("width"), im.get("height")
        if path is not None:
            read = functools.partial(image_facts, item=item)
            found = (facts.get(item, read) if facts is not None else None) or read(path)
            if "error" in found:
                rejects.add(item, STAGE, found["error"], found["detail"])
                continue
            real = tuple(found["size"])
            if (width, height) != real:
                rejects.add(item, STAGE, "size_mismatch", f"COCO says {width}x{height}, file is {real[0]}x{real[1]}")
                continue
        if not isinstance(width, (int, float)) or not isinstance(height, (int, float)) or width <= 0 or height <= 0:
            rejects.add(item, STAGE, "bad_image_size", f"width/height {width!r}x{height!r}")
            continue
        patient, slice_no = parsed
        kept_items.append(item)
        images.append(
            (
                source.name,
                im["id"],
                f"{source.name}_{name}",
                item,
                int(width),
                int(height),
                patient,
                slice_no,
                image_key(patient, slice_no),
            )
        )
    table = pd.DataFrame.from_records(images, columns=IMAGE_COLUMNS)
    sizes = {row[1]: (row[4], row[5], row[3]) for row in images}  # source id -> width, height, source path
    all_ids = set(ids)
    stats["duplicate_annotation_ids"] = sum(
        n - 1 for n in Counter(a["id"] for a in coco["annotations"]).values() if n > 1
    )
    box_table, ann_items, box_items = _load_boxes(
        coco, source, all_ids, sizes, (cat_map, unknown_ids, names_of), min_box, stats, rejects
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


UNDEFINED, UNKNOWN, DROPPED = -3, -2, -1
"""Category codes of annotations that get no target class (the rest are indexes into `CLASSES_6`)."""
BOX_COLUMNS = ["source", "source_image_id", "source_ann_id", "category_id", "x", "y", "w", "h", "iscrowd"]


def _load_boxes(
    coco: dict,
    source: Source,
    all_ids: set,
    sizes: dict,
    categories: tuple[dict[int, int | None], set[int], dict[int, str]],
    min_box: float,
    stats: Counter,
    rejects: RejectLog,
) -> tuple[pd.DataFrame, list[str], list[str]]:
    """The usable, clipped, remapped boxes of one source, each annotation kept or rejected once (in the order
    of `(image_id, id)` as text). The checks run over whole columns; only reject rows are built one by one."""
    cat_map, unknown_ids, names_of = categories
    anns = coco["annotations"]
    image_text, id_text = [str(a["image_id"]) for a in anns], [str(a["id"]) for a in anns]
    order = np.lexsort((np.array(id_text, dtype=str), np.array(image_text, dtype=str)))
    anns = [anns[i] for i in order.tolist()]
    image_ids, ann_ids, category_ids = ([a[k] for a in anns] for k in ("image_id", "id", "category_id"))
    items = [f"{source.annotations}#annotation={i}" for i in ann_ids]
    n = len(anns)
    refused = np.zeros(n, dtype=bool)
    refusals: list[tuple[int, str, str]] = []

    def refuse(mask: np.ndarray, reason: str, detail) -> None:
        """Refuse the annotations of `mask` not refused by an earlier check, with `detail(i)` as the detail."""
        refusals.extend((int(i), reason, detail(i)) for i in np.flatnonzero(mask & ~refused))
        refused[mask] = True

    code_of = {c: UNKNOWN if c in unknown_ids else DROPPED if t is None else t for c, t in cat_map.items()}
    row_of = {image_id: row for row, image_id in enumerate(sizes)}
    size_of = [*sizes.values(), (0, 0, "")]  # width, height, path per kept image; row -1: none
    orphan = np.array([i not in all_ids for i in image_ids], dtype=bool)
    image_row = np.array([row_of.get(i, -1) for i in image_ids], dtype=np.int64)
    code = np.array([code_of.get(c, UNDEFINED) for c in category_ids], dtype=np.int64)
    refuse(orphan, "orphan_annotation", lambda i: f"image_id {anns[i]['image_id']!r} is not in the file")
    of_rejected = (image_row < 0) & ~refused
    refuse(
        of_rejected,
        "image_rejected",
        lambda i: f"its image (id {anns[i]['image_id']!r}) is a reject of this stage",
    )
    refuse(
        code == UNDEFINED,
        "undefined_category",
        lambda i: f"category_id {anns[i]['category_id']!r} is not defined in the file",
    )
    unknown = (code == UNKNOWN) & ~refused
    refuse(
        unknown,
        "unknown_category",
        lambda i: f"category {names_of[anns[i]['category_id']]!r} is not in the {source.name} category mapping",
    )
    dropped = (code == DROPPED) & ~refused
    refuse(
        dropped,
        "dropped_by_category_mapping",
        lambda i: f"category {names_of[anns[i]['category_id']]!r} is mapped to '{DROP}'",
    )
    xywh, usable = usable_boxes([a["bbox"] for a in anns])
    refuse(~usable, "invalid_box", lambda i: box_problem(anns[i]["bbox"]))
    # each annotation's image size (0 x 0 where it has no kept image: those annotations are refused already)
    width = np.array([w for w, _, _ in size_of], dtype=float)[image_row]
    height = np.array([h for _, h, _ in size_of], dtype=float)[image_row]
    size_rows = [size_of[r] for r in image_row.tolist()]
    with np.errstate(invalid="ignore"):
        beyond = beyond_box_limits(xywh, width, height) & ~refused

    def absurd(i: int) -> str:
        x, y, w, h = map(float, xywh[i])
        return f"{box_limit_problem(x, y, w, h, size_rows[i][0], size_rows[i][1])} in {size_rows[i][2]}"

    refuse(beyond, "absurd_box", absurd)
    clipped_xywh = clip_boxes(np.where(refused[:, None], 0.0, xywh), width, height)
    cw, ch = clipped_xywh[:, 2], clipped_xywh[:, 3]
    refuse(
        (cw < min_box) | (ch < min_box),
        "degenerate_box",
        lambda i: (
            f"bbox {anns[i]['bbox']} is {cw[i]:.1f}x{ch[i]:.1f} px inside {size_rows[i][0]}x{size_rows[i][1]} "
            f"(min {min_box}) in {size_rows[i][2]}"
        ),
    )
    for i, reason, detail in sorted(refusals):  # reject rows in annotation order, as a per-annotation loop adds them
        rejects.add(items[i], STAGE, reason, detail)
    kept = np.flatnonzero(~refused)
    kept_rows = kept.tolist()
    x, y, w, h = xywh[kept].T
    clipped = (x < 0) | (y < 0) | (x + w > width[kept]) | (y + h > height[kept])  # edges, never (x + w) - x vs w
    counted = [
        (of_rejected, "annotations_of_rejected_images"),
        (unknown, "unknown_category"),
        (dropped, "dropped_by_mapping"),
    ]
    firsts = [(int(np.argmax(mask)), key, int(mask.sum())) for mask, key in counted if mask.any()]
    firsts += [(int(kept[0]), "clipped_boxes", int(clipped.sum()))] if kept.size else []
    for _, key, count in sorted(firsts):  # keys in the order the annotations first meet them
        stats[key] += count
    box_table = pd.DataFrame(
        {
            "source": source.name,
            "source_image_id": [image_ids[i] for i in kept_rows],
            "source_ann_id": [ann_ids[i] for i in kept_rows],
            "category_id": code[kept].tolist(),
            "x": clipped_xywh[kept, 0],
            "y": clipped_xywh[kept, 1],
            "w": cw[kept],
            "h": ch[kept],
            "iscrowd": [int(anns[i].get("iscrowd", 0) or 0) for i in kept_rows],
        },
        columns=BOX_COLUMNS,
    )
    return box_table, items, [items[i] for i in kept_rows]


def rejected_items(rejects: RejectLog, items: list[str]) -> list[str]:
    """The reject rows of `rejects` that refer to one of `items` (one entry per row)."""
    wanted = set(items)
    return [r.item for r in rejects if r.item in wanted]


def merge_sources(results: list[SourceResult]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One image table and one box table with fresh, dense ids (image order: source, file name; box order: image,
    then annotation id as text, which is each source's box order within an image)."""
    images = pd.concat([r.images for r in results], ignore_index=True)
    images["id"] = range(len(images))
    offsets = np.cumsum([0, *(len(r.images) for r in results)])
    new_ids = [  # each box's image: its row in its source's image table, shifted by the rows of the sources before
        offset + pd.Index(r.images["source_id"]).get_indexer(pd.Index(r.boxes["source_image_id"]))
        for r, offset in zip(results, offsets.tolist(), strict=False)
    ]
    if any((ids < offset).any() for ids, offset in zip(new_ids, offsets.tolist(), strict=False)):
        raise ValueError("a box of a source refers to an image that is not in the source's image table")
    boxes = pd.concat([r.boxes for r in results], ignore_index=True)
    boxes["image_id"] = np.concatenate(new_ids) if new_ids else np.empty(0, dtype=np.int64)
    boxes = boxes.iloc[np.argsort(boxes["image_id"].to_numpy(), kind="stable")]
    boxes["id"] = range(len(boxes))
    boxes["area"] = boxes["w"] * boxes["h"]
    return images, boxes.reset_index(drop=True)
