"""The README's guarantees ("What every pipeline guarantees"), one parametrised test per guarantee, run on every
pipeline through the one harness (a real Dagster instance, assets and checks found in the code location):

- a leak between splits fails the pipeline's **blocking** leak check and no asset downstream of the split runs;
- a bad input is a row of `rejects/<asset>.csv` naming the file and the reason, and the run goes on;
- writes are atomic: a run SIGKILLed mid-write (`lib/crashpoints.py`) leaves every dataset's previous version in
  its view, nothing half-written that looks complete, and the next run completes the write;
- a rerun on the same inputs with the same seed gives byte-identical outputs and the same data versions.

Each pipeline is built once on a small generated sample with one spoiled input (`reference`); the leak and crash
cases then rebuild parts of that store, the rerun builds the sample again in a fresh store.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from dataprep_assets import versions
from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.lib.crashpoints import ENV as CRASH_AT
from dataprep_assets_tests.harness import (
    blocking_checks,
    check_results,
    data_versions,
    definitions,
    downstream_assets,
    failure_text,
    group_asset_keys,
    materialize_group,
    materialized,
    store_contents,
)


@dataclass(frozen=True)
class Pipeline:
    """What the guarantees need to know of one pipeline; everything else is found in the code location."""

    group: str
    sample: Callable[[Path], None]
    """Write the pipeline's raw inputs (a small sample, fixed seed) under a store root."""
    spoiled: str
    """A store-relative input file the test overwrites with bytes that are not what it claims to be."""
    rejected_by: str
    """The asset whose rejects table must list `spoiled`, with `reason`."""
    reason: str
    leak_check: str
    """`<split asset>:<check>`: the blocking check that must catch the leak."""
    leak: Callable[[Path, pytest.MonkeyPatch], dict]
    """Make the split asset leak (patch its splitter or its config); returns extra options for its run."""
    crash_asset: str
    """An early asset, rebuilt on changed inputs and killed mid-write."""
    withdrawn: str
    """A store-relative input file removed before the killed rebuild (so the new version differs)."""
    options: dict = field(default_factory=dict)
    """Options of every run of this pipeline (`materialize_group` keywords)."""
    rerun_ops: dict = field(default_factory=dict)
    """Op configs of the rerun only: settings that must not change a byte (worker counts)."""
    partitioned: str | None = None
    """An asset partitioned by category: built one partition at a time (its partitions made by the split asset)."""

    def run(self, store, instance, **options) -> dg.ExecuteInProcessResult:
        return materialize_group(self.group, store, instance, raise_on_error=False, **{**self.options, **options})

    def build(self, store, instance, **options) -> list[dg.ExecuteInProcessResult]:
        """The whole pipeline (but its card), partitioned assets one partition at a time."""
        if self.partitioned is None:
            return [self.run(store, instance, **options)]
        after = downstream_assets(self.partitioned)
        group = {k.to_user_string() for k in group_asset_keys(self.group)}
        before = group - {self.partitioned} - downstream_assets(self.partitioned, with_card=True)
        results = [self.run(store, instance, selection=sorted(before), **options)]
        for key in sorted(instance.get_dynamic_partitions(_dynamic_partitions(self.partitioned))):
            results.append(self.run(store, instance, selection=[self.partitioned], partition_key=key, **options))
        results.append(self.run(store, instance, selection=sorted(after), **options))
        return results


def _dynamic_partitions(asset: str) -> str:
    """The name of the dynamic partitions of `asset` (found in the code location)."""
    partitions = definitions().resolve_asset_graph().get(dg.AssetKey(asset)).partitions_def
    assert isinstance(partitions, dg.DynamicPartitionsDefinition) and partitions.name, f"{asset}: not dynamic"
    return partitions.name


def _row_level_split(frame: pd.DataFrame, fractions, seed, split_col: str = "split") -> pd.DataFrame:
    """What a hand-rolled script does: each row drawn on its own, so one group's rows land in several splits."""
    out = frame.copy()
    out[split_col] = np.random.default_rng(seed).choice(list(fractions), size=len(out), p=list(fractions.values()))
    return out


# --- cell_qa ---------------------------------------------------------------------------------------------------


def _cell_qa_sample(root: Path) -> None:
    from dataprep_assets.sample_data.cell_qa import DATASETS, generate

    one = {"Fluo-N2DH-GOWT1": DATASETS["Fluo-N2DH-GOWT1"]}
    generate(root, seed=3, sequences=2, frames=2, size=96, datasets=one, defects=False)


def _cell_qa_leak(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    from dataprep_assets.defs.cell_qa import assets

    def leaky(frame, group_col, fractions, seed, split_col="split", previous=None):
        return _row_level_split(frame, fractions, seed, split_col)

    monkeypatch.setattr(assets, "assign_group_splits", leaky)
    return {}


# --- ct_hemorrhage ---------------------------------------------------------------------------------------------


def _ct_sample(root: Path) -> None:
    from dataprep_assets.sample_data.ct_hemorrhage import generate

    generate(root, seed=0, v3_patients=8, roboflow_patients=4, pool_patients=6, defects=False)


def _ct_leak(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    from dataprep_assets.defs.ct_hemorrhage import splits

    def leaky(images, classes_col, fractions, seed, previous=None):
        return _row_level_split(images, fractions, seed), []

    monkeypatch.setattr(splits, "split_images", leaky)
    return {}


# --- echo_quality ----------------------------------------------------------------------------------------------


def _echo_sample(root: Path) -> None:
    from dataprep_assets.sample_data.echo_quality import generate, write_exam

    generate(root, videos_per_exam=(3, 4), frames=(3, 4), defects=False)
    for folder in ("EPIQ7-0101", "EPIQ7-0102"):  # one study exported twice: its two folders are one group
        write_exam(root, folder, [0.97, 0.98, 0.02, 0.04], seed=5, patient_id="PAT-X", study_uid="1.2.3.4.5")


def _echo_leak(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    from dataprep_assets.defs.echo_quality import assets

    real = assets.annotations_with_groups

    def one_group_per_video(store, config):
        frame = real(store, config)
        return frame.assign(group_id=[f"video-{i}" for i in range(len(frame))])

    monkeypatch.setattr(assets, "annotations_with_groups", one_group_per_video)
    return {"ops": {"echo_training_splits": {"config": {"resplit": True}}}}  # not the previous version's groups


# --- quality_prediction ----------------------------------------------------------------------------------------

QP_COPIES = 6
"""Logos the quality_prediction sample holds twice under another name (one source image: one group)."""


def _qp_sample(root: Path) -> None:
    from dataprep_assets.sample_data.quality_prediction import generate

    generate(root, type_counts={"simple": 12, "text": 8, "gradient": 8, "complex": 8}, defects=False)
    base = root / "raw/quality_prediction"
    rows = []
    for i in range(QP_COPIES):
        copy = f"images/simple/simple_{i:03d}_renamed.png"
        (base / copy).write_bytes((base / f"images/simple/simple_{i:03d}.png").read_bytes())
        rows.append(
            {
                **{"image_path": copy, "logo_type": "simple", "method": 3, "mode": "spline", "color_precision": 6},
                **{"layer_difference": 16, "filter_speckle": 4, "corner_threshold": 60, "length_threshold": 4.0},
                **{"max_iterations": 10, "splice_threshold": 45, "path_precision": 3},
                **{"ssim": 0.9, "mse": 100.0, "psnr": round(10 * np.log10(255**2 / 100.0), 4)},
                "timestamp": "2024-05-25T10:00:00Z",
            }
        )
    pd.DataFrame(rows).to_csv(base / "results/method3/renamed_copies.csv", index=False)


def _qp_leak(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    return {"ops": {"quality_dataset_splits": {"config": {"group_by": "image_id", "resplit": True}}}}


# --- perva_retrieval -------------------------------------------------------------------------------------------


def _perva_sample(root: Path) -> None:
    from dataprep_assets.sample_data.perva_retrieval import generate

    generate(root, seed=0, scale=0.5)


def _perva_leak(root: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    from dataprep_assets.defs.perva_retrieval import assets

    real_splits, real_ledgers, honest = assets.create_concept_splits, assets.split_ledgers, {}

    def leaky(catalog, **settings):
        train, validation, meta = real_splits(catalog, **settings)
        honest["train"] = {c: dict(concepts) for c, concepts in train.items()}
        category = next(c for c in sorted(validation) if validation[c] and train[c])
        concept = sorted(validation[category])[0]
        train[category][concept] = validation[category][concept]  # one validation concept also in train
        return train, validation, meta

    def ledgers_of_the_honest_split(catalog, train, validation, meta):
        # A concept written twice also breaks the accounting identity, which would stop the asset before its check.
        return real_ledgers(catalog, honest["train"], validation, meta)

    monkeypatch.setattr(assets, "create_concept_splits", leaky)
    monkeypatch.setattr(assets, "split_ledgers", ledgers_of_the_honest_split)
    return {}


PIPELINES = [
    Pipeline(
        group="cell_qa",
        sample=_cell_qa_sample,
        spoiled="raw/cell_qa/competitors/competitor_A/Fluo-N2DH-GOWT1/01_RES/mask001.tif",
        rejected_by="cell_crops",
        reason="unreadable_tiff",
        leak_check="cell_level_dataframe_with_splits:no_original_image_key_overlap",
        leak=_cell_qa_leak,
        crash_asset="cell_qa_inventory",
        withdrawn="raw/cell_qa/Fluo-N2DH-GOWT1/02/t001.tif",
        options={"default_ops": {"cell_crops": {"config": {"max_workers": 1}}}},
        rerun_ops={"cell_crops": {"config": {"max_workers": 2}}},
    ),
    Pipeline(
        group="ct_hemorrhage",
        sample=_ct_sample,
        spoiled="raw/ct_hemorrhage/v3/filtered_4class/coco/train/136876171_11.jpg",
        rejected_by="labelled_coco",
        reason="unreadable_image",
        leak_check="patient_splits:no_patient_overlap",
        leak=_ct_leak,
        crash_asset="labelled_coco",
        withdrawn="raw/ct_hemorrhage/v3/filtered_4class/coco/train/136876171_15.jpg",
        options={
            # Every class in every split needs the default sample's ~90 patients (ct_hemorrhage/test_pipeline.py).
            "skip_checks": ("all_classes_in_every_split",),
            "default_ops": {
                "no_hem_pngs": {"config": {"max_workers": 1}},
                "augmented_coco_6class": {"config": {"max_workers": 1}},
            },
        },
        rerun_ops={
            "no_hem_pngs": {"config": {"max_workers": 2}},
            "augmented_coco_6class": {"config": {"max_workers": 2}},
        },
    ),
    Pipeline(
        group="echo_quality",
        sample=_echo_sample,
        spoiled="raw/echo_quality/raw_data/EPIQ7-0101/IM_0001.dcm",
        rejected_by="echo_inference_results",
        reason="not_dicom",
        leak_check="echo_training_splits:no_study_in_two_splits",
        leak=_echo_leak,
        crash_asset="echo_inference_results",
        withdrawn="raw/echo_quality/raw_data/EPIQ7-0102/IM_0001.dcm",
        options={"skip_checks": ("inference_results_valid",)},  # Great Expectations' start-up; tested in echo/
    ),
    Pipeline(
        group="quality_prediction",
        sample=_qp_sample,
        spoiled="raw/quality_prediction/images/text/text_001.png",
        rejected_by="clean_conversion_results",
        reason="image_unreadable",
        leak_check="quality_dataset_splits:no_source_image_in_two_splits",
        leak=_qp_leak,
        crash_asset="conversion_results",
        withdrawn="raw/quality_prediction/results/method3/renamed_copies.csv",
        options={"default_ops": {"image_features": {"config": {"extractor": "image_stats"}}}},
    ),
    Pipeline(
        group="perva_retrieval",
        sample=_perva_sample,
        spoiled="raw/perva_retrieval/PerVA/train/book/cookbook/003.jpg",
        rejected_by="image_catalog",
        reason="unreadable_image",
        leak_check="concept_splits:no_concept_in_train_and_validation",
        leak=_perva_leak,
        crash_asset="image_catalog",
        withdrawn="raw/perva_retrieval/PerVA/train/toy/bear/001.jpg",
        partitioned="retrieval_per_category",
    ),
]
CASES = [pytest.param(p, id=p.group, marks=pytest.mark.xdist_group(f"guarantees_{p.group}")) for p in PIPELINES]
"""One xdist group per pipeline: its cases share one reference build."""


def _sample_with_a_spoiled_input(pipeline: Pipeline, root: Path) -> LocalDatasetStore:
    pipeline.sample(root)
    (root / pipeline.spoiled).write_bytes(b"not what its name says\n" * 4)
    return LocalDatasetStore(root=str(root))


@dataclass
class Built:
    store: LocalDatasetStore
    instance: dg.DagsterInstance
    results: list[dg.ExecuteInProcessResult]
    versions: dict[str, str]
    contents: dict[str, str]


@pytest.fixture(scope="module", params=CASES)
def reference(request, tmp_path_factory):
    """The pipeline built once on its sample with one spoiled input (leak and crash cases rebuild parts of it)."""
    pipeline: Pipeline = request.param
    store = _sample_with_a_spoiled_input(pipeline, tmp_path_factory.mktemp(f"{pipeline.group}_reference"))
    with dg.instance_for_test() as instance:
        results = pipeline.build(store, instance)
        yield pipeline, Built(store, instance, results, _versions(results), store_contents(store))


def _versions(results: list[dg.ExecuteInProcessResult]) -> dict[str, str]:
    out = {}
    for i, result in enumerate(results):
        out |= {f"{asset} (run {i})": version for asset, version in data_versions(result).items()}
    return out


def test_a_bad_input_is_a_reject_row_naming_the_file_and_the_reason_and_the_run_goes_on(reference):
    pipeline, built = reference
    failures = [failure_text(r) or "a check failed" for r in built.results if not r.success]
    assert not failures, f"a spoiled input is refused, it does not fail the run: {failures}"
    rejects = built.store.read_rejects(pipeline.rejected_by).to_frame()
    naming_it = rejects[
        rejects["item"].eq(pipeline.spoiled) | rejects["detail"].str.contains(pipeline.spoiled, regex=False)
    ]
    assert len(naming_it) and set(naming_it["reason"]) == {pipeline.reason}, rejects.to_string()
    assert (built.store.local_root() / "rejects" / f"{pipeline.rejected_by}.csv").is_file()


def test_a_leak_fails_the_blocking_leak_check_and_nothing_downstream_runs(reference, monkeypatch):
    pipeline, built = reference
    assert pipeline.leak_check in blocking_checks(pipeline.group), f"{pipeline.leak_check} must be blocking"
    split = pipeline.leak_check.split(":")[0]
    downstream = downstream_assets(split)
    assert downstream, f"nothing depends on {split}"
    before = {a: _latest_run(built.instance, a) for a in downstream}
    options = pipeline.leak(built.store.local_root(), monkeypatch)
    if pipeline.partitioned is None:
        options |= {"selection": [split, *sorted(downstream)]}
    else:  # one run holds one partition: the split and one partition of what reads it (nothing else depends on it)
        partitions = built.instance.get_dynamic_partitions(_dynamic_partitions(pipeline.partitioned))
        options |= {"selection": [split, pipeline.partitioned], "partition_key": sorted(partitions)[0]}
    result = pipeline.run(built.store, built.instance, **options)
    assert not result.success
    leak = check_results(result)[pipeline.leak_check]
    assert not leak.passed, "the leak went unnoticed"
    overlaps = {k: v.value for k, v in leak.metadata.items() if k.startswith("overlapping_")}
    assert overlaps and all(isinstance(n, int) and n > 0 for n in overlaps.values()), f"no overlap shown: {overlaps}"
    assert materialized(result) == {split}, "assets downstream of a failed blocking check ran"
    assert {a: _latest_run(built.instance, a) for a in downstream} == before


def _latest_run(instance: dg.DagsterInstance, asset: str) -> str | None:
    event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(asset))
    return event.run_id if event else None


KILL_AT = "record:1"
"""The first write of the rebuild is killed after its new version is recorded, before its view is swapped in (every
write point of two pipelines: `test_crash_sweep.py`)."""


def test_a_run_killed_mid_write_leaves_the_previous_version_and_the_next_run_completes_it(reference):
    pipeline, built = reference
    store, root = built.store, built.store.local_root()
    _withdraw_or_restore(root, pipeline.withdrawn)  # other inputs than the current version's
    before = store_contents(store)
    child = mp.get_context("fork").Process(target=_killed_run, args=(pipeline, str(root), KILL_AT))
    child.start()
    child.join(timeout=300)
    assert child.exitcode == -signal.SIGKILL, f"the run never reached {KILL_AT} (exit {child.exitcode})"
    assert store_contents(store) == before, "a killed write changed a current view"
    problems = [p for p in versions.check_store(store) if not p.endswith("(repair)")]
    assert problems == [], "a killed write left something that looks complete but is not"

    with dg.instance_for_test() as instance:
        assert pipeline.run(store, instance, selection=[pipeline.crash_asset]).success
    assert versions.check_store(store) == []
    assert store_contents(store) != before, "the rerun wrote the new version"


def _withdraw_or_restore(root: Path, relpath: str) -> None:
    """Move an input file out of the store (beside it), or back in if it is out."""
    inside, outside = root / relpath, root.parent / "withdrawn" / relpath
    outside.parent.mkdir(parents=True, exist_ok=True)
    inside.rename(outside) if inside.exists() else outside.rename(inside)


def _killed_run(pipeline: Pipeline, root: str, kill_at: str) -> None:
    os.environ[CRASH_AT] = kill_at
    with dg.instance_for_test() as instance:
        pipeline.run(LocalDatasetStore(root=root), instance, selection=[pipeline.crash_asset])
    os._exit(0)  # the crash point was never reached


def test_a_rerun_on_the_same_inputs_and_seed_is_byte_identical_with_the_same_data_versions(reference, tmp_path):
    pipeline, built = reference
    store = _sample_with_a_spoiled_input(pipeline, tmp_path / "again")
    with dg.instance_for_test() as instance:
        results = pipeline.build(store, instance, ops=pipeline.rerun_ops)
    assert [failure_text(r) for r in results if not r.success] == []
    assert _versions(results) == built.versions
    assert store_contents(store) == built.contents
