"""perva_retrieval's asset group and its datasets: which asset writes each, where (seed 004's layout), as what.

The catalog, its image table and the concept table have fixed paths. The seed names the other files after the
parameters that made them (`train_combined_concepts_subset_65_seed_23.json`, `<category>/seed_23/retrieval_top3.json`,
`PerVA_all_test_subset_seed_23_K_3`): those are declared as path functions of those parameters, always under the
seed's folders below. Each of those files records its parameters with its version in the store, so downstream
assets find the current one through these declarations and the store (`locate.py`).
"""

from dataprep_assets.lib.datasets import Dataset

GROUP = "perva_retrieval"
RAW_PREFIX = "raw/perva_retrieval"
PARTITIONS_NAME = "perva_categories"

SPLITS_DIR = "manifests/PerVA"
"""The catalog, the concept split files and the concept table (the seed's manifests/PerVA/)."""
OUTPUTS_DIR = "outputs/PerVA"
"""Retrieval records: <category>/seed_<seed>/ per category, all/seed_<seed>/ combined (the seed's outputs/PerVA/)."""
HF_ROOT = "share_data"
"""The saved HuggingFace datasets (the seed's fixed share_data/)."""


def images_table_path(json_path: str) -> str:
    """The sidecar table (one row per image) next to a JSON file of image lists."""
    return json_path.removesuffix(".json") + "_images.parquet"


CATALOG = Dataset("image_catalog", f"{SPLITS_DIR}/catalog.json", "json")
"""{category: {concept: {train, test[, negative]}}}; its version records `data_root` and `path_prefix`."""
CATALOG_IMAGES = Dataset("image_catalog", images_table_path(CATALOG.path), "table")
CONCEPT_TABLE = Dataset("concept_splits", f"{SPLITS_DIR}/concept_splits.parquet", "table")
"""One row per concept with its split; its version records the `concept_frac` and `seed` that name the split files."""


def split_file_names(concept_frac: float, seed: int) -> tuple[str, str, str]:
    """The seed's three file names; the subset tag is the percentage of concepts selected."""
    tag = int(round(concept_frac * 100))
    return (
        f"train_combined_concepts_subset_{tag}_seed_{seed}.json",
        f"validation_combined_concepts_subset_{tag}_seed_{seed}.json",
        f"train_val_combined_metadata_seed_{seed}.json",
    )


def split_files(concept_frac: float, seed: int, folder: str = SPLITS_DIR) -> tuple[Dataset, Dataset, Dataset]:
    """concept_splits' train combined subset, validation subset and metadata file."""
    folder = folder.rstrip("/")
    return tuple(Dataset("concept_splits", f"{folder}/{n}", "json") for n in split_file_names(concept_frac, seed))  # pyright: ignore[reportReturnType]  # three names, three datasets


def retrieval_path(out_dir: str, category: str, seed: int, top_k: int) -> str:
    return f"{out_dir.rstrip('/')}/{category}/seed_{seed}/retrieval_top{top_k}.json"


def retrieval_records(category: str, seed: int, top_k: int, out_dir: str = OUTPUTS_DIR) -> Dataset:
    """One category partition's records; its version records the retrieval settings (`retrieval_settings`)."""
    return Dataset("retrieval_per_category", retrieval_path(out_dir, category, seed, top_k), "json")


RECORDS_PATTERN = f"{OUTPUTS_DIR}/{{category}}/seed_*/retrieval_top*.json"
"""Where `retrieval_records` of one category can be (glob, after `.format(category=...)`)."""


def combined_name(top_k: int, num_samples: int | None) -> str:
    return f"retrieval_top{top_k}_combined_{num_samples if num_samples is not None else 'all'}.json"


def combined_records(seed: int, filename: str, out_dir: str = OUTPUTS_DIR) -> Dataset:
    """Every category's records in one file (`combined_name`, or the file name the config gives)."""
    return Dataset("retrieval_combined", f"{out_dir.rstrip('/')}/all/seed_{seed}/{filename}", "json")


COMBINED_PATTERN = f"{OUTPUTS_DIR}/all/seed_*/*.json"


def hf_dataset(dataset: str, category: str, seed: int, top_k: int, root: str = HF_ROOT) -> Dataset:
    """The saved DatasetDict (`save_to_disk`)."""
    return Dataset(
        "hf_retrieval_dataset",
        f"{root.rstrip('/')}/{dataset}_{category}_test_subset_seed_{seed}_K_{top_k}",
        "directory",
    )


HF_PATTERN = f"{HF_ROOT}/*_test_subset_seed_*_K_*"
