"""A quality_prediction version checks out byte for byte after later rebuilds with other inputs (a results log
removed, then a results log added): every dataset the first run wrote, by run id."""

import shutil

from dataprep_assets.defs.quality_prediction.datasets import CLEAN, RESULTS, SPLIT_TABLES
from dataprep_assets_tests.checkout_roundtrip import assert_run_checks_out_byte_identically, snapshot
from dataprep_assets_tests.quality_prediction.conftest import materialize


def test_the_first_version_checks_out_byte_identically_after_two_rebuilds(sample_store, instance, tmp_path):
    store = sample_store
    first = materialize(store, instance)
    written = snapshot(store)
    logs = sorted(p for p in store.path("raw/quality_prediction/results").rglob("*") if p.suffix == ".jsonl")
    assert logs
    stash = tmp_path / "stash.jsonl"
    shutil.move(logs[-1], stash)
    assert materialize(store, instance).success
    shutil.copy(stash, logs[-1].with_name("added_later.jsonl"))
    assert materialize(store, instance, raise_on_error=False)

    compared = assert_run_checks_out_byte_identically(
        store, first.run_id, written, tmp_path / "by_run", [RESULTS.path, CLEAN.path, SPLIT_TABLES.path]
    )
    assert compared >= 6
