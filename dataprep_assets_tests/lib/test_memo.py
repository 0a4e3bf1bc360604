"""Remembered charts: the same data gives the stored PNG without drawing, different data draws anew, and a stored
PNG that is gone or altered is drawn again, never served."""

import numpy as np

from dataprep_assets.lib import charts
from dataprep_assets.lib.memo import arguments_digest

DATA = {"a": np.array([1.0, 2.0, 2.5, 3.0]), "b": np.array([0.5, 1.5])}


def _objects(root):
    return sorted(p for p in (root / "_objects").rglob("*") if p.is_file())


def test_a_chart_of_the_same_data_is_the_stored_png_and_other_data_draws_anew(tmp_path, monkeypatch):
    drawn = []
    real = charts._png
    monkeypatch.setattr(charts, "_png", lambda fig: drawn.append(1) or real(fig))
    plain = charts.histograms(DATA, title="t", xlabel="x")
    with charts.remembered_charts(tmp_path):
        first = charts.histograms(DATA, title="t", xlabel="x")
        again = charts.histograms({k: v.copy() for k, v in DATA.items()}, title="t", xlabel="x")
        other = charts.histograms(DATA, title="another title", xlabel="x")
        shifted = charts.histograms({"a": DATA["a"] + 1, "b": DATA["b"]}, title="t", xlabel="x")
    assert first == again == plain and other != first and shifted != first
    assert len(drawn) == 4  # plain, first, other, shifted: `again` was not drawn


def test_a_stored_png_that_is_gone_or_altered_is_drawn_again(tmp_path):
    with charts.remembered_charts(tmp_path):
        png = charts.grouped_bars({"train": 3.0, "test": 1.0}, title="t", xlabel="x", ylabel="y")
    (obj,) = _objects(tmp_path)
    obj.chmod(0o644)
    obj.write_bytes(png[:-10] + b"0123456789")  # same size, other bytes
    with charts.remembered_charts(tmp_path):
        assert charts.grouped_bars({"train": 3.0, "test": 1.0}, title="t", xlabel="x", ylabel="y") == png
    for path in _objects(tmp_path):
        path.unlink()
    with charts.remembered_charts(tmp_path):
        assert charts.grouped_bars({"train": 3.0, "test": 1.0}, title="t", xlabel="x", ylabel="y") == png


def test_the_digest_sees_types_order_and_values():
    assert arguments_digest([1, 2]) != arguments_digest([2, 1])
    assert arguments_digest(1) != arguments_digest(1.0) != arguments_digest("1")
    assert arguments_digest(np.array([1, 2], dtype=np.int32)) != arguments_digest(np.array([1, 2], dtype=np.int64))
    assert arguments_digest({"a": 1, "b": 2}) != arguments_digest({"b": 2, "a": 1})  # legend order shows
    assert arguments_digest(object()) is None  # unknown kinds are not guessed at: the function runs
