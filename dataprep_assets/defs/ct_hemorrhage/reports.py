"""ct_hemorrhage assets, seed step 4: what is reported about the published sets. The seed's analysis of both
datasets and the per-image CSV exports, each pinning the dataset version it describes."""

import csv as csv_module
from collections.abc import Iterator
from pathlib import Path

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
from dataprep_assets.defs.ct_hemorrhage.export import analysis, dataset_row_chunks
from dataprep_assets.defs.ct_hemorrhage.ledgers import export_ledger
from dataprep_assets.defs.ct_hemorrhage.published import source_pins, split_files, split_files_at
from dataprep_assets.defs.ct_hemorrhage.training_set import augmented_coco_6class, coco_4class
from dataprep_assets.lib.accounting import Reread, ledgers_metadata
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
        "6class": analysis(split_files(store, SIX_CLASS)),
        "4class": analysis(split_files(store, FOUR_CLASS)),
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
    pins it (`source_version`), so the rows always describe files that can be checked out. Streamed: the COCO
    files are read and the CSV written a chunk of rows at a time (`dataset_row_chunks`); the ledger rereads both."""
    if store.manifest(dataset.path) is None:
        raise dg.Failure(f"{dataset.path} has no recorded version: materialize the asset that writes it first")
    source = store.current_version(dataset.path)
    cocos = split_files_at(store, source)
    tally = SplitSummary()

    def chunks() -> Iterator[pd.DataFrame]:
        for split in SPLIT_ORDER:
            for chunk in dataset_row_chunks(cocos[split], split):
                tally.add(chunk)
                yield chunk

    manifest = store.write_table_chunks(csv.path, chunks(), meta=source_pins(source))
    ledger = export_ledger(cocos, Reread(csv_items, store.path(csv.path)))
    return materialized(
        store,
        csv,
        manifest,
        metadata={
            "per_split": counts_table(tally.frame(), "split"),
            "dagster/row_count": tally.rows,
            "sample_rows": table(tally.head, 8),
            "source_version": f"{source.dataset}@{source.version_id}",
            **ledgers_metadata(ledger),
            **column_schema(tally.head, COLUMNS),
        },
    )


class SplitSummary:
    """Per split: images, augmented, with hemorrhage, patients (distinct ids), summed chunk by chunk; and the
    first rows (a sample). Held: the patient ids."""

    def __init__(self, sample: int = 8):
        self.sample, self.rows = sample, 0
        self.head = pd.DataFrame()
        self.counts: dict[str, dict] = {}
        self.patients: dict[str, set] = {}

    def add(self, chunk: pd.DataFrame) -> None:
        if self.head.empty or len(self.head) < self.sample:
            head = chunk if self.head.empty else pd.concat([self.head, chunk.head(self.sample)], ignore_index=True)
            self.head = head.head(self.sample).copy()  # a copy: a view would keep the whole chunk alive
        self.rows += len(chunk)
        for split, rows in chunk.groupby("split", sort=False):
            c = self.counts.setdefault(str(split), {"images": 0, "augmented": 0, "with_hemorrhage": 0})
            c["images"] += len(rows)
            c["augmented"] += int(rows["is_augmented"].sum())
            c["with_hemorrhage"] += int(rows["has_hemorrhage"].sum())
            self.patients.setdefault(str(split), set()).update(rows["patient_id"])

    def frame(self) -> pd.DataFrame:
        """As `frame.groupby("split").agg(...)` of all rows, in SPLIT_ORDER (a split without rows: NaN)."""
        return pd.DataFrame({s: {**c, "patients": len(self.patients[s])} for s, c in self.counts.items()}).T.reindex(
            list(SPLIT_ORDER)
        )


def csv_items(path: Path) -> Iterator[str]:
    """`<split>/<file_name>` of each row of an exported CSV, read row by row."""
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv_module.DictReader(fh):
            yield f"{row['split']}/{row['file_name']}"


@dg.asset(group_name=GROUP, deps=[augmented_coco_6class], kinds={"csv"}, automation_condition=FOLLOW_UPSTREAM)
def v4_dataset_6class_csv(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """`data/metadata/v4_dataset_6class.csv`: one row per image of the 6-class dataset."""
    return export_csv(store, SIX_CLASS, CSV_6CLASS)


@dg.asset(group_name=GROUP, deps=[coco_4class], kinds={"csv"}, automation_condition=FOLLOW_UPSTREAM)
def v4_dataset_4class_csv(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """`data/metadata/v4_dataset_4class.csv`: one row per image of the 4-class dataset."""
    return export_csv(store, FOUR_CLASS, CSV_4CLASS)
