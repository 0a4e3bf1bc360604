"""Results name videos by paths from another machine: resolution must find them under the DICOM
directory without ever leaving it; headers, copies and thumbnails must work on real multi-frame
ultrasound (pydicom's JPEG SonoSite clip) and refuse files that are not DICOM."""

import shutil

import numpy as np
from pydicom import examples

from dataprep_assets.defs.echo_quality.dicoms import (
    copy_and_verify,
    first_frame_gray,
    header_record,
    resolve_dicom,
    verify_dicom,
)
from dataprep_assets.sample_data.echo_quality import echo_video, write_echo_dicom


def test_resolution_uses_the_longest_existing_tail_and_never_escapes(tmp_path):
    root = tmp_path / "raw_data"
    (root / "EPIQ7-0001").mkdir(parents=True)
    (root / "EPIQ7-0001" / "A1").write_bytes(b"x")
    (tmp_path / "secret.dcm").write_bytes(b"x")
    found = root / "EPIQ7-0001" / "A1"
    assert resolve_dicom(root, "EPIQ7-0001", "A1", "/mnt/other-host/raw_data/EPIQ7-0001/A1") == found
    assert resolve_dicom(root, "EPIQ7-0001", "A1", "s3://bucket/raw_data/EPIQ7-0001/A1") == found
    assert resolve_dicom(root, "EPIQ7-0001", "A1", "C:\\exports\\EPIQ7-0001\\A1") == found
    assert resolve_dicom(root, "EPIQ7-0001", "A1", "") == found
    assert resolve_dicom(root, "EPIQ7-0001", "missing", "") is None
    assert resolve_dicom(root, "..", "secret.dcm", "../secret.dcm") is None
    assert resolve_dicom(root, "EPIQ7-0001", "../../secret.dcm", "") is None


def test_real_ultrasound_clip_header_copy_and_thumbnail(tmp_path):
    source = tmp_path / "clip.dcm"
    shutil.copyfile(examples.get_path("ybr_color"), source)
    header = header_record(str(source))
    assert header["frames"] == 30 and header["modality"] == "US" and header["model"] == "Turbo"
    assert header["transfer_syntax"] == "1.2.840.10008.1.2.4.50"
    assert copy_and_verify([(str(source), str(tmp_path / "copy.dcm"), True)]) == [""]
    thumb = first_frame_gray(tmp_path / "copy.dcm", size=64)
    assert thumb.shape == (64, 64) and thumb.dtype == np.uint8 and thumb.max() > 100


def test_non_dicom_and_truncated_files_are_refused(tmp_path):
    text = tmp_path / "report.dcm"
    text.write_text("LV EF 55%")
    assert header_record(str(text))["error"] == "not_dicom"
    video = echo_video(np.random.default_rng(0), 3, 32, 40, 0.9, False)
    clip = write_echo_dicom(
        tmp_path / "ok.dcm",
        video,
        manufacturer="GE",
        model="Vivid E95",
        patient_id="P",
        study_uid="1.2.3",
        sop_uid="1.2.3.4",
    )
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(clip.read_bytes()[:-500])
    assert verify_dicom(clip) == ""
    assert verify_dicom(truncated) != ""
    errors = copy_and_verify(
        [
            (str(truncated), str(tmp_path / "t_copy.dcm"), True),
            (str(tmp_path / "gone.dcm"), str(tmp_path / "g.dcm"), True),
        ]
    )
    assert errors[0] and errors[1].startswith("copy failed")
    assert not (tmp_path / "t_copy.dcm").exists(), "a copy that fails verification is removed"


def test_indexed_resolution_agrees_with_the_disk(tmp_path):
    from dataprep_assets.defs.echo_quality.dicoms import index_files

    root = tmp_path / "raw_data"
    (root / "F-1" / "sub").mkdir(parents=True)
    (root / "F-1" / "sub" / "v.dcm").write_bytes(b"x")
    (root / "F-1" / "w").write_bytes(b"x")
    existing = index_files(root)
    assert existing == {"F-1/sub/v.dcm", "F-1/w"}
    for folder, file_id, path in [
        ("F-1", "sub/v.dcm", ""),
        ("F-1", "w", "/elsewhere/F-1/w"),
        ("F-1", "nope", ""),
        ("F-1", "/etc/passwd", ""),
    ]:
        assert resolve_dicom(root, folder, file_id, path, existing) == resolve_dicom(root, folder, file_id, path)
    assert resolve_dicom(root, "F-1", "sub/v.dcm", "", existing) == root / "F-1" / "sub" / "v.dcm"


def test_header_rejects_use_the_shared_reasons(tmp_path):
    """echo's inventory reads headers with lib.dicom: the same reason as ct_hemorrhage for the same failure."""
    source = tmp_path / "clip.dcm"
    shutil.copyfile(examples.get_path("ybr_color"), source)
    data = source.read_bytes()
    at = data.index(b"\x28\x00\x08\x00IS")  # NumberOfFrames: its two value bytes made letters
    bad = tmp_path / "bad_frames.dcm"
    bad.write_bytes(data[: at + 8] + b"xx" + data[at + 10 :])
    for path in (bad, tmp_path / "gone.dcm"):
        header = header_record(str(path))
        assert header["error"] == "corrupt_dicom" and str(path) not in header["detail"]
