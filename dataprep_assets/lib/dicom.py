"""DICOM building blocks: header-only reads, slice thickness, rescale + VOI window to 8-bit, new datasets.

One reader of headers for every pipeline, one set of reject reasons: `not_dicom` (no DICOM preamble or meta
header), `corrupt_dicom` (the file cannot be opened or parsed, or its frame/size tags are not numbers).

The window is the linear VOI LUT function of DICOM PS3.3 C.11.2.1.2.1, mapped to 0-255:

    x <= c - 0.5 - (w - 1) / 2  ->  0
    x >  c - 0.5 + (w - 1) / 2  ->  255
    else                        ->  ((x - (c - 0.5)) / (w - 1) + 0.5) * 255

applied to the modality values `x = stored * slope + intercept` (C.11.1). MONOCHROME1 is inverted
after windowing. Window tags may hold several values (VM > 1): one index picks the pair.

For 8/16-bit stored pixels the whole chain (rescale, window, inversion) is folded into one lookup
table over every possible stored value, so converting a slice is a single gather.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import ExplicitVRLittleEndian


class DicomError(ValueError):
    """A DICOM file that cannot be used, with a short stable `reason` code for the rejects table; `detail` is
    the message without the file's name (for callers that name the file their own way)."""

    def __init__(self, reason: str, message: str, detail: str = ""):
        super().__init__(message)
        self.reason = reason
        self.detail = detail or message


@dataclass(frozen=True)
class DicomHeader:
    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str
    instance_number: int | None
    modality: str
    slice_thickness: float | None
    rows: int
    columns: int
    photometric: str
    slope: float
    intercept: float
    window_center: float | None
    window_width: float | None
    transfer_syntax: str
    has_pixel_data: bool
    frames: int = 1
    manufacturer: str = ""
    model: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _first(value, index: int = 0) -> float | None:
    """One value of a possibly multi-valued numeric tag (`index` clamped to the values present)."""
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):  # pyright: ignore[reportAttributeAccessIssue]  # a public pydicom API its stubs do not export
        if len(value) == 0:
            return None
        value = value[min(index, len(value) - 1)]
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _text(ds: pydicom.Dataset, keyword: str) -> str:
    """A text tag as one string: '' when absent, several values joined by DICOM's `\\`."""
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):  # pyright: ignore[reportAttributeAccessIssue]  # a public pydicom API its stubs do not export
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def header_from_dataset(
    ds: pydicom.Dataset, window_index: int = 0, has_pixel_data: bool | None = None, name: str = "DICOM"
) -> DicomHeader:
    """The header fields of a read dataset; `DicomError("corrupt_dicom")` when a frame/size tag is no number."""
    try:
        return _header(ds, window_index, has_pixel_data)
    except (TypeError, ValueError) as exc:
        detail = f"bad frame/size tags: {exc}"
        raise DicomError("corrupt_dicom", f"{name}: {detail}", detail) from exc


def _header(ds: pydicom.Dataset, window_index: int, has_pixel_data: bool | None) -> DicomHeader:
    meta = getattr(ds, "file_meta", None)
    instance = _first(ds.get("InstanceNumber"))
    return DicomHeader(
        patient_id=_text(ds, "PatientID"),
        study_uid=_text(ds, "StudyInstanceUID"),
        series_uid=_text(ds, "SeriesInstanceUID"),
        sop_uid=_text(ds, "SOPInstanceUID"),
        instance_number=None if instance is None else int(instance),
        modality=_text(ds, "Modality"),
        slice_thickness=_first(ds.get("SliceThickness")),
        rows=int(ds.get("Rows") or 0),
        columns=int(ds.get("Columns") or 0),
        photometric=_text(ds, "PhotometricInterpretation") or "MONOCHROME2",
        slope=_first(ds.get("RescaleSlope")) or 1.0,
        intercept=_first(ds.get("RescaleIntercept")) or 0.0,
        window_center=_first(ds.get("WindowCenter"), window_index),
        window_width=_first(ds.get("WindowWidth"), window_index),
        transfer_syntax=str(getattr(meta, "TransferSyntaxUID", "")) if meta is not None else "",
        has_pixel_data=("PixelData" in ds) if has_pixel_data is None else has_pixel_data,
        frames=int(ds.get("NumberOfFrames") or 1),
        manufacturer=_text(ds, "Manufacturer"),
        model=_text(ds, "ManufacturerModelName"),
    )


def _dcmread(source, name: str, **kwargs) -> pydicom.Dataset:
    try:
        return pydicom.dcmread(source, **kwargs)
    except InvalidDicomError as exc:
        detail = f"not a DICOM file ({exc})"
        raise DicomError("not_dicom", f"{name}: {detail}", detail) from exc
    except Exception as exc:  # truncated or malformed files raise many different errors
        detail = f"unreadable DICOM ({type(exc).__name__}: {exc})"
        raise DicomError("corrupt_dicom", f"{name}: {detail}", detail) from exc


def read_header(path: str | os.PathLike, window_index: int = 0, name: str | None = None) -> DicomHeader:
    """Read the header only (stops before the pixel data), so thickness filtering costs no decode.

    `name` is how errors refer to the file (e.g. its store path), default the local path. Raises `DicomError`
    (`not_dicom`, `corrupt_dicom`) for a file that cannot be used."""
    name = name or os.fspath(path)
    try:
        with open(path, "rb") as fh:
            ds = _dcmread(fh, name, stop_before_pixels=True)
            header_end, size = fh.tell(), os.fstat(fh.fileno()).st_size
    except OSError as exc:  # missing or unreadable (parse errors are DicomError already); no local path in detail
        detail = f"unreadable DICOM ({type(exc).__name__}: {exc.strerror})"
        raise DicomError("corrupt_dicom", f"{name}: {detail}", detail) from exc
    # Reading stopped at the pixel data element: bytes left over mean the file has pixel data.
    return header_from_dataset(ds, window_index, has_pixel_data=size > header_end, name=name)


def thickness_matches(thickness: float | None, allowed: tuple[float, ...], tolerance: float = 0.01) -> bool:
    return thickness is not None and any(abs(thickness - a) <= tolerance for a in allowed)


def window_params(header: DicomHeader, center: float, width: float, use_header: bool) -> tuple[float, float, str]:
    """(center, width, where it came from): the header's window when asked and present, else the given one."""
    if use_header and header.window_center is not None and header.window_width is not None and header.window_width >= 1:
        return header.window_center, header.window_width, "header"
    return center, width, "config"


def linear_window(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 linear VOI function on modality values, to uint8 0-255."""
    if width < 1:
        raise ValueError(f"window width must be >= 1, got {width}")
    x = np.asarray(values, dtype=np.float64)
    if width == 1:  # the standard's formula divides by w - 1: a threshold at c - 0.5
        return np.where(x <= center - 0.5, 0, 255).astype(np.uint8)
    y = (x - (center - 0.5)) / (width - 1) + 0.5
    return np.rint(np.clip(y, 0.0, 1.0) * 255.0).astype(np.uint8)


_UNSIGNED = {1: np.uint8, 2: np.uint16}


@lru_cache(maxsize=64)
def _lut(dtype: str, slope: float, intercept: float, center: float, width: float, invert: bool) -> np.ndarray:
    """uint8 output for every bit pattern of `dtype`, indexed by the pattern read as unsigned."""
    kind = np.dtype(dtype)
    stored = np.arange(2 ** (8 * kind.itemsize), dtype=_UNSIGNED[kind.itemsize]).view(kind.newbyteorder("="))
    lut = linear_window(stored.astype(np.float64) * slope + intercept, center, width)
    return 255 - lut if invert else lut


def to_uint8(
    pixels: np.ndarray, slope: float, intercept: float, center: float, width: float, monochrome1: bool
) -> np.ndarray:
    """Rescale + window + (MONOCHROME1) inversion of stored pixels, as uint8."""
    if pixels.dtype.kind in "iu" and pixels.dtype.itemsize in _UNSIGNED:
        lut = _lut(
            pixels.dtype.newbyteorder("=").str,
            float(slope),
            float(intercept),
            float(center),
            float(width),
            bool(monochrome1),
        )
        native = pixels.astype(pixels.dtype.newbyteorder("="), copy=False)
        return np.take(lut, native.view(_UNSIGNED[pixels.dtype.itemsize]))
    out = linear_window(pixels.astype(np.float64) * slope + intercept, center, width)
    return 255 - out if monochrome1 else out


_NATIVE = {pydicom.uid.ExplicitVRLittleEndian, pydicom.uid.ImplicitVRLittleEndian}  # pyright: ignore[reportAttributeAccessIssue]  # a public pydicom API its stubs do not export


def _native_layout(ds: pydicom.Dataset) -> tuple[np.dtype, int, int, int] | None:
    """(little-endian dtype, rows, columns, BitsStored) of a single-frame 8/16-bit slice in an uncompressed
    little-endian syntax, whose stored values are its raw bytes; None for anything pydicom must decode."""
    meta = getattr(ds, "file_meta", None)
    if meta is None or meta.get("TransferSyntaxUID") not in _NATIVE:
        return None
    rows, cols, alloc = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0), int(ds.get("BitsAllocated") or 0)
    if alloc not in (8, 16) or int(ds.get("NumberOfFrames") or 1) != 1:
        return None
    signed = int(ds.get("PixelRepresentation") or 0) == 1
    kind = np.dtype(("<i" if signed else "<u") + str(alloc // 8))
    return kind, rows, cols, int(ds.get("BitsStored") or alloc)


def _masked(pixels: np.ndarray, bits: int) -> np.ndarray:
    """Stored values of `bits` significant bits (PS3.5 8.1.1): high bits cleared, or sign-extended if signed."""
    alloc = pixels.dtype.itemsize * 8
    if bits >= alloc:
        return pixels
    shift = alloc - bits
    return (pixels << shift) >> shift if pixels.dtype.kind == "i" else pixels & ((1 << bits) - 1)


def stored_pixels(ds: pydicom.Dataset) -> np.ndarray:
    """The stored values of a single-frame slice. Uncompressed little-endian 8/16-bit data is read
    straight from the element (no copy) with BitsStored masking / sign extension as PS3.5 8.1.1
    defines it; anything else goes through pydicom's decoders."""
    layout, data = _native_layout(ds), ds.get("PixelData")
    if layout is not None and isinstance(data, bytes):
        kind, rows, cols, bits = layout
        if len(data) >= rows * cols * kind.itemsize:
            return _masked(np.frombuffer(data, dtype=kind, count=rows * cols).reshape(rows, cols), bits)
    return ds.pixel_array


_PIXEL_DATA_TAG = b"\xe0\x7f\x10\x00"  # (7FE0,0010) little endian


def _read_native_slice(path: str | os.PathLike, name: str) -> tuple[pydicom.Dataset, np.ndarray] | None:
    """The header and stored pixels of an uncompressed single-frame slice, read without pydicom's pixel
    handling: the header is parsed up to the PixelData element (`stop_before_pixels`), and the pixel bytes
    are read from the file straight into the array. None when anything is unusual (unreadable or non-native
    file, another element layout, short pixel data): the caller then reads the file the general way, which
    also gives every reject its usual reason."""
    try:
        with open(path, "rb") as fh:
            ds = _dcmread(fh, name, stop_before_pixels=True)
            layout = _native_layout(ds)
            if layout is None:
                return None
            kind, rows, cols, bits = layout
            implicit = ds.file_meta.TransferSyntaxUID == pydicom.uid.ImplicitVRLittleEndian  # pyright: ignore[reportAttributeAccessIssue]  # a public pydicom API its stubs do not export
            element = fh.read(8 if implicit else 12)
            if implicit:
                ok = len(element) == 8 and element[:4] == _PIXEL_DATA_TAG
            else:
                ok = len(element) == 12 and element[:4] == _PIXEL_DATA_TAG and element[4:6] in (b"OB", b"OW")
            length = int.from_bytes(element[-4:], "little") if ok else 0
            if not ok or length == 0xFFFFFFFF or length < rows * cols * kind.itemsize:
                return None
            pixels = np.empty((rows, cols), dtype=kind)
            if fh.readinto(pixels.data.cast("B")) != pixels.nbytes:
                return None
    except (OSError, DicomError, TypeError, ValueError):  # the general read reports these with their reasons
        return None
    return ds, _masked(pixels, bits)


def _require_decoder(ds: pydicom.Dataset, name: str) -> None:
    """Raise `DicomError("no_decoder")` naming the syntax and what to install when pixels cannot be decoded."""
    from pydicom.pixels import get_decoder  # pyright: ignore[reportPrivateImportUsage]  # a public pydicom API its stubs do not export

    syntax = ds.file_meta.TransferSyntaxUID
    if not syntax.is_compressed:
        return
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        raise DicomError("no_decoder", f"{name}: no pixel data decoder exists for {syntax.name} ({syntax})") from None
    if not decoder.is_available:
        missing = "; ".join(getattr(decoder, "missing_dependencies", [])) or "the pylibjpeg plugins"
        raise DicomError(
            "no_decoder", f"{name}: no installed decoder for {syntax.name} ({syntax}); install one of: {missing}"
        )


@dataclass(frozen=True)
class Slice8:
    image: np.ndarray
    header: DicomHeader
    center: float
    width: float
    window_source: str


def load_slice_uint8(
    path: str | os.PathLike,
    center: float = 40.0,
    width: float = 80.0,
    use_header_window: bool = True,
    window_index: int = 0,
    name: str | None = None,
) -> Slice8:
    """Decode one single-frame grayscale slice and window it to uint8, or raise `DicomError` (`name`
    is how errors refer to the file, default the local path)."""
    name = name or os.fspath(path)
    native = _read_native_slice(path, name)
    if native is not None:
        ds, pixels = native
        header = header_from_dataset(ds, window_index, has_pixel_data=True, name=name)
        _require_grayscale(ds, header, name)
    else:
        ds = _dcmread(path, name)
        header = header_from_dataset(ds, window_index, name=name)
        if "PixelData" not in ds:
            raise DicomError("missing_pixel_data", f"{name}: no PixelData element")
        _require_grayscale(ds, header, name)
        pixels = _decoded_pixels(ds, header, name)
    c, w, source = window_params(header, center, width, use_header_window)
    image = to_uint8(pixels, header.slope, header.intercept, c, w, header.photometric == "MONOCHROME1")
    return Slice8(image=image, header=header, center=c, width=w, window_source=source)


def _require_grayscale(ds: pydicom.Dataset, header: DicomHeader, name: str) -> None:
    if int(ds.get("SamplesPerPixel") or 1) != 1 or header.photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise DicomError("not_grayscale", f"{name}: photometric {header.photometric!r} is not a grayscale CT slice")


def _decoded_pixels(ds: pydicom.Dataset, header: DicomHeader, name: str) -> np.ndarray:
    """The first frame's stored values through `stored_pixels`, or `DicomError` with the reason it cannot be."""
    _require_decoder(ds, name)
    try:
        pixels = stored_pixels(ds)
    except Exception as exc:
        text = str(exc).lower()
        reason = "truncated_pixel_data" if "less than expected" in text else "bad_pixel_data"
        raise DicomError(
            reason,
            f"{name}: pixel data of transfer syntax {header.transfer_syntax} cannot be decoded ({type(exc).__name__}: "
            f"{exc})",
        ) from exc
    if pixels.ndim == 3:  # a multi-frame object: the first frame is the slice
        pixels = pixels[0]
    if pixels.ndim != 2:
        raise DicomError("bad_pixel_data", f"{name}: unexpected pixel array shape {pixels.shape}")
    return pixels


def new_dataset(sop_class: str, sop_uid: str, study_uid: str, series_uid: str) -> Dataset:
    """An empty DICOM dataset of `sop_class` with its file meta (explicit VR little endian) and its instance,
    study and series UIDs: what a writer of a DICOM file fills in first."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class  # pyright: ignore[reportAttributeAccessIssue]  # a public pydicom API its stubs do not export
    meta.MediaStorageSOPInstanceUID = sop_uid  # pyright: ignore[reportAttributeAccessIssue]  # a public pydicom API its stubs do not export
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, sop_uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    return ds
