"""The echo_quality dataset card: videos per split, class and machine type, split balance against the configured
fractions, leak-group evidence, captioned first frames, score distributions, versions and rejects."""

import dagster as dg
import pandas as pd

from dataprep_assets.common import cards
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.echo_quality.assets import (
    echo_dataset_release,
    echo_training_splits,
    first_frames_montage,
    read_annotations,
)
from dataprep_assets.defs.echo_quality.config import EchoSplitConfig
from dataprep_assets.defs.echo_quality.datasets import (
    GROUP,
    RELEASE,
    RESULTS,
    SPLIT_ORDER,
    SPLITS,
    TRAINING_DATA,
    VIDEOS_SUBDIR,
)
from dataprep_assets.lib.cards import Card, Figure, Section, Table

CLASS_NAMES = {1: "high_quality", 0: "low_quality"}


def build_card(store: DatasetStore, target: dict[str, float]) -> Card:
    frame = read_annotations(store, SPLITS.path)
    frame["class"] = frame["quality_score"].astype(int).map(CLASS_NAMES)
    release = store.read(RELEASE) if store.exists(RELEASE.path) else {}
    versions = cards.input_versions(store, [RESULTS.path, TRAINING_DATA.path, SPLITS.path])
    order = [s for s in SPLIT_ORDER if s in set(frame["split"])]
    per_split = frame.pivot_table(index="split", columns="class", values="filename", aggfunc="count", fill_value=0)
    per_split = per_split.reindex(index=order, columns=list(CLASS_NAMES.values()), fill_value=0).astype("int64")
    per_split.insert(0, "videos", per_split.sum(axis=1))
    per_split["leak_groups"] = [int(frame.loc[frame["split"] == s, "group_id"].nunique()) for s in order]
    per_machine = frame.pivot_table(
        index="machine_type", columns="split", values="filename", aggfunc="count", fill_value=0
    )
    per_machine = per_machine.reindex(columns=order, fill_value=0).astype("int64")
    groups = frame.groupby("split")["group_id"].nunique()
    achieved = {s: float(groups.get(s, 0)) / max(int(groups.sum()), 1) for s in order}
    high_share = frame.groupby("split")["quality_score"].mean()
    class_balance = pd.DataFrame(
        {
            "split": order,
            "high_quality_share": [float(high_share.get(s, 0.0)) for s in order],
            "overall_high_quality_share": float(frame["quality_score"].mean()),
        }
    )
    shown = frame.sort_values(["quality_score", "filename"], ascending=[False, True]).groupby("quality_score").head(6)
    captions = [
        f"{c.replace('_', ' ')}\n{m[:14]}\nscore {sc:.2f}"
        for c, m, sc in zip(shown["class"], shown["machine_type"], shown["score"], strict=True)
    ]
    videos = [store.path(TRAINING_DATA.path, VIDEOS_SUBDIR, f) for f in shown["filename"]]
    scores = frame.groupby(["machine_type", "class"])["score"].agg(["count", "mean", "min", "max"]).reset_index()
    rejects = cards.rejects_frame(store, ["echo_inference_results", "echo_training_data"])
    sections = [
        Section(
            "Counts",
            "Videos per split and class; videos per machine type and split.",
            tables=cards.counts_tables(
                per_split.rename_axis("split").reset_index(),
                per_machine,
                class_col="machine_type",
                caption="videos per machine type and split",
            ),
            figures=[
                cards.bars_figure(
                    "videos_per_split",
                    "videos per class, one colour per split",
                    per_split[list(CLASS_NAMES.values())].T,
                    title="videos per class and split",
                    xlabel="class",
                    ylabel="videos",
                )
            ],
        ),
        Section(
            "Balance",
            "Share of leak groups per split against the configured fractions; the split is stratified by "
            "class, so each split's high-quality share stays near the overall share.",
            tables=[
                cards.balance_table(achieved, target, "share of leak groups"),
                Table("class-balance", "high-quality share per split", class_balance),
            ],
        ),
        cards.leak_section(frame, "group_id", order=SPLIT_ORDER),
        Section(
            "Samples",
            "First frame of each video: high quality first, then low quality.",
            figures=[
                Figure(
                    "first_frames",
                    first_frames_montage(videos, captions),
                    "first frames with class, machine type and score",
                )
            ],
        ),
        Section(
            "Distributions",
            tables=[Table("scores-per-machine", "quality score per machine type and class", scores)],
            figures=[
                cards.histogram_figure(
                    "scores",
                    "inference scores of the selected videos",
                    frame,
                    "score",
                    "class",
                    title="quality score per class",
                    xlabel="model quality score",
                    ylabel="videos",
                    value_range=(0.0, 1.0),
                )
            ],
        ),
    ]
    return cards.dataset_card(
        pipeline="echo_quality",
        title="echo_quality: high/low quality echocardiography videos",
        version=release.get("version"),
        versions=versions,
        sections=sections,
        rejects=rejects,
        facts={
            "videos": len(frame),
            "high quality": int((frame["quality_score"] == 1).sum()),
            "low quality": int((frame["quality_score"] == 0).sum()),
            "machine types": int(frame["machine_type"].nunique()),
            "leak groups": int(frame["group_id"].nunique()),
        },
        summary="training_data/echo_videos/*.dcm with training_data/echo_annotations.csv; "
        "splits in echo_quality/echo_annotations_splits.csv.",
    )


@cards.card_asset(group=GROUP, deps=[echo_dataset_release], preview="first_frames")
def echo_quality_dataset_card(context: dg.AssetExecutionContext, store: DatasetStore) -> Card:
    """The dataset card (`cards/echo_quality/index.html` + `README.md`): counts, balance, leak evidence, samples,
    scores."""
    return build_card(
        store, cards.target_fractions(context.instance, echo_training_splits.key, EchoSplitConfig().fractions)
    )
