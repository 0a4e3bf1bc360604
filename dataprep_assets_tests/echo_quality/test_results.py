"""Inference outputs come in several shapes and with every kind of mistake: each format must parse into
the same rows, every bad file or row must become a reject with a reason, and machine names must
collapse to one spelling."""

import json

import pytest

from dataprep_assets.defs.echo_quality.machines import UNKNOWN_MACHINE, normalize_machine
from dataprep_assets.defs.echo_quality.results import ResultFile, parse_result_files, parse_score


def rf(key: str, payload) -> ResultFile:
    return ResultFile(key, payload if isinstance(payload, bytes) else json.dumps(payload).encode())


ENTRY = {"score": 0.97, "status": "PASS", "assessment": "Excellent quality", "path": "raw_data/EPIQ7-0001/A.dcm"}


def test_every_format_gives_the_same_row():
    per_folder = rf("EPIQ7-0001/inference_results.json", {"A.dcm": ENTRY})
    summary = rf(
        "summary.json",
        {
            "folder_results": [
                {"folder": "EPIQ7-0001", "results": {"A.dcm": ENTRY}},
                {"folder": "X-1", "status": "failed"},
            ]
        },
    )
    one_folder = rf("run/x.json", {"folder": "EPIQ7-0001", "results": {"A.dcm": ENTRY}})
    records = rf("records.json", [{"folder": "EPIQ7-0001", "file_id": "A.dcm", **ENTRY}])
    csv = ResultFile(
        "batch.csv",
        b"Folder,Filename,Score,Status,Assessment,Path\n"
        b"EPIQ7-0001,A.dcm,0.97,pass,Excellent quality,raw_data/EPIQ7-0001/A.dcm\n",
    )
    for files in ([per_folder], [summary], [one_folder], [records], [csv], [per_folder, summary, csv]):
        frame, rejects = parse_result_files(files)
        assert len(rejects) == 0, rejects.to_frame()
        assert frame[["folder", "file_id", "score", "status", "assessment"]].values.tolist() == [
            ["EPIQ7-0001", "A.dcm", 0.97, "PASS", "Excellent quality"]
        ]


def test_bad_rows_and_files_become_rejects_with_reasons():
    files = [
        rf(
            "F-1/inference_results.json",
            {
                "a": {**ENTRY, "score": "high"},
                "b": {**ENTRY, "score": 1.7},
                "c": {**ENTRY, "score": -0.1},
                "d": {**ENTRY, "score": None},
                "e": {**ENTRY, "score": float("nan")},
                "f": {**ENTRY, "status": "maybe"},
                "g": ["list"],
                "h": {**ENTRY, "score": True},
                "ok": ENTRY,
            },
        ),  # fmt: skip
        rf("F-2/inference_results.json", b'{"a": {"score": 0.9'),
        rf("F-3/weird.json", {"version": 2}),
        rf("F-3/numbers.json", [1, 2]),
        ResultFile("bad.csv", b"folder,comment\nx,y\n"),
        ResultFile("binary.csv", b"\xff\xfe\x00garbage"),
        rf(
            "F-4/failed_files/F-4_failed_files.json",
            {"folder": "F-4", "failed_files": [{"filename": "z.dcm", "reasons": ["not_dicom"]}]},
        ),
    ]
    frame, rejects = parse_result_files(files)
    assert frame["file_id"].tolist() == ["ok"]
    reasons = rejects.to_frame().set_index("item")["reason"].to_dict()
    assert reasons["F-1/inference_results.json:F-1/a"] == "score_not_a_number"
    assert reasons["F-1/inference_results.json:F-1/b"] == "score_out_of_range"
    assert reasons["F-1/inference_results.json:F-1/c"] == "score_out_of_range"
    assert reasons["F-1/inference_results.json:F-1/d"] == "score_not_a_number"
    assert reasons["F-1/inference_results.json:F-1/e"] == "score_not_a_number"
    assert reasons["F-1/inference_results.json:F-1/f"] == "unknown_status"
    assert reasons["F-1/inference_results.json:F-1/g"] == "malformed_entry"
    assert reasons["F-1/inference_results.json:F-1/h"] == "score_not_a_number"
    assert reasons["F-2/inference_results.json"] == "malformed_json"
    assert reasons["F-3/weird.json"] == "unrecognised_format"
    assert reasons["bad.csv"] == "missing_columns"
    assert reasons["F-4/z.dcm"] == "inference_failed"
    assert sum(r == "malformed_entry" for r in reasons.values()) == 3  # g + the two numbers in the list
    assert reasons["binary.csv"] == "malformed_csv"
    assert len(rejects) == 15


def test_conflicting_sources_are_rejected_identical_ones_collapse():
    a = rf("F-1/inference_results.json", {"x": ENTRY, "y": ENTRY})
    b = rf(
        "summary.json",
        {
            "folder_results": [
                {"folder": "F-1", "results": {"x": ENTRY, "y": {**ENTRY, "score": 0.02, "status": "FAIL"}}}
            ]
        },
    )
    frame, rejects = parse_result_files([a, b])
    assert frame["file_id"].tolist() == ["x"]
    (reject,) = rejects
    assert (
        reject.reason == "conflicting_results"
        and "summary.json" in reject.detail
        and "inference_results.json" in reject.detail
    )


def test_folder_and_path_fallbacks():
    frame, _ = parse_result_files(
        [rf("top.json", [{"file_id": "v.dcm", **ENTRY, "path": "/host/raw/VIVIDE95-9/v.dcm"}])]
    )
    assert frame["folder"].tolist() == ["VIVIDE95-9"]
    frame, _ = parse_result_files(
        [rf("EPIQ7-0002/inference_results.json", {"v": {"score": "0.5", "status": " fail ", "assessment": None}})]
    )
    assert frame[["folder", "score", "status", "assessment"]].values.tolist() == [["EPIQ7-0002", 0.5, "FAIL", ""]]


@pytest.mark.parametrize("value, expected", [(0, 0.0), ("1", 1.0), (" 0.25 ", 0.25), ("1e-2", 0.01)])
def test_parse_score_accepts_numbers_and_numeric_text(value, expected):
    assert parse_score(value) == (expected, "")


@pytest.mark.parametrize(
    "explicit, folder, model, expected",
    [
        ("", "VIVIDE95-0001", "Vivid E95", "vivide95"),
        ("Vivid E95", "whatever", "", "vivide95"),
        ("GE Vivid S60", "", "", "vivids60"),
        ("", "Affiniti 70G-3", "", "affiniti70g"),
        ("", "export", "EPIQ 7C", "epiq7c"),
        ("", "export", "", UNKNOWN_MACHINE),
    ],
)
def test_machine_names_normalise(explicit, folder, model, expected):
    assert normalize_machine(explicit, folder, model) == expected


def test_machine_aliases_map_spellings_together():
    assert normalize_machine("", "export", "EPIQ 7C", aliases={"EPIQ 7C": "Epiq7"}) == "epiq7"
