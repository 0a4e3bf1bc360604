"""The perva_retrieval dataset card: concepts, images and training records per category, the concept split against
its target, concept leak evidence, labelled query/positive/negative rows, similarity distributions, rejects."""

import dagster as dg
import numpy as np
import pandas as pd

from dataprep_assets.common import cards
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.perva_retrieval.assets import hf_retrieval_dataset, retrieval_combined
from dataprep_assets.defs.perva_retrieval.concept_splits import concept_table
from dataprep_assets.defs.perva_retrieval.datasets import CATALOG, CATALOG_IMAGES, GROUP
from dataprep_assets.defs.perva_retrieval.locate import (
    NotMaterialized,
    current_combined,
    current_hf_dataset,
    current_split_files,
)
from dataprep_assets.defs.perva_retrieval.pictures import retrieval_montage
from dataprep_assets.lib.cards import Card, Figure, Section, Table
from dataprep_assets.lib.charts import histograms
from dataprep_assets.lib.datasets import Dataset


def build_card(
    store: DatasetStore,
    splits: tuple[Dataset, Dataset, Dataset],
    combined: tuple[Dataset, dict],
    hf: tuple[Dataset, dict] | None,
) -> Card:
    """The card, from the current catalog, split files, combined records and HuggingFace dataset (if saved)."""
    train_file, validation_file, metadata_file = splits
    combined_file, combined_settings = combined
    records = store.read(combined_file)
    images = store.read(CATALOG_IMAGES)
    concepts = concept_table(store.read(train_file), store.read(validation_file))
    versions = cards.input_versions(
        store,
        [CATALOG.path, train_file.path, combined_file.path, *([hf[0].path] if hf else [])],
    )
    rec = pd.DataFrame(
        [
            {
                "category": r["category"],
                "concept": r["concept"],
                "negatives": len(r["negatives"]),
                "positive_similarity": r["positive_similarity"],
                "hardest_negative_similarity": r["negatives"][0]["similarity"] if r["negatives"] else np.nan,
            }
            for r in records
        ],
        columns=["category", "concept", "negatives", "positive_similarity", "hardest_negative_similarity"],
    )
    categories = sorted(set(images["category"]))
    per_category = pd.DataFrame(
        [
            {
                "category": c,
                "train_concepts": int(((concepts["category"] == c) & (concepts["split"] == "train")).sum()),
                "validation_concepts": int(((concepts["category"] == c) & (concepts["split"] == "validation")).sum()),
                "images": int((images["category"] == c).sum()),
                "records": int((rec["category"] == c).sum()),
            }
            for c in categories
        ]
    )
    train_share = per_category["train_concepts"].sum() / max(
        int(per_category[["train_concepts", "validation_concepts"]].sum().sum()), 1
    )
    target = float(store.read(metadata_file)["concept_frac"])
    negatives_hist = rec["negatives"].value_counts().sort_index()
    rejects = cards.rejects_frame(store, ["image_catalog", *[f"retrieval_per_category/{c}" for c in categories]])
    k = int(combined_settings.get("top_k", 3))
    sections = [
        Section(
            "Counts",
            "Concepts per concept split, images in the catalog and training records (queries) per category.",
            tables=[
                Table("counts-per-class", "per category", per_category),
                Table(
                    "counts-per-split",
                    "concepts per concept split",
                    concepts.groupby("split")
                    .agg(concepts=("concept_key", "size"), images=("images", "sum"))
                    .reset_index(),
                ),
            ],
            figures=[
                cards.bars_figure(
                    "records_per_category",
                    "concepts per category, one colour per split",
                    per_category.set_index("category")[["train_concepts", "validation_concepts"]].set_axis(
                        ["train", "validation"], axis=1
                    ),
                    title="concepts per category and concept split",
                    xlabel="category",
                    ylabel="concepts",
                )
            ],
        ),
        Section(
            "Balance",
            "Share of concepts selected for training (per category, ceil) against concept_frac.",
            tables=[
                cards.balance_table(
                    {"train": float(train_share), "validation": 1 - float(train_share)},
                    {"train": target, "validation": 1 - target},
                    "share of concepts",
                )
            ],
        ),
        cards.leak_section(concepts, "concept_key", order=["train", "validation"]),
        Section(
            "Samples",
            "Per row: a query, its positive (same concept) and its hard negatives (other concepts, most similar "
            "first), captioned with concept and cosine similarity to the query.",
            figures=[
                Figure(
                    "query_positive_negatives",
                    retrieval_montage(store.local_root(), records, k),
                    "query / positive / negatives",
                )
            ],
        ),
        Section(
            "Distributions",
            tables=[
                Table(
                    "negatives-per-query",
                    "hard negatives per query",
                    negatives_hist.rename_axis("negatives").rename("queries").reset_index(),
                )
            ],
            figures=[
                Figure(
                    "similarities",
                    histograms(
                        {
                            "positive": rec["positive_similarity"].to_numpy(),
                            "hardest negative": rec["hardest_negative_similarity"].dropna().to_numpy(),
                        },
                        title="similarity to the query",
                        xlabel="cosine similarity",
                        ylabel="queries",
                    ),
                    "positive vs hardest-negative similarity: hard negatives sit close to the positives",
                )
            ],
        ),
    ]
    return cards.dataset_card(
        pipeline="perva_retrieval",
        title="perva_retrieval: personalised retrieval with hard negatives (HuggingFace)",
        versions=versions,
        sections=sections,
        rejects=rejects,
        facts={
            "records": len(records),
            "categories": len(categories),
            "concepts": int(concepts["concept_key"].nunique()),
            "catalog images": len(images),
            "negatives per query (K)": k,
        },
        summary=f"{hf[0].path if hf else 'the HuggingFace dataset'} (datasets.load_from_disk); "
        f"records in {combined_file.path}.",
    )


@cards.card_asset(group=GROUP, deps=[hf_retrieval_dataset, retrieval_combined], preview="query_positive_negatives")
def perva_retrieval_dataset_card(context: dg.AssetExecutionContext, store: DatasetStore) -> Card:
    """The dataset card (`cards/perva_retrieval/index.html` + `README.md`): counts, balance, leak evidence, samples."""
    combined = current_combined(store)
    try:
        splits = current_split_files(store)
    except NotMaterialized:
        splits = None
    if combined is None or splits is None or not store.exists(CATALOG_IMAGES.path):
        raise dg.Failure(
            "perva_retrieval_dataset_card: materialize image_catalog, concept_splits and retrieval_combined first"
        )
    return build_card(store, splits, combined, current_hf_dataset(store))
