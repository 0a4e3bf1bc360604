"""The whole echo graph on realistic sample data (and pydicom's real SonoSite clip): the seed's layout
and columns, every check evaluated, byte-identical reruns, a leak that the blocking check catches
before the release, and bad inputs that fail loudly while the previous training data stays intact."""

import json
import re

import pandas as pd

from dataprep_assets.defs.echo_quality.assets import read_annotations
from dataprep_assets.defs.echo_quality.datasets import ANALYSIS, ANNOTATIONS, RELEASE, SELECTION, SPLITS, TRAINING_DATA
from dataprep_assets.defs.echo_quality.dicoms import verify_dicom
from dataprep_assets.defs.echo_quality.training_layout import ANNOTATION_COLUMNS
from dataprep_assets.sample_data.echo_quality import RESULTS_DIR, write_exam
from dataprep_assets_tests.echo_quality.conftest import GROUP, materialize_echo
from dataprep_assets_tests.harness import accounting_gaps, data_versions, failure_text, group_checks


def test_whole_graph_builds_the_seed_layout(store, instance, sample):
    result = materialize_echo(store, instance, skip_checks=())
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    every_check = {key.name for check in group_checks(GROUP) for key in check.check_keys}
    assert set(evaluations) == every_check and all(evaluations.values()), evaluations
    # Records in = out + rejects, shown by every asset that consumes records (found in the code location).
    assert accounting_gaps(GROUP, [result]) == {}

    annotations = read_annotations(store)
    assert list(annotations.columns) == ANNOTATION_COLUMNS
    assert annotations["filename"].str.fullmatch(r"(hq|lq)_[a-z0-9]+_\d{4}_[A-Za-z0-9]{1,8}\.dcm").all()
    assert set(annotations["quality_score"]) == {0, 1}
    hq = annotations[annotations["quality_score"] == 1]
    assert (
        (hq["score"] >= 0.95).all()
        and (hq["status"] == "PASS").all()
        and hq["assessment"].str.contains("Excellent quality").all()
    )
    for video in annotations["video_path"]:
        assert verify_dicom(store.path(TRAINING_DATA.path, video)) == ""
    clip = annotations[annotations["file_id"] == "examples_ybr_color.dcm"]
    assert clip[["machine_type", "quality_score"]].values.tolist() == [["turbo", 1]], (
        "pydicom's real SonoSite clip goes through"
    )
    assert {"vivide95", "vivids60", "vivids70", "vividiq", "epiq7", "affiniti70g", "affiniti50g"} <= set(
        annotations["machine_type"]
    )
    assert "0.95" in annotations["score"].astype(str).tolist(), "a score exactly on the threshold is high quality"
    assert sorted(p.name for p in store.path(TRAINING_DATA.path).iterdir()) == [
        "dataset_analysis.json",
        "echo_annotations.csv",
        "echo_videos",
    ]

    analysis = json.loads(store.path(ANALYSIS).read_text())
    assert (
        analysis["total_samples"] == len(annotations) == analysis["high_quality_count"] + analysis["low_quality_count"]
    )
    assert analysis["score_ranges"]["low_quality"]["max"] <= 0.1 and analysis["machine_type_distribution"]["turbo"] == 1

    rejects = store.read_rejects("echo_inference_results").to_frame()
    assert {
        "score_not_a_number", "score_out_of_range", "unknown_status", "malformed_entry", "missing_dicom",
        "not_dicom", "too_few_frames", "duplicate_dicom", "conflicting_results", "malformed_json", "missing_columns",
        "inference_failed",
    } <= set(rejects["reason"])  # fmt: skip
    assert rejects[rejects["reason"] == "not_dicom"]["item"].tolist() == ["VIVIDS70-0001/IM_9007.dcm"]

    splits = pd.read_csv(store.path(SPLITS.path), dtype=str)
    assert set(splits["split"]) == {"train", "validation", "test"} and len(splits) == len(annotations)
    patient = splits[splits["folder"].isin(["EPIQ7-0002", "AFFINITI70G-0001"])]
    assert patient["split"].nunique() == 1, "one patient scanned on two machines stays in one split"
    assert json.loads(store.path(RELEASE.path).read_text())["rows_per_split"]

    again = materialize_echo(store, instance)
    assert data_versions(again) == data_versions(result), "same inputs + seed: same data versions"


def test_caps_spread_across_machines(store, instance, sample):
    config = {"ops": {"echo_training_selection": {"config": {"max_high_quality": 8, "max_low_quality": 7, "seed": 3}}}}
    materialize_echo(
        store,
        instance,
        run_config=config,
        selection=["echo_inference_results", "echo_training_selection", "echo_training_data"],
    )
    annotations = read_annotations(store)
    candidates = store.read_table(SELECTION.path).groupby("quality_label")["machine_type"].agg(["size", "nunique"])
    assert (candidates["size"] > [7, 8]).all(), "both classes are capped"
    counts = annotations.groupby("quality_score")["machine_type"].agg(["size", "nunique"])
    assert counts.loc[1].tolist() == [8, min(8, candidates.loc[1, "nunique"])]
    assert counts.loc[0].tolist() == [7, min(7, candidates.loc[0, "nunique"])], (
        "every machine with candidates is represented"
    )


def _linked_exams(root) -> None:
    """Two folders of one study (exported twice): they must never be split apart."""
    for folder in ("EPIQ7-0101", "EPIQ7-0102"):
        write_exam(root, folder, [0.97, 0.98, 0.02, 0.04], seed=5, patient_id="PAT-X", study_uid="1.2.3.4.5")


def test_blocking_leak_check_stops_the_release(store, instance, store_root):
    _linked_exams(store_root)
    leaky = {
        "ops": {
            "echo_training_splits": {
                "config": {
                    "group_by": "folder",
                    "train_fraction": 0.5,
                    "validation_fraction": 0.5,
                    "test_fraction": 0.0,
                }
            }
        }
    }
    result = materialize_echo(store, instance, run_config=leaky, raise_on_error=False)
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations["no_study_in_two_splits"] is False and evaluations["no_patient_in_two_splits"] is False
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "echo_training_splits" in materialized and "echo_dataset_release" not in materialized

    # fixing a leaky split moves folders between splits: that is an explicit re-split
    safe = materialize_echo(
        store,
        instance,
        run_config={
            "ops": {
                "echo_training_splits": {
                    "config": {"train_fraction": 0.5, "validation_fraction": 0.5, "test_fraction": 0.0, "resplit": True}
                }
            }
        },
    )
    passed = {e.check_name: e.passed for e in safe.get_asset_check_evaluations()}
    assert passed["no_study_in_two_splits"] and passed["no_patient_in_two_splits"]
    assert passed["split_fractions_near_target"] is False, (
        "one group cannot be cut 50/50: the (warning) fractions check says so"
    )
    assert pd.read_csv(store.path(SPLITS.path))["split"].nunique() == 1, (
        "linked by study, the two folders are one group"
    )


def _snapshot(store) -> dict:
    root = store.path(TRAINING_DATA.path)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_bad_inputs_fail_loudly_and_keep_previous_training_data(store, instance, store_root):
    _linked_exams(store_root)
    materialize_echo(store, instance)
    before = _snapshot(store)
    assert before

    no_low = {"ops": {"echo_training_selection": {"config": {"low_quality_phrase": "no such phrase"}}}}
    result = materialize_echo(store, instance, run_config=no_low, raise_on_error=False)
    assert not result.success and "no low_quality videos were selected" in failure_text(result)
    assert _snapshot(store) == before

    # Every result points at a broken or missing file.
    results_dir = store.path(RESULTS_DIR)
    for path in results_dir.rglob("*.json"):
        path.unlink()
    (store.path("raw/echo_quality/raw_data/EPIQ7-0101/IM_0001.dcm")).write_text("not a dicom")
    (results_dir / "EPIQ7-0101" / "inference_results.json").write_text(
        json.dumps(
            {
                "IM_0001.dcm": {"score": 0.99, "status": "PASS", "assessment": "Excellent quality"},
                "GONE.dcm": {"score": 0.01, "status": "FAIL", "assessment": "Critical issues"},
            }
        )
    )
    result = materialize_echo(store, instance, raise_on_error=False)
    assert not result.success and "has a usable DICOM video" in failure_text(result)
    reasons = set(store.read_rejects("echo_inference_results").to_frame()["reason"])
    assert reasons == {"not_dicom", "missing_dicom"}
    assert _snapshot(store) == before

    (results_dir / "EPIQ7-0101" / "inference_results.json").unlink()
    result = materialize_echo(store, instance, raise_on_error=False)
    assert not result.success and re.search(r"no inference results .* under .*inference_output", failure_text(result))
    assert _snapshot(store) == before
    assert read_annotations(store, ANNOTATIONS).shape[0] == 8
