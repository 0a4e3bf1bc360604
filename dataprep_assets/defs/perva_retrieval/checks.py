"""perva_retrieval asset checks: no concept leak and concepts staying put across versions (blocking), catalog paths
safe (blocking), negatives
valid (blocking, per category partition), K per query, the HF dataset round-trips (blocking)."""

import dagster as dg
import pandas as pd

from dataprep_assets.common.checks import split_continuity_check
from dataprep_assets.common.metadata import markdown_table
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.perva_retrieval.assets import (
    concept_splits,
    hf_retrieval_dataset,
    image_catalog,
    perva_categories,
    retrieval_per_category,
)
from dataprep_assets.defs.perva_retrieval.concept_splits import concept_table
from dataprep_assets.defs.perva_retrieval.datasets import CATALOG_IMAGES, CONCEPT_TABLE, images_table_path
from dataprep_assets.defs.perva_retrieval.export import HF_COLUMNS
from dataprep_assets.defs.perva_retrieval.locate import (
    catalog_source,
    current_combined,
    current_hf_dataset,
    current_records,
    current_split_files,
)
from dataprep_assets.defs.perva_retrieval.retrieval import verify_records
from dataprep_assets.lib.splits import group_overlap, split_summary

NO_CONCEPT_OVERLAP = "no_concept_in_train_and_validation"
CATALOG_PATHS_SAFE = "catalog_paths_inside_data_root"
NEGATIVES_VALID = "negatives_from_other_concepts_of_same_category"
K_PER_QUERY = "k_negatives_per_query"
HF_ROUND_TRIP = "hf_dataset_round_trips"


@dg.asset_check(asset=concept_splits, blocking=True)
def no_concept_in_train_and_validation(
    context: dg.AssetCheckExecutionContext, store: DatasetStore
) -> dg.AssetCheckResult:
    """Every category/concept is in train or validation, never both."""
    train, validation, _ = current_split_files(store)
    table = concept_table(store.read(train), store.read(validation))
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


@dg.asset_check(asset=image_catalog, blocking=True)
def catalog_paths_inside_data_root(context: dg.AssetCheckExecutionContext, store: DatasetStore) -> dg.AssetCheckResult:
    """Every catalogued image is an existing file that resolves inside data_root (no symlink escapes)."""
    table = store.read(CATALOG_IMAGES)
    data_root = store.path(catalog_source(store)["data_root"]).resolve()
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
    current = current_records(store, category)
    if current is None:
        raise dg.Failure(f"retrieval_per_category has written no records for {category}")
    dataset, meta = current
    records = store.read(dataset)
    truth = store.read(CATALOG_IMAGES) if store.exists(CATALOG_IMAGES.path) else None
    problems = verify_records(
        records,
        store.read_table(images_table_path(dataset.path)),
        category,
        meta["negatives_per_query"],
        meta["one_per_concept"],
        truth,
    )
    return meta, records, problems


@dg.asset_check(asset=retrieval_per_category, blocking=True, partitions_def=perva_categories)
def negatives_from_other_concepts_of_same_category(
    context: dg.AssetCheckExecutionContext, store: DatasetStore
) -> dg.AssetCheckResult:
    """Every negative is an image of another concept of the same category, never the query; `label` points at the
    positive."""
    meta, records, problems = _problems(context, store)
    bad = problems["wrong_negative"] + problems["bad_label"]
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={"records": len(records), "problems": len(bad), "examples": dg.MetadataValue.json(bad[:10])},
    )


@dg.asset_check(asset=retrieval_per_category, partitions_def=perva_categories)
def k_negatives_per_query(context: dg.AssetCheckExecutionContext, store: DatasetStore) -> dg.AssetCheckResult:
    """Each query has K negatives, or as many as the category allows (other concepts / their images)."""
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


@dg.asset_check(asset=hf_retrieval_dataset, blocking=True)
def hf_dataset_round_trips(context: dg.AssetCheckExecutionContext, store: DatasetStore) -> dg.AssetCheckResult:
    """`datasets.load_from_disk` reads it back with every record, the expected columns and decodable images."""
    import datasets

    current = current_hf_dataset(store)
    if current is None:
        raise dg.Failure("hf_retrieval_dataset has saved no dataset")
    saved, meta = current
    combined = current_combined(store)
    source = meta.get("source") or (combined[0].path if combined else "")
    category = meta.get("category", "all")
    expected_rows = sum(category in ("all", r["category"]) for r in store.read_json(source))
    loaded = datasets.load_from_disk(str(store.pull(saved.path)))
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
    relpath=CONCEPT_TABLE.path,
    group_col="concept_key",
    order=("train", "validation"),
    name="concepts_stay_put",
)
