"""echo_quality asset checks: valid results, labels vs thresholds, duplicates, readable copies, classes,
machine coverage, no study or patient in two splits, and study folders keeping their split across versions
(blocking)."""

import dagster as dg
import pandas as pd

from dataprep_assets.common.checks import (
    expectations_check,
    group_overlap_check,
    split_continuity_check,
    split_fractions_check,
)
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.echo_quality.assets import (
    echo_inference_results,
    echo_training_data,
    echo_training_splits,
    read_annotations,
)
from dataprep_assets.defs.echo_quality.datasets import RESULTS, SELECTION_INFO, SPLITS, TRAINING_DATA, VIDEOS_SUBDIR
from dataprep_assets.defs.echo_quality.dicoms import verify_dicom
from dataprep_assets.defs.echo_quality.selection import HIGH, LOW, Criteria, label_rows

LABELS_AGREE = "labels_agree_with_thresholds"
NO_DUPLICATES = "no_duplicate_files"
COPIES_READABLE = "copied_files_readable_dicom"
BOTH_CLASSES = "both_classes_present"
ALL_MACHINES = "every_machine_type_present"
NO_STUDY_OVERLAP = "no_study_in_two_splits"
NO_PATIENT_OVERLAP = "no_patient_in_two_splits"
FOLDERS_STAY_PUT = "study_folders_stay_put"


def _read_splits(store: DatasetStore) -> pd.DataFrame:
    return read_annotations(store, SPLITS.path).astype({"study_key": str, "patient_key": str, "group_id": str})


inference_results_valid = expectations_check(
    asset=echo_inference_results,
    load=RESULTS,
    name="inference_results_valid",
    description="Great Expectations: score in [0, 1], status PASS/FAIL, (folder, file_id) and dicom_path unique, "
    "machine_type set.",
    blocking=True,
    expectations=[
        ("expect_column_values_to_be_between", {"column": "score", "min_value": 0.0, "max_value": 1.0}),
        ("expect_column_values_to_be_in_set", {"column": "status", "value_set": ["PASS", "FAIL"]}),
        ("expect_compound_columns_to_be_unique", {"column_list": ["folder", "file_id"]}),
        ("expect_column_values_to_be_unique", {"column": "dicom_path"}),
        ("expect_column_values_to_not_be_null", {"column": "machine_type"}),
    ],
)


@dg.asset_check(asset=echo_training_data, blocking=True)
def labels_agree_with_thresholds(store: DatasetStore) -> dg.AssetCheckResult:
    """Every label follows the configured thresholds, statuses and phrases; file prefixes match labels."""
    annotations = read_annotations(store)
    criteria = Criteria(**store.read(SELECTION_INFO)["criteria"])
    expected = label_rows(annotations, criteria)
    prefix = annotations["quality_score"].map({HIGH: "hq_", LOW: "lq_"}).fillna("?")
    prefix_ok = pd.Series(
        [f.startswith(p) for f, p in zip(annotations["filename"], prefix, strict=True)], index=annotations.index
    )
    bad = annotations[(expected != annotations["quality_score"].to_numpy()) | ~prefix_ok]
    return dg.AssetCheckResult(
        passed=bad.empty,
        metadata={
            "checked": len(annotations),
            "disagreeing": len(bad),
            "criteria": dg.MetadataValue.json(criteria.as_dict()),
            "examples": dg.MetadataValue.json(
                bad[["filename", "quality_score", "score", "status", "assessment"]].head(10).to_dict("records")
            ),
        },
    )


@dg.asset_check(asset=echo_training_data, blocking=True)
def no_duplicate_files(store: DatasetStore) -> dg.AssetCheckResult:
    """No file name, source file or video content appears twice in the training data."""
    annotations = read_annotations(store)
    manifest = store.manifest(TRAINING_DATA.path)
    hashes = pd.Series(
        {e.path: e.sha256 for e in (manifest.entries if manifest else []) if e.path.startswith(f"{VIDEOS_SUBDIR}/")}
    )
    found = {
        "filename": annotations["filename"][annotations["filename"].duplicated(keep=False)].tolist(),
        "folder/file_id": (annotations["folder"] + "/" + annotations["file_id"])[
            annotations.duplicated(["folder", "file_id"], keep=False)
        ].tolist(),
        "content": hashes[hashes.duplicated(keep=False)].index.tolist(),
    }
    return dg.AssetCheckResult(
        passed=not any(found.values()),
        metadata={
            "videos": len(annotations),
            **{f"duplicate_{k}": len(v) for k, v in found.items()},
            "examples": dg.MetadataValue.json({k: v[:10] for k, v in found.items()}),
        },
    )


@dg.asset_check(asset=echo_training_data, blocking=True)
def copied_files_readable_dicom(store: DatasetStore) -> dg.AssetCheckResult:
    """Every annotated video exists in training_data/ and reads as DICOM with a decodable first frame."""
    annotations = read_annotations(store)
    root = store.pull(TRAINING_DATA.path)
    bad = []
    for video in annotations["video_path"]:
        path = root / video
        error = "missing" if not path.is_file() else verify_dicom(path, decode=True)
        if error:
            bad.append(f"{video}: {error}")
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "videos_checked": len(annotations),
            "unreadable": len(bad),
            "examples": dg.MetadataValue.json(bad[:10]),
        },
    )


@dg.asset_check(asset=echo_training_data, blocking=True)
def both_classes_present(store: DatasetStore) -> dg.AssetCheckResult:
    """Both high-quality (1) and low-quality (0) videos are present."""
    counts = read_annotations(store)["quality_score"].value_counts().to_dict()
    high, low = int(counts.get(HIGH, 0)), int(counts.get(LOW, 0))
    return dg.AssetCheckResult(passed=high > 0 and low > 0, metadata={"high_quality": high, "low_quality": low})


@dg.asset_check(asset=echo_training_data)
def every_machine_type_present(store: DatasetStore) -> dg.AssetCheckResult:
    """Every machine type that has a candidate video (either class) is in the training data (warns: a cap below the
    number of machines can drop one)."""
    wanted = set(store.read(SELECTION_INFO)["machine_types_with_candidates"])
    present = set(read_annotations(store)["machine_type"])
    missing = sorted(wanted - present)
    return dg.AssetCheckResult(
        passed=not missing,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "machine_types": len(wanted),
            "present": dg.MetadataValue.json(sorted(present)),
            "missing": dg.MetadataValue.json(missing),
        },
    )


no_study_in_two_splits = group_overlap_check(
    asset=echo_training_splits, load=_read_splits, group_col="study_key", name=NO_STUDY_OVERLAP, blocking=True
)
no_patient_in_two_splits = group_overlap_check(
    asset=echo_training_splits, load=_read_splits, group_col="patient_key", name=NO_PATIENT_OVERLAP, blocking=True
)
echo_split_fractions = split_fractions_check(
    asset=echo_training_splits, load=_read_splits, group_col="group_id", tolerance=0.15
)
study_folders_stay_put = split_continuity_check(
    asset=echo_training_splits,
    relpath=SPLITS.path,
    group_col="folder",
    rows=lambda f: f.astype({"folder": str}),
    name=FOLDERS_STAY_PUT,
)
