"""lib.dicom.read_header: the one DICOM header reader (ct_hemorrhage feedback, echo_quality inventory) and its one
set of reasons: `not_dicom` for a file without DICOM's preamble, `corrupt_dicom` for one that cannot be opened or
parsed or whose frame/size tags are not numbers. Real files: pydicom's ultrasound clip, edited at the byte level."""

import shutil
from pathlib import Path

import pytest
from pydicom import examples

from dataprep_assets.lib.dicom import DicomError, read_header


def clip(tmp_path: Path) -> Path:
    path = tmp_path / "clip.dcm"
    shutil.copyfile(examples.get_path("ybr_color"), path)
    return path


def with_bad_frame_count(source: Path, target: Path) -> Path:
    """The clip with its NumberOfFrames (IS) value bytes replaced by letters, length kept."""
    data = source.read_bytes()
    at = data.index(b"\x28\x00\x08\x00IS")
    length = int.from_bytes(data[at + 6 : at + 8], "little")
    target.write_bytes(data[: at + 8] + b"x" * length + data[at + 8 + length :])
    return target


def test_header_of_a_real_multiframe_clip(tmp_path):
    header = read_header(clip(tmp_path))
    assert (header.frames, header.rows, header.columns) == (30, 240, 320)
    assert (header.modality, header.manufacturer, header.model) == ("US", "SonoSite, Inc.", "Turbo")
    assert header.transfer_syntax == "1.2.840.10008.1.2.4.50" and header.has_pixel_data


def reason_of(path: Path, name: str | None = None) -> DicomError:
    with pytest.raises(DicomError) as info:
        read_header(path, name=name)
    return info.value


def test_every_unusable_file_has_one_reason_and_a_detail_without_the_name(tmp_path):
    text = tmp_path / "report.dcm"
    text.write_text("LV EF 55%")
    cases = {
        text: ("not_dicom", "not a DICOM file"),
        tmp_path / "gone.dcm": ("corrupt_dicom", "FileNotFoundError"),
        with_bad_frame_count(clip(tmp_path), tmp_path / "frames.dcm"): ("corrupt_dicom", "bad frame/size tags"),
    }
    for path, (reason, said) in cases.items():
        error = reason_of(path, name=f"store/{path.name}")
        assert error.reason == reason, (path.name, error)
        assert said in error.detail and path.name not in error.detail
        assert str(error) == f"store/{path.name}: {error.detail}"
