"""The published datasets: per-split COCO files, the 4-class derivative, CSV rows and the analysis."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import pandas as pd

from dataprep_assets.defs.ct_hemorrhage.augment import AugImage
from dataprep_assets.defs.ct_hemorrhage.datasets import CLASSES_6, SPLIT_ORDER
from dataprep_assets.defs.ct_hemorrhage.ledgers import CocoLike, add_original
from dataprep_assets.defs.ct_hemorrhage.published import CocoDict, CocoFile
from dataprep_assets.lib.coco import categories_block
from dataprep_assets.lib.storage import StreamedJsonWriter

IMAGE_EXTRAS = ("patient_id", "source", "original", "aug_index")


def split_coco(
    images: Sequence[AugImage],
    extras: Mapping[str, Mapping],
    classes: Sequence[str] = CLASSES_6,
    info: Mapping | None = None,
) -> dict:
    """COCO for one split: ids in the order given; `extras[original]` adds patient_id and source."""
    img_records, ann_records = [], []
    for image_id, im in enumerate(images):
        record, annotations = coco_records(image_id, len(ann_records), im, extras[im.original])
        img_records.append(record)
        ann_records += annotations
    return {
        "info": dict(info or {}),
        "images": img_records,
        "annotations": ann_records,
        "categories": categories_block(classes),
    }


def coco_records(image_id: int, first_annotation_id: int, im: AugImage, extra: Mapping) -> tuple[dict, list[dict]]:
    """One published image's COCO entry and its boxes' (annotation ids from `first_annotation_id`)."""
    record = {
        "id": image_id,
        "file_name": im.file_name,
        "width": int(im.width),
        "height": int(im.height),
        "patient_id": str(extra["patient_id"]),
        "source": str(extra["source"]),
        "original": im.original,
        "aug_index": int(im.aug_index),
    }
    annotations = [
        {
            "id": first_annotation_id + k,
            "image_id": image_id,
            "category_id": int(cat),
            "bbox": [float(x), float(y), float(w), float(h)],
            "area": round(float(w) * float(h), 2),
            "iscrowd": 0,
            "segmentation": [],
        }
        for k, (cat, x, y, w, h) in enumerate(im.boxes)
    ]
    return record, annotations


class SplitCocoWriter:
    """`split_coco` written to `path` as the split's images arrive, the same bytes as `atomic_write_json(path,
    split_coco(...))` (`StreamedJsonWriter`), holding none of them: it keeps the counts, the ledger items of the
    originals (`ledgers.add_original`) and the first `sample` augmented images with boxes (for a montage)."""

    def __init__(
        self,
        path: str | os.PathLike,
        split: str,
        extras: Mapping[str, Mapping],
        classes: Sequence[str] = CLASSES_6,
        info: Mapping | None = None,
        sample: int = 12,
    ):
        self.split, self.extras, self.sample_size = split, extras, sample
        categories = categories_block(classes)
        self.json = StreamedJsonWriter(path, {"info": dict(info or {}), "categories": categories}, LISTS)
        self.counts = dict.fromkeys(("images", "originals", "augmented", "annotations", "no_hemorrhage"), 0)
        self.originals: tuple[list[str], list[str]] = ([], [])
        self.sample: dict = {"images": [], "annotations": [], "categories": categories}

    def add(self, im: AugImage) -> None:
        extra = self.extras[im.original]
        record, annotations = coco_records(self.counts["images"], self.counts["annotations"], im, extra)
        self.json.add("images", record)
        for annotation in annotations:
            self.json.add("annotations", annotation)
        augmented = record["aug_index"] > 0
        self.counts["images"] += 1
        self.counts["augmented" if augmented else "originals"] += 1
        self.counts["annotations"] += len(annotations)
        self.counts["no_hemorrhage"] += not annotations
        add_original(self.originals, self.split, record, annotations)
        if augmented and annotations and len(self.sample["images"]) < self.sample_size:
            self.sample["images"].append(record)
            self.sample["annotations"] += annotations

    def close(self) -> None:
        self.json.close()

    def discard(self) -> None:
        self.json.discard()


LISTS = ("images", "annotations")


def boxes_by_image(annotations: Iterable[Mapping]) -> dict[int, tuple]:
    """Image id -> its boxes `(category_id, x, y, w, h)`, in annotation id order (read one annotation at a time)."""
    out: dict[int, list] = {}
    for a in annotations:
        out.setdefault(a["image_id"], []).append((a["id"], int(a["category_id"]), *map(float, a["bbox"])))
    return {k: tuple(box[1:] for box in sorted(v, key=lambda box: box[0])) for k, v in out.items()}


def four_class_categories(categories6: Sequence[Mapping], drop: Sequence[str]) -> tuple[list[str], dict[int, int]]:
    """The classes kept (in id order) and each kept 6-class category id's new id (0..n-1)."""
    names = [c["name"] for c in sorted(categories6, key=lambda c: c["id"])]
    kept = [n for n in names if n not in set(drop)]
    return kept, {c["id"]: kept.index(c["name"]) for c in categories6 if c["name"] in kept}


def four_class_coco(coco6: Mapping, drop: Sequence[str]) -> dict:
    """The same images without the dropped classes' annotations; kept classes renumbered 0..n-1."""
    kept, old_to_new = four_class_categories(coco6["categories"], drop)
    return {
        "info": dict(coco6.get("info", {})),
        "images": list(coco6["images"]),
        "annotations": [
            dict(ann, id=n, category_id=old_to_new[ann["category_id"]])
            for n, ann in enumerate(a for a in coco6["annotations"] if a["category_id"] in old_to_new)
        ],
        "categories": categories_block(kept),
    }


def write_four_class(coco6: CocoFile, drop: Sequence[str], path: str | os.PathLike, place: Callable[[dict], None]):
    """`four_class_coco` of a 6-class file written to `path` item by item (`StreamedJsonWriter`: the same bytes as
    `atomic_write_json(path, four_class_coco(...))`); `place(image)` is called for each image (its link).
    Returns (kept classes, images, annotations, annotations removed)."""
    kept, old_to_new = four_class_categories(coco6.categories, drop)
    fixed = {"info": dict(coco6.small.get("info", {})), "categories": categories_block(kept)}
    images = annotations = total = 0
    with StreamedJsonWriter(path, fixed, LISTS) as out:
        for im in coco6.images():
            place(im)
            out.add("images", im)
            images += 1
        for ann in coco6.annotations():
            total += 1
            if ann["category_id"] in old_to_new:
                out.add("annotations", dict(ann, id=annotations, category_id=old_to_new[ann["category_id"]]))
                annotations += 1
    removed = total - annotations
    return kept, images, annotations, removed


ROW_COLUMNS = [
    "split",
    "file_name",
    "patient_id",
    "source",
    "original",
    "is_augmented",
    "width",
    "height",
    "has_hemorrhage",
    "annotations",
    "classes",
]
ROWS_PER_CHUNK = 4096


def dataset_row_chunks(coco: CocoLike, split: str, size: int = ROWS_PER_CHUNK) -> Iterator[pd.DataFrame]:
    """`dataset_rows` in frames of at most `size` rows (at least one frame, maybe empty), read item by item: held
    are one frame and each annotated image's annotation count and classes (an int per image id)."""
    names = {c["id"]: c["name"] for c in coco.categories}
    order = sorted(set(names.values()))
    bit = {cid: 1 << order.index(name) for cid, name in names.items()}
    per_image: dict = {}  # image id -> annotations << len(order) | class bits
    shift = len(order)
    for ann in coco.annotations():
        per_image[ann["image_id"]] = (per_image.get(ann["image_id"], 0) + (1 << shift)) | bit[ann["category_id"]]
    rows: list[dict] = []
    sent = False
    for im in coco.images():
        packed = per_image.get(im["id"], 0)
        count = packed >> shift
        rows.append(
            {
                "split": split,
                "file_name": im["file_name"],
                "patient_id": im.get("patient_id", ""),
                "source": im.get("source", ""),
                "original": im.get("original", im["file_name"]),
                "is_augmented": int(im.get("aug_index", 0)) > 0,
                "width": im["width"],
                "height": im["height"],
                "has_hemorrhage": bool(count),
                "annotations": count,
                "classes": ";".join(n for i, n in enumerate(order) if packed >> i & 1),
            }
        )
        if len(rows) == size:
            yield pd.DataFrame(rows, columns=ROW_COLUMNS)
            rows, sent = [], True
    if rows or not sent:
        yield pd.DataFrame(rows, columns=ROW_COLUMNS)


def dataset_rows(coco: Mapping, split: str) -> pd.DataFrame:
    """One CSV row per image: split, file, patient, source, augmentation, hemorrhage status, classes."""
    return pd.concat(list(dataset_row_chunks(CocoDict(dict(coco)), split)), ignore_index=True)


class _SplitTally:
    """The analysis figures of one split (or of its originals), counted image by image."""

    def __init__(self, names: Sequence[str]):
        self.images = self.augmented = self.no_hem = 0
        self.per_class = dict.fromkeys(names, 0)

    def add(self, classes: Sequence[str], augmented: bool) -> None:
        self.images += 1
        self.augmented += augmented
        self.no_hem += not classes
        for name in classes:
            self.per_class[name] += 1

    def share(self) -> float:
        return round(self.no_hem / self.images, 4) if self.images else 0.0


def split_analysis(coco: CocoFile, patients: set) -> tuple[dict, dict]:
    """(the split's figures, its ORIGINAL IMAGES SUMMARY: images, hemorrhage status and images per class over
    original images only), in one pass over the annotations and one over the images; `patients` receives the
    split's patient ids. Held: the classes of each annotated image (an int per image id: a bit per class)."""
    names = {c["id"]: c["name"] for c in coco.categories}
    order = list(dict.fromkeys(names.values()))
    bit = {cid: 1 << order.index(name) for cid, name in names.items()}
    per_annotation = dict.fromkeys(order, 0)
    classes_of: dict = {}
    annotations = 0
    for a in coco.annotations():
        name = names[a["category_id"]]
        per_annotation[name] += 1
        classes_of[a["image_id"]] = classes_of.get(a["image_id"], 0) | bit[a["category_id"]]
        annotations += 1
    everything, originals = _SplitTally(order), _SplitTally(order)
    for im in coco.images():
        mask = classes_of.get(im["id"], 0)
        classes = [n for i, n in enumerate(order) if mask >> i & 1]
        augmented = int(im.get("aug_index", 0)) > 0
        everything.add(classes, augmented)
        if not augmented:
            originals.add(classes, False)
        patients.add(im.get("patient_id", ""))
    figures = {
        "images": everything.images,
        "original_images": everything.images - everything.augmented,
        "augmented_images": everything.augmented,
        "annotations": annotations,
        "annotations_per_class": {n: per_annotation[n] for n in names.values()},
        "images_per_class": {n: everything.per_class[n] for n in names.values()},
        "no_hemorrhage_images": everything.no_hem,
        "hemorrhage_images": everything.images - everything.no_hem,
        "no_hemorrhage_share": everything.share(),
        "patients": len(patients),
    }
    summary = {
        "original_images": originals.images,
        "hemorrhage_images": originals.images - originals.no_hem,
        "no_hemorrhage_images": originals.no_hem,
        "no_hemorrhage_share": originals.share(),
        "images_per_class": {c: originals.per_class[c] for c in names.values()},
    }
    return figures, summary


def analysis(cocos: Mapping[str, CocoFile]) -> dict:
    """The seed's analysis: per split images (original/augmented), class distribution, hemorrhage status, patients,
    overlap, and the ORIGINAL IMAGES SUMMARY (before augmentation) over originals only. Read item by item
    (`split_analysis`): held are the patient ids and one split's annotated image ids, not the files."""
    report: dict = {"splits": {}, "original_images_summary": {}, "patient_overlap": {}}
    patients: dict[str, set] = {}
    for split in [s for s in SPLIT_ORDER if s in cocos]:
        patients[split] = set()
        figures, summary = split_analysis(cocos[split], patients[split])
        report["splits"][split] = figures
        report["original_images_summary"][split] = summary
    names = list(patients)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            report["patient_overlap"][f"{a}/{b}"] = sorted(patients[a] & patients[b])
    report["total_patients"] = len(set().union(*patients.values())) if patients else 0
    return report
