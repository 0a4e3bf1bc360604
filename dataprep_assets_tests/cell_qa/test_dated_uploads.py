"""Uploads under a date prefix (`raw/cell_qa/2026/11/27/...`, `$DATAPREP_CELL_QA_UPLOAD_DATE_PREFIX`) give the same
dataset as the seed's undated layout; a re-upload on a later day replaces the earlier file; a bad format fails."""

import shutil

import dagster as dg
import pandas as pd

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.cell_qa.datasets import RAW_PREFIX, SPLITS
from dataprep_assets_tests.cell_qa.conftest import materialize, small_sample
from dataprep_assets_tests.harness import failure_text

ENV = "DATAPREP_CELL_QA_UPLOAD_DATE_PREFIX"
COMPARED = ["cell_id", "original_image_key", "competitor", "cell_jaccard", "split"]


def _cells(root) -> pd.DataFrame:
    with dg.instance_for_test() as instance:
        result = materialize(LocalDatasetStore(root=str(root)), instance)
        assert result.success, failure_text(result)
    return pd.read_parquet(root / SPLITS.path)[COMPARED].sort_values("cell_id", ignore_index=True)


def _dated_copy(undated_root, dated_root, day: str) -> None:
    shutil.copytree(undated_root / RAW_PREFIX, dated_root / RAW_PREFIX / day)


def test_date_prefixed_uploads_build_the_same_dataset_as_the_seed_layout(tmp_path, monkeypatch):
    small_sample(tmp_path / "plain")
    _dated_copy(tmp_path / "plain", tmp_path / "dated", "2026/11/27")
    expected = _cells(tmp_path / "plain")
    monkeypatch.setenv(ENV, "%Y/%m/%d/")
    got = _cells(tmp_path / "dated")
    assert len(got) > 0
    pd.testing.assert_frame_equal(got, expected)


def test_a_later_upload_of_the_same_path_replaces_the_earlier_one(tmp_path, monkeypatch):
    small_sample(tmp_path / "plain")
    dated = tmp_path / "dated"
    _dated_copy(tmp_path / "plain", dated, "2026/11/27")
    frame = next((dated / RAW_PREFIX / "2026/11/27").rglob("t000.tif")).relative_to(dated / RAW_PREFIX / "2026/11/27")
    (dated / RAW_PREFIX / "2026/11/28" / frame).parent.mkdir(parents=True)
    (dated / RAW_PREFIX / "2026/11/28" / frame).write_bytes(b"not a tiff")  # a broken re-upload, a day later
    monkeypatch.setenv(ENV, "%Y/%m/%d/")
    with dg.instance_for_test() as instance:
        materialize(LocalDatasetStore(root=str(dated)), instance)
    rejects = pd.read_csv(dated / "rejects/cell_crops.csv")
    assert rejects["item"].str.endswith(frame.as_posix()).any()  # the day-28 file is the one read, and refused


def test_a_date_format_that_is_not_a_folder_per_date_fails_naming_it(tmp_path, monkeypatch):
    small_sample(tmp_path)
    monkeypatch.setenv(ENV, "%Y-%m-%d")
    with dg.instance_for_test() as instance:
        result = materialize(LocalDatasetStore(root=str(tmp_path)), instance)
    assert not result.success
    assert "date prefix format '%Y-%m-%d' must end with '/'" in failure_text(result)
