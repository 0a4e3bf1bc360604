"""The published datasets: per-split COCO files, the 4-class derivative, CSV rows and the analysis."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import pandas as pd

from dataprep_assets.defs.ct_hemorrhage.augment import AugImage
from dataprep_assets.defs.ct_hemorrhage.datasets import CLASSES_6, SPLIT_ORDER
from dataprep_assets.defs.ct_hemorrhage.ledgers import add_original
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


def boxes_by_image(coco: Mapping) -> dict[int, tuple]:
    """Image id -> its boxes `(category_id, x, y, w, h)`, in annotation id order."""
    out: dict[int, list] = {}
    for a in sorted(coco["annotations"], key=lambda a: a["id"]):
        out.setdefault(a["image_id"], []).append((int(a["category_id"]), *map(float, a["bbox"])))
    return {k: tuple(v) for k, v in out.items()}


def four_class_coco(coco6: Mapping, drop: Sequence[str]) -> dict:
    """The same images without the dropped classes' annotations; kept classes renumbered 0..n-1."""
    names = [c["name"] for c in sorted(coco6["categories"], key=lambda c: c["id"])]
    kept = [n for n in names if n not in set(drop)]
    old_to_new = {c["id"]: kept.index(c["name"]) for c in coco6["categories"] if c["name"] in kept}
    annotations = []
    for ann in coco6["annotations"]:
        if ann["category_id"] in old_to_new:
            annotations.append(dict(ann, id=len(annotations), category_id=old_to_new[ann["category_id"]]))
    return {
        "info": dict(coco6.get("info", {})),
        "images": list(coco6["images"]),
        "annotations": annotations,
        "categories": categories_block(kept),
    }


def dataset_rows(coco: Mapping, split: str) -> pd.DataFrame:
    """One CSV row per image: split, file, patient, source, augmentation, hemorrhage status, classes."""
    names = {c["id"]: c["name"] for c in coco["categories"]}
    per_image: dict[int, list[str]] = {}
    for ann in coco["annotations"]:
        per_image.setdefault(ann["image_id"], []).append(names[ann["category_id"]])
    rows = []
    for im in coco["images"]:
        classes = per_image.get(im["id"], [])
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
                "has_hemorrhage": bool(classes),
                "annotations": len(classes),
                "classes": ";".join(sorted(set(classes))),
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
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
        ],
    )


def original_images_summary(rows: pd.DataFrame, classes: Sequence[str]) -> dict:
    """The seed's ORIGINAL IMAGES SUMMARY (before augmentation) of one split: images, hemorrhage status and
    images per class counted over original images only (augmented copies left out)."""
    originals = rows[~rows["is_augmented"]]
    exploded = originals.assign(cls=originals["classes"].str.split(";")).explode("cls")
    per_class = exploded[exploded["cls"] != ""]["cls"].value_counts()
    no_hem = int((~originals["has_hemorrhage"]).sum())
    return {
        "original_images": len(originals),
        "hemorrhage_images": len(originals) - no_hem,
        "no_hemorrhage_images": no_hem,
        "no_hemorrhage_share": round(no_hem / len(originals), 4) if len(originals) else 0.0,
        "images_per_class": {c: int(per_class.get(c, 0)) for c in classes},
    }


def analysis(cocos: Mapping[str, Mapping]) -> dict:
    """The seed's analysis: per split images (original/augmented), class distribution, hemorrhage status, patients,
    overlap, and the ORIGINAL IMAGES SUMMARY (before augmentation) over originals only."""
    report: dict = {"splits": {}, "original_images_summary": {}, "patient_overlap": {}}
    patients: dict[str, set] = {}
    for split in [s for s in SPLIT_ORDER if s in cocos]:
        coco = cocos[split]
        rows = dataset_rows(coco, split)
        names = {c["id"]: c["name"] for c in coco["categories"]}
        ann_counts = pd.Series([names[a["category_id"]] for a in coco["annotations"]], dtype="object").value_counts()
        exploded = rows.assign(cls=rows["classes"].str.split(";")).explode("cls")
        img_counts = exploded[exploded["cls"] != ""]["cls"].value_counts()
        patients[split] = set(rows["patient_id"])
        no_hem = int((~rows["has_hemorrhage"]).sum())
        report["splits"][split] = {
            "images": len(rows),
            "original_images": int((~rows["is_augmented"]).sum()),
            "augmented_images": int(rows["is_augmented"].sum()),
            "annotations": len(coco["annotations"]),
            "annotations_per_class": {n: int(ann_counts.get(n, 0)) for n in names.values()},
            "images_per_class": {n: int(img_counts.get(n, 0)) for n in names.values()},
            "no_hemorrhage_images": no_hem,
            "hemorrhage_images": len(rows) - no_hem,
            "no_hemorrhage_share": round(no_hem / len(rows), 4) if len(rows) else 0.0,
            "patients": len(patients[split]),
        }
        report["original_images_summary"][split] = original_images_summary(rows, list(names.values()))
    names = list(patients)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            report["patient_overlap"][f"{a}/{b}"] = sorted(patients[a] & patients[b])
    report["total_patients"] = len(set().union(*patients.values())) if patients else 0
    return report
