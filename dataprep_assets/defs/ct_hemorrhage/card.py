"""The ct_hemorrhage dataset card (v4 6-class COCO): images and boxes per split and class, the no-hemorrhage share
against its target, patient leak evidence, slices with named boxes, box/image distributions and the statistics
`datum stats` reports, all recounted from the published COCO files."""

import bisect
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import numpy as np
import pandas as pd
from PIL import Image

from dataprep_assets.common import cards
from dataprep_assets.common.metadata import latest_materialization_metadata
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.ct_hemorrhage.datasets import (
    BALANCED,
    CANDIDATES,
    DICOMS,
    FOUR_CLASS,
    GROUP,
    LABELLED,
    NO_HEM_PNGS,
    SIX_CLASS,
    SPLIT_ORDER,
)
from dataprep_assets.defs.ct_hemorrhage.figures import montage_with_boxes
from dataprep_assets.defs.ct_hemorrhage.ledgers import CocoLike
from dataprep_assets.defs.ct_hemorrhage.published import split_files
from dataprep_assets.defs.ct_hemorrhage.reports import v4_analysis
from dataprep_assets.defs.ct_hemorrhage.splits import balanced_splits
from dataprep_assets.defs.ct_hemorrhage.training_set import augmented_coco_6class, coco_4class
from dataprep_assets.lib.cards import Card, Figure, Section, Table
from dataprep_assets.lib.charts import grouped_bars
from dataprep_assets.lib.itemcache import ItemCache, fingerprint
from dataprep_assets.lib.storage import SafeFiles, sha256_file

PIXEL_SAMPLE = 400
"""Images per split whose pixels are read for intensity statistics and repeats (first by file name)."""
REJECTING_ASSETS = [d.asset for d in (LABELLED, CANDIDATES, DICOMS, NO_HEM_PNGS, SIX_CLASS)]


@dataclass
class SplitTables:
    """What the card needs of one split's COCO file, read item by item (`card_tables`)."""

    images: pd.DataFrame
    """id, width, height, patient_id, augmented, split: ~41 bytes per image (numbers in arrays, the strings shared)."""
    boxes: pd.DataFrame
    """image_id, class, w, h, split: ~40 bytes per box."""
    first_names: list[str]
    """The first PIXEL_SAMPLE file names in sorted order (the images whose pixels are read)."""
    sample: dict
    """A COCO dict of the first `SAMPLE_IMAGES` images with boxes and their annotations (for the montage)."""


SAMPLE_IMAGES = 12


def card_tables(coco: CocoLike, split: str) -> SplitTables:
    """The card's tables of one split: three passes over the file (annotations, images, the sample's annotations),
    none holding records."""
    names = {c["id"]: c["name"] for c in coco.categories}
    box_ids, box_w, box_h, box_class = array("q"), array("d"), array("d"), []
    for a in coco.annotations():
        box_ids.append(a["image_id"])
        box_w.append(float(a["bbox"][2]))
        box_h.append(float(a["bbox"][3]))
        box_class.append(names[a["category_id"]])
    annotated = set(box_ids)
    ids, widths, heights, augmented, patient_cells = array("q"), array("q"), array("q"), array("b"), []
    patients: dict = {}
    smallest: list[str] = []
    sample_images: list[dict] = []
    for im in coco.images():
        ids.append(im["id"])
        widths.append(im["width"])
        heights.append(im["height"])
        patient = str(im.get("patient_id", ""))
        patient_cells.append(patients.setdefault(patient, patient))
        augmented.append(int(im.get("aug_index", 0)) > 0)
        _keep_smallest(smallest, str(im["file_name"]), PIXEL_SAMPLE)
        if len(sample_images) < SAMPLE_IMAGES and im["id"] in annotated:
            sample_images.append(im)
    chosen = {im["id"] for im in sample_images}
    images = pd.DataFrame(
        {
            "id": np.frombuffer(ids, np.int64) if ids else np.zeros(0, np.int64),
            "width": np.frombuffer(widths, np.int64) if widths else np.zeros(0, np.int64),
            "height": np.frombuffer(heights, np.int64) if heights else np.zeros(0, np.int64),
            "patient_id": np.array(patient_cells, dtype=object),
            "augmented": np.frombuffer(augmented, np.int8).astype(bool) if augmented else np.zeros(0, bool),
            "split": np.full(len(ids), split, dtype=object),
        }
    )
    boxes = pd.DataFrame(
        {
            "image_id": np.frombuffer(box_ids, np.int64) if box_ids else np.zeros(0, np.int64),
            "class": np.array(box_class, dtype=object),
            "w": np.frombuffer(box_w, np.float64) if box_w else np.zeros(0, np.float64),
            "h": np.frombuffer(box_h, np.float64) if box_h else np.zeros(0, np.float64),
            "split": np.full(len(box_ids), split, dtype=object),
        }
    )
    sample = {
        "images": sample_images,
        "annotations": [a for a in coco.annotations() if a["image_id"] in chosen],
        "categories": coco.categories,
    }
    return SplitTables(images, boxes, smallest, sample)


def _keep_smallest(kept: list[str], name: str, limit: int) -> None:
    """Keep `kept` the sorted `limit` smallest names seen."""
    if len(kept) < limit or name < kept[-1]:
        bisect.insort(kept, name)
        if len(kept) > limit:
            kept.pop()


PIXEL_STATS_VERSION = 1
"""Bump when `pixel_stats` computes its mean/std differently: cached values are then recomputed."""


def pixel_stats(store: DatasetStore, split: str, first_names: Sequence[str]) -> pd.DataFrame:
    """Mean and std of pixel intensity and a content hash for the split's first PIXEL_SAMPLE images by file name.

    Kept per content hash in the item cache: a rebuild decodes only images it has not seen."""
    root = store.local_root()
    written = store.hash_index(SIX_CLASS.path)  # an image still the one written: its hash without reading it
    cache = ItemCache(root, f"ct_card_pixel_stats/{split}", fingerprint(PIXEL_STATS_VERSION))
    files = SafeFiles(root)  # one path check for the folder, not a `realpath` per image
    rows, keys = [], []
    for name in sorted(first_names)[:PIXEL_SAMPLE]:
        path = files.file(SIX_CLASS.path, split, name) or store.path(SIX_CLASS.path, split, name)
        sha = written.known(path) or sha256_file(path)
        key = cache.key(sha)
        keys.append(key)
        item = cache.get(key)
        if item is None:
            with Image.open(path) as img:
                arr = np.asarray(img.convert("L"), dtype=np.float64)
            item = cache.put(key, {}, [float(arr.mean()), float(arr.std())])
        mean, std = item.result
        rows.append({"split": split, "file_name": name, "mean": mean, "std": std, "sha": sha})
    cache.save_index(keys)  # one file for the next card's lookups
    return pd.DataFrame(rows, columns=["split", "file_name", "mean", "std", "sha"])


def datum_stats(
    images: pd.DataFrame, boxes: pd.DataFrame, pixels: pd.DataFrame, classes: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What `datum stats` prints, per split and in total: counts, unannotated and repeated images, box areas,
    image mean/std; and the label distribution (count and share of annotations)."""
    rows = []
    for split in [*SPLIT_ORDER, "total"]:
        im = images if split == "total" else images[images["split"] == split]
        bx = boxes if split == "total" else boxes[boxes["split"] == split]
        px = pixels if split == "total" else pixels[pixels["split"] == split]
        annotated = set(zip(bx["split"], bx["image_id"], strict=True))
        area = (bx["w"] * bx["h"]).to_numpy()
        rows.append(
            {
                "split": split,
                "images": len(im),
                "annotations": len(bx),
                "annotations (bbox)": len(bx),
                "unannotated images": int(
                    sum((s, i) not in annotated for s, i in zip(im["split"], im["id"], strict=True))
                ),
                "repeated images (of sampled)": int(len(px) - px["sha"].nunique()) if len(px) else 0,
                "bbox area mean": float(area.mean()) if len(area) else 0.0,
                "bbox area std": float(area.std()) if len(area) else 0.0,
                "bbox area min": float(area.min()) if len(area) else 0.0,
                "bbox area max": float(area.max()) if len(area) else 0.0,
                "image mean (sampled)": float(px["mean"].mean()) if len(px) else 0.0,
                "image std (sampled)": float(px["std"].mean()) if len(px) else 0.0,
            }
        )
    counts = boxes["class"].value_counts().reindex(classes, fill_value=0)
    labels = pd.DataFrame(
        {
            "label": classes,
            "annotations": counts.to_numpy().astype("int64"),
            "share": (counts / max(len(boxes), 1)).to_numpy(),
        }
    )
    return pd.DataFrame(rows), labels


def build_card(store: DatasetStore, target_share: float) -> Card:
    store.pull(SIX_CLASS.path)
    files = split_files(store, SIX_CLASS)
    classes = [c["name"] for c in sorted(files["train"].categories, key=lambda c: c["id"])]
    parts = {s: card_tables(f, s) for s, f in files.items()}
    images = pd.concat([p.images for p in parts.values()], ignore_index=True)
    boxes = pd.concat([p.boxes for p in parts.values()], ignore_index=True)
    versions = cards.input_versions(store, [d.path for d in (LABELLED, NO_HEM_PNGS, BALANCED, SIX_CLASS, FOUR_CLASS)])
    hem = {s: set(boxes.loc[boxes["split"] == s, "image_id"]) for s in SPLIT_ORDER}
    per_split = pd.DataFrame(
        [
            {
                "split": s,
                "images": int((images["split"] == s).sum()),
                "originals": int(((images["split"] == s) & ~images["augmented"]).sum()),
                "augmented": int(((images["split"] == s) & images["augmented"]).sum()),
                "annotations": int((boxes["split"] == s).sum()),
                "with_hemorrhage": len(hem[s]),
                "no_hemorrhage": int((images["split"] == s).sum()) - len(hem[s]),
                "patients": int(images.loc[images["split"] == s, "patient_id"].nunique()),
            }
            for s in SPLIT_ORDER
        ]
    )
    ann_per_class = boxes.pivot_table(index="class", columns="split", values="w", aggfunc="size", fill_value=0)
    ann_per_class = ann_per_class.reindex(index=classes, columns=list(SPLIT_ORDER), fill_value=0).astype("int64")
    img_per_class = (
        boxes.drop_duplicates(["split", "image_id", "class"])
        .pivot_table(index="class", columns="split", values="w", aggfunc="size", fill_value=0)
        .reindex(index=classes, columns=list(SPLIT_ORDER), fill_value=0)
    )
    shares = {r.split: r.no_hemorrhage / max(r.images, 1) for r in per_split.itertuples()}  # pyright: ignore[reportArgumentType, reportOperatorIssue]  # pandas-stubs types DataFrame cells and reductions as any scalar
    balance = pd.DataFrame(
        [
            {"split": s, "target": target_share, "achieved": shares[s], "difference": shares[s] - target_share}  # pyright: ignore[reportOperatorIssue]  # pandas-stubs types DataFrame cells and reductions as any scalar
            for s in SPLIT_ORDER
        ]
    )
    boxes = boxes.assign(size=np.sqrt(boxes["w"] * boxes["h"]), aspect=boxes["w"] / boxes["h"].where(boxes["h"] > 0))
    pixels = pd.concat([pixel_stats(store, s, parts[s].first_names) for s in SPLIT_ORDER], ignore_index=True)
    stats, labels = datum_stats(images, boxes, pixels, classes)
    sizes = images.groupby(["width", "height"]).size().rename("images").reset_index()
    per_image = images.assign(annotations=[0] * len(images)).set_index(["split", "id"])["annotations"]
    per_image = per_image.add(
        boxes.groupby(["split", "image_id"]).size().rename_axis(["split", "id"]), fill_value=0
    ).astype(int)
    ann_hist = {s: per_image.loc[s].value_counts().sort_index() for s in SPLIT_ORDER}
    ann_chart = {
        str(n): {s: float(ann_hist[s].get(n, 0)) for s in SPLIT_ORDER}
        for n in sorted({n for h in ann_hist.values() for n in h.index})
    }
    samples = [
        Figure(
            f"samples_{s}",
            montage_with_boxes(store.path(SIX_CLASS.path, s), parts[s].sample, count=SAMPLE_IMAGES),
            f"{s}: slices with boxes, each named by its class",
        )
        for s in ("train", "valid")
    ]
    rejects = cards.rejects_frame(store, REJECTING_ASSETS)
    sections = [
        Section(
            "Counts",
            "Images and boxes per split; boxes and images per class and split (6-class dataset).",
            tables=[
                *cards.counts_tables(
                    per_split, ann_per_class, class_col="class", caption="annotations per class and split"
                ),
                Table(
                    "images-per-class",
                    "images with each class, per split",
                    img_per_class.astype("int64").rename_axis("class").reset_index(),
                ),
            ],
            figures=[
                cards.bars_figure(
                    "annotations_per_class",
                    "boxes per class, one colour per split",
                    ann_per_class,
                    title="annotations per class and split",
                    xlabel="class",
                    ylabel="boxes",
                )
            ],
        ),
        Section(
            "Balance",
            "Each split is filled with no-hemorrhage slices (false positives first) towards the target share.",
            tables=[Table("balance", "no-hemorrhage share: achieved against target", balance)],
            figures=[
                Figure(
                    "no_hem_share",
                    grouped_bars(
                        {s: {"no-hemorrhage share": shares[s]} for s in SPLIT_ORDER},  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
                        title=f"no-hemorrhage share per split (target {target_share:.0%})",
                        xlabel="split",
                        ylabel="share of images",
                        value_format="{:.1%}",
                        reference=(target_share, "target"),
                    ),
                    "no-hemorrhage share per split against the target",
                )
            ],
        ),
        cards.leak_section(images, "patient_id", order=SPLIT_ORDER),
        Section(
            "Samples", "Boxes are outlined in their class colour and labelled with the class name.", figures=samples
        ),
        Section(
            "Distributions",
            f"Box size is sqrt(w*h) in pixels; intensities from up to {PIXEL_SAMPLE} images per split.",
            tables=[Table("image-sizes", "image sizes", sizes)],
            figures=[
                cards.histogram_figure(
                    "box_sizes",
                    "box sizes per class",
                    boxes,
                    "size",
                    "class",
                    title="box size per class",
                    xlabel="sqrt(w*h), pixels",
                    ylabel="boxes",
                ),
                cards.histogram_figure(
                    "box_aspect",
                    "box aspect ratios per class",
                    boxes,
                    "aspect",
                    "class",
                    title="box aspect ratio per class",
                    xlabel="w / h (log scale)",
                    ylabel="boxes",
                    log_x=True,
                ),
                cards.histogram_figure(
                    "intensity",
                    "image intensities per split",
                    pixels,
                    "mean",
                    "split",
                    order=SPLIT_ORDER,
                    title="mean pixel intensity per image",
                    xlabel="mean intensity (0-255)",
                    ylabel="images",
                    value_range=(0.0, 255.0),
                ),
                Figure(
                    "annotations_per_image",
                    grouped_bars(
                        ann_chart, title="annotations per image", xlabel="boxes on the image", ylabel="images"
                    ),
                    "images by number of boxes, per split",
                ),
            ],
        ),
        Section(
            "Datumaro statistics",
            "The figures `datum stats` reports for a COCO dataset, computed from the published files.",
            tables=[
                Table("datum-stats", "per split and in total", stats),
                Table("label-distribution", "label distribution", labels),
            ],
        ),
    ]
    total_no_hem = int(per_split["no_hemorrhage"].sum())
    return cards.dataset_card(
        pipeline="ct_hemorrhage",
        title="ct_hemorrhage v4: 6-class head-CT hemorrhage detection (COCO)",
        versions=versions,
        sections=sections,
        rejects=rejects,
        facts={
            "images": len(images),
            "annotations": len(boxes),
            "patients": int(images["patient_id"].nunique()),
            "classes": len(classes),
            "no-hemorrhage share": round(total_no_hem / max(len(images), 1), 4),
            "augmented images": int(images["augmented"].sum()),
        },
        summary="data/training_datasets/v4/6class_coco/{train,valid,test}/_annotations.coco.json with the images "
        "beside it; "
        "the 4-class set links the same images without EDH and HC.",
    )


@cards.card_asset(group=GROUP, deps=[augmented_coco_6class, coco_4class, v4_analysis], preview="samples_train")
def ct_hemorrhage_dataset_card(context: dg.AssetExecutionContext, store: DatasetStore) -> Card:
    """The dataset card (`cards/ct_hemorrhage/index.html` + `README.md`): counts, balance, leak evidence, samples,
    distributions and Datumaro-style statistics of the v4 6-class COCO dataset."""
    target = latest_materialization_metadata(context.instance, balanced_splits.key).get("target_no_hem_share", 0.5)
    return build_card(store, float(target))
