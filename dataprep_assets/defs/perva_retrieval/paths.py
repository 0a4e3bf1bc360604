"""Where perva_retrieval reads and writes, and how an asset finds what its upstream wrote last."""

from __future__ import annotations

import dagster as dg

GROUP = "perva_retrieval"
RAW_PREFIX = "raw/perva_retrieval"
PARTITIONS_NAME = "perva_categories"


def images_table_path(catalog_out: str) -> str:
    """The catalog's sidecar table (one row per image, with hashes and sizes) next to the JSON."""
    return catalog_out.removesuffix(".json") + "_images.parquet"


def retrieval_path(out_dir: str, category: str, seed: int, top_k: int) -> str:
    return f"{out_dir.rstrip('/')}/{category}/seed_{seed}/retrieval_top{top_k}.json"


def combined_path(
    out_dir: str, seed: int, top_k: int, num_samples: int | None, output_dir: str = "", output_filename: str = ""
) -> str:
    folder = output_dir.rstrip("/") or f"{out_dir.rstrip('/')}/all/seed_{seed}"
    name = output_filename or f"retrieval_top{top_k}_combined_{num_samples if num_samples is not None else 'all'}.json"
    return f"{folder}/{name}"


def hf_dataset_path(root: str, dataset: str, category: str, seed: int, top_k: int) -> str:
    return f"{root.rstrip('/')}/{dataset}_{category}_test_subset_seed_{seed}_K_{top_k}"


def latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey, partition: str | None = None) -> dict:
    """Raw metadata of the latest materialization of `key` (of one partition); {} if none."""
    if partition is None:
        event = instance.get_latest_materialization_event(key)
        materialization = event.asset_materialization if event else None
    else:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
        ).records
        materialization = records[0].asset_materialization if records else None
    if materialization is None:
        return {}
    return {k: v.value for k, v in materialization.metadata.items()}
