"""ct_hemorrhage asset checks: the seed's validation report, one check per line of it.

Blocking (downstream stops): every line the seed's validation script treats as pass/fail: zero patient
overlap at every split stage, the 6-class COCO being valid, the 48-52% no-hemorrhage share per split (after
balancing and on the published files), all 6 classes in every split, every image readable, every box inside
its image and the exact augmentation multiplier; and patients and placed pool images keeping their split
across versions. The 4-class and intermediate checks fail loudly (ERROR) without stopping the rest of the run.
"""

import dagster as dg
import numpy as np
import pandas as pd

from dataprep_assets.common.checks import (
    group_overlap_check,
    share_in_range_check,
    split_continuity_check,
    split_fractions_check,
)
from dataprep_assets.common.metadata import latest_materialization_metadata, markdown_table
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.ct_hemorrhage.datasets import (
    ANNOTATIONS,
    BALANCED,
    CSV_4CLASS,
    CSV_6CLASS,
    FOUR_CLASS,
    LABELLED,
    NO_HEM_PNGS,
    PATIENT_SPLITS,
    SIX_CLASS,
    SPLIT_ORDER,
)
from dataprep_assets.defs.ct_hemorrhage.labelled_sources import labelled_coco
from dataprep_assets.defs.ct_hemorrhage.pool import no_hem_coco
from dataprep_assets.defs.ct_hemorrhage.published import CocoFile, stale_pins
from dataprep_assets.defs.ct_hemorrhage.reports import v4_dataset_4class_csv, v4_dataset_6class_csv
from dataprep_assets.defs.ct_hemorrhage.splits import balanced_splits, patient_splits
from dataprep_assets.defs.ct_hemorrhage.training_set import augmented_coco_6class, coco_4class
from dataprep_assets.defs.ct_hemorrhage.validation import (
    DECODER_VERSION,
    box_report,
    class_presence,
    coco_report,
    links_report,
    streamed_problems,
    unreadable_images,
)
from dataprep_assets.lib.datasets import Dataset
from dataprep_assets.lib.itemcache import VerifiedObjects, fingerprint

NO_PATIENT_OVERLAP = "no_patient_overlap"
COCO_VALID = "coco_valid"
ALL_CLASSES_PRESENT = "all_classes_in_every_split"
IMAGES_READABLE = "every_image_readable"
BOXES_INSIDE = "boxes_inside_images"
AUGMENTATION_MULTIPLIER = "augmentation_multiplier_exact"
NO_HEM_SHARE = "no_hem_share_48_to_52_pct"
CLASSES_REMOVED = "no_edh_hc_annotations"
LINKS_VALID = "images_are_valid_links"
NO_HEM_RANGE = (0.48, 0.52)
PATIENTS_STAY_PUT = "patients_stay_put"
IMAGES_STAY_PUT = "images_stay_put"
DESCRIBES_CURRENT_SOURCE = "describes_current_source"


def _coco_check(asset, dataset: Dataset, splits, name: str, blocking: bool = False):
    @dg.asset_check(
        asset=asset,
        name=name,
        blocking=blocking,
        description="pycocotools loads every split, and none has duplicate image/annotation ids, undefined categories, "
        "annotations of missing images, boxes outside their image or image files missing on disk.",
    )
    def _check(store: DatasetStore) -> dg.AssetCheckResult:
        store.pull(dataset.path)
        table, examples = coco_report(store.path(dataset.path), splits)
        return dg.AssetCheckResult(
            passed=bool((table["problems"] == 0).all()),
            metadata={
                "problems": int(table["problems"].sum()),
                "per_split": dg.MetadataValue.md(markdown_table(table)),
                "examples": dg.MetadataValue.json(examples[:20]),
            },
        )

    return _check


def _labelled_valid():
    @dg.asset_check(
        asset=labelled_coco,
        name=COCO_VALID,
        description="The merged labelled COCO loads with pycocotools and has no duplicate ids, undefined categories, "
        "orphans or out-of-image boxes.",
    )
    def _check(store: DatasetStore) -> dg.AssetCheckResult:
        from dataprep_assets.lib.coco import problem_counts

        counts, problems = streamed_problems(store.pull(LABELLED.path), None)  # read item by item
        return dg.AssetCheckResult(
            passed=not problems,
            metadata={
                "images": counts["images"],
                "problems": len(problems),
                "by_kind": dg.MetadataValue.json(problem_counts(problems)),
            },
        )

    return _check


labelled_coco_valid = _labelled_valid()
no_hem_coco_valid = _coco_check(no_hem_coco, NO_HEM_PNGS, [""], COCO_VALID)
six_class_coco_valid = _coco_check(augmented_coco_6class, SIX_CLASS, SPLIT_ORDER, COCO_VALID, blocking=True)
four_class_coco_valid = _coco_check(coco_4class, FOUR_CLASS, SPLIT_ORDER, COCO_VALID)

patient_splits_no_overlap = group_overlap_check(
    asset=patient_splits, load=PATIENT_SPLITS, group_col="patient_id", name=NO_PATIENT_OVERLAP, blocking=True
)
patient_split_fractions = split_fractions_check(
    asset=patient_splits, load=PATIENT_SPLITS, group_col="patient_id", tolerance=0.1
)
patients_stay_put = split_continuity_check(
    asset=patient_splits, relpath=PATIENT_SPLITS.path, group_col="patient_id", name=PATIENTS_STAY_PUT
)
balanced_images_stay_put = split_continuity_check(
    asset=balanced_splits, relpath=BALANCED.path, group_col="file_name", name=IMAGES_STAY_PUT
)
balanced_no_overlap = group_overlap_check(
    asset=balanced_splits, load=BALANCED, group_col="patient_id", name=NO_PATIENT_OVERLAP, blocking=True
)
balanced_no_hem_share = share_in_range_check(
    asset=balanced_splits,
    load=lambda store: store.read(BALANCED).assign(no_hemorrhage=lambda f: ~f["has_hemorrhage"].astype(bool)),
    flag_col="no_hemorrhage",
    low=NO_HEM_RANGE[0],
    high=NO_HEM_RANGE[1],
    name=NO_HEM_SHARE,
    blocking=True,
    description="The share of no-hemorrhage images is within 48-52% in every split (an empty or too small pool stops "
    "here).",
)


def _six_class_rows(store: DatasetStore) -> pd.DataFrame:
    """One row per published 6-class image: split, patient_id, is_augmented, no_hemorrhage, read item by item.
    Slim: the split and patient cells refer to one string per distinct value (8 bytes a cell), the flags are
    booleans, so the table costs ~26 bytes per image plus one string per patient."""
    from dataprep_assets.defs.ct_hemorrhage.export import dataset_row_chunks
    from dataprep_assets.defs.ct_hemorrhage.published import split_files

    store.pull(SIX_CLASS.path)
    patients: dict = {}
    splits, patient_cells, augmented, no_hem = [], [], [], []
    for split, coco in split_files(store, SIX_CLASS).items():
        for chunk in dataset_row_chunks(coco, split):
            splits.append(np.full(len(chunk), split, dtype=object))
            patient_cells.append(np.array([patients.setdefault(p, p) for p in chunk["patient_id"]], dtype=object))
            augmented.append(chunk["is_augmented"].to_numpy(bool))
            no_hem.append(~chunk["has_hemorrhage"].to_numpy(bool))
    return pd.DataFrame(
        {
            "split": np.concatenate(splits),
            "patient_id": np.concatenate(patient_cells),
            "is_augmented": np.concatenate(augmented),
            "no_hemorrhage": np.concatenate(no_hem),
        }
    )


six_class_no_overlap = group_overlap_check(
    asset=augmented_coco_6class, load=_six_class_rows, group_col="patient_id", name=NO_PATIENT_OVERLAP, blocking=True
)
six_class_no_hem_share = share_in_range_check(
    asset=augmented_coco_6class,
    load=_six_class_rows,
    flag_col="no_hemorrhage",
    low=NO_HEM_RANGE[0],
    high=NO_HEM_RANGE[1],
    name=NO_HEM_SHARE,
    blocking=True,
    description="The share of no-hemorrhage images is within 48-52% in every split of the published dataset.",
)


@dg.asset_check(asset=augmented_coco_6class, name=ALL_CLASSES_PRESENT, blocking=True)
def six_class_all_classes(store: DatasetStore) -> dg.AssetCheckResult:
    """Each of the 6 classes has at least one image in train, valid and test."""
    store.pull(SIX_CLASS.path)
    table = class_presence(store.path(SIX_CLASS.path), SPLIT_ORDER)
    missing = [f"{c} in {s}" for c in table.index for s in table.columns if table.loc[c, s] == 0]  # pyright: ignore[reportGeneralTypeIssues]  # pandas-stubs types DataFrame cells and reductions as any scalar
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={
            "missing": dg.MetadataValue.json(missing),
            "images_per_class": dg.MetadataValue.md(markdown_table(table.rename_axis("class").reset_index())),
        },
    )


@dg.asset_check(
    asset=augmented_coco_6class,
    name=IMAGES_READABLE,
    blocking=True,
    description="Every image file of every split decodes.",
)
def six_class_images_readable(store: DatasetStore) -> dg.AssetCheckResult:
    """Decodes only images whose bytes (SHA-256) were never seen to decode, among files that are still the very
    files written (size, mtime, inode): a rebuild checks what is new, and a file replaced since is always read."""
    store.pull(SIX_CLASS.path)
    root = store.path(SIX_CLASS.path)
    written = store.hash_index(SIX_CLASS.path)  # a file still the one written: its hash without reading it
    verified = VerifiedObjects(store.local_root(), IMAGES_READABLE, fingerprint(DECODER_VERSION))
    keep, todo, checked = set(), [], 0  # held: the known hashes, and the paths to decode with theirs
    for s in SPLIT_ORDER:
        for im in CocoFile(root / s / ANNOTATIONS).images():
            path = str(root / s / im["file_name"])
            sha = written.known(path)
            checked += 1
            if sha:
                keep.add(sha)
            if not sha or sha not in verified:
                todo.append((path, sha))
    bad = unreadable_images([path for path, _ in todo])
    broken = set(bad)
    for path, sha in todo:
        if path not in broken and sha:
            verified.add(sha)
    verified.save(keep=keep)
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "images_checked": checked,
            "images_decoded": len(todo),
            "unreadable": len(bad),
            "examples": dg.MetadataValue.json([str(p) for p in bad[:10]]),
        },
    )


@dg.asset_check(asset=augmented_coco_6class, name=BOXES_INSIDE, blocking=True)
def six_class_boxes_inside(store: DatasetStore) -> dg.AssetCheckResult:
    """100% of the boxes lie inside their images and have positive size."""
    store.pull(SIX_CLASS.path)
    table = box_report(store.path(SIX_CLASS.path), SPLIT_ORDER)
    return dg.AssetCheckResult(
        passed=bool((table["valid"] == table["boxes"]).all()),
        metadata={
            "boxes": int(table["boxes"].sum()),
            "invalid": int((table["boxes"] - table["valid"]).sum()),
            "per_split": dg.MetadataValue.md(markdown_table(table)),
        },
    )


@dg.asset_check(asset=augmented_coco_6class, name=AUGMENTATION_MULTIPLIER, blocking=True)
def six_class_multiplier(context: dg.AssetCheckExecutionContext, store: DatasetStore) -> dg.AssetCheckResult:
    """Train holds exactly `multiplier` images per original (the configured multiplier); valid and test hold no
    augmented images."""
    expected = int(latest_materialization_metadata(context.instance, augmented_coco_6class.key).get("multiplier", 3))
    rows = _six_class_rows(store)
    per_split = rows.groupby("split").agg(
        images=("is_augmented", "size"),
        originals=("is_augmented", lambda a: int((~a).sum())),
        augmented=("is_augmented", "sum"),
    )
    train = (
        per_split.loc["train"]
        if "train" in per_split.index
        else pd.Series({"images": 0, "originals": 0, "augmented": 0})
    )
    achieved = train["images"] / train["originals"] if train["originals"] else 0.0  # pyright: ignore[reportGeneralTypeIssues]  # pandas-stubs types DataFrame cells and reductions as any scalar
    held_out_augmented = int(per_split.drop(index="train", errors="ignore")["augmented"].sum())
    return dg.AssetCheckResult(
        passed=bool(train["images"] == expected * train["originals"] and held_out_augmented == 0),
        metadata={
            "expected_multiplier": expected,
            "achieved_multiplier": float(achieved),  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
            "augmented_in_valid_or_test": held_out_augmented,
            "per_split": dg.MetadataValue.md(markdown_table(per_split.rename_axis("split").reset_index())),
        },
    )


@dg.asset_check(asset=coco_4class, name=CLASSES_REMOVED)
def four_class_classes_removed(store: DatasetStore) -> dg.AssetCheckResult:
    """The 4-class set has no EDH or HC category or annotation, and as many images as the 6-class set."""
    store.pull(FOUR_CLASS.path)
    rows, bad = [], []
    for split in SPLIT_ORDER:
        four = CocoFile(store.path(FOUR_CLASS.path, split, ANNOTATIONS))
        six = CocoFile(store.path(SIX_CLASS.path, split, ANNOTATIONS))
        names = {c["id"]: c["name"] for c in four.categories}
        removed_left = sum(names.get(a["category_id"]) in ("EDH", "HC") for a in four.annotations()) + sum(
            n in ("EDH", "HC") for n in names.values()
        )
        images4, images6 = sum(1 for _ in four.images()), sum(1 for _ in six.images())
        rows.append(
            {
                "split": split,
                "categories": ", ".join(names.values()),
                "edh_hc_left": removed_left,
                "images_4class": images4,
                "images_6class": images6,
            }
        )
        if removed_left or images4 != images6:
            bad.append(split)
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "failing_splits": dg.MetadataValue.json(bad),
            "per_split": dg.MetadataValue.md(markdown_table(pd.DataFrame(rows))),
        },
    )


@dg.asset_check(asset=coco_4class, name=LINKS_VALID)
def four_class_links_valid(store: DatasetStore) -> dg.AssetCheckResult:
    """Every 4-class image is a valid link (symbolic or hard) to the stored object of its 6-class file, not a copy."""
    six = store.manifest(SIX_CLASS.path)
    objects = {e.path: e.sha256 for e in six.entries} if six is not None else {}
    counts, bad = links_report(store.path(FOUR_CLASS.path), objects, store.object_path, SPLIT_ORDER)
    return dg.AssetCheckResult(
        passed=not bad and counts["images"] > 0, metadata={**counts, "examples": dg.MetadataValue.json(bad[:10])}
    )


def _describes_current_source_check(asset, derived: Dataset):
    @dg.asset_check(
        asset=asset,
        name=DESCRIBES_CURRENT_SOURCE,
        blocking=True,
        description=f"`{derived.path}` was made from the current version of the dataset it pins: after a rebuild "
        "of that dataset without a re-export it describes files the live folder no longer holds (check out its "
        "version to get them, or materialize it again).",
    )
    def _check(store: DatasetStore) -> dg.AssetCheckResult:
        if store.manifest(derived.path) is None:
            return dg.AssetCheckResult(passed=False, metadata={"reason": f"{derived.path} was never written"})
        stale = stale_pins(store, derived.path)
        return dg.AssetCheckResult(
            passed=not stale,
            description="; ".join(f"{s['derived']} was made from {s['made_from']}, now {s['current']}" for s in stale)
            or None,
            metadata={"stale": dg.MetadataValue.json(stale)},
        )

    return _check


four_class_describes_current = _describes_current_source_check(coco_4class, FOUR_CLASS)
csv_6class_describes_current = _describes_current_source_check(v4_dataset_6class_csv, CSV_6CLASS)
csv_4class_describes_current = _describes_current_source_check(v4_dataset_4class_csv, CSV_4CLASS)
