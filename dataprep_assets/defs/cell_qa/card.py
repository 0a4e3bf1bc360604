"""The cell_qa dataset card: cells per split and competitor, split balance, leak evidence, captioned crops,
Jaccard and cell-area distributions, versions and rejects, recomputed from the files of the release."""

import dagster as dg
import numpy as np
import pandas as pd

from dataprep_assets.common import cards
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.cell_qa.assets import (
    cell_level_dataframe_with_splits,
    cell_qa_release,
    jaccard_chart,
    sample_montage,
)
from dataprep_assets.defs.cell_qa.config import SplitConfig
from dataprep_assets.defs.cell_qa.datasets import CROPS, GROUP, INVENTORY, RELEASE, SPLIT_ORDER, SPLITS
from dataprep_assets.lib.cards import Card, Figure, Section, Table
from dataprep_assets.lib.splits import split_summary
from dataprep_assets.lib.tables import describe_by


def build_card(store: DatasetStore, target: dict[str, float]) -> Card:
    cells = store.read(SPLITS)
    release = store.read(RELEASE) if store.exists(RELEASE.path) else {}
    versions = cards.input_versions(store, [INVENTORY.path, CROPS.path, SPLITS.path])
    summary = split_summary(cells, "original_image_key", order=SPLIT_ORDER)
    per_split = pd.DataFrame(
        {
            "split": summary["split"],
            "cells": summary["rows"],
            "original_images": summary["groups"],
            "frames": [int(cells.loc[cells["split"] == s, "frame_key"].nunique()) for s in summary["split"]],
        }
    )
    per_comp = cells.pivot_table(index="competitor", columns="split", values="cell_id", aggfunc="count", fill_value=0)
    per_comp = per_comp.reindex(columns=[s for s in SPLIT_ORDER if s in per_comp.columns]).astype("int64")
    jaccard = describe_by(cells, "cell_jaccard", "competitor")
    achieved = dict(zip(summary["split"], summary["group_fraction"], strict=True))
    rejects = cards.rejects_frame(store, ["cell_qa_inventory", "cell_crops"])
    sections = [
        Section(
            "Counts",
            "Cells, source images and frames per split; cells per competitor and split.",
            tables=cards.counts_tables(
                per_split, per_comp, class_col="competitor", caption="cells per competitor and split"
            ),
            figures=[
                cards.bars_figure(
                    "cells_per_split",
                    "cells per competitor, one colour per split",
                    per_comp,
                    title="cells per competitor and split",
                    xlabel="competitor",
                    ylabel="cells",
                )
            ],
        ),
        Section(
            "Balance",
            "Share of source images (the split unit) per split against the configured fractions.",
            tables=[cards.balance_table(achieved, target, "share of original_image_key groups")],
        ),
        cards.leak_section(cells, "original_image_key", order=SPLIT_ORDER),
        Section(
            "Samples",
            "One row per competitor, crops from its lowest to its highest Jaccard; raw in gray, the cell's mask "
            "tinted.",
            figures=[
                Figure(
                    "sample_crops",
                    sample_montage(store, cells),
                    "crops per competitor, captioned with the cell's Jaccard",
                )
            ],
        ),
        Section(
            "Distributions",
            tables=[Table("jaccard-per-competitor", "cell Jaccard per competitor", jaccard)],
            figures=[
                Figure(
                    "jaccard_per_competitor",
                    jaccard_chart(cells),
                    "cell Jaccard with the matched ground-truth cell, per competitor",
                ),
                cards.histogram_figure(
                    "cell_area",
                    "cell areas per competitor",
                    cells,
                    "area",
                    "competitor",
                    title="cell area per competitor",
                    xlabel="area (pixels, log scale)",
                    ylabel="cells",
                    log_x=True,
                ),
            ],
        ),
    ]
    return cards.dataset_card(
        pipeline="cell_qa",
        title="cell_qa: per-cell crops and Jaccard, split by source image",
        version=release.get("version"),
        versions=versions,
        sections=sections,
        rejects=rejects,
        facts={
            "cells": len(cells),
            "original images": int(cells["original_image_key"].nunique()),
            "frames": int(cells["frame_key"].nunique()),
            "competitors": int(cells["competitor"].nunique()),
            "mean Jaccard": float(np.round(cells["cell_jaccard"].mean(), 4)),
        },
        summary="2-channel crops (raw, cell mask) of every competitor's cells with their Jaccard against the ground "
        "truth; "
        "the split table is data/cell_level_dataframe_with_splits.parquet.",
    )


@cards.card_asset(group=GROUP, deps=[cell_qa_release], preview="sample_crops")
def cell_qa_dataset_card(context: dg.AssetExecutionContext, store: DatasetStore) -> Card:
    """The dataset card (`cards/cell_qa/index.html` + `README.md`): counts, balance, leak evidence, samples,
    distributions."""
    return build_card(
        store, cards.target_fractions(context.instance, cell_level_dataframe_with_splits.key, SplitConfig().fractions)
    )
