"""lib.charts.histograms_by: one way every pipeline draws "values per group" histograms (cards and asset
metadata); the same picture, byte for byte, as `histograms` over the groups written out by hand."""

import numpy as np
import pandas as pd

from dataprep_assets.lib.charts import histograms, histograms_by


def frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "score": np.r_[rng.random(40), [np.nan, np.nan]],
            "split": ["train"] * 25 + ["test"] * 15 + ["train", "test"],
        }
    )


def test_groups_present_in_sorted_order_missing_values_left_out():
    data = frame()
    by_hand = {s: g["score"].dropna().to_numpy() for s, g in data.groupby("split", sort=True)}
    chart = {"title": "score per split", "xlabel": "score", "value_range": (0.0, 1.0)}
    assert histograms_by(data, "score", "split", **chart) == histograms(by_hand, **chart)  # pyright: ignore[reportArgumentType]
    assert histograms_by(data, "score", "split", **chart) != histograms(dict(reversed(by_hand.items())), **chart)  # pyright: ignore[reportArgumentType]


def test_an_order_names_every_group_also_absent_ones():
    data = frame()
    order = ("train", "validation", "test")
    by_hand = {s: data.loc[data["split"] == s, "score"].to_numpy() for s in order}
    assert histograms_by(data, "score", "split", order=order, title="t", xlabel="x") == histograms(
        by_hand, title="t", xlabel="x"
    )
    assert histograms_by(data, "score", "split", order=order, title="t", xlabel="x") != histograms_by(
        data, "score", "split", title="t", xlabel="x"
    )
