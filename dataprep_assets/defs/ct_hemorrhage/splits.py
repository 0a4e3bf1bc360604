"""ct_hemorrhage assets, seed step 3 [6-6.5]: the labelled images split by patient (80/15/5), then each split
balanced towards the target no-hemorrhage share with images from the pool."""

import dagster as dg
import pandas as pd

from dataprep_assets.common.automation import FOLLOW_UPSTREAM
from dataprep_assets.common.continuity import continuity_metadata, reference_table, upstream_resplit, version_meta
from dataprep_assets.common.metadata import column_schema, counts_table, figure_metadata, run_info, table
from dataprep_assets.common.publish import materialized
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.ct_hemorrhage.columns import COLUMNS
from dataprep_assets.defs.ct_hemorrhage.config import BalanceConfig, PatientSplitConfig
from dataprep_assets.defs.ct_hemorrhage.datasets import (
    BALANCED,
    GROUP,
    LABELLED,
    NO_HEM_COCO,
    NO_HEM_PNGS,
    PATIENT_SPLITS,
    SPLIT_ORDER,
)
from dataprep_assets.defs.ct_hemorrhage.feedback import FEEDBACK_NAMES, FEEDBACK_TIERS
from dataprep_assets.defs.ct_hemorrhage.labelled_sources import labelled_coco
from dataprep_assets.defs.ct_hemorrhage.ledgers import balance_ledgers
from dataprep_assets.defs.ct_hemorrhage.patients import split_images
from dataprep_assets.defs.ct_hemorrhage.pool import no_hem_coco
from dataprep_assets.lib.accounting import account_split, ledgers_metadata
from dataprep_assets.lib.balance import PoolItem, balance_table, fill_splits, shortfall
from dataprep_assets.lib.charts import grouped_bars
from dataprep_assets.lib.coco import frames_from_coco
from dataprep_assets.lib.splits import previous_assignment

BALANCE_COLUMNS = {
    "split": "train, valid or test",
    "negatives_before": "no-hemorrhage images from the labelled sources",
    "total_before": "images from the labelled sources",
    "share_before": "no-hemorrhage share before balancing",
    "shortfall": "no-hemorrhage images needed to reach the target share",
    "added": "pool images added",
    "added_FP": "of which model false positives",
    "added_TN": "of which true negatives",
    "negatives_after": "no-hemorrhage images after balancing",
    "total_after": "images after balancing",
    "share_after": "no-hemorrhage share after balancing (the target is in target_no_hem_share)",
}


def share_chart(balance: pd.DataFrame, target: float) -> bytes:
    """No-hemorrhage share per split before and after balancing, with the target as a line."""
    return grouped_bars(
        {r.split: {"before balancing": r.share_before, "after balancing": r.share_after} for r in balance.itertuples()},  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
        title=f"no-hemorrhage share per split (target {target:.0%})",
        xlabel="split",
        ylabel="share of images",
        value_format="{:.1%}",
        reference=(target, f"target {target:.0%}"),
    )


def labelled_image_table(coco: dict) -> pd.DataFrame:
    """One row per labelled image: its patient, source, classes (sorted names) and whether it has a hemorrhage."""
    images, boxes = frames_from_coco(coco)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    classes = boxes.groupby("image_id")["category_id"].agg(lambda c: tuple(sorted({names[i] for i in c})))
    out = images[["id", "file_name", "source", "source_path", "patient_id", "key"]].rename(
        columns={"id": "labelled_id"}
    )
    out["classes"] = out["labelled_id"].map(classes).apply(lambda v: v if isinstance(v, tuple) else ())
    out["has_hemorrhage"] = out["classes"].apply(bool)
    out["feedback"] = ""
    return out


@dg.asset(group_name=GROUP, deps=[labelled_coco], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def patient_splits(
    context: dg.AssetExecutionContext, config: PatientSplitConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """Patient-level 80/15/5 split of the labelled images with a fixed seed; every class reaches every split where the
    data allows."""
    labelled = store.read(LABELLED)
    table = labelled_image_table(labelled)
    before, reference = reference_table(store, PATIENT_SPLITS.path, "patient_id")
    previous = previous_assignment(before, "patient_id")
    history = {} if config.resplit else previous
    split, uncovered = split_images(table, "classes", config.fractions, config.seed, previous=history)
    ledger = account_split("images", [im["id"] for im in labelled["images"]], split, "labelled_id", SPLIT_ORDER)
    split["classes"] = split["classes"].apply(";".join)
    manifest = store.write(PATIENT_SPLITS, split, meta=version_meta(config.resplit, reference))
    per_split = (
        split.groupby("split")
        .agg(
            patients=("patient_id", "nunique"), images=("file_name", "size"), with_hemorrhage=("has_hemorrhage", "sum")
        )
        .reindex(list(SPLIT_ORDER), fill_value=0)
    )
    classes = (
        split.assign(cls=split["classes"].str.split(";"))
        .explode("cls")
        .query("cls != ''")
        .pivot_table(index="cls", columns="split", values="file_name", aggfunc="size", fill_value=0)
    )
    return materialized(
        store,
        PATIENT_SPLITS,
        manifest,
        metadata={
            "per_split": counts_table(per_split, "split"),
            "dagster/row_count": len(split),
            "images_per_class_and_split": counts_table(
                classes.reindex(columns=list(SPLIT_ORDER), fill_value=0), "class"
            ),
            "classes_missing_from_splits": dg.MetadataValue.json([f"{c} not in {s}" for c, s in uncovered]),
            "target_fractions": dg.MetadataValue.json(config.fractions),
            **continuity_metadata(previous, previous_assignment(split, "patient_id"), config.resplit, SPLIT_ORDER),
            **column_schema(split, COLUMNS),
            **ledgers_metadata(ledger),
            **run_info(seed=config.seed),
        },
    )


def placed_pool_images(balanced: pd.DataFrame | None) -> dict[str, str]:
    """Pool image (file name in the no-hemorrhage set) -> split, as a previous balanced table placed it."""
    if balanced is None or balanced.empty:
        return {}
    pool_rows = balanced[balanced["source"] == "no_hem"]
    return dict(zip(pool_rows["file_name"].str.removeprefix("no_hem_"), pool_rows["split"].astype(str), strict=True))


@dg.asset(group_name=GROUP, deps=[patient_splits, no_hem_coco], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def balanced_splits(
    context: dg.AssetExecutionContext, config: BalanceConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """Each split's shortfall to the target no-hemorrhage share, the pool spread in proportion to the
    shortfalls, false positives first; a pool patient already in a split can only join that split, and a pool
    image placed by the previous version stays in its split (unless this run or `patient_splits` re-split)."""
    labelled = store.read(PATIENT_SPLITS)
    pool = pd.DataFrame(store.read(NO_HEM_COCO)["images"])
    if pool.empty:
        pool = pd.DataFrame(columns=["file_name", "patient_id", "feedback"])
    pool["tier"] = pool["feedback"].map(FEEDBACK_TIERS).fillna(1).astype(int)
    before = {s: (int((~g["has_hemorrhage"]).sum()), len(g)) for s, g in labelled.groupby("split")}
    before = {s: before.get(s, (0, 0)) for s in SPLIT_ORDER}
    needs = {s: shortfall(neg, total, config.target_no_hem_share) for s, (neg, total) in before.items()}
    fixed = dict(zip(labelled["patient_id"], labelled["split"], strict=True))
    items = [PoolItem(r.file_name, str(r.patient_id), int(r.tier)) for r in pool.itertuples(index=False)]  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    resplit = config.resplit or upstream_resplit(store, PATIENT_SPLITS.path, BALANCED.path)
    before_table, reference = reference_table(store, BALANCED.path, "file_name")
    placed = {} if resplit else placed_pool_images(before_table)
    assignment = fill_splits(items, needs, fixed, config.seed, placed=placed)  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    chosen = pool[pool["file_name"].isin(assignment)].copy()
    added = pd.DataFrame(
        {
            "labelled_id": -1,
            "file_name": "no_hem_" + chosen["file_name"],
            "source": "no_hem",
            "source_path": NO_HEM_PNGS.path + "/" + chosen["file_name"],
            "patient_id": chosen["patient_id"].astype(str),
            "key": chosen["file_name"].str.removesuffix(".png"),
            "classes": "",
            "has_hemorrhage": False,
            "feedback": chosen["feedback"],
            "split": chosen["file_name"].map(assignment),
        }
    )
    balanced = (
        pd.concat([labelled, added], ignore_index=True).sort_values(["split", "file_name"]).reset_index(drop=True)
    )
    ledgers = balance_ledgers(labelled, pool, assignment, balanced)
    manifest = store.write(BALANCED, balanced, meta=version_meta(resplit, reference))
    tiers = dict(zip(pool["file_name"], pool["tier"], strict=True))
    balance = balance_table(before, assignment, tiers, needs, FEEDBACK_NAMES)
    chart = share_chart(balance, config.target_no_hem_share)
    return materialized(
        store,
        BALANCED,
        manifest,
        metadata={
            "share_after": dg.MetadataValue.json(
                {r.split: round(float(r.share_after), 4) for r in balance.itertuples()}  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
            ),
            "target_no_hem_share": config.target_no_hem_share,
            "balance": table(balance, descriptions=BALANCE_COLUMNS),
            "dagster/row_count": len(balanced),
            "overall_no_hem_share": round(float((~balanced["has_hemorrhage"]).mean()), 4),
            "total_shortfall": int(sum(needs.values())),
            "pool_available": len(pool),
            "pool_fp": int((pool["tier"] == 0).sum()),
            "pool_tn": int((pool["tier"] == 1).sum()),
            "pool_used": len(assignment),
            "pool_unused": len(pool) - len(assignment),
            **figure_metadata(store, context.asset_key.to_user_string(), "share_chart", chart),
            **continuity_metadata(
                previous_assignment(before_table, "file_name"),
                previous_assignment(balanced, "file_name"),
                resplit,
                SPLIT_ORDER,
            ),
            **column_schema(balanced, COLUMNS),
            **ledgers_metadata(*ledgers),
        },
    )
