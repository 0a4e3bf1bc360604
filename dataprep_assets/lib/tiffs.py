"""Many small TIFFs of one shape, written byte-identical to `tifffile.imwrite` at the cost of one buffer copy.

`tifffile.imwrite` builds the header and IFDs of every file anew (hundreds of microseconds of Python per call);
for thousands of same-shape crops everything but the pixel bytes is the same. `TiffWriter` asks tifffile once
for the file of an array of that shape and dtype, learns where the pixel bytes sit (the pages' strip offsets),
and proves the template on a random array: the spliced bytes must equal tifffile's own output, or it falls back
to `tifffile.imwrite` for every file. Nothing else of the file (tags, description, byte order) is ours.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import tifffile


class TiffWriter:
    """Writes arrays of one `shape` and `dtype` as TIFF files, exactly as `tifffile.imwrite(path, a, **options)`."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype | type, **options):
        self.shape, self.dtype, self.options = tuple(shape), np.dtype(dtype), options
        self._template, self._strips = self._learn()

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

    @property
    def spliced(self) -> bool:
        """Whether files are written from the proven template (else through `tifffile.imwrite`)."""
        return self._template is not None

    def encode(self, array: np.ndarray) -> bytes:
        if array.shape != self.shape or array.dtype != self.dtype:
            raise ValueError(f"array {array.shape} {array.dtype} does not fit this writer ({self.shape} {self.dtype})")
        if self._template is None:
            return self._tifffile_bytes(array)
        return self._splice(self._template, self._strips, array)

    def write(self, path: str | os.PathLike, array: np.ndarray) -> None:
        Path(path).write_bytes(self.encode(array))
