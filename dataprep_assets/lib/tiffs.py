"""Many small TIFFs of one shape, written byte-identical to `tifffile.imwrite` at the cost of one buffer copy.

`tifffile.imwrite` builds the header and IFDs of every file anew (hundreds of microseconds of Python per call);
for thousands of same-shape crops everything but the pixel bytes is the same. `TiffWriter` asks tifffile once
for the file of an array of that shape and dtype, learns where the pixel bytes sit (the pages' strip offsets),
and proves the template on a random array: the spliced bytes must equal tifffile's own output, or it falls back
to `tifffile.imwrite` for every file. Nothing else of the file (tags, description, byte order) is ours.

`write` hands the kernel the template's pieces and the array's own buffer in one `os.writev` (no copy of the
pixels, no Python file object); `dir_fd` opens the name relative to an already-open folder, so writing thousands
of files into one staging folder does not resolve the folder's path once per file.
"""

from __future__ import annotations

import io
import os
import struct

import numpy as np
import tifffile

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


class TiffWriter:
    """Writes arrays of one `shape` and `dtype` as TIFF files, exactly as `tifffile.imwrite(path, a, **options)`."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype | type, **options):
        self.shape, self.dtype, self.options = tuple(shape), np.dtype(dtype), options
        self._template, self._strips = self._learn()
        self._pieces = self._template_pieces()

    def _tifffile_bytes(self, array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        tifffile.imwrite(buffer, array, **self.options)
        return buffer.getvalue()

    def _learn(self) -> tuple[bytes | None, list[tuple[int, int]]]:
        template = self._tifffile_bytes(np.zeros(self.shape, self.dtype))
        with tifffile.TiffFile(io.BytesIO(template)) as tif:
            if tif.byteorder != ("<" if self.dtype.byteorder in "=<|" and np.little_endian else ">"):
                return None, []
            strips = [
                (int(o), int(n))
                for page in tif.pages
                for o, n in zip(page.dataoffsets, page.databytecounts, strict=True)  # pyright: ignore[reportAttributeAccessIssue]  # tifffile types pages as TiffPage | TiffFrame
            ]
        if sum(n for _, n in strips) != int(np.prod(self.shape)) * self.dtype.itemsize:
            return None, []  # compressed or padded strips: not a plain copy of the pixels
        probe = np.random.default_rng(0).integers(0, 256, self.shape, dtype=np.uint8)
        probe = probe.astype(self.dtype) if self.dtype.kind in "iuf" else probe.view(self.dtype)
        spliced = self._splice(template, strips, probe)
        return (template, strips) if spliced == self._tifffile_bytes(probe) else (None, [])

    @staticmethod
    def _splice(template: bytes, strips: list[tuple[int, int]], array: np.ndarray) -> bytes:
        out, data, at = bytearray(template), np.ascontiguousarray(array).data.cast("B"), 0
        for offset, count in strips:
            out[offset : offset + count] = data[at : at + count]
            at += count
        return bytes(out)

    def _template_pieces(self) -> list[tuple[memoryview, int, int]]:
        """(template bytes up to a strip, start and end of that strip in the pixel bytes) per strip in file order,
        then the template's tail with an empty range: the file is the pieces interleaved with those pixel ranges."""
        if self._template is None:
            return []
        starts = np.cumsum([0] + [n for _, n in self._strips[:-1]]).tolist()  # pixel bytes go in strip order
        view, pieces, pos = memoryview(self._template), [], 0
        for (offset, count), start in sorted(zip(self._strips, starts, strict=True)):
            if offset < pos:
                return []  # overlapping strips (tifffile writes none): `segments` then falls back to the splice
            pieces.append((view[pos:offset], start, start + count))
            pos = offset + count
        pieces.append((view[pos:], 0, 0))  # the tail: an empty range of pixels
        return pieces

    def _check(self, array: np.ndarray) -> None:
        if array.shape != self.shape or array.dtype != self.dtype:
            raise ValueError(f"array {array.shape} {array.dtype} does not fit this writer ({self.shape} {self.dtype})")

    def segments(self, array: np.ndarray) -> list:
        """Buffers whose concatenation is the file's bytes (views of the template and of `array`, no copies)."""
        self._check(array)
        if not self._pieces:
            return [self.encode(array)]
        data = np.ascontiguousarray(array).data.cast("B")
        parts = []
        for head, start, end in self._pieces:
            parts += (head, data[start:end])
        return parts

    @property
    def spliced(self) -> bool:
        """Whether files are written from the proven template (else through `tifffile.imwrite`)."""
        return self._template is not None

    def encode(self, array: np.ndarray) -> bytes:
        self._check(array)
        if self._template is None:
            return self._tifffile_bytes(array)
        return self._splice(self._template, self._strips, array)

    def write(self, path: str | os.PathLike, array: np.ndarray, dir_fd: int | None = None) -> None:
        """Create (or truncate) `path`, relative to the open folder `dir_fd` when given, and write the file."""
        parts = self.segments(array)
        fd = os.open(path, _CREATE, 0o666, dir_fd=dir_fd)
        try:
            written = os.writev(fd, parts)
            if written < sum(
                len(p) for p in parts
            ):  # a short write (a signal, a full disk): finish it, or let the OSError surface
                _finish(fd, memoryview(b"".join(parts))[written:])
        finally:
            os.close(fd)

    def encode_stack(self, arrays: np.ndarray) -> list:
        """The files of `arrays` (n, *shape), in order: rows of one (n, file size) byte array when spliced
        (the template broadcast, then each strip's pixels copied for all files at once), else tifffile's bytes."""
        arrays = np.asarray(arrays)
        if arrays.shape[1:] != self.shape or arrays.dtype != self.dtype:
            raise ValueError(f"arrays {arrays.shape} {arrays.dtype} do not fit this writer ({self.shape} {self.dtype})")
        if self._template is None:
            return [self._tifffile_bytes(a) for a in arrays]
        files = np.empty((len(arrays), len(self._template)), np.uint8)
        files[:] = np.frombuffer(self._template, np.uint8)
        pixels = np.ascontiguousarray(arrays).reshape(len(arrays), -1).view(np.uint8)
        at = 0
        for offset, count in self._strips:  # the pixel bytes go in strip order, as in `_splice`
            files[:, offset : offset + count] = pixels[:, at : at + count]
            at += count
        return list(files)

    def write_stack(self, names: list[str], arrays: np.ndarray, dir_fd: int | None = None) -> None:
        """`write(name, array)` for each pair, with one buffer per file: open, one `write`, close (3 syscalls)."""
        for name, data in zip(names, self.encode_stack(arrays), strict=True):
            fd = os.open(name, _CREATE, 0o666, dir_fd=dir_fd)
            try:
                written = os.write(fd, data)
                if written < len(data):  # a short write (a signal, a full disk): finish it, or raise its OSError
                    _finish(fd, memoryview(data)[written:])
            finally:
                os.close(fd)


def _finish(fd: int, rest: memoryview) -> None:
    while rest:
        rest = rest[os.write(fd, rest) :]


_PLAIN_TAGS = frozenset({254, 256, 257, 258, 259, 262, 270, 273, 277, 278, 279, 282, 283, 284, 296, 305, 306, 339})
"""Baseline tags that do not change what `tifffile.imread` returns for one uncompressed grey page."""
_PLAIN_DTYPES: dict[tuple[int | None, int | None], str] = {
    (8, 1): "u1",
    (16, 1): "<u2",
    (32, 1): "<u4",
    (8, 2): "i1",
    (16, 2): "<i2",
    (32, 2): "<i4",
}
"""(BitsPerSample, SampleFormat) -> dtype."""


def read_plain_tiff(path: str | os.PathLike, check=None) -> np.ndarray | None:
    """What `tifffile.imread(path)` returns, for the plainest TIFFs only, read with one `readinto`; else None.

    Plain: little-endian classic TIFF on a little-endian machine, one page, one sample per pixel of 8/16/32-bit
    integers, uncompressed, contiguous strips, only baseline tags (`_PLAIN_TAGS`) and no description or tifffile's
    own `{"shape": [h, w]}`. Anything else (ImageJ or OME files, several pages, compression, other tags, a short
    or unreadable file) is None, and the caller reads it with tifffile. `check(height, width)` runs before the
    pixels are read (a size limit)."""
    if not np.little_endian:
        return None
    try:
        fh = open(path, "rb")  # noqa: SIM115  # closed below; an open error is tifffile's to report
    except OSError:
        return None
    with fh:
        head = fh.read(8)
        if len(head) < 8 or head[:4] != b"II*\x00":
            return None
        fh.seek(struct.unpack_from("<I", head, 4)[0])
        raw = fh.read(2)
        entries = struct.unpack("<H", raw)[0] if len(raw) == 2 else 0
        block = fh.read(entries * 12 + 4)
        if not 0 < entries <= 64 or len(block) < entries * 12 + 4 or struct.unpack_from("<I", block, entries * 12)[0]:
            return None  # no entries, a short file, or a second page
        tags = {}
        for i in range(entries):
            code, kind, count = struct.unpack_from("<HHI", block, i * 12)
            if code not in _PLAIN_TAGS:
                return None
            tags[code] = (kind, count, block[i * 12 + 8 : i * 12 + 12])
        values = {code: _tag_values(fh, *tag) for code, tag in tags.items() if code in (273, 279)}
        single = {code: _scalar(*tag) for code, tag in tags.items() if code not in (270, 273, 279, 282, 283, 305, 306)}
        width, height = single.get(256), single.get(257)
        dtype = _PLAIN_DTYPES.get((single.get(258), single.get(339, 1)))
        if (
            dtype is None
            or not width
            or not height
            or single.get(259) != 1
            or single.get(262) != 1
            or single.get(277, 1) != 1
            or single.get(284, 1) != 1
            or single.get(254, 0) != 0
        ):
            return None
        if 270 in tags and _ascii(fh, *tags[270]) != f'{{"shape": [{height}, {width}]}}\x00'.encode():
            return None
        offsets, counts = values.get(273), values.get(279)
        nbytes = width * height * np.dtype(dtype).itemsize
        if (
            offsets is None
            or counts is None
            or len(offsets) != len(counts)
            or int(counts.sum()) != nbytes
            or np.any(offsets[1:] != offsets[:-1] + counts[:-1])
        ):
            return None
        if check is not None:
            check(height, width)
        image = np.empty((height, width), dtype=np.dtype(dtype).newbyteorder("="))
        fh.seek(int(offsets[0]))
        return image if fh.readinto(image) == nbytes else None  # pyright: ignore[reportArgumentType]  # a numpy array is a writable buffer


def _scalar(kind: int, count: int, value: bytes) -> int | None:
    if count != 1 or kind not in (3, 4):
        return None
    return struct.unpack_from("<H" if kind == 3 else "<I", value)[0]


def _tag_values(fh, kind: int, count: int, value: bytes) -> np.ndarray | None:
    if kind not in (3, 4) or count == 0:
        return None
    size = count * (2 if kind == 3 else 4)
    if size > 4:
        fh.seek(struct.unpack_from("<I", value)[0])
        value = fh.read(size)
        if len(value) < size:
            return None
    return np.frombuffer(value, "<u2" if kind == 3 else "<u4", count).astype(np.int64)


def _ascii(fh, kind: int, count: int, value: bytes) -> bytes | None:
    if kind != 2:
        return None
    if count > 4:
        fh.seek(struct.unpack_from("<I", value)[0])
        return fh.read(count)
    return value[:count]
