"""ct_hemorrhage assets, part 2: the published v4 datasets (6-class augmented, 4-class linked), the
analysis report and the CSV exports, in the seed's layout so the training code reads them unchanged."""

import dataclasses
import json
import os
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import yaml
from PIL import Image

from dataprep_assets.common.automation import FOLLOW_UPSTREAM
from dataprep_assets.common.metadata import (
    column_schema,
    counts_table,
    data_version,
    dataset_metadata,
    figure_metadata,
    preview_metadata,
    rejects_metadata,
    run_info,
    table,
)
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.ct_hemorrhage import layout as L
from dataprep_assets.defs.ct_hemorrhage.assets import GROUP, _progress, _workers, balanced_splits
from dataprep_assets.defs.ct_hemorrhage.augment import CODE_VERSION as AUG_CODE_VERSION
from dataprep_assets.defs.ct_hemorrhage.augment import AugTask, augment_batch_star, images_from_json
from dataprep_assets.defs.ct_hemorrhage.columns import COLUMNS
from dataprep_assets.defs.ct_hemorrhage.config import AugmentConfig, FourClassConfig
from dataprep_assets.defs.ct_hemorrhage.convert import batches
from dataprep_assets.defs.ct_hemorrhage.export import analysis, dataset_rows, four_class_coco, split_coco
from dataprep_assets.defs.ct_hemorrhage.ledgers import augmentation_ledgers, export_ledger, four_class_ledgers
from dataprep_assets.lib.accounting import ledgers_metadata
from dataprep_assets.lib.charts import grouped_bars
from dataprep_assets.lib.compute import backend_for
from dataprep_assets.lib.images import captioned_montage, draw_boxes, png_bytes
from dataprep_assets.lib.itemcache import InputHashes, ItemCache, fingerprint
from dataprep_assets.lib.parallel import ordered_map
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import atomic_write_json, atomic_write_text, sha256_file

AUG_BATCH = 8
"""Images per worker call."""


def _library_versions() -> list[str]:
    """Versions of the libraries whose output bytes the cached augmentations depend on."""
    from importlib.metadata import version

    import cv2

    return [version("albumentations"), cv2.__version__, np.__version__]


def _write_yaml(path: Path, payload: dict) -> None:
    atomic_write_text(path, yaml.safe_dump(payload, sort_keys=True, default_flow_style=False))


def read_split_coco(store: DatasetStore, dataset: str, split: str) -> dict:
    return json.loads(store.path(dataset, split, L.ANNOTATIONS).read_text())


def split_cocos_at(store: DatasetStore, record) -> dict[str, dict]:
    """Each split's COCO as it is in one version of a dataset (from its stored objects, hash-verified), not
    the live folder, which a rebuild may be replacing."""
    return {s: json.loads(store.member_at(record, f"{s}/{L.ANNOTATIONS}").read_text()) for s in L.SPLITS}


def source_pins(record) -> dict:
    """Version metadata tying a derived dataset to the version it was made from (checkout restores it, GC keeps it)."""
    return {"pins": {record.dataset: record.version_id}, "source_version": f"{record.dataset}@{record.version_id}"}


def _boxes_by_image(coco: dict) -> dict[int, tuple]:
    out: dict[int, list] = {}
    for a in sorted(coco["annotations"], key=lambda a: a["id"]):
        out.setdefault(a["image_id"], []).append((int(a["category_id"]), *map(float, a["bbox"])))
    return {k: tuple(v) for k, v in out.items()}


def montage_with_boxes(directory: Path, coco: dict, count: int = 12, size: int = 192) -> bytes:
    """Images with boxes, each box outlined in its class colour and named; the file name under each image."""
    boxes = _boxes_by_image(coco)
    names = [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])]
    tiles, captions = [], []
    for im in [i for i in coco["images"] if i["id"] in boxes][:count]:
        with Image.open(directory / im["file_name"]) as img:
            tiles.append(draw_boxes(img, boxes[im["id"]], names, size))
        captions.append(str(im["file_name"])[:30])
    return png_bytes(captioned_montage(tiles, captions, 6))


@dg.asset(group_name=GROUP, deps=[balanced_splits], kinds={"coco", "jpeg"}, automation_condition=FOLLOW_UPSTREAM)
def augmented_coco_6class(
    context: dg.AssetExecutionContext, config: AugmentConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """`v4/6class_coco/{train,valid,test}/` with `_annotations.coco.json` and the images beside it; train
    gets `multiplier - 1` albumentations copies per image (boxes transformed, clipped, tiny ones dropped)."""
    balanced = store.read_table(L.BALANCED)
    labelled = store.read_json(L.LABELLED)
    boxes = _boxes_by_image(labelled)
    for folder in sorted({Path(p).parent.as_posix() for p in balanced["source_path"]}):
        store.pull(folder)
    extras = {r.file_name: {"patient_id": r.patient_id, "source": r.source} for r in balanced.itertuples(index=False)}
    workers = _workers(config.max_workers, len(balanced))
    started = time.perf_counter()
    per_split: dict[str, list] = {s: [] for s in L.SPLITS}
    rejects = RejectLog()
    root = store.local_root()
    cache = ItemCache(root, "augment", fingerprint(AUG_CODE_VERSION, _library_versions()))
    hashes = InputHashes(root, "augment")
    with store.write_dir(L.SIX_CLASS) as staged:
        tasks, reused = [], {}
        for split in L.SPLITS:
            (staged.path / split).mkdir()
            for r in balanced[balanced["split"] == split].itertuples(index=False):
                task = AugTask(
                    str(store.path(r.source_path)),  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
                    str(staged.path / split),
                    r.file_name,  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
                    boxes.get(int(r.labelled_id), ()),  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
                    config.multiplier - 1 if split == "train" else 0,
                    config.seed,
                    config.jpeg_quality,
                    config.min_box_size,
                    config.min_visibility,
                )
                source_hash = hashes(r.source_path)  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
                key = cache.key(
                    source_hash,
                    json.dumps(
                        [
                            task.file_name,
                            task.boxes,
                            task.copies,
                            task.seed,
                            task.jpeg_quality,
                            task.min_box,
                            task.min_visibility,
                        ]
                    ),
                )
                hit = cache.get(key) if source_hash else None
                if hit is not None:  # same image bytes, boxes and settings: restore its outputs
                    cache.restore(hit, staged.path / split)
                    reused[len(tasks)] = images_from_json(hit.result[0])
                    task = None
                else:
                    task = dataclasses.replace(task, cache_key=key)
                tasks.append((split, task, r.source_path, r.file_name))
        hashes.save()
        todo = [t for _, t, _, _ in tasks if t is not None]
        workers = _workers(config.max_workers, len(todo))
        backend = backend_for(workers, root)
        context.log.info(
            f"{len(reused)} of {len(tasks)} images reused; augmenting {len(todo)} ({sum(t.copies for t in todo)} "
            f"copies) on {backend.describe()}"
        )
        done = ordered_map(
            augment_batch_star,
            [(b, cache) for b in batches(todo, AUG_BATCH)],
            backend=backend,
            progress=_progress(context, "augment batches"),
        )
        fresh = (w for batch in done for w in batch)
        refused = []
        for i, (split, task, source_path, file_name) in enumerate(tasks):
            written = reused[i] if task is None else next(fresh)
            if not written:
                refused.append(f"{split}/{file_name}")
                rejects.add(
                    source_path,
                    "augment",
                    "unreadable_image",
                    f"{Path(source_path).name} does not decode; left out of {split}",
                )
            per_split[split].extend(written)
        cocos = {}
        for split, images in per_split.items():
            cocos[split] = split_coco(
                images,
                extras,  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
                info={"description": f"v4 6-class {split}", "multiplier": config.multiplier if split == "train" else 1},
            )
            atomic_write_json(staged.path / split / L.ANNOTATIONS, cocos[split])
        _write_yaml(
            staged.path / "metadata.yaml",
            {
                "dataset": "ct_hemorrhage v4 6class_coco",
                "classes": list(L.CLASSES_6),
                "splits": {
                    s: {"images": len(c["images"]), "annotations": len(c["annotations"])} for s, c in cocos.items()
                },
                "augmentation": {
                    "multiplier": config.multiplier,
                    "seed": config.seed,
                    "splits": ["train"],
                    "min_box_size": config.min_box_size,
                    "min_visibility": config.min_visibility,
                },
                "source_tables": {
                    L.BALANCED: sha256_file(store.path(L.BALANCED)),
                    L.LABELLED: sha256_file(store.path(L.LABELLED)),
                },
            },
        )
        ledgers = augmentation_ledgers(balanced, boxes, cocos, refused)
        montage_png = montage_with_boxes(
            staged.path / "train",
            {**cocos["train"], "images": [i for i in cocos["train"]["images"] if i["aug_index"] > 0]},
        )
    elapsed = time.perf_counter() - started
    rejects_path = store.write_rejects(context.asset_key.to_user_string(), rejects)
    counts = pd.DataFrame(
        {
            s: {
                "images": len(c["images"]),
                "originals": sum(i["aug_index"] == 0 for i in c["images"]),
                "augmented": sum(i["aug_index"] > 0 for i in c["images"]),
                "annotations": len(c["annotations"]),
                "no_hemorrhage": len(c["images"]) - len({a["image_id"] for a in c["annotations"]}),
            }
            for s, c in cocos.items()
        }
    ).T
    n_aug = int(counts["augmented"].sum())
    return dg.MaterializeResult(
        data_version=data_version(staged.committed.dataset_hash),
        metadata={
            "per_split": counts_table(counts, "split"),
            "dagster/row_count": int(counts["images"].sum()),
            "multiplier": config.multiplier,
            "images_computed": len(todo),
            "images_reused": len(reused),
            **preview_metadata(montage_png, "augmented train images, boxes named by class"),
            **figure_metadata(store, context.asset_key.to_user_string(), "augmented_samples", montage_png),
            **ledgers_metadata(*ledgers),
            **dataset_metadata(store, L.SIX_CLASS, staged.manifest),
            **rejects_metadata(store, rejects_path, rejects),
            **run_info(workers=workers, augmented_per_second=round(n_aug / max(elapsed, 1e-9), 1), seed=config.seed),
        },
    )


@dg.asset(group_name=GROUP, deps=[augmented_coco_6class], kinds={"coco"}, automation_condition=FOLLOW_UPSTREAM)
def coco_4class(
    context: dg.AssetExecutionContext, config: FourClassConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """`v4/4class_coco/`: the same images without EDH and HC annotations (IPH, IVH, SAH, SDH renumbered
    0-3), each image a link to the 6-class file, never a copy."""
    if store.manifest(L.SIX_CLASS) is None:
        raise dg.Failure(f"{L.SIX_CLASS} has no recorded version: materialize augmented_coco_6class first")
    six = store.current_version(L.SIX_CLASS)  # read from and linked to this version's objects, and pinned
    object_of = {e.path: e.sha256 for e in store.entries(six)}
    cocos6, cocos4, linked = split_cocos_at(store, six), {}, []
    counts = {}
    with store.write_dir(L.FOUR_CLASS, meta=source_pins(six)) as staged:
        final = store.path(L.FOUR_CLASS)
        for split in L.SPLITS:
            coco6 = cocos6[split]
            coco4 = cocos4[split] = four_class_coco(coco6, config.drop_classes)
            (staged.path / split).mkdir()
            for im in coco4["images"]:
                # Links go to the immutable stored object of the 6-class version, never to the live
                # 6-class folder, which a later rebuild replaces. Symlink targets are computed from the
                # final location (the staging dir is its sibling).
                target = store.object_path(object_of[f"{split}/{im['file_name']}"])
                link = staged.path / split / im["file_name"]
                if config.link == "symlink":
                    os.symlink(os.path.relpath(target, final / split), link)
                else:
                    os.link(target, link)
                linked.append(f"{split}/{im['file_name']}")
            atomic_write_json(staged.path / split / L.ANNOTATIONS, coco4)
            counts[split] = {
                "images": len(coco4["images"]),
                "annotations": len(coco4["annotations"]),
                "annotations_removed": len(coco6["annotations"]) - len(coco4["annotations"]),
            }
        kept = [c for c in L.CLASSES_6 if c not in config.drop_classes]
        _write_yaml(
            staged.path / "metadata.yaml",
            {
                "dataset": "ct_hemorrhage v4 4class_coco",
                "classes": kept,
                "removed_classes": list(config.drop_classes),
                "images": f"{config.link}s to the stored objects of 6class_coco (content hash {six.dataset_hash[:16]})",
                "splits": counts,
            },
        )
        ledgers = four_class_ledgers(cocos6, cocos4, linked, config.drop_classes)
    return dg.MaterializeResult(
        data_version=data_version(staged.committed.dataset_hash),
        metadata={
            "per_split": counts_table(pd.DataFrame(counts).T, "split"),
            "dagster/row_count": sum(c["images"] for c in counts.values()),
            "classes": dg.MetadataValue.json(kept),
            "source_version": f"{six.dataset}@{six.version_id}",
            **ledgers_metadata(*ledgers),
            **dataset_metadata(store, L.FOUR_CLASS, staged.manifest),
            **run_info(link=config.link),
        },
    )


@dg.asset(
    group_name=GROUP, deps=[augmented_coco_6class, coco_4class], kinds={"json"}, automation_condition=FOLLOW_UPSTREAM
)
def v4_analysis(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """The seed's analysis: class distribution (annotations and images) per split, hemorrhage status,
    original vs augmented images, patients per split and their overlap, for both datasets; the ORIGINAL
    IMAGES SUMMARY (before augmentation) counts classes and hemorrhage status over originals only."""
    store.pull(L.SIX_CLASS)
    report = {
        "6class": analysis({s: read_split_coco(store, L.SIX_CLASS, s) for s in L.SPLITS}),
        "4class": analysis({s: read_split_coco(store, L.FOUR_CLASS, s) for s in L.SPLITS}),
    }
    manifest = store.write_json(L.ANALYSIS, report)
    six = report["6class"]["splits"]
    status = pd.DataFrame(
        {
            s: {
                k: v[k]
                for k in (
                    "images",
                    "original_images",
                    "augmented_images",
                    "annotations",
                    "no_hemorrhage_images",
                    "hemorrhage_images",
                    "no_hemorrhage_share",
                    "patients",
                )
            }
            for s, v in six.items()
        }
    ).T
    per_class = pd.DataFrame({s: v["images_per_class"] for s, v in six.items()})
    chart = grouped_bars(
        {c: {s: float(per_class.loc[c, s]) for s in per_class.columns} for c in per_class.index},  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
        title="6-class: images with each class, per split",
        xlabel="class",
        ylabel="images",
    )
    overlap = {k: len(v) for k, v in report["6class"]["patient_overlap"].items()}
    originals = pd.DataFrame(
        {
            s: {
                k: v[k] for k in ("original_images", "hemorrhage_images", "no_hemorrhage_images", "no_hemorrhage_share")
            }
            | v["images_per_class"]
            for s, v in report["6class"]["original_images_summary"].items()
        }
    ).T
    return dg.MaterializeResult(
        data_version=data_version(manifest.dataset_hash),
        metadata={
            "hemorrhage_status": counts_table(status, "split"),
            "dagster/row_count": int(status["images"].sum()),
            "original_images_summary": counts_table(originals, "split"),
            "annotations_per_class": counts_table(
                pd.DataFrame({s: v["annotations_per_class"] for s, v in six.items()}), "class"
            ),
            "images_per_class": counts_table(per_class, "class"),
            "patient_overlap": dg.MetadataValue.json(overlap),
            "total_patients": report["6class"]["total_patients"],
            **figure_metadata(store, context.asset_key.to_user_string(), "class_chart", chart),
            **dataset_metadata(store, L.ANALYSIS, manifest),
        },
    )


def _export_csv(store: DatasetStore, dataset: str, relpath: str) -> dg.MaterializeResult:
    """One row per image of the dataset's current version, read from that version's objects; the CSV's version
    pins it (`source_version`), so the rows always describe files that can be checked out."""
    if store.manifest(dataset) is None:
        raise dg.Failure(f"{dataset} has no recorded version: materialize the asset that writes it first")
    source = store.current_version(dataset)
    cocos = split_cocos_at(store, source)
    frame = pd.concat([dataset_rows(cocos[s], s) for s in L.SPLITS], ignore_index=True)
    ledger = export_ledger(cocos, frame)
    manifest = store.write_table(relpath, frame, meta=source_pins(source))
    summary = (
        frame.groupby("split")
        .agg(
            images=("file_name", "size"),
            augmented=("is_augmented", "sum"),
            with_hemorrhage=("has_hemorrhage", "sum"),
            patients=("patient_id", "nunique"),
        )
        .reindex(list(L.SPLITS))
    )
    return dg.MaterializeResult(
        data_version=data_version(manifest.dataset_hash),
        metadata={
            "per_split": counts_table(summary, "split"),
            "dagster/row_count": len(frame),
            "sample_rows": table(frame, 8),
            "source_version": f"{source.dataset}@{source.version_id}",
            **ledgers_metadata(ledger),
            **column_schema(frame, COLUMNS),
            **dataset_metadata(store, relpath, manifest),
        },
    )


@dg.asset(group_name=GROUP, deps=[augmented_coco_6class], kinds={"csv"}, automation_condition=FOLLOW_UPSTREAM)
def v4_dataset_6class_csv(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """`data/metadata/v4_dataset_6class.csv`: one row per image of the 6-class dataset."""
    return _export_csv(store, L.SIX_CLASS, L.CSV_6CLASS)


@dg.asset(group_name=GROUP, deps=[coco_4class], kinds={"csv"}, automation_condition=FOLLOW_UPSTREAM)
def v4_dataset_4class_csv(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """`data/metadata/v4_dataset_4class.csv`: one row per image of the 4-class dataset."""
    return _export_csv(store, L.FOUR_CLASS, L.CSV_4CLASS)


ct_hemorrhage_job = dg.define_asset_job(
    "ct_hemorrhage_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="The whole v4 workflow: labelled sources, no-hemorrhage pool from S3, patient splits, balance, "
    "augmentation, 4-class, analysis, CSVs.",
)
