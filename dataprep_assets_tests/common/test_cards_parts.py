"""common.cards: the parts every pipeline's card is made of (bar figures, the card with its rejects, the card asset)
and lib.tables.describe_by, on a real store and a real Dagster instance."""

import io
import json

import dagster as dg
import pandas as pd
from PIL import Image

from dataprep_assets.common.cards import bars_figure, card_asset, counts_tables, dataset_card
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.lib.cards import Card, Section, Table
from dataprep_assets.lib.charts import grouped_bars
from dataprep_assets.lib.tables import describe_by

COUNTS = pd.DataFrame({"train": [3, 1], "test": [2, 0]}, index=pd.Index(["cat", "dog"], name="class"))


def test_bars_figure_draws_one_group_per_row_and_one_series_per_column():
    figure = bars_figure("counts", "per class", COUNTS, title="t", xlabel="class", ylabel="n")
    expected = grouped_bars(
        {"cat": {"train": 3.0, "test": 2.0}, "dog": {"train": 1.0, "test": 0.0}}, title="t", xlabel="class", ylabel="n"
    )
    assert (figure.name, figure.caption, figure.png) == ("counts", "per class", expected)


def test_dataset_card_ends_with_the_rejects_and_takes_the_release_version_when_there_is_one():
    rejects = pd.DataFrame(
        [["a", "x.dcm", "read", "not_dicom", "no preamble"]], columns=["asset", "item", "stage", "reason", "detail"]
    )
    own = Section("Counts", tables=[Table("counts", "per class", COUNTS.reset_index())])

    def card(version: str | None = None) -> Card:
        return dataset_card(
            pipeline="p",
            title="T",
            versions={"d": "abc"},
            facts={"rows": 5},
            sections=[own],
            rejects=rejects,
            summary="s",
            version=version,
        )

    assert [s.title for s in card().sections] == ["Counts", "Rejects"]
    assert card().facts == {"rows": 5, "rejects": 1}
    assert card().inputs == {"d": "abc"} and len(card().version) == 16
    assert card("release-1").version == "release-1"


def test_describe_by_gives_count_mean_median_min_max_per_group():
    frame = pd.DataFrame({"kind": ["b", "a", "b", "b"], "score": [1.0, 0.5, 3.0, 2.0]})
    table = describe_by(frame, "score", "kind")
    assert table.columns.tolist() == ["kind", "count", "mean", "median", "min", "max"]
    assert table.to_dict("records") == [
        {"kind": "a", "count": 1, "mean": 0.5, "median": 0.5, "min": 0.5, "max": 0.5},
        {"kind": "b", "count": 3, "mean": 2.0, "median": 2.0, "min": 1.0, "max": 3.0},
    ]
    assert str(table["count"].dtype) == "int64"


@card_asset(group="demo_cards", deps=[], preview="counts")
def demo_dataset_card(context: dg.AssetExecutionContext, store: DatasetStore) -> Card:
    """The demo card: one bar chart."""
    figure = bars_figure("counts", "per class", COUNTS, title="t", xlabel="class", ylabel="n")
    rejects = pd.DataFrame(columns=["asset", "item", "stage", "reason", "detail"])
    return dataset_card(
        pipeline="demo",
        title=f"demo built in run {context.run_id[:0]}",
        versions={},
        facts={"classes": 2},
        sections=[Section("Counts", figures=[figure])],
        rejects=rejects,
        summary="",
    )


def test_card_asset_is_named_and_described_by_its_builder_and_writes_the_card(store):
    assert demo_dataset_card.key == dg.AssetKey("demo_dataset_card")
    assert demo_dataset_card.descriptions_by_key[demo_dataset_card.key] == "The demo card: one bar chart."
    assert demo_dataset_card.group_names_by_key[demo_dataset_card.key] == "demo_cards"
    with dg.instance_for_test() as instance:
        result = dg.materialize([demo_dataset_card], instance=instance, resources={"store": store})
        meta = result.asset_materializations_for_node("demo_dataset_card")[0].metadata
    written = json.loads(store.path("cards/demo/card.json").read_text())
    assert written["facts"] == {"classes": 2, "rejects": 0}
    png = store.path("cards/demo/figures/counts.png").read_bytes()
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert meta["classes"].value == 2 and "preview" in " ".join(meta)


def test_counts_tables_carry_the_ids_readers_find_them_by():
    per_split = pd.DataFrame({"split": ["train", "test"], "rows": [4, 2]})
    per_split_table, per_class_table = counts_tables(per_split, COUNTS, class_col="animal", caption="rows per class")
    assert (per_split_table.id, per_split_table.caption) == ("counts-per-split", "per split")
    assert per_split_table.frame.equals(per_split)
    assert (per_class_table.id, per_class_table.caption) == ("counts-per-class", "rows per class")
    assert per_class_table.frame.to_dict("records") == [
        {"animal": "cat", "train": 3, "test": 2},
        {"animal": "dog", "train": 1, "test": 0},
    ]
