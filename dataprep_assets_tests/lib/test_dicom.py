"""DICOM -> 8-bit: the PS3.3 C.11.2.1.2.1 linear window exactly, the lookup-table fast path equal to the
direct formula, MONOCHROME1, multi-valued window tags, and real CT slices that no one here wrote
(pydicom's CT_small.dcm, pydicom-data's CQ500 head CT in raw and JPEG 2000 form), plus every way a
file can be unusable, each with its own reason."""

import math
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.pixels import apply_modality_lut, apply_windowing  # pyright: ignore[reportPrivateImportUsage]  # a public pydicom API its stubs do not export

from dataprep_assets.lib.dicom import (
    DicomError,
    linear_window,
    load_slice_uint8,
    read_header,
    thickness_matches,
    to_uint8,
)
from dataprep_assets.sample_data.ct_hemorrhage import render_slice_hu, write_dicom
from dataprep_assets_tests.ct_hemorrhage.conftest import real_dicom


def _standard(x: float, c: float, w: float) -> float:
    """PS3.3 C.11.2.1.2.1, written out as the standard states it (ymin=0, ymax=255)."""
    if x <= c - 0.5 - (w - 1) / 2:
        return 0.0
    if x > c - 0.5 + (w - 1) / 2:
        return 255.0
    return ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0


@pytest.mark.parametrize("center, width", [(40, 80), (40, 100), (-600, 1500), (35.5, 2.0), (0, 4096)])
def test_linear_window_is_the_standard_piecewise_function(center, width):
    x = np.concatenate(
        [
            np.linspace(center - width, center + width, 2001),
            [center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2],
        ]
    )
    expected = np.array([math.floor(_standard(v, center, width) + 0.5) for v in x])
    got = linear_window(x, center, width).astype(int)
    assert np.abs(got - expected).max() <= 1  # rint (half to even) vs half up
    assert got[x <= center - 0.5 - (width - 1) / 2].max(initial=0) == 0
    assert got[x > center - 0.5 + (width - 1) / 2].min(initial=255) == 255


def test_width_one_is_a_threshold_and_below_one_is_refused():
    assert linear_window(np.array([39.4, 39.5, 39.6]), 40, 1).tolist() == [0, 0, 255]
    with pytest.raises(ValueError, match="width"):
        linear_window(np.array([1.0]), 40, 0.5)


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint8])
def test_lookup_table_path_equals_the_direct_formula(dtype):
    info = np.iinfo(dtype)
    pixels = np.random.default_rng(0).integers(info.min, info.max, size=(64, 64), endpoint=True).astype(dtype)
    for slope, intercept, c, w in [(1.0, -1024.0, 40, 80), (2.5, -3000.0, 300, 1500), (0.5, 0.0, 100, 10)]:
        direct = linear_window(pixels.astype(np.float64) * slope + intercept, c, w)
        assert np.array_equal(to_uint8(pixels, slope, intercept, c, w, False), direct)
        assert np.array_equal(to_uint8(pixels, slope, intercept, c, w, True), 255 - direct)


def test_float_pixels_take_the_direct_path():
    pixels = np.array([[-1000.0, 0.0, 40.0, 80.0, 3000.0]])
    assert to_uint8(pixels, 1.0, 0.0, 40, 80, False).tolist() == [
        [0, 0, 129, 255, 255]
    ]  # (40 - 39.5) / 79 + 0.5 -> 129.1


def test_real_cq500_head_ct_raw_and_jpeg2000_give_identical_pngs():
    raw = load_slice_uint8(real_dicom("693_UNCR.dcm"))
    j2k = load_slice_uint8(real_dicom("693_J2KR.dcm"))
    assert raw.header.transfer_syntax == pydicom.uid.ExplicitVRLittleEndian
    assert j2k.header.transfer_syntax == pydicom.uid.JPEG2000Lossless
    assert raw.image.shape == (512, 512) and raw.image.dtype == np.uint8
    assert (raw.center, raw.width, raw.window_source) == (40.0, 100.0, "header")
    assert np.array_equal(raw.image, j2k.image)
    assert 0.3 < (raw.image == 0).mean() < 0.9  # air outside the head is black


def test_agrees_with_pydicoms_own_windowing_on_a_real_slice():
    path = real_dicom("693_UNCR.dcm")
    ds = pydicom.dcmread(path)
    theirs = apply_windowing(apply_modality_lut(ds.pixel_array, ds), ds).astype(np.float64)
    theirs = np.rint((theirs - theirs.min()) / (theirs.max() - theirs.min()) * 255)
    ours = load_slice_uint8(path).image.astype(np.float64)
    assert np.abs(ours - theirs).max() <= 1


def test_multi_valued_window_tags_pick_the_requested_pair():
    path = real_dicom("bad_sequence.dcm")  # WindowCenter [40, 450], WindowWidth [350, 1500], JPEG Lossless
    first, second = read_header(path, 0), read_header(path, 1)
    assert (first.window_center, first.window_width) == (40.0, 350.0)
    assert (second.window_center, second.window_width) == (450.0, 1500.0)
    assert read_header(path, 7).window_center == 450.0  # past the end: the last pair
    converted = load_slice_uint8(path, window_index=1)
    assert (converted.center, converted.width) == (450.0, 1500.0) and converted.image.shape == (512, 512)


def test_ct_small_without_window_tags_uses_the_configured_brain_window():
    path = real_dicom("CT_small.dcm")
    header = read_header(path)
    assert header.slice_thickness == 5.0 and header.patient_id == "1CT1" and header.has_pixel_data
    converted = load_slice_uint8(path, 40, 80)
    assert converted.window_source == "config" and converted.image.shape == (128, 128)
    ds = pydicom.dcmread(path)
    expected = linear_window(ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept), 40, 80)
    assert np.array_equal(converted.image, expected)
    assert not np.array_equal(
        load_slice_uint8(path, 40, 80, use_header_window=False).image, load_slice_uint8(path, 400, 2000).image
    )


def test_monochrome1_slice_is_inverted(tmp_path: Path):
    path = tmp_path / "m1.dcm"
    hu = render_slice_hu(np.random.default_rng(1), 0.5)
    write_dicom(
        path,
        hu,
        patient_id="p1",
        study_uid="1.2.3",
        series_uid="1.2.3.4",
        sop_uid="1.2.3.4.5",
        instance=3,
        thickness=5.0,
    )
    normal = load_slice_uint8(path).image
    ds = pydicom.dcmread(path)
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.save_as(path)
    assert np.array_equal(load_slice_uint8(path).image, 255 - normal)


def test_thickness_matching():
    assert thickness_matches(5.0, (5.0, 5.5)) and thickness_matches(5.5004, (5.0, 5.5))
    assert not thickness_matches(2.5, (5.0, 5.5)) and not thickness_matches(None, (5.0,))


def _unsupported_syntax(tmp_path: Path) -> Path:
    path = tmp_path / "mpeg.dcm"
    write_dicom(
        path,
        render_slice_hu(np.random.default_rng(2), 0.5),
        patient_id="p",
        study_uid="1.2.3",
        series_uid="1.2.4",
        sop_uid="1.2.5",
        instance=1,
        thickness=5.0,
    )
    ds = pydicom.dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.92"  # JPEG 2000 Part 2 multi-component: no decoder anywhere
    ds.PixelData = encapsulate([bytes(1000)])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_every_unusable_file_has_its_own_reason(tmp_path: Path):
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(real_dicom("CT_small.dcm").read_bytes()[:20000])
    garbage = tmp_path / "garbage.dcm"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(500))
    cases = {
        garbage: "not_dicom",
        real_dicom("OT-PAL-8-face.dcm"): "not_dicom",  # no preamble / meta header
        truncated: "truncated_pixel_data",
        real_dicom("emri_small_jpeg_2k_lossless_too_short.dcm"): "missing_pixel_data",
        real_dicom("SC_rgb.dcm"): "not_grayscale",
        _unsupported_syntax(tmp_path): "no_decoder",
    }
    for path, reason in cases.items():
        with pytest.raises(DicomError) as info:
            load_slice_uint8(path)
        assert info.value.reason == reason, (path.name, info.value)
        assert path.name in str(info.value)


def test_header_read_sees_missing_pixel_data_without_decoding(tmp_path: Path):
    path = tmp_path / "nopix.dcm"
    write_dicom(
        path,
        render_slice_hu(np.random.default_rng(3), 0.5),
        patient_id=None,
        study_uid="1.2.3",
        series_uid="1.2.4",
        sop_uid="1.2.5",
        instance=1,
        thickness=5.5,
        pixels=False,
    )
    header = read_header(path)
    assert not header.has_pixel_data and header.patient_id == "" and header.slice_thickness == 5.5


def test_direct_read_of_uncompressed_pixels_equals_pydicom(tmp_path: Path):
    from dataprep_assets.lib.dicom import stored_pixels

    for name in ("693_UNCR.dcm", "CT_small.dcm", "bad_sequence.dcm"):  # signed 14 of 16 bits, signed 16, JPEG Lossless
        ds = pydicom.dcmread(real_dicom(name))
        assert np.array_equal(stored_pixels(ds), ds.pixel_array), name
    # 12 bits stored in 16 with garbage in the unused high bits, signed and unsigned
    path = tmp_path / "twelve.dcm"
    write_dicom(
        path,
        render_slice_hu(np.random.default_rng(4), 0.5),
        patient_id="p",
        study_uid="1.2",
        series_uid="1.2.3",
        sop_uid="1.2.3.4",
        instance=1,
        thickness=5.0,
    )
    raw = np.random.default_rng(5).integers(0, 65536, size=(512, 512), dtype=np.uint16)
    for representation in (0, 1):
        ds = pydicom.dcmread(path)
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, representation
        ds.PixelData = raw.tobytes()
        ds.save_as(path)
        ds = pydicom.dcmread(path)
        assert np.array_equal(stored_pixels(ds), ds.pixel_array), representation


@pytest.mark.parametrize(
    "name, direct",
    [
        ("CT_small.dcm", True),  # explicit VR, signed 16 bits
        ("693_UNCR.dcm", True),  # signed, 14 of 16 bits stored
        ("MR_small_implicit.dcm", True),  # implicit VR little endian
        ("MR_small_padded.dcm", True),
        ("MR_small_bigendian.dcm", False),  # big endian: pydicom's decoders
        ("bad_sequence.dcm", False),  # JPEG Lossless
        ("emri_small.dcm", False),  # multi-frame
        ("MR_truncated.dcm", False),  # pixel data shorter than the image
    ],
)
def test_slice_read_from_the_file_equals_the_general_read(name: str, direct: bool):
    from dataprep_assets.lib.dicom import _read_native_slice

    path = real_dicom(name)
    native = _read_native_slice(path, name)
    assert (native is not None) == direct
    ds = pydicom.dcmread(path)
    if native is not None:
        assert "PixelData" not in native[0] and np.array_equal(native[1], ds.pixel_array)
    try:
        pixels = ds.pixel_array
    except Exception:
        with pytest.raises(DicomError):
            load_slice_uint8(path, name=name)
        return
    pixels = pixels[0] if pixels.ndim == 3 else pixels
    slope, intercept = float(ds.get("RescaleSlope") or 1.0), float(ds.get("RescaleIntercept") or 0.0)
    expected = to_uint8(pixels, slope, intercept, 40.0, 80.0, False)
    assert np.array_equal(load_slice_uint8(path, 40.0, 80.0, use_header_window=False).image, expected)
