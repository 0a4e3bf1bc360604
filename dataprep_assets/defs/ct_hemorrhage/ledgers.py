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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

import pandas as pd

from dataprep_assets.defs.ct_hemorrhage.datasets import SPLIT_ORDER
from dataprep_assets.lib.accounting import Ledger, Reread, account, account_split, account_streamed, with_split


class CocoLike(Protocol):
    """A COCO split read item by item (`published.CocoFile`, `published.CocoDict`)."""

    @property
    def categories(self) -> list[dict]: ...

    def images(self) -> Iterator[dict]: ...

    def annotations(self) -> Iterator[dict]: ...


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
    balanced: pd.DataFrame,
    boxes: Mapping[int, tuple],
    published: tuple[Iterable[str], Iterable[str]],
    rejected: Iterable[str],
) -> tuple[Ledger, Ledger]:
    """`published`: the originals' items and their annotations' box ids (`published_originals`, or collected by
    `add_original` image by image; re-iterable); `rejected`: `<split>/<file_name>` of the images refused (they do
    not decode). Compared by digest (`account_streamed`): no list of every image or box is made."""
    rejected = list(rejected)
    refused = set(rejected)

    def balanced_items(what: str) -> Iterator[str]:
        """`images`, `boxes` (of every image) or `refused boxes` (of the images refused) of the balanced table."""
        for split, file_name, labelled_id in zip(
            balanced["split"], balanced["file_name"], balanced["labelled_id"].astype(int), strict=True
        ):
            item = f"{split}/{file_name}"
            if what == "images":
                yield item
            elif what == "boxes" or item in refused:
                yield from (_box_id(item, cat, bbox) for cat, *bbox in boxes.get(int(labelled_id), ()))

    boxes_refused = list(balanced_items("refused boxes"))
    images_out, boxes_out = published
    return (
        account_streamed("images", Reread(balanced_items, "images"), images_out, rejected),
        account_streamed("original annotations", Reread(balanced_items, "boxes"), boxes_out, boxes_refused),
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


def _images(cocos: Mapping[str, CocoLike]) -> Iterator[str]:
    for split in sorted(cocos):
        for im in cocos[split].images():
            yield f"{split}/{im['file_name']}"


def _boxes(cocos: Mapping[str, CocoLike], keep: Callable[[str], bool] = lambda name: True) -> Iterator[str]:
    """Box ids of the annotations whose class name passes `keep`; an image is named by its split and id (the
    4-class images are the 6-class image records, ids included)."""
    for split in sorted(cocos):
        names = {c["id"]: c["name"] for c in cocos[split].categories}
        for a in cocos[split].annotations():
            if keep(names[a["category_id"]]):
                yield _box_id(f"{split}/#{a['image_id']}", names[a["category_id"]], a["bbox"])


def four_class_ledgers(
    coco6: Mapping[str, CocoLike], coco4: Mapping[str, CocoLike], linked: Iterable[str], drop: Sequence[str]
) -> tuple[Ledger, Ledger]:
    """`linked`: `<split>/<file_name>` of every image file placed in the 4-class folder (re-iterable: a list, or
    `Reread` of a folder listing). Read item by item (`account_streamed`): nothing held per image. Every 4-class
    image must have its file; every 6-class image and annotation is a 4-class one, or set aside (dropped class)."""
    dropped = set(drop)
    account_streamed("images", Reread(_images, coco4), linked, [])  # raises naming an image without its file
    return (
        account_streamed("images", Reread(_images, coco6), Reread(_images, coco4), []),
        account_streamed(
            "annotations",
            Reread(_boxes, coco6),
            Reread(_boxes, coco4),
            [],
            Reread(_boxes, coco6, lambda name: name in dropped),
        ),
    )


def export_ledger(cocos: Mapping[str, CocoLike], rows: Iterable[str]) -> Ledger:
    """Every image of the exported dataset version is one CSV row (`rows`: `<split>/<file_name>` of each row,
    re-iterable)."""
    return account_streamed("images", Reread(_images, cocos), rows, [])
