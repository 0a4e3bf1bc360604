"""Tables, charts, montages and cards for people: typed values, deterministic PNGs, captions, complete pages."""

import io

import dagster as dg
import numpy as np
import pandas as pd
from PIL import Image

from dataprep_assets.common.metadata import column_schema, counts_table, run_info, table
from dataprep_assets.lib import charts
from dataprep_assets.lib.cards import Card, Figure, Section, Table, card_files, render_html
from dataprep_assets.lib.images import captioned_montage, draw_boxes
from dataprep_assets.lib.tables import column_types, counts_frame, records


def test_counts_stay_ints_and_the_schema_is_typed():
    frame = pd.DataFrame({"split": ["train", "test"], "images": [834.0, 1.0], "share": [0.5, 0.25]})
    value = counts_table(frame.set_index("split"), "split")
    assert [r.data for r in value.records] == [
        {"split": "train", "images": 834, "share": 0.5},
        {"split": "test", "images": 1, "share": 0.25},
    ]
    assert isinstance(value.records[0].data["images"], int)
    assert [(c.name, c.type) for c in value.schema.columns] == [
        ("split", "string"),
        ("images", "int"),
        ("share", "float"),
    ]


def test_column_schema_carries_declared_descriptions_and_dtype_types():
    frame = pd.DataFrame({"a": pd.Series([1], dtype="int64"), "b": [True], "c": ["x"], "d": [np.nan]})
    schema = column_schema(frame, {"a": "the a", "c": "the c"})["dagster/column_schema"]
    assert isinstance(schema, dg.TableSchema)
    assert [(c.name, c.type, c.description) for c in schema.columns] == [
        ("a", "int", "the a"),
        ("b", "bool", None),
        ("c", "string", "the c"),
        ("d", "float", None),
    ]
    assert records(frame) == [{"a": 1, "b": True, "c": "x", "d": None}]
    assert column_types(counts_frame({"x": {"r": 1}}, "row")) == {"row": "string", "x": "int"}


def test_table_and_run_info_are_metadata_values():
    assert isinstance(table(pd.DataFrame({"a": [1]})), dg.TableMetadataValue)
    assert run_info(seed=3, speed=1.5, path=None)["run_info"].data == {"seed": 3, "speed": 1.5, "path": None}


def test_charts_are_deterministic_pngs_with_split_colours():
    data = {"train": {"before": 0.2, "after": 0.5}, "test": {"before": 0.0, "after": 0.5}}
    png = charts.grouped_bars(
        data, title="t", xlabel="split", ylabel="share", value_format="{:.0%}", reference=(0.5, "target")
    )
    assert png == charts.grouped_bars(
        data, title="t", xlabel="split", ylabel="share", value_format="{:.0%}", reference=(0.5, "target")
    )
    assert Image.open(io.BytesIO(png)).format == "PNG"
    assert charts.series_colors(["valid", "validation", "train", "other"]) == {
        "valid": charts.SPLIT_COLORS["validation"],
        "validation": charts.SPLIT_COLORS["validation"],
        "train": charts.SPLIT_COLORS["train"],
        "other": charts.PALETTE[0],
    }
    hist = charts.histograms({"train": np.linspace(0, 1, 50), "test": [0.5]}, title="h", xlabel="x", value_range=(0, 1))
    assert Image.open(io.BytesIO(hist)).size[0] > 300


def test_captioned_montage_leaves_empty_cells_and_draws_captions_below_tiles():
    tile = np.full((20, 20), 200, dtype=np.uint8)
    plain = captioned_montage([tile, None, tile], ["", "", ""], 2)
    captioned = captioned_montage([tile, None, tile], ["J 0.5", "", "J 0.9"], 2, row_labels=["A", "B"])
    assert captioned.shape[0] > plain.shape[0] and captioned.shape[1] > plain.shape[1]
    assert (captioned < 100).any()  # caption and label text is dark on white


def test_draw_boxes_scales_boxes_to_the_tile():
    image = Image.new("L", (100, 100), 0)
    tile = draw_boxes(image, [(1, 10, 10, 40, 40)], ["A", "B"], size=50)
    assert tile.shape == (50, 50, 3) and tile[5:25, 5:25].any()


def test_card_renders_html_markdown_and_json_with_its_figures():
    card = Card(
        "p",
        "P <card>",
        "v1",
        {"images": 3},
        {"data/x": "abc"},
        [
            Section(
                "Counts",
                "text",
                tables=[Table("counts-per-split", "per split", pd.DataFrame({"split": ["train"], "images": [3]}))],
                figures=[Figure("chart", b"png", "a chart")],
            )
        ],
    )
    files = card_files(card)
    html = files["index.html"].decode()
    assert "&lt;card&gt;" in html and 'id="counts-per-split"' in html and 'src="figures/chart.png"' in html
    assert "<script" not in html and "http" not in html
    assert "![a chart](figures/chart.png)" in files["README.md"].decode()
    assert files["figures/chart.png"] == b"png" and b'"images": 3' in files["card.json"]
    assert render_html(card) == html
