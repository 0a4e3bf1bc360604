"""Uploads under a date prefix (`raw/<pipeline>/2026/11/27/...`, `$DATAPREP_<PIPELINE>_UPLOAD_DATE_PREFIX`) give every
pipeline the same dataset as the seed's undated layout: the inputs split over two days, one path uploaded on both days
(the later upload wins); a pattern that is not a folder per date fails naming its variable.

Each pipeline reads through `common.uploads.raw_inputs`, so its rows name the undated view
(`_cache/raw_views/<pipeline>/...`) where the undated store names `raw/...`: compared with that one difference undone.
"""

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from dataprep_assets.common.store import LocalDatasetStore, S3DatasetStore
from dataprep_assets.common.uploads import RAW_VIEWS_DIR, raw_inputs
from dataprep_assets.lib.dated import listing_record
from dataprep_assets.sample_data import cell_qa, ct_hemorrhage, echo_quality, perva_retrieval, quality_prediction
from dataprep_assets_tests.harness import failure_text, materialize_group

DAYS = ("2026/11/27", "2026/11/28")


@dataclass(frozen=True)
class Pipeline:
    name: str
    prefix: str
    """The pipeline's upload prefix: the date folders go right under it."""
    generate: Callable[[Path], object]
    selection: list[str] | None
    """The assets materialized (None: the whole graph)."""
    compared: tuple[str, ...]
    """Store paths of the tables compared (the inventory, its rejects, what is read from the rows' paths)."""
    twice: str
    """A glob under `prefix`: its first match is uploaded on both days, a damaged copy on the first."""
    options: dict = field(default_factory=dict)


PIPELINES = [
    Pipeline(
        "cell_qa",
        "raw/cell_qa",
        lambda root: cell_qa.generate(root, seed=3, sequences=3, frames=2, size=128, datasets=cell_qa.DATASETS),
        None,
        ("data/cell_qa_inventory.parquet", "data/cell_level_dataframe_with_splits.parquet", "rejects/cell_crops.csv"),
        "*/01/t000.tif",
        {"default_ops": {"cell_crops": {"config": {"max_workers": 1}}}},
    ),
    Pipeline(
        "ct_hemorrhage",
        "raw/ct_hemorrhage",
        lambda root: ct_hemorrhage.generate(root, seed=0, v3_patients=6, roboflow_patients=4, pool_patients=6),
        ["labelled_coco", "no_hem_candidates", "no_hem_dicoms"],
        (
            "data/ct_hemorrhage/no_hem_candidates.parquet",
            "data/ct_hemorrhage/no_hem_dicoms.parquet",
            "rejects/labelled_coco.csv",
            "rejects/no_hem_candidates.csv",
            "rejects/no_hem_dicoms.csv",
        ),
        "metadata/*.csv",
    ),
    Pipeline(
        "echo_quality",
        "raw/echo_quality/raw_data",
        lambda root: echo_quality.generate(root, videos_per_exam=(3, 4), frames=(3, 4)),
        ["echo_inference_results"],
        ("echo_quality/inference_results.parquet", "rejects/echo_inference_results.csv"),
        "EPIQ7-*/*",
        {"skip_checks": ("inference_results_valid",)},
    ),
    Pipeline(
        "quality_prediction",
        "raw/quality_prediction",
        lambda root: quality_prediction.generate(root, type_counts=dict.fromkeys(("simple", "text", "gradient"), 8)),
        ["conversion_results", "clean_conversion_results"],
        (
            "data/quality_prediction/conversion_results.parquet",
            "data/quality_prediction/clean_conversion_results.parquet",
            "rejects/conversion_results.csv",
            "rejects/clean_conversion_results.csv",
        ),
        "results/method2/*.jsonl",
    ),
    Pipeline(
        "perva_retrieval",
        "raw/perva_retrieval",
        lambda root: perva_retrieval.generate(root, seed=0, scale=0.25),
        ["image_catalog"],
        ("manifests/PerVA/catalog_images.parquet", "rejects/image_catalog.csv"),
        "PerVA/train/cup/*/*.jpg",
    ),
]


def _variable(pipeline: Pipeline) -> str:
    return f"DATAPREP_{pipeline.name.upper()}_UPLOAD_DATE_PREFIX"


def _build(pipeline: Pipeline, root: Path) -> dg.ExecuteInProcessResult:
    with dg.instance_for_test() as instance:
        return materialize_group(
            pipeline.name,
            LocalDatasetStore(root=str(root)),
            instance,
            selection=pipeline.selection,
            raise_on_error=False,
            **pipeline.options,
        )


def _dated_copy(pipeline: Pipeline, plain: Path, dated: Path) -> str:
    """The plain tree with the files under the upload prefix spread over two days (alternately, in sorted order) and
    one of them uploaded on both: damaged on the first day, as it is on the second. Returns that file's path."""
    shutil.copytree(plain, dated, symlinks=True)
    source, target = plain / pipeline.prefix, dated / pipeline.prefix
    shutil.rmtree(target)
    entries = sorted(p for p in source.rglob("*") if p.is_symlink() or p.is_file())
    entries = [p for p in entries if not any(parent.is_symlink() for parent in p.relative_to(source).parents)]
    twice = sorted(source.glob(pipeline.twice))[0].relative_to(source)
    for i, folder in enumerate(sorted(p for p in source.rglob("*") if p.is_dir() and not any(p.iterdir()))):
        (target / DAYS[i % 2] / folder.relative_to(source)).mkdir(parents=True)  # an empty folder is uploaded too
    for i, entry in enumerate(entries):
        rel = entry.relative_to(source)
        day = DAYS[1] if rel == twice else DAYS[i % 2]
        (target / day / rel).parent.mkdir(parents=True, exist_ok=True)
        if entry.is_symlink():
            (target / day / rel).symlink_to(entry.readlink())
        else:
            shutil.copy2(entry, target / day / rel)
    data = (source / twice).read_bytes()
    (target / DAYS[0] / twice).parent.mkdir(parents=True, exist_ok=True)
    (target / DAYS[0] / twice).write_bytes(data[len(data) // 2 :])  # an earlier, broken upload of the same path
    return twice.as_posix()


def _table(root: Path, relpath: str, view: str, prefix: str) -> pd.DataFrame:
    """The table with the view's paths written as the store's raw paths."""
    frame = LocalDatasetStore(root=str(root)).read_table(relpath)
    for column in frame.columns:
        if pd.api.types.is_object_dtype(frame[column]) or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(lambda v: v.replace(view, prefix) if isinstance(v, str) else v)
    return frame


@pytest.mark.parametrize("pipeline", PIPELINES, ids=[p.name for p in PIPELINES])
def test_date_prefixed_uploads_build_the_same_dataset_as_the_seed_layout(pipeline, tmp_path, monkeypatch):
    plain, dated = tmp_path / "plain", tmp_path / "dated"
    pipeline.generate(plain)
    twice = _dated_copy(pipeline, plain, dated)
    expected = _build(pipeline, plain)
    assert expected.success, failure_text(expected)
    monkeypatch.setenv(_variable(pipeline), "%Y/%m/%d/")
    got = _build(pipeline, dated)
    assert got.success, failure_text(got)
    view = f"{RAW_VIEWS_DIR}/{pipeline.name}"
    assert (dated / view / twice).read_bytes() == (plain / pipeline.prefix / twice).read_bytes()  # day 2 won
    for relpath in pipeline.compared:
        want = _table(plain, relpath, view, pipeline.prefix)
        have = _table(dated, relpath, view, pipeline.prefix)
        assert len(want) > 0 or relpath.startswith("rejects/"), relpath
        pd.testing.assert_frame_equal(have, want, obj=relpath)
    assert not (plain / RAW_VIEWS_DIR).exists()  # the seed's layout is read as it is
    record = listing_record(dated / view).read_text()
    raw_inputs(LocalDatasetStore(root=str(dated)), pipeline.name, pipeline.prefix)  # a later asset, no new upload
    assert listing_record(dated / view).read_text() == record and (dated / view / twice).is_file()


@pytest.mark.parametrize("pipeline", PIPELINES, ids=[p.name for p in PIPELINES])
def test_a_date_format_that_is_not_a_folder_per_date_fails_naming_its_variable(pipeline, tmp_path, monkeypatch):
    variable = "DATAPREP_UPLOAD_DATE_PREFIX" if pipeline.name == "cell_qa" else _variable(pipeline)
    monkeypatch.setenv(variable, "%Y-%m-%d")
    (tmp_path / pipeline.prefix).mkdir(parents=True)
    first = ["cell_qa_inventory"] if pipeline.selection is None else pipeline.selection[:1]  # its inputs asset
    with dg.instance_for_test() as instance:
        result = materialize_group(
            pipeline.name,
            LocalDatasetStore(root=str(tmp_path)),
            instance,
            selection=first,
            raise_on_error=False,
        )
    assert not result.success
    message = failure_text(result)
    assert f"${variable}: date prefix format '%Y-%m-%d' must end with '/'" in message
    assert "\n" not in message.strip()


def test_date_prefixed_uploads_on_s3_build_the_same_dataset_from_the_local_cache(tmp_path, monkeypatch, s3_bucket):
    """ct_hemorrhage reads a single file, two folders and DICOMs fetched one by one: all of them from the dated bucket
    (the view is built in the worker's cache), giving the rows the local undated store gives."""
    import boto3

    pipeline = next(p for p in PIPELINES if p.name == "ct_hemorrhage")
    plain, dated = tmp_path / "plain", tmp_path / "dated"
    pipeline.generate(plain)
    twice = _dated_copy(pipeline, plain, dated)
    expected = _build(pipeline, plain)
    assert expected.success, failure_text(expected)
    client = boto3.client("s3")
    for path in sorted(p for p in (dated / "raw").rglob("*") if p.is_file()):
        client.upload_file(str(path), s3_bucket, f"team/{path.relative_to(dated).as_posix()}")
    monkeypatch.setenv(_variable(pipeline), "%Y/%m/%d/")
    cache = tmp_path / "worker-cache"
    store = S3DatasetStore(bucket=s3_bucket, prefix="team", cache_dir=str(cache))
    with dg.instance_for_test() as instance:
        got = materialize_group(pipeline.name, store, instance, selection=pipeline.selection, raise_on_error=False)
    assert got.success, failure_text(got)
    view = f"{RAW_VIEWS_DIR}/{pipeline.name}"
    assert (cache / view / twice).read_bytes() == (plain / pipeline.prefix / twice).read_bytes()
    assert not any(k["Key"].startswith(f"team/{RAW_VIEWS_DIR}") for k in _objects(client, s3_bucket))  # local only
    for relpath in pipeline.compared:
        want = _table(plain, relpath, view, pipeline.prefix)
        have = _table(cache, relpath, view, pipeline.prefix)
        pd.testing.assert_frame_equal(have, want, obj=relpath)


def _objects(client, bucket: str) -> list[dict]:
    return [o for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page["Contents"]]


def test_config_paths_outside_the_prefix_or_naming_one_day_are_read_as_they_are(tmp_path, monkeypatch):
    store = LocalDatasetStore(root=str(tmp_path))
    for rel in ("raw/p/2026/11/27/a/x.csv", "raw/p/2026/11/28/a/y.csv", "elsewhere/z.csv"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    assert raw_inputs(store, "p", "raw/p", "raw/p/a") == "raw/p/a"  # no date prefix set: the seed's layout
    monkeypatch.setenv("DATAPREP_UPLOAD_DATE_PREFIX", "%Y/%m/%d/")
    assert raw_inputs(store, "p", "raw/p", "raw/p/a/") == f"{RAW_VIEWS_DIR}/p/a"
    assert sorted(p.name for p in (tmp_path / RAW_VIEWS_DIR / "p/a").iterdir()) == ["x.csv", "y.csv"]
    assert raw_inputs(store, "p", "raw/p") == f"{RAW_VIEWS_DIR}/p"
    assert raw_inputs(store, "p", "raw/p", "raw/p/2026/11/28/a") == "raw/p/2026/11/28/a"  # one day, as named
    assert raw_inputs(store, "p", "raw/p", "elsewhere") == "elsewhere"  # outside the upload prefix
    assert raw_inputs(store, "p", "raw/p", "raw/pp/a") == "raw/pp/a"  # a sibling that only starts alike
