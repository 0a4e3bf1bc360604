"""The seed's training-data layout: file names, `echo_annotations.csv` rows, `dataset_analysis.json`.

Names are `hq_<machine>_<n>_<id>.dcm` / `lq_...` with `n` counting over high quality then low
quality (each ordered by machine, folder, file), `<id>` the first 8 letters/digits of the file id.
`video_path` is relative to `training_data/`.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import pandas as pd

from dataprep_assets.defs.echo_quality.datasets import VIDEOS_SUBDIR
from dataprep_assets.defs.echo_quality.selection import CLASS_NAMES, HIGH, LOW
from dataprep_assets.lib.naming import assert_unique_names, safe_token

ANNOTATION_COLUMNS = [
    "video_path",
    "quality_score",
    "filename",
    "machine_type",
    "score",
    "status",
    "assessment",
    "folder",
    "file_id",
]
STRING_COLUMNS = ["video_path", "filename", "machine_type", "status", "assessment", "folder", "file_id"]


def training_plan(selected: pd.DataFrame) -> pd.DataFrame:
    """Selected rows in output order with `filename`, `video_path` and `quality_score` added."""
    ordered = selected.sort_values(
        ["quality_label", "machine_type", "folder", "file_id"], ascending=[False, True, True, True]
    )
    ordered = ordered.reset_index(drop=True)
    prefix = ordered["quality_label"].map({HIGH: "hq", LOW: "lq"})
    tokens = ordered["file_id"].map(
        lambda file_id: safe_token(PurePosixPath(str(file_id)).stem, keep="", joiner="", max_length=8, fallback="file")
    )
    numbers = pd.Series(range(len(ordered)), index=ordered.index).map("{:04d}".format)
    ordered["filename"] = prefix + "_" + ordered["machine_type"] + "_" + numbers + "_" + tokens + ".dcm"
    assert_unique_names(
        zip(ordered["folder"] + "/" + ordered["file_id"], ordered["filename"], strict=True), "echo training videos"
    )
    ordered["video_path"] = VIDEOS_SUBDIR + "/" + ordered["filename"]
    ordered["quality_score"] = ordered["quality_label"].astype(int)
    return ordered


def _score_range(scores: pd.Series) -> dict:
    if scores.empty:
        return {"count": 0}
    return {
        "count": int(len(scores)),
        "min": float(scores.min()),
        "max": float(scores.max()),
        "mean": round(float(scores.mean()), 6),
    }


def dataset_analysis(
    annotations: pd.DataFrame, selection: pd.DataFrame, selection_info: dict, copy_failures: int
) -> dict:
    """Totals, per-class and per-machine counts, score ranges and the criteria that produced them."""
    label = annotations["quality_score"]
    per_class_machine = {
        CLASS_NAMES[cls]: annotations[label == cls]["machine_type"].value_counts().sort_index().to_dict()
        for cls in (HIGH, LOW)
    }
    candidates = selection["quality_label"].value_counts().to_dict()
    return {
        "total_samples": int(len(annotations)),
        "high_quality_count": int((label == HIGH).sum()),
        "low_quality_count": int((label == LOW).sum()),
        "class_balance": {
            CLASS_NAMES[c]: round(float((label == c).mean()), 4) if len(label) else 0.0 for c in (HIGH, LOW)
        },
        "machine_type_distribution": annotations["machine_type"].value_counts().sort_index().to_dict(),
        "machine_type_distribution_by_class": per_class_machine,
        "folders": int(annotations["folder"].nunique()),
        "score_ranges": {CLASS_NAMES[c]: _score_range(annotations[label == c]["score"]) for c in (HIGH, LOW)},
        "candidates_available": {CLASS_NAMES[c]: int(candidates.get(c, 0)) for c in (HIGH, LOW)},
        "criteria": selection_info.get("criteria", {}),
        "max_high_quality": selection_info.get("max_high_quality"),
        "max_low_quality": selection_info.get("max_low_quality"),
        "machine_allocation": selection_info.get("machine_allocation"),
        "seed": selection_info.get("seed"),
        "missing_files": int(copy_failures),
        "files_copied": int(len(annotations)),
    }


def analyze_summary(annotations: pd.DataFrame) -> pd.DataFrame:
    """The seed's `analyze_data` printout as one table: per machine type (and a `total` row) the videos, high and
    low quality counts and shares, and the folders they come from."""
    rows = []
    for machine, part in [*sorted(annotations.groupby("machine_type")), ("total", annotations)]:
        n, high = len(part), int((part["quality_score"] == HIGH).sum())
        rows.append(
            {
                "machine_type": machine,
                "videos": n,
                "high_quality": high,
                "low_quality": n - high,
                "hq_pct": round(100 * high / n, 1) if n else 0.0,
                "lq_pct": round(100 * (n - high) / n, 1) if n else 0.0,
                "folders": int(part["folder"].nunique()),
            }
        )
    return pd.DataFrame(
        rows, columns=["machine_type", "videos", "high_quality", "low_quality", "hq_pct", "lq_pct", "folders"]
    )
