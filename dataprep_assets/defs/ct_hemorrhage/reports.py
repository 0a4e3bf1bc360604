"""ct_hemorrhage assets, seed step 4: what is reported about the published sets. The seed's analysis of both
datasets and the per-image CSV exports, each pinning the dataset version it describes."""

import dagster as dg
import pandas as pd

from dataprep_assets.common.automation import FOLLOW_UPSTREAM
from dataprep_assets.common.metadata import column_schema, counts_table, figure_metadata, table
from dataprep_assets.common.publish import materialized
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.ct_hemorrhage.columns import COLUMNS
from dataprep_assets.defs.ct_hemorrhage.datasets import (
    ANALYSIS,
    CSV_4CLASS,
    CSV_6CLASS,
    FOUR_CLASS,
    GROUP,
    SIX_CLASS,
    SPLIT_ORDER,
)
from dataprep_assets.defs.ct_hemorrhage.export import analysis, dataset_rows
from dataprep_assets.defs.ct_hemorrhage.ledgers import export_ledger
from dataprep_assets.defs.ct_hemorrhage.published import read_split_coco, source_pins, split_cocos_at
from dataprep_assets.defs.ct_hemorrhage.training_set import augmented_coco_6class, coco_4class
from dataprep_assets.lib.accounting import ledgers_metadata
from dataprep_assets.lib.charts import grouped_bars
from dataprep_assets.lib.datasets import Dataset


@dg.asset(
    group_name=GROUP, deps=[augmented_coco_6class, coco_4class], kinds={"json"}, automation_condition=FOLLOW_UPSTREAM
)
def v4_analysis(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """The seed's analysis: class distribution (annotations and images) per split, hemorrhage status,
    original vs augmented images, patients per split and their overlap, for both datasets; the ORIGINAL
    IMAGES SUMMARY (before augmentation) counts classes and hemorrhage status over originals only."""
    store.pull(SIX_CLASS.path)
    report = {
        "6class": analysis({s: read_split_coco(store, SIX_CLASS, s) for s in SPLIT_ORDER}),
        "4class": analysis({s: read_split_coco(store, FOUR_CLASS, s) for s in SPLIT_ORDER}),
    }
    manifest = store.write(ANALYSIS, report)
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
    return materialized(
        store,
        ANALYSIS,
        manifest,
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
        },
    )


def export_csv(store: DatasetStore, dataset: Dataset, csv: Dataset) -> dg.MaterializeResult:
    """One row per image of the dataset's current version, read from that version's objects; the CSV's version
    pins it (`source_version`), so the rows always describe files that can be checked out."""
    if store.manifest(dataset.path) is None:
        raise dg.Failure(f"{dataset.path} has no recorded version: materialize the asset that writes it first")
    source = store.current_version(dataset.path)
    cocos = split_cocos_at(store, source)
    frame = pd.concat([dataset_rows(cocos[s], s) for s in SPLIT_ORDER], ignore_index=True)
    ledger = export_ledger(cocos, frame)
    manifest = store.write(csv, frame, meta=source_pins(source))
    summary = (
        frame.groupby("split")
        .agg(
            images=("file_name", "size"),
            augmented=("is_augmented", "sum"),
            with_hemorrhage=("has_hemorrhage", "sum"),
            patients=("patient_id", "nunique"),
        )
        .reindex(list(SPLIT_ORDER))
    )
    return materialized(
        store,
        csv,
        manifest,
        metadata={
            "per_split": counts_table(summary, "split"),
            "dagster/row_count": len(frame),
            "sample_rows": table(frame, 8),
            "source_version": f"{source.dataset}@{source.version_id}",
            **ledgers_metadata(ledger),
            **column_schema(frame, COLUMNS),
        },
    )


@dg.asset(group_name=GROUP, deps=[augmented_coco_6class], kinds={"csv"}, automation_condition=FOLLOW_UPSTREAM)
def v4_dataset_6class_csv(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """`data/metadata/v4_dataset_6class.csv`: one row per image of the 6-class dataset."""
    return export_csv(store, SIX_CLASS, CSV_6CLASS)


@dg.asset(group_name=GROUP, deps=[coco_4class], kinds={"csv"}, automation_condition=FOLLOW_UPSTREAM)
def v4_dataset_4class_csv(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """`data/metadata/v4_dataset_4class.csv`: one row per image of the 4-class dataset."""
    return export_csv(store, FOUR_CLASS, CSV_4CLASS)
