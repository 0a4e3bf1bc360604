"""Labels must follow the seed's thresholds exactly (borderlines included), caps must keep every
machine type, the sampling must be deterministic and stable when new results arrive, the groups must
keep patients and studies together, and bad config must fail at once naming the field."""

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from dataprep_assets.defs.echo_quality.grouping import leak_groups, patient_keys, study_keys
from dataprep_assets.defs.echo_quality.selection import (
    HIGH,
    LOW,
    UNUSED,
    Criteria,
    allocate_quota,
    label_rows,
    select_training_rows,
)
from dataprep_assets.defs.echo_quality.training_layout import ANNOTATION_COLUMNS, training_plan
from dataprep_assets_tests.echo_quality.conftest import materialize_echo
from dataprep_assets_tests.harness import config_refusal


def rows(spec: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(spec, columns=["folder", "file_id", "score", "status", "assessment", "machine_type"])


def test_labels_follow_thresholds_status_and_phrase():
    frame = rows([
        ("F", "a", 0.95, "PASS", "Excellent quality", "m"),
        ("F", "b", 0.9499, "PASS", "Excellent quality", "m"),
        ("F", "c", 0.99, "FAIL", "Excellent quality", "m"),
        ("F", "d", 0.99, "PASS", "Good quality", "m"),
        ("F", "e", 0.1, "FAIL", "Critical issues - artifacts", "m"),
        ("F", "f", 0.1, "FAIL", "Very poor quality", "m"),
        ("F", "g", 0.1001, "FAIL", "Critical issues", "m"),
        ("F", "h", 0.05, "FAIL", "critical issues", "m"),
    ])  # fmt: skip
    assert label_rows(frame, Criteria()).tolist() == [HIGH, UNUSED, UNUSED, UNUSED, LOW, UNUSED, UNUSED, UNUSED]
    relaxed = Criteria(high_min_score=0.9, low_max_score=0.15, case_sensitive=False)
    assert label_rows(frame, relaxed).tolist() == [HIGH, HIGH, UNUSED, UNUSED, LOW, UNUSED, LOW, LOW]


def test_equal_allocation_keeps_small_machines_whole_and_trims_big_ones_evenly():
    assert allocate_quota({"a": 2, "b": 50, "c": 50}, 20) == {"a": 2, "b": 9, "c": 9}
    assert allocate_quota({"a": 2, "b": 50, "c": 51}, 21) == {"a": 2, "b": 9, "c": 10}
    assert allocate_quota({"a": 2, "b": 3}, 10) == {"a": 2, "b": 3}
    rng = np.random.default_rng(0)
    for _ in range(300):
        counts = {f"m{i}": int(n) for i, n in enumerate(rng.integers(0, 60, rng.integers(1, 8)))}
        cap = int(rng.integers(1, 200))
        quota = allocate_quota(counts, cap)
        assert sum(quota.values()) == min(cap, sum(counts.values()))
        assert all(0 <= quota[m] <= counts[m] for m in counts)
        trimmed = [quota[m] for m in counts if quota[m] < counts[m]]
        assert not trimmed or max(quota.values()) - min(trimmed) <= 1, "max-min fair"
    proportional = allocate_quota({"a": 2, "b": 50, "c": 48}, 10, "proportional")
    assert sum(proportional.values()) == 10 and proportional["a"] >= 1 and proportional["b"] == 5


def _candidates(n_per_machine: dict[str, int], start: int = 0) -> pd.DataFrame:
    spec = []
    for machine, n in n_per_machine.items():
        for i in range(start, start + n):
            spec.append(
                (f"{machine.upper()}-{i % 7:04d}", f"IM_{i:04d}.dcm", 0.97, "PASS", "Excellent quality", machine)
            )
            spec.append((f"{machine.upper()}-{i % 7:04d}", f"LQ_{i:04d}.dcm", 0.03, "FAIL", "Critical issues", machine))
    return rows(spec)


def test_capped_selection_covers_every_machine_and_is_deterministic():
    frame = _candidates({"vivide95": 120, "epiq7": 40, "affiniti50g": 3})
    picked = select_training_rows(frame, Criteria(), max_high=30, max_low=12, seed=7)
    chosen = picked[picked["selected"]]
    high = chosen[chosen["quality_label"] == HIGH]["machine_type"].value_counts().to_dict()
    low = chosen[chosen["quality_label"] == LOW]["machine_type"].value_counts().to_dict()
    assert high == {"vivide95": 14, "epiq7": 13, "affiniti50g": 3}
    assert low == {"vivide95": 5, "epiq7": 4, "affiniti50g": 3}
    again = select_training_rows(frame.sample(frac=1, random_state=3), Criteria(), max_high=30, max_low=12, seed=7)
    pd.testing.assert_frame_equal(picked, again)
    other_seed = select_training_rows(frame, Criteria(), max_high=30, max_low=12, seed=8)
    assert set(other_seed[other_seed["selected"]]["file_id"]) != set(chosen["file_id"])


def test_new_results_keep_earlier_picks_when_quota_is_unchanged():
    before = _candidates({"vivide95": 100, "epiq7": 100})
    after = pd.concat([before, _candidates({"vivide95": 5}, start=500)], ignore_index=True)
    pick = lambda f, m: set(f[f["selected"] & (f["quality_label"] == HIGH) & (f["machine_type"] == m)]["file_id"])  # noqa: E731
    first = select_training_rows(before, Criteria(), 40, 10, seed=1)
    second = select_training_rows(after, Criteria(), 40, 10, seed=1)
    assert pick(first, "epiq7") == pick(second, "epiq7")
    added, dropped = (
        pick(second, "vivide95") - pick(first, "vivide95"),
        pick(first, "vivide95") - pick(second, "vivide95"),
    )
    assert added <= {f"IM_{i:04d}.dcm" for i in range(500, 505)}, "only new rows ranked ahead displace earlier picks"
    assert len(added) == len(dropped)


def test_training_plan_names_follow_the_seed():
    frame = _candidates({"epiq7": 2}).assign(dicom_path="x")
    plan = training_plan(select_training_rows(frame, Criteria(), 5, 5, seed=0))
    assert plan["filename"].tolist() == [
        "hq_epiq7_0000_IM0000.dcm",
        "hq_epiq7_0001_IM0001.dcm",
        "lq_epiq7_0002_LQ0000.dcm",
        "lq_epiq7_0003_LQ0001.dcm",
    ]
    assert plan["video_path"].str.startswith("echo_videos/").all() and plan["quality_score"].tolist() == [1, 1, 0, 0]
    assert set(ANNOTATION_COLUMNS) <= set(plan.columns)


def test_leak_groups_link_folders_studies_and_patients_but_not_placeholders():
    frame = pd.DataFrame(
        {
            "folder": ["A", "A", "B", "C", "D", "E", "F"],
            "study_uid": ["s1", "s1", "s1", "s3", "s4", "", "s6"],
            "patient_id": ["p1", "p1", "p2", "p2", "ANONYMOUS", "", "anonymous"],
        }
    )
    assert leak_groups(frame, "patient").tolist() == ["A", "A", "A", "A", "D", "E", "F"]
    assert leak_groups(frame, "study").tolist() == ["A", "A", "A", "C", "D", "E", "F"]
    assert leak_groups(frame, "folder").tolist() == ["A", "A", "B", "C", "D", "E", "F"]
    assert study_keys(frame).tolist()[5] == "folder:E"
    assert patient_keys(frame).tolist()[4] == "study:s4"


@pytest.mark.parametrize(
    "op, config, message",
    [
        (
            "echo_training_selection",
            {"high_quality_threshold": 1.5},
            "high_quality_threshold: must be in [0, 1], got 1.5",
        ),
        (
            "echo_training_selection",
            {"low_quality_threshold": 0.96},
            "low_quality_threshold (0.96) must be below high_quality_threshold (0.95)",
        ),
        ("echo_training_selection", {"high_quality_status": "OK"}, "high_quality_status"),  # refused at launch
        ("echo_training_selection", {"max_low_quality": 0}, "max_low_quality: must be >= 1, got 0"),
        ("echo_training_selection", {"target_high_share": 1.0}, "target_high_share: must be in (0, 1), got 1.0"),
        ("echo_training_splits", {"train_fraction": 0.9}, "train_fraction + validation_fraction + test_fraction"),
        ("echo_training_splits", {"test_fraction": -0.05}, "test_fraction: must be in [0, 1], got -0.05"),
        ("echo_inference_results", {"min_frames": 0}, "min_frames: must be >= 1, got 0"),
        ("echo_inference_results", {"max_workers": -1}, "max_workers: must be >= 0, got -1"),
    ],
)
def test_bad_config_fails_at_launch_naming_the_field(store, instance, op, config, message):
    refusal = config_refusal(
        lambda: materialize_echo(store, instance, selection=[op], ops={op: {"config": config}}, raise_on_error=False)
    )
    assert message in refusal
    assert instance.get_latest_materialization_event(dg.AssetKey(op)) is None


def test_target_ratio_lowers_the_caps_to_the_seeds_67_33_and_is_off_by_default():
    from dataprep_assets.defs.echo_quality.selection import ratio_caps

    frame = _candidates({"vivide95": 120, "epiq7": 40})
    default = select_training_rows(frame, Criteria(), max_high=800, max_low=300, seed=7)
    assert (
        (default[default["selected"]]["quality_label"] == HIGH).sum()
        == 160
        == (default[default["selected"]]["quality_label"] == LOW).sum()
    )
    ratio = select_training_rows(frame, Criteria(), max_high=800, max_low=300, seed=7, target_high_share=0.67)
    chosen = ratio[ratio["selected"]]
    high, low = int((chosen["quality_label"] == HIGH).sum()), int((chosen["quality_label"] == LOW).sum())
    assert (high, low) == (160, 79) and abs(high / (high + low) - 0.67) < 0.005
    assert set(chosen["machine_type"]) == {"vivide95", "epiq7"}, "the lowered cap is still shared across machines"
    assert (
        ratio_caps(500, 400, 0.67) == (500, 246)
        and ratio_caps(100, 10, 0.67) == (20, 10)
        and ratio_caps(0, 10, 0.67) == (0, 10)
    )


def test_analyze_summary_is_the_seeds_table():
    from dataprep_assets.defs.echo_quality.training_layout import analyze_summary

    annotations = pd.DataFrame(
        {
            "machine_type": ["a", "a", "a", "b"],
            "quality_score": [HIGH, HIGH, LOW, LOW],
            "folder": ["A-1", "A-2", "A-2", "B-1"],
        }
    )
    table = analyze_summary(annotations).set_index("machine_type")
    assert table.loc["a"].tolist() == [3, 2, 1, 66.7, 33.3, 2] and table.loc["total"].tolist() == [
        4,
        2,
        2,
        50.0,
        50.0,
        3,
    ]
