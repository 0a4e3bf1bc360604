"""Per-item rows kept column by column: joined in order exactly as concatenating each item's arrays, stored and read
back exactly (every dtype, strings and NaN included), and a description that does not fit its data is refused."""

import numpy as np
import pytest

from dataprep_assets.lib.rowblocks import (
    Rows,
    concat_rows,
    decode_blocks,
    encode_blocks,
    rows_from_json,
    rows_to_json,
)


def _columns(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "cell_id": np.array([f"f{seed}_c{i:05d}" for i in range(n)], dtype=object),
        "label": rng.integers(0, 70_000, n).astype(np.uint16 if seed % 2 else np.int32),
        "jaccard": np.append(rng.random(max(n - 1, 0)), [np.nan])[:n],
        "truncated": rng.random(n) < 0.5,
    }


def _equal(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return list(a) == list(b) and all(
        a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f") for k in a
    )


def test_joined_rows_equal_the_concatenation_of_each_items_arrays_whatever_their_blocks():
    items = [_columns(n, seed) for seed, n in enumerate([3, 0, 5, 1, 4])]
    expected = {k: np.concatenate([c[k] for c in items]) for k in items[0]}
    assert _equal(concat_rows([Rows.of(c) for c in items]), expected)
    # the same items read from one block (as from a cache index): adjacent slices join as one
    same_schema = [c for c in items if c["label"].dtype == items[0]["label"].dtype]
    block = concat_rows([Rows.of(c) for c in same_schema])
    views, start = [], 0
    for c in same_schema:
        views.append(Rows(block, start, start + len(c["cell_id"])))
        start += len(c["cell_id"])
    assert _equal(concat_rows(views), {k: np.concatenate([c[k] for c in same_schema]) for k in block})
    assert _equal(
        concat_rows([views[2], Rows.of(same_schema[0])]),
        concat_rows([Rows.of(c) for c in same_schema[2:]] + [Rows.of(same_schema[0])]),
    )


def test_blocks_and_json_rows_read_back_exactly():
    blocks = [concat_rows([Rows.of(_columns(4, 1)), Rows.of(_columns(2, 3))]), _columns(3, 2)]
    described, data = encode_blocks(blocks)
    back = decode_blocks(described, data)
    assert all(_equal(a, b) for a, b in zip(blocks, back, strict=True))
    one = _columns(5, 4)
    rows = rows_from_json(rows_to_json(one))
    assert rows is not None and _equal(rows.columns(), one)


@pytest.mark.parametrize(
    "spoil",
    [
        lambda d, data: (d, data[:-1]),  # data cut short
        lambda d, data: (d, data + b"x"),  # data longer than described
        lambda d, data: ([{**d[0], "length": d[0]["length"] + 1}], data),  # more rows than stored
        lambda d, data: ([{**d[0], "columns": [[*d[0]["columns"][0][:2], "pickle", *d[0]["columns"][0][3:]]]}], data),
    ],
)
def test_a_description_that_does_not_fit_its_data_is_refused(spoil):
    described, data = encode_blocks([{"x": np.arange(4, dtype=np.int64)}])
    with pytest.raises((ValueError, KeyError, TypeError)):
        decode_blocks(*spoil(described, data))


def test_malformed_json_rows_are_none_and_columns_of_different_lengths_are_refused():
    assert rows_from_json({"x": [1]}) is None
    assert rows_from_json([["x", "<i8", "not a list"]]) is None
    assert rows_from_json([["x", "no such dtype", [1]]]) is None
    with pytest.raises(ValueError):
        Rows.of({"a": np.arange(2), "b": np.arange(3)})
    with pytest.raises(ValueError):
        concat_rows([Rows.of({"a": np.arange(2)}), Rows.of({"b": np.arange(2)})])
