"""ct_hemorrhage assets, seed step 3 [7-9]: the published training sets in the seed's layout. The 6-class COCO
(train augmented `multiplier` times, valid and test as they are) and the 4-class COCO linked to its images."""

import dataclasses
import json
import os
import time
from collections.abc import Iterator, Sequence
from itertools import chain
from pathlib import Path

import dagster as dg
import pandas as pd
import yaml

from dataprep_assets.common.automation import FOLLOW_UPSTREAM
from dataprep_assets.common.metadata import counts_table, figure_metadata, preview_metadata, run_info
from dataprep_assets.common.progress import progress_logger
from dataprep_assets.common.publish import materialized
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.ct_hemorrhage.augment import BATCH as AUG_BATCH
from dataprep_assets.defs.ct_hemorrhage.augment import CODE_VERSION as AUG_CODE_VERSION
from dataprep_assets.defs.ct_hemorrhage.augment import AugTask, augment_batch_star, images_from_json, library_versions
from dataprep_assets.defs.ct_hemorrhage.config import MIN_TASKS_PER_WORKER, AugmentConfig, FourClassConfig
from dataprep_assets.defs.ct_hemorrhage.datasets import (
    ANNOTATIONS,
    BALANCED,
    CLASSES_6,
    FOUR_CLASS,
    GROUP,
    LABELLED,
    SIX_CLASS,
    SPLIT_ORDER,
)
from dataprep_assets.defs.ct_hemorrhage.export import SplitCocoWriter, boxes_by_image, write_four_class
from dataprep_assets.defs.ct_hemorrhage.figures import montage_with_boxes
from dataprep_assets.defs.ct_hemorrhage.ledgers import augmentation_ledgers, four_class_ledgers
from dataprep_assets.defs.ct_hemorrhage.published import CocoFile, source_pins, split_files_at, split_objects
from dataprep_assets.defs.ct_hemorrhage.splits import balanced_splits
from dataprep_assets.lib.accounting import Reread, ledgers_metadata
from dataprep_assets.lib.compute import backend_for
from dataprep_assets.lib.itemcache import InputHashes, ItemCache, fingerprint
from dataprep_assets.lib.parallel import batches, ordered_map, resolve_workers
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import SafeFiles, atomic_write_text, sha256_file, symlink_keeping


def placed_files(folder: Path, splits: Sequence[str]) -> Iterator[str]:
    """`<split>/<file>` of every file in each split folder of `folder` but its COCO file (the images placed)."""
    for split in splits:
        with os.scandir(folder / split) as entries:
            for entry in entries:
                if entry.name != ANNOTATIONS:
                    yield f"{split}/{entry.name}"


def write_yaml(path: Path, payload: dict) -> None:
    """A dataset's `metadata.yaml` (keys sorted, block style), written atomically."""
    atomic_write_text(path, yaml.safe_dump(payload, sort_keys=True, default_flow_style=False))


@dg.asset(group_name=GROUP, deps=[balanced_splits], kinds={"coco", "jpeg"}, automation_condition=FOLLOW_UPSTREAM)
def augmented_coco_6class(
    context: dg.AssetExecutionContext, config: AugmentConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """`v4/6class_coco/{train,valid,test}/` with `_annotations.coco.json` and the images beside it; train
    gets `multiplier - 1` albumentations copies per image (boxes transformed, clipped, tiny ones dropped)."""
    balanced = store.read(BALANCED)
    boxes = boxes_by_image(CocoFile(store.pull(LABELLED.path)).annotations())  # read one annotation at a time
    for folder in sorted({Path(p).parent.as_posix() for p in balanced["source_path"]}):
        store.pull(folder)
    extras = {r.file_name: {"patient_id": r.patient_id, "source": r.source} for r in balanced.itertuples(index=False)}
    workers = resolve_workers(config.max_workers, len(balanced), MIN_TASKS_PER_WORKER)
    started = time.perf_counter()
    rejects = RejectLog()
    root = store.local_root()
    cache = ItemCache(root, "augment", fingerprint(AUG_CODE_VERSION, library_versions()))
    hashes = InputHashes(root, "augment")
    sources = SafeFiles(root)  # one path check per folder, not a `realpath` per image
    with store.write_dir(SIX_CLASS.path) as staged:
        tasks, reused, every_key = [], {}, []
        for split in SPLIT_ORDER:
            (staged.path / split).mkdir()
            out_dir = str(staged.path / split)  # one string for the split's tasks, not one each
            for r in balanced[balanced["split"] == split].itertuples(index=False):
                task = AugTask(
                    str(sources.file(r.source_path) or store.path(r.source_path)),  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
                    out_dir,
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
                every_key.append(key)
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
        n_reused = len(reused)  # `reused` empties as its images are written
        workers = resolve_workers(config.max_workers, len(todo), MIN_TASKS_PER_WORKER)
        backend = backend_for(workers, root)
        context.log.info(
            f"{n_reused} of {len(tasks)} images reused; augmenting {len(todo)} ({sum(t.copies for t in todo)} "
            f"copies) on {backend.describe()}"
        )
        done = ordered_map(
            augment_batch_star,
            [(b, cache) for b in batches(todo, AUG_BATCH)],
            backend=backend,
            progress=progress_logger(context, "augment", "batches"),
        )
        fresh = (w for batch in done for w in batch)
        refused = []
        writers = {  # each split's COCO streamed to its file as its images come back: no image records held
            split: SplitCocoWriter(
                staged.path / split / ANNOTATIONS,
                split,
                extras,  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
                info={"description": f"v4 6-class {split}", "multiplier": config.multiplier if split == "train" else 1},
            )
            for split in SPLIT_ORDER
        }
        try:
            for i, (split, task, source_path, file_name) in enumerate(tasks):
                written = reused.pop(i) if task is None else next(fresh)
                if not written:
                    refused.append(f"{split}/{file_name}")
                    rejects.add(
                        source_path,
                        "augment",
                        "unreadable_image",
                        f"{Path(source_path).name} does not decode; left out of {split}",
                    )
                for im in written:
                    writers[split].add(im)
            for writer in writers.values():
                writer.close()
        finally:
            for writer in writers.values():
                writer.discard()
        cache.save_index(every_key)  # after the workers stored theirs (`done` is lazy): the next rebuild reads one file
        counts = {split: writer.counts for split, writer in writers.items()}
        write_yaml(
            staged.path / "metadata.yaml",
            {
                "dataset": "ct_hemorrhage v4 6class_coco",
                "classes": list(CLASSES_6),
                "splits": {s: {"images": c["images"], "annotations": c["annotations"]} for s, c in counts.items()},
                "augmentation": {
                    "multiplier": config.multiplier,
                    "seed": config.seed,
                    "splits": ["train"],
                    "min_box_size": config.min_box_size,
                    "min_visibility": config.min_visibility,
                },
                "source_tables": {
                    BALANCED.path: sha256_file(store.path(BALANCED.path)),
                    LABELLED.path: sha256_file(store.path(LABELLED.path)),
                },
            },
        )
        published = (  # chained, not copied
            Reread(chain.from_iterable, [w.originals[0] for w in writers.values()]),
            Reread(chain.from_iterable, [w.originals[1] for w in writers.values()]),
        )
        ledgers = augmentation_ledgers(balanced, boxes, published, refused)
        montage_png = montage_with_boxes(staged.path / "train", writers["train"].sample)
    elapsed = time.perf_counter() - started
    counts = pd.DataFrame(counts).T[["images", "originals", "augmented", "annotations", "no_hemorrhage"]]
    n_aug = int(counts["augmented"].sum())
    return materialized(
        store,
        SIX_CLASS,
        staged.committed,
        rejects=rejects,
        metadata={
            "per_split": counts_table(counts, "split"),
            "dagster/row_count": int(counts["images"].sum()),
            "multiplier": config.multiplier,
            "images_computed": len(todo),
            "images_reused": n_reused,
            **preview_metadata(montage_png, "augmented train images, boxes named by class"),
            **figure_metadata(store, context.asset_key.to_user_string(), "augmented_samples", montage_png),
            **ledgers_metadata(*ledgers),
            **run_info(workers=workers, augmented_per_second=round(n_aug / max(elapsed, 1e-9), 1), seed=config.seed),
        },
    )


@dg.asset(group_name=GROUP, deps=[augmented_coco_6class], kinds={"coco"}, automation_condition=FOLLOW_UPSTREAM)
def coco_4class(
    context: dg.AssetExecutionContext, config: FourClassConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """`v4/4class_coco/`: the same images without EDH and HC annotations (IPH, IVH, SAH, SDH renumbered
    0-3), each image a link to the 6-class file, never a copy."""
    if store.manifest(SIX_CLASS.path) is None:
        raise dg.Failure(f"{SIX_CLASS.path} has no recorded version: materialize {SIX_CLASS.asset} first")
    six = store.current_version(SIX_CLASS.path)  # read from and linked to this version's objects, and pinned
    cocos6, counts = split_files_at(store, six), {}
    with store.write_dir(FOUR_CLASS.path, meta=source_pins(six)) as staged:
        final = store.path(FOUR_CLASS.path)
        for split in SPLIT_ORDER:
            object_of = split_objects(store, six, split)  # this split's file name -> stored object
            (staged.path / split).mkdir()
            new_dir, old_dir = f"{staged.path}/{split}", f"{final}/{split}"
            relative: dict[str, str] = {}  # object folder -> its path relative to the final split folder

            def place(
                im: dict, object_of: dict = object_of, new_dir: str = new_dir, old_dir: str = old_dir, relative=relative
            ) -> None:
                # Links go to the immutable stored object of the 6-class version, never to the live
                # 6-class folder, which a later rebuild replaces. Symlink targets are computed from the
                # final location (the staging dir is its sibling).
                name = im["file_name"]
                target = os.fspath(store.object_path(object_of[name]))
                link = f"{new_dir}/{name}"
                if config.link == "symlink":  # an unchanged link of the current folder is reused, not remade
                    folder, _, leaf = target.rpartition("/")
                    if folder not in relative:
                        relative[folder] = os.path.relpath(folder, old_dir)
                    symlink_keeping(link, f"{relative[folder]}/{leaf}", f"{old_dir}/{name}")
                else:
                    os.link(target, link)

            _, images, annotations, removed = write_four_class(
                cocos6[split], config.drop_classes, staged.path / split / ANNOTATIONS, place
            )
            counts[split] = {"images": images, "annotations": annotations, "annotations_removed": removed}
        kept = [c for c in CLASSES_6 if c not in config.drop_classes]
        write_yaml(
            staged.path / "metadata.yaml",
            {
                "dataset": "ct_hemorrhage v4 4class_coco",
                "classes": kept,
                "removed_classes": list(config.drop_classes),
                "images": f"{config.link}s to the stored objects of 6class_coco (content hash {six.dataset_hash[:16]})",
                "splits": counts,
            },
        )
        cocos4 = {s: CocoFile(staged.path / s / ANNOTATIONS) for s in SPLIT_ORDER}
        linked = Reread(placed_files, staged.path, SPLIT_ORDER)
        ledgers = four_class_ledgers(cocos6, cocos4, linked, config.drop_classes)
    return materialized(
        store,
        FOUR_CLASS,
        staged.committed,
        metadata={
            "per_split": counts_table(pd.DataFrame(counts).T, "split"),
            "dagster/row_count": sum(c["images"] for c in counts.values()),
            "classes": dg.MetadataValue.json(kept),
            "source_version": f"{six.dataset}@{six.version_id}",
            **ledgers_metadata(*ledgers),
            **run_info(link=config.link),
        },
    )
