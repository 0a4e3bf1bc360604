"""The accounting identities of the balanced table and the published v4 datasets (records in = records out +
rejects + set aside).

- balancing: every labelled image is in the balanced table with a split; every pool image is placed in a
  split or set aside (not needed to reach the target share);
- augmentation: every image of the balanced table is an original (aug_index 0) in its split's COCO, or a
  reject; every box of a kept original is an annotation of it;
- 4-class: every 6-class image is a 4-class image (with its file), every 6-class annotation is a 4-class
  annotation or set aside because its class is dropped;
- CSV export: every image of the dataset version exported is one CSV row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from dataprep_assets.defs.ct_hemorrhage.datasets import SPLIT_ORDER
from dataprep_assets.lib.accounting import Ledger, account, account_split, with_split


def _box_id(image: str, cls: object, bbox: Sequence[float]) -> str:
    return f"{image}|{cls}|" + ",".join(f"{float(v):.4f}" for v in bbox)


def balance_ledgers(
    labelled: pd.DataFrame, pool: pd.DataFrame, assignment: dict, balanced: pd.DataFrame
) -> tuple[Ledger, Ledger]:
    """Every labelled image is in the balanced table with a split; every pool image is in it (placed by
    `assignment`) or set aside (not needed to reach the target share)."""
    from_pool = balanced["source"].eq("no_hem").to_numpy(bool)
    placed = balanced[from_pool].assign(file_name=lambda f: f["file_name"].str.removeprefix("no_hem_"))
    names = pool["file_name"].astype(str).tolist()
    return (
        account_split("labelled images", labelled["file_name"], balanced[~from_pool], "file_name", SPLIT_ORDER),
        account(
            "pool images",
            names,
            with_split(placed, "file_name", SPLIT_ORDER),
            [],
            set_aside=[n for n in names if n not in assignment],
        ),
    )


def augmentation_ledgers(
    balanced: pd.DataFrame, boxes: Mapping[int, tuple], published: tuple[list[str], list[str]], rejected: Iterable[str]
) -> tuple[Ledger, Ledger]:
    """`published`: the originals' items and their annotations' box ids (`published_originals`, or collected by
    `add_original` image by image); `rejected`: `<split>/<file_name>` of the images refused (they do not decode)."""
    rejected = list(rejected)
    refused = set(rejected)
    images_in, boxes_in, boxes_refused = [], [], []
    for split, file_name, labelled_id in zip(
        balanced["split"], balanced["file_name"], balanced["labelled_id"].astype(int), strict=True
    ):
        item = f"{split}/{file_name}"
        images_in.append(item)
        for cat, *bbox in boxes.get(int(labelled_id), ()):
            (boxes_refused if item in refused else boxes_in).append(_box_id(item, cat, bbox))
    images_out, boxes_out = published
    return (
        account("images", images_in, images_out, rejected),
        account("original annotations", boxes_in + boxes_refused, boxes_out, boxes_refused),
    )


def add_original(
    published: tuple[list[str], list[str]], split: str, image: Mapping, annotations: Iterable[Mapping]
) -> None:
    """Add one published image to `published` (items, box ids) when it is an original (aug_index 0)."""
    if int(image["aug_index"]) == 0:
        item = f"{split}/{image['original']}"
        published[0].append(item)
        published[1].extend(_box_id(item, a["category_id"], a["bbox"]) for a in annotations)


def published_originals(cocos: Mapping[str, Mapping]) -> tuple[list[str], list[str]]:
    """The originals (aug_index 0) of per-split COCO dicts and their annotations' box ids (`augmentation_ledgers`)."""
    published: tuple[list[str], list[str]] = ([], [])
    for split, coco in sorted(cocos.items()):
        per_image: dict = {}
        for a in coco["annotations"]:
            per_image.setdefault(a["image_id"], []).append(a)
        for im in coco["images"]:
            add_original(published, split, im, per_image.get(im["id"], ()))
    return published


def four_class_ledgers(
    coco6: Mapping[str, Mapping], coco4: Mapping[str, Mapping], linked: Iterable[str], drop: Sequence[str]
) -> tuple[Ledger, Ledger]:
    """`linked`: `<split>/<file_name>` of every image file placed in the 4-class folder."""
    linked = set(linked)
    images_in, images_out, anns_in, anns_out, aside = [], [], [], [], []
    for split in sorted(coco6):
        six, four = coco6[split], coco4[split]
        names6 = {c["id"]: c["name"] for c in six["categories"]}
        names4 = {c["id"]: c["name"] for c in four["categories"]}
        files6 = {im["id"]: f"{split}/{im['file_name']}" for im in six["images"]}
        files4 = {im["id"]: f"{split}/{im['file_name']}" for im in four["images"]}
        images_in += list(files6.values())
        images_out += [f for f in files4.values() if f in linked]
        for a in six["annotations"]:
            item = _box_id(files6[a["image_id"]], names6[a["category_id"]], a["bbox"])
            anns_in.append(item)
            if names6[a["category_id"]] in set(drop):
                aside.append(item)
        anns_out += [_box_id(files4[a["image_id"]], names4[a["category_id"]], a["bbox"]) for a in four["annotations"]]
    return account("images", images_in, images_out, []), account("annotations", anns_in, anns_out, [], aside)


def export_ledger(cocos: Mapping[str, Mapping], frame: pd.DataFrame) -> Ledger:
    """Every image of the exported dataset version is one CSV row (same split, same file)."""
    images = [f"{split}/{im['file_name']}" for split, coco in sorted(cocos.items()) for im in coco["images"]]
    return account("images", images, (frame["split"].astype(str) + "/" + frame["file_name"].astype(str)).tolist(), [])
