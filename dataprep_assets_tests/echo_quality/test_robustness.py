"""Issue 13 cases for echo_quality: one file id given twice in a results JSON, a BOM, names differing only in
case (`.DCM`), links out of the DICOM folder reported as unsafe paths, store-relative reject details."""

import json
import os

import pandas as pd

from dataprep_assets.defs.echo_quality.dicoms import index_files, resolve_dicom
from dataprep_assets.defs.echo_quality.inventory import attach_dicoms
from dataprep_assets.defs.echo_quality.results import ResultFile, parse_result_files
from dataprep_assets.lib.rejects import RejectLog

ENTRY = {"status": "PASS", "assessment": "ok"}


def test_a_file_id_given_twice_in_one_json_is_rejected_naming_both_not_last_wins():
    text = (
        '{"folder": "F-1", "results": {"a.dcm": {"score": 0.05, "status": "FAIL", "assessment": "poor"},'
        ' "b.dcm": {"score": 0.9, "status": "PASS", "assessment": "ok"},'
        ' "a.dcm": {"score": 0.95, "status": "PASS", "assessment": "good"}}}'
    )
    frame, rejects = parse_result_files([ResultFile("F-1/inference_results.json", text.encode())])
    assert frame["file_id"].tolist() == ["b.dcm"]
    dup = sorted((r.item, r.reason, r.detail) for r in rejects)
    assert [(i, reason) for i, reason, _ in dup] == [
        ("F-1/inference_results.json:F-1/a.dcm#1", "duplicate_key"),
        ("F-1/inference_results.json:F-1/a.dcm#2", "duplicate_key"),
    ]
    assert "0.05" in dup[0][2] and "0.95" in dup[0][2] and "0.05" in dup[1][2] and "0.95" in dup[1][2]


def test_a_field_given_twice_in_one_entry_is_a_reject():
    text = (
        '{"folder": "F-1", "results": {"a.dcm": {"score": 0.05, "score": 0.95, "status": "PASS", "assessment": "x"}}}'
    )
    frame, rejects = parse_result_files([ResultFile("F-1/r.json", text.encode())])
    assert frame.empty and [r.reason for r in rejects] == ["duplicate_key"]


def test_a_bom_is_accepted_in_json_and_csv():
    payload = json.dumps({"folder": "F-1", "results": {"a.dcm": {"score": 0.9, **ENTRY}}}).encode()
    csv = b"folder,file_id,score,status,assessment\nF-1,a.dcm,0.9,PASS,ok\n"
    for f in (ResultFile("F-1/r.json", b"\xef\xbb\xbf" + payload), ResultFile("s.csv", b"\xef\xbb\xbf" + csv)):
        frame, rejects = parse_result_files([f])
        assert frame["file_id"].tolist() == ["a.dcm"] and not len(rejects)


def test_dicom_names_match_case_insensitively_and_links_out_are_unsafe_paths(tmp_path):
    root = tmp_path / "store" / "dicoms"
    (root / "F-1").mkdir(parents=True)
    (root / "F-1" / "A1.DCM").write_bytes(b"x")
    assert resolve_dicom(root, "F-1", "A1.dcm", "", index_files(root)) == root / "F-1" / "A1.DCM"
    secret = tmp_path / "secret.dcm"
    secret.write_bytes(b"x")
    os.symlink(secret, root / "F-1" / "leak.dcm")
    results = pd.DataFrame(
        [
            {
                "folder": "F-1",
                "file_id": "leak.dcm",
                "score": 0.9,
                "status": "PASS",
                "assessment": "ok",
                "path": "",
                "machine_hint": "",
                "source": "r.json",
            }
        ]
    )
    rejects = RejectLog()
    attach_dicoms(results, root, tmp_path / "store", rejects)
    assert [(r.item, r.reason) for r in rejects] == [("F-1/leak.dcm", "unsafe_path")]
    assert str(tmp_path) not in rejects.store_relative(tmp_path / "store").to_frame().to_csv()
