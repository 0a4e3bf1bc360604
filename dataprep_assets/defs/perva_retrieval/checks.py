"""perva_retrieval asset checks: no concept leak and concepts staying put across versions (blocking), catalog paths
safe (blocking), negatives
valid (blocking, per category partition), K per query, the HF dataset round-trips (blocking)."""

import dagster as dg
import pandas as pd

from dataprep_assets.common.checks import split_continuity_check
from dataprep_assets.common.metadata import latest_materialization_metadata, markdown_table
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.perva_retrieval.assets import (
    concept_splits,
    hf_retrieval_dataset,
    image_catalog,
    perva_categories,
    retrieval_combined,
    retrieval_per_category,
)
from dataprep_assets.defs.perva_retrieval.concept_splits import concept_table
from dataprep_assets.defs.perva_retrieval.export import HF_COLUMNS
from dataprep_assets.defs.perva_retrieval.retrieval import verify_records
from dataprep_assets.lib.splits import group_overlap, split_summary

NO_CONCEPT_OVERLAP = "no_concept_in_train_and_validation"
CATALOG_PATHS_SAFE = "catalog_paths_inside_data_root"
NEGATIVES_VALID = "negatives_from_other_concepts_of_same_category"
K_PER_QUERY = "k_negatives_per_query"
HF_ROUND_TRIP = "hf_dataset_round_trips"


@dg.asset_check(
    asset=concept_splits,
    name=NO_CONCEPT_OVERLAP,
    blocking=True,
    description="Every category/concept is in train or validation, never both.",
)
def no_concept_in_train_and_validation(
    context: dg.AssetCheckExecutionContext, store: DatasetStore
) -> dg.AssetCheckResult:
    meta = latest_materialization_metadata(context.instance, concept_splits.key)
    table = concept_table(store.read_json(meta["train_file"]), store.read_json(meta["validation_file"]))
    overlap = group_overlap(table, "concept_key")
    leaked = sorted({g for groups in overlap.values() for g in groups})
    return dg.AssetCheckResult(
        passed=not leaked,
        description=f"{len(leaked)} concept(s) in both train and validation" if leaked else None,
        metadata={
            "overlapping_concepts": len(leaked),
            "examples": dg.MetadataValue.json(leaked[:10]),
            "per_split": dg.MetadataValue.md(
                markdown_table(split_summary(table, "concept_key", order=("train", "validation")))
            ),
        },
    )


@dg.asset_check(
    asset=image_catalog,
    name=CATALOG_PATHS_SAFE,
    blocking=True,
    description="Every catalogued image is an existing file that resolves inside data_root (no symlink escapes).",
)
def catalog_paths_inside_data_root(context: dg.AssetCheckExecutionContext, store: DatasetStore) -> dg.AssetCheckResult:
    meta = latest_materialization_metadata(context.instance, image_catalog.key)
    table = store.read_table(meta["images_table"])
    data_root = store.path(meta["data_root"]).resolve()
    bad = []
    for path in table["store_path"]:
        resolved = (store.local_root() / path).resolve()
        if not resolved.is_file() or data_root not in resolved.parents:
            bad.append(path)
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={"paths_checked": len(table), "bad_paths": len(bad), "examples": dg.MetadataValue.json(bad[:10])},
    )


def _problems(
    context: dg.AssetCheckExecutionContext, store: DatasetStore
) -> tuple[dict, list[dict], dict[str, list[str]]]:
    """The partition's records, checked against its image list and the catalog's image table."""
    category = context.partition_key
    meta = latest_materialization_metadata(context.instance, retrieval_per_category.key, category)
    records = store.read_json(meta["relpath"])
    catalog_table = latest_materialization_metadata(context.instance, image_catalog.key).get("images_table")
    truth = store.read_table(catalog_table) if catalog_table and store.exists(catalog_table) else None
    problems = verify_records(
        records,
        store.read_table(meta["images_table"]),
        category,
        meta.get("negatives_per_query", meta["top_k"]),
        meta["one_per_concept"],
        truth,
    )
    return meta, records, problems


@dg.asset_check(
    asset=retrieval_per_category,
    name=NEGATIVES_VALID,
    blocking=True,
    partitions_def=perva_categories,
    description="Every negative is an image of another concept of the same category, never the query; `label` points "
    "at the positive.",
)
def negatives_from_other_concepts_of_same_category(
    context: dg.AssetCheckExecutionContext, store: DatasetStore
) -> dg.AssetCheckResult:
    meta, records, problems = _problems(context, store)
    bad = problems["wrong_negative"] + problems["bad_label"]
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={"records": len(records), "problems": len(bad), "examples": dg.MetadataValue.json(bad[:10])},
    )


@dg.asset_check(
    asset=retrieval_per_category,
    name=K_PER_QUERY,
    partitions_def=perva_categories,
    description="Each query has K negatives, or as many as the category allows (other concepts / their images).",
)
def k_negatives_per_query(context: dg.AssetCheckExecutionContext, store: DatasetStore) -> dg.AssetCheckResult:
    meta, records, problems = _problems(context, store)
    short = problems["too_few"]
    counts = pd.Series([len(r["negatives"]) for r in records], dtype="int64").value_counts().sort_index()
    return dg.AssetCheckResult(
        passed=not short,
        metadata={
            "top_k": meta["top_k"],
            "queries_short": len(short),
            "examples": dg.MetadataValue.json(short[:10]),
            "negatives_per_query": dg.MetadataValue.md(
                markdown_table(counts.rename_axis("negatives").reset_index(name="queries"))
            ),
        },
    )


@dg.asset_check(
    asset=hf_retrieval_dataset,
    name=HF_ROUND_TRIP,
    blocking=True,
    description="`datasets.load_from_disk` reads it back with every record, the expected columns and decodable images.",
)
def hf_dataset_round_trips(context: dg.AssetCheckExecutionContext, store: DatasetStore) -> dg.AssetCheckResult:
    import datasets

    meta = latest_materialization_metadata(context.instance, hf_retrieval_dataset.key)
    source = meta.get("source") or latest_materialization_metadata(context.instance, retrieval_combined.key)["relpath"]
    category = meta.get("category", "all")
    expected_rows = sum(category in ("all", r["category"]) for r in store.read_json(source))
    loaded = datasets.load_from_disk(str(store.pull(meta["relpath"])))
    problems = []
    if list(loaded.keys()) != ["train"]:  # pyright: ignore[reportAttributeAccessIssue]  # datasets types load_from_disk as Dataset | DatasetDict; this path holds a DatasetDict
        problems.append(f"splits {list(loaded.keys())}, expected ['train']")  # pyright: ignore[reportAttributeAccessIssue]  # datasets types load_from_disk as Dataset | DatasetDict; this path holds a DatasetDict
    train = loaded.get("train", None)  # pyright: ignore[reportAttributeAccessIssue]  # datasets types load_from_disk as Dataset | DatasetDict; this path holds a DatasetDict
    if train is not None:
        if len(train) != expected_rows:
            problems.append(f"{len(train)} rows, the combined file has {expected_rows}")
        missing = [c for c in HF_COLUMNS if c not in train.column_names]
        if missing:
            problems.append(f"missing columns {missing}")
        if len(train) and not missing:
            first = train[0]
            if first["image"].size[0] < 1:
                problems.append("first query image does not decode")
            if first["names"][first["label"]] != first["solution"]:
                problems.append("solution is not names[label]")
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={
            "rows": len(train) if train is not None else 0,
            "expected_rows": expected_rows,
            "problems": dg.MetadataValue.json(problems),
        },
    )


concepts_stay_put = split_continuity_check(
    asset=concept_splits,
    relpath=lambda context: latest_materialization_metadata(context.instance, concept_splits.key).get(
        "concept_table", ""
    ),
    group_col="concept_key",
    order=("train", "validation"),
    name="concepts_stay_put",
)
