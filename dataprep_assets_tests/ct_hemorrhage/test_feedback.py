"""The feedback CSV and the fetch step: missing columns fail at once, bad rows become rejects, false
positives are fetched before true negatives up to the limit, and each fetched object is judged by a
header-only read (kept, skipped for thickness, or failed with its reason)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.ct_hemorrhage.feedback import (
    FEEDBACK_COLUMNS,
    FeedbackError,
    FetchSettings,
    fetch_slice,
    fetch_summary,
    header_facts_name,
    read_feedback,
    select_for_fetch,
)
from dataprep_assets.lib.itemcache import StampedResults
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.sample_data.ct_hemorrhage import render_slice_hu, write_dicom

SETTINGS = FetchSettings(allowed_mm=(5.0, 5.5), tolerance_mm=0.01, attempts=3, backoff_s=0.0)


def _row(i: int, feedback: str = "TN", **kw) -> dict:
    return {
        "study_instance_uid": "1.2",
        "series_instance_uid": "1.2.3",
        "sop_instance_uid": f"1.2.3.{i}",
        "instance_number": str(i),
        "patient_id": f"p{i % 4}",
        "s3_key": f"p{i % 4}/{i}.dcm",
        "feedback": feedback,
    } | kw


def _csv(tmp_path: Path, rows: list[dict], columns=FEEDBACK_COLUMNS) -> Path:
    path = tmp_path / "feedback.csv"
    pd.DataFrame(rows)[list(columns)].to_csv(path, index=False)
    return path


def test_missing_columns_fail_naming_them(tmp_path):
    path = _csv(tmp_path, [_row(1)], columns=[c for c in FEEDBACK_COLUMNS if c not in ("s3_key", "feedback")])
    with pytest.raises(FeedbackError, match=r"feedback.csv: missing columns \['s3_key', 'feedback'\]"):
        read_feedback(path, "feedback.csv", RejectLog())
    with pytest.raises(FeedbackError, match="not found"):
        read_feedback(tmp_path / "nope.csv", "nope.csv", RejectLog())


def test_bad_rows_are_rejects_with_their_line_and_reason(tmp_path):
    rows = [_row(1, "fp"), _row(2, "MAYBE"), _row(3, s3_key=""), _row(4, instance_number="four"), _row(5), _row(5)]
    rejects = RejectLog()
    frame = read_feedback(_csv(tmp_path, rows), "feedback.csv", rejects)
    assert frame["sop_instance_uid"].tolist() == ["1.2.3.1", "1.2.3.5"]
    assert frame["feedback"].tolist() == ["FP", "TN"] and frame["tier"].tolist() == [0, 1]
    assert frame["key"].tolist() == ["p1_1", "p1_5"]
    reasons = {(r.item, r.reason) for r in rejects}
    assert reasons == {
        ("feedback.csv:3", "unknown_feedback"),
        ("feedback.csv:4", "missing_s3_key"),
        ("feedback.csv:5", "bad_instance_number"),
        ("feedback.csv:7", "duplicate_row"),
    }


def test_false_positives_first_then_seeded_true_negatives_up_to_the_limit():
    frame = pd.DataFrame([{"sop_instance_uid": f"u{i:03d}", "tier": 0 if i < 5 else 1} for i in range(50)])
    chosen = select_for_fetch(frame, max_images=12, fp_only=False, seed=3)
    assert chosen["tier"].tolist() == [0] * 5 + [1] * 7
    again = select_for_fetch(frame.sample(frac=1, random_state=1), max_images=12, fp_only=False, seed=3)
    assert again["sop_instance_uid"].tolist() == chosen["sop_instance_uid"].tolist()
    assert len(select_for_fetch(frame, 0, False, 3)) == 50
    assert select_for_fetch(frame, 0, True, 3)["tier"].tolist() == [0] * 5
    assert len(select_for_fetch(frame, 3, False, 3)) == 3


def _dicom(store: LocalDatasetStore, rel: str, thickness: float, patient: str | None = "p1") -> None:
    write_dicom(
        store.path(rel),
        render_slice_hu(np.random.default_rng(0), 0.5),
        patient_id=patient,
        study_uid="1.2",
        series_uid="1.2.3",
        sop_uid="1.2.3.4",
        instance=4,
        thickness=thickness,
    )


def test_fetch_decides_ok_skipped_or_failed(store):
    _dicom(store, "dicom/ok.dcm", 5.5)
    _dicom(store, "dicom/thin.dcm", 1.25)
    _dicom(store, "dicom/anon.dcm", 5.0, patient=None)
    row = {"patient_id": "csv-patient", "instance_number": 4}
    ok = fetch_slice(row, "dicom/ok.dcm", store.pull, SETTINGS)
    assert (ok["status"], ok["patient_id"], ok["slice_thickness"], ok["attempts"]) == ("ok", "p1", 5.5, 1)
    thin = fetch_slice(row, "dicom/thin.dcm", store.pull, SETTINGS)
    assert (thin["status"], thin["reason"]) == ("skipped_thickness", "slice_thickness")
    anon = fetch_slice(row, "dicom/anon.dcm", store.pull, SETTINGS)
    assert (anon["status"], anon["patient_id"]) == ("ok", "csv-patient")  # no PatientID in the header: the CSV's
    nobody = fetch_slice({"patient_id": "", "instance_number": 4}, "dicom/anon.dcm", store.pull, SETTINGS)
    assert (nobody["status"], nobody["reason"]) == ("failed", "missing_patient_id")
    missing = fetch_slice(row, "dicom/absent.dcm", store.pull, SETTINGS)
    assert (missing["status"], missing["reason"], missing["attempts"]) == ("failed", "missing_object", 1)
    escape = fetch_slice(row, "dicom/../../../etc/passwd", store.pull, SETTINGS)
    assert (escape["status"], escape["reason"]) == ("failed", "unsafe_key")
    summary = fetch_summary(pd.DataFrame([ok, thin, anon, nobody, missing, escape]))
    assert summary == {"successful": 2, "skipped_thickness": 1, "failed": 3, "attempted": 6}


def test_remembered_header_facts_give_the_same_decisions_and_follow_changed_files(store):
    _dicom(store, "dicom/ok.dcm", 5.5)
    _dicom(store, "dicom/thin.dcm", 1.25)
    store.path("dicom/bad.dcm").write_bytes(b"DICM but not really")
    row = {"patient_id": "csv-patient", "instance_number": 4}
    rels = ["dicom/ok.dcm", "dicom/thin.dcm", "dicom/bad.dcm"]
    plain = [fetch_slice(row, rel, store.pull, SETTINGS) for rel in rels]
    first = StampedResults(store.local_root(), "dicom_headers", header_facts_name())
    assert [fetch_slice(row, rel, store.pull, SETTINGS, first) for rel in rels] == plain
    assert first.computed == 3
    first.save()
    again = StampedResults(store.local_root(), "dicom_headers", header_facts_name())
    assert [fetch_slice(row, rel, store.pull, SETTINGS, again) for rel in rels] == plain
    assert again.computed == 0  # every header came from the remembered facts
    assert plain[2]["reason"] == "not_dicom" and "dicom/bad.dcm" in plain[2]["detail"]
    _dicom(store, "dicom/thin.dcm", 5.0)  # replaced by a thicker slice: its stamp changes, its header is re-read
    after = StampedResults(store.local_root(), "dicom_headers", header_facts_name())
    changed = fetch_slice(row, "dicom/thin.dcm", store.pull, SETTINGS, after)
    assert (after.computed, changed["status"], changed["slice_thickness"]) == (1, "ok", 5.0)


def test_transient_errors_are_retried_then_recorded(store):
    _dicom(store, "dicom/ok.dcm", 5.0)
    calls = []

    def flaky(rel: str) -> Path:  # a store whose first two requests time out
        calls.append(rel)
        if len(calls) < 3:
            raise ConnectionError("read timeout")
        return store.pull(rel)

    out = fetch_slice({"patient_id": "x"}, "dicom/ok.dcm", flaky, SETTINGS)
    assert (out["status"], out["attempts"]) == ("ok", 3)
    calls.clear()
    down = fetch_slice(
        {"patient_id": "x"}, "dicom/ok.dcm", lambda rel: (_ for _ in ()).throw(ConnectionError("refused")), SETTINGS
    )
    assert (down["status"], down["reason"], down["attempts"]) == ("failed", "download_failed", 3) and "refused" in down[
        "detail"
    ]
