"""Launchpad configuration of the perva_retrieval assets (every field has a description and a default).

Field names and defaults follow the seed's command-line options (its README tables); fields the
seed used only to find the previous step's file are optional here: empty means "the file the
upstream asset wrote last". Output-location fields (`out`, `out_dir`, `output_dir`, `root`) add an export copy:
every asset writes its declared datasets (`datasets.py`) and downstream reads those.
"""

from typing import Literal

from pydantic import Field, field_validator, model_validator

from dataprep_assets.common.config import LaunchpadConfig
from dataprep_assets.common.continuity import RESPLIT_DESCRIPTION
from dataprep_assets.defs.perva_retrieval.encoders import ENCODERS


class ImageCatalogConfig(LaunchpadConfig):
    data_root: str = Field(
        default="raw/perva_retrieval/PerVA",
        description="Dataset root, relative to the dataset store (the seed's --data_root).",
    )
    out: str = Field(
        default="manifests/PerVA/catalog.json",
        description="The seed's --out: the catalog is always written to manifests/PerVA/catalog.json (what "
        "concept_splits reads); another store-relative path here gets a copy (with its _images.parquet).",
    )
    relative: bool = Field(
        default=False,
        description="Store image paths relative to data_root; otherwise relative to the store root (never "
        "machine-absolute).",
    )
    train_fraction: float = Field(
        gt=0,
        le=1,
        default=0.2,
        description="Fraction of each concept's images for train when auto-splitting (0 < f <= 1).",
    )
    num_train: int | None = Field(
        ge=1,
        default=None,
        description="Exact number of train images per concept (overrides train_fraction; also caps train in the "
        "explicit layout).",
    )
    seed: int = Field(
        default=42, description="Seed of the per-concept shuffles (each concept gets its own stable RNG)."
    )
    train_dirname: str = Field(
        min_length=1, default="train", description="Name of the train split folder in the explicit layout."
    )
    test_dirname: str = Field(
        min_length=1, default="test", description="Name of the test split folder in the explicit layout."
    )
    layout: Literal["detect", "explicit", "by_concept"] = Field(
        default="detect",
        description="`explicit`: <train>/<category>/<concept>/ + <test>/...; `by_concept`: <category>/<concept>/ "
        "auto-split; `detect`: explicit if a train or test folder exists.",
    )
    negatives_dirname: str = Field(
        default="laion",
        description="Explicit layout: sub-folder of a train concept holding external negatives (the catalog's "
        "`negative` list).",
    )
    max_workers: int = Field(
        default=0, description="Processes that decode every image to prove it is readable; 0 = all cores."
    )

    @field_validator("out")
    @classmethod
    def _a_json_path(cls, out: str) -> str:
        if not out.endswith(".json"):
            raise ValueError(f"must be a .json path, got {out!r}")
        return out

    @model_validator(mode="after")
    def _two_split_folders(self):
        if self.train_dirname == self.test_dirname:
            raise ValueError(
                f"train_dirname and test_dirname must be two different names, both are {self.test_dirname!r}"
            )
        return self


class ConceptSplitsConfig(LaunchpadConfig):
    input_json: str = Field(
        default="",
        description="Catalog JSON to split, store-relative; empty = the catalog image_catalog wrote last (the seed's "
        "--input_json).",
    )
    out_dir: str = Field(
        default="manifests/PerVA",
        description="The seed's --out_dir: the three split files are always written to manifests/PerVA (what "
        "retrieval reads); another store-relative folder here gets a copy of them.",
    )
    concept_frac: float = Field(
        ge=0, le=1, default=0.65, description="Fraction of each category's concepts selected for training (ceil)."
    )
    min_concepts_threshold: int = Field(
        ge=1,
        default=3,
        description="Only categories with at least this many concepts are split; smaller ones go to validation whole.",
    )
    test_sample_frac: float = Field(
        ge=0,
        le=1,
        default=1.0,
        description="Fraction of each training concept's test images merged into its train list.",
    )
    max_test_images: int = Field(ge=0, default=200, description="Cap on the test images merged per training concept.")
    seed: int = Field(default=23, description="Seed of the concept selection and the test sampling.")
    resplit: bool = Field(default=False, description=RESPLIT_DESCRIPTION)


class RetrievalConfig(LaunchpadConfig):
    catalog: str = Field(
        default="",
        description="Catalog-format JSON to mine, store-relative; empty = the train combined subset concept_splits "
        "wrote last (leak-free).",
    )
    split: Literal["train", "test", "train+test"] = Field(
        default="train", description="Which image list of each concept is searched (the seed's --split)."
    )
    out_dir: str = Field(
        default="outputs/PerVA",
        description="The seed's output root: records are always written to "
        "outputs/PerVA/<category>/seed_<seed>/retrieval_top<K>.json (what retrieval_combined reads); another "
        "store-relative folder here gets a copy.",
    )
    seed: int = Field(
        default=23, description="Seed of the shuffle of each record's ret_paths (and the output folder name)."
    )
    top_k: int = Field(
        ge=1,
        default=3,
        description="K, as in the seed's retrieval_top<K>.json: candidates per query in ret_paths (1 positive + K-1 "
        "hard "
        "negatives) when top_k_counts = candidates (default); K hard negatives (K+1 candidates) when top_k_counts = "
        "negatives.",
    )
    top_k_counts: Literal["candidates", "negatives"] = Field(
        default="candidates",
        description="What top_k counts: `candidates` (the seed's meaning: retrieval_top3.json has 3 ret_paths) or "
        "`negatives`.",
    )
    one_per_concept: bool = Field(
        default=True,
        description="At most one negative per other concept (its most similar image), as the seed; false = the K most "
        "similar images of any other concepts.",
    )
    positive: Literal["hardest", "easiest", "none"] = Field(
        default="hardest",
        description="Which other image of the query's concept joins ret_paths as the positive: the least similar (the "
        "seed's default), the most similar, or none (the query itself).",
    )
    encoder: str = Field(
        default="auto",
        description="Image encoder: `auto` = `clip` (the seed's) when PyTorch and a local CLIP model directory are "
        "present, else `color_texture`, "
        f"the offline fallback (colour/layout/gradient histograms, no model); or one of {sorted(ENCODERS)} (register "
        "more with encoders.register_encoder).",
    )
    clip_model_dir: str = Field(
        default="",
        description="CLIP: local directory of a saved CLIPModel + CLIPImageProcessor (never downloaded), absolute or "
        "store-relative; "
        "empty = $PERVA_CLIP_MODEL_DIR, else models/perva_retrieval/clip in the store.",
    )
    device: str = Field(default="cpu", description="encoder=clip: torch device (cpu, cuda, cuda:1...).")
    batch_size: int = Field(ge=1, default=32, description="Images per encoder batch.")
    search_block: int = Field(
        ge=1,
        default=2048,
        description="Images per tile of the similarity search (whole concepts; memory ~ search_block^2 floats).",
    )
    max_workers: int = Field(
        default=0, description="Processes that decode and encode images for encoders that allow it; 0 = all cores."
    )

    @field_validator("encoder")
    @classmethod
    def _registered(cls, encoder: str) -> str:
        # encoders.register_encoder adds names at run time, so they cannot be a Literal
        if encoder not in ENCODERS and encoder != "auto":
            raise ValueError(f"must be auto or one of {sorted(ENCODERS)}, got {encoder!r}")
        return encoder

    @model_validator(mode="after")
    def _a_positive_and_a_negative(self):
        if self.top_k_counts == "candidates" and self.top_k < 2:
            raise ValueError(
                f"top_k must be >= 2 when top_k_counts is candidates (1 positive + hard negatives), got {self.top_k}"
            )
        return self

    def negatives_per_query(self) -> int:
        """Hard negatives per query: K - 1 in the seed's meaning (K candidates incl. the positive), else K."""
        return self.top_k - 1 if self.top_k_counts == "candidates" else self.top_k

    def encoder_choice(self, store_root) -> tuple[str, dict]:
        """(encoder name, options) after resolving `auto` and the CLIP model directory (store-relative or absolute)."""
        import os
        from pathlib import Path

        from dataprep_assets.defs.perva_retrieval.encoders import CLIP_DIR_ENV, STORE_CLIP_DIR, choose_encoder

        def resolve(d: str) -> str:
            return (
                ""
                if not d
                else str(Path(d).expanduser() if Path(d).expanduser().is_absolute() else Path(store_root) / d)
            )

        candidates = (
            [resolve(self.clip_model_dir)]
            if self.clip_model_dir
            else [resolve(os.environ.get(CLIP_DIR_ENV, "")), resolve(STORE_CLIP_DIR)]
        )
        name, model_dir = choose_encoder(self.encoder, [c for c in candidates if c])
        if name == "clip":
            return name, {"model_dir": model_dir, "batch_size": self.batch_size, "device": self.device}
        return name, {"batch_size": self.batch_size}


class CombineConfig(LaunchpadConfig):
    categories: list[str] = Field(
        default=[],
        description="Categories to combine; empty = every partition of retrieval_per_category "
        "(or, with input_dir, the catalog's categories, else every sub-folder of input_dir).",
    )
    input_dir: str = Field(
        default="",
        description="The seed's --input_dir: read <input_dir>/<category>/seed_<seed>/<input_filename> files "
        "(store-relative) instead of the records each partition wrote last. Empty = those records.",
    )
    input_filename: str = Field(
        default="retrieval_top3.json",
        description="The seed's --input_filename: the per-category file name under input_dir.",
    )
    catalog: str = Field(
        default="",
        description="The seed's --catalog: a catalog JSON (store-relative) whose top-level keys are the categories to "
        "combine.",
    )
    output_dir: str = Field(
        default="",
        description="The seed's output folder: the file is always written to outputs/PerVA/all/seed_<seed>/ (what "
        "hf_retrieval_dataset reads); another store-relative folder here gets a copy.",
    )
    output_filename: str = Field(
        default="", description="Output file name; empty = retrieval_top<K>_combined_<num_samples or all>.json."
    )
    seed: int = Field(default=42, description="Seed of the sampling (and of the default output folder).")
    num_samples: int | None = Field(
        ge=1, default=None, description="Randomly sample this many records (seeded); null = keep all."
    )

    @field_validator("output_filename")
    @classmethod
    def _empty_or_json(cls, output_filename: str) -> str:
        if output_filename and not output_filename.endswith(".json"):
            raise ValueError(f"must end with .json, got {output_filename!r}")
        return output_filename


class HFDatasetConfig(LaunchpadConfig):
    root: str = Field(
        default="share_data",
        description="The seed's fixed share_data/: the dataset is always saved there (what the check and the card "
        "read); another store-relative folder here gets a copy.",
    )
    dataset: str = Field(
        default="PerVA",
        description="Dataset name in the output folder name (the seed's --dataset; its default was YoLLaVA).",
    )
    category: str = Field(
        default="all",
        description="Category to export (the seed's --category): `all`, or one category whose records "
        "alone are kept; also the category part of the output folder name.",
    )
    ret_json: str = Field(
        default="",
        description="The seed's --ret_json: the combined retrieval file to convert, a file name in the folder "
        "retrieval_combined writes to or a store-relative path; empty = the file retrieval_combined wrote last.",
    )
    seed: int = Field(default=23, description="Seed part of the output folder name.")
    absolute_paths: bool = Field(
        default=False,
        description="Write ret_paths/query_path as absolute local paths (machine-specific) instead of store-relative "
        "ones.",
    )
    embed_retrieved: bool = Field(
        default=False, description="Also embed the retrieved images (`ret_images` column), not only the query image."
    )

    @field_validator("dataset", "category")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if not value or "/" in value or value.startswith("."):
            raise ValueError(f"must be a plain folder-name part, got {value!r}")
        return value
