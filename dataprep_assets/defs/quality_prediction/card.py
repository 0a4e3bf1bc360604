"""The quality_prediction dataset card: results and source images per split and logo type, split and logo-type
balance against their targets, image-group leak evidence, captioned logos, SSIM distributions, versions, rejects."""

import dagster as dg
import pandas as pd

from dataprep_assets.common import cards
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.quality_prediction.assets import feature_report, logo_montage, quality_dataset_splits
from dataprep_assets.defs.quality_prediction.config import SplitConfig
from dataprep_assets.defs.quality_prediction.datasets import CLEAN, EXAMPLES, GROUP, RESULTS, SOURCE, SPLIT_TABLES
from dataprep_assets.defs.quality_prediction.stratify import SPLITS
from dataprep_assets.lib.cards import Card, Figure, Section, Table
from dataprep_assets.lib.tables import describe_by
from dataprep_assets.ml.vectorizer_params import LOGO_TYPES, TARGET_LOGO_MIX


def build_card(store: DatasetStore, target: dict[str, float]) -> Card:
    examples = store.read_table(EXAMPLES)
    source = store.read(SOURCE)
    root = store.pull(source["local_root"])
    versions = cards.input_versions(store, [RESULTS.path, CLEAN.path, SPLIT_TABLES.path])
    order = [s for s in SPLITS if s in set(examples["split"])]
    per_split = pd.DataFrame(
        [
            {
                "split": s,
                "results": int((examples["split"] == s).sum()),
                "source_images": int(examples.loc[examples["split"] == s, "image_group"].nunique()),
                "mean_ssim": float(examples.loc[examples["split"] == s, "ssim"].mean()),
            }
            for s in order
        ]
    )
    per_type = examples.pivot_table(
        index="logo_type", columns="split", values="result_id", aggfunc="count", fill_value=0
    )
    per_type = per_type.reindex(
        index=[t for t in LOGO_TYPES if t in per_type.index], columns=order, fill_value=0
    ).astype("int64")
    achieved = {s: float((examples["split"] == s).mean()) for s in order}
    mix = examples.groupby("image_id")["logo_type"].first().value_counts(normalize=True)
    logo_mix = pd.DataFrame(
        [{"logo_type": t, "target": TARGET_LOGO_MIX[t], "achieved": float(mix.get(t, 0.0))} for t in LOGO_TYPES]
    )
    quality = describe_by(examples, "ssim", "logo_type")
    rejects = cards.rejects_frame(store, ["conversion_results", "clean_conversion_results", "image_features"])
    sections = [
        Section(
            "Counts",
            "Conversion results and distinct source images per split; results per logo type and split.",
            tables=cards.counts_tables(
                per_split, per_type, class_col="logo_type", caption="results per logo type and split"
            ),
            figures=[
                cards.bars_figure(
                    "results_per_split",
                    "results per logo type, one colour per split",
                    per_type,
                    title="results per logo type and split",
                    xlabel="logo type",
                    ylabel="results",
                )
            ],
        ),
        Section(
            "Balance",
            "Row share per split against the configured fractions (stratified by logo type and SSIM bin); "
            "the logo-type mix of the images against the seed's intended mix.",
            tables=[
                cards.balance_table(achieved, target, "share of results"),
                Table("logo-mix", "logo-type mix of the images: achieved against target", logo_mix),
            ],
        ),
        cards.leak_section(examples, "image_group", order=SPLITS),
        Section(
            "Samples",
            "One row per logo type, logos from its lowest to its highest mean SSIM.",
            figures=[
                Figure(
                    "sample_logos", logo_montage(str(root), examples), "logos per type, captioned with their mean SSIM"
                )
            ],
        ),
        Section(
            "Distributions",
            tables=[Table("ssim-per-logo-type", "SSIM per logo type", quality)],
            figures=[
                cards.histogram_figure(
                    "ssim_per_logo_type",
                    "quality scores (SSIM) per logo type",
                    examples,
                    "ssim",
                    "logo_type",
                    title="SSIM per logo type",
                    xlabel="SSIM",
                    ylabel="results",
                    value_range=(0.0, 1.0),
                ),
                cards.histogram_figure(
                    "ssim_per_split",
                    "SSIM per split (stratification keeps them alike)",
                    examples,
                    "ssim",
                    "split",
                    order=order,
                    title="SSIM per split",
                    xlabel="SSIM",
                    ylabel="results",
                    value_range=(0.0, 1.0),
                ),
            ],
        ),
    ]
    return cards.dataset_card(
        pipeline="quality_prediction",
        title="quality_prediction: SVG conversion quality, split by source image",
        versions=versions,
        sections=sections,
        rejects=rejects,
        facts={
            "results": len(examples),
            "source images": int(examples["image_group"].nunique()),
            "logo types": int(examples["logo_type"].nunique()),
            "mean SSIM": round(float(examples["ssim"].mean()), 4),
        },
        summary="datasets/{train,validation,test}.parquet (and examples.parquet with CV folds) plus HDF5 image "
        "features; "
        "load them with the PyTorch Dataset in dataprep_assets.ml.quality_prediction.",
    )


@cards.card_asset(group=GROUP, deps=[quality_dataset_splits, feature_report], preview="sample_logos")
def quality_prediction_dataset_card(context: dg.AssetExecutionContext, store: DatasetStore) -> Card:
    """The dataset card (`cards/quality_prediction/index.html` + `README.md`): counts, balance, leak evidence, logos,
    SSIM."""
    return build_card(
        store, cards.target_fractions(context.instance, quality_dataset_splits.key, SplitConfig().fractions)
    )
