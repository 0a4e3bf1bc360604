"""Where perva_retrieval reads and writes, and how an asset finds what its upstream wrote last."""

from __future__ import annotations

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
