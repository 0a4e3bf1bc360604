"""Explicit resource limits for untrusted inputs, shared by every pipeline that decodes images or reads boxes.

A 100 kB PNG can declare 30000 x 30000 pixels (a decompression bomb); a COCO box can say `[10, 10, 1e12, 1e12]`.
Both become rejects with a named reason instead of an out-of-memory crash or a full-image box.

- `MAX_IMAGE_PIXELS` (64 megapixels, e.g. 8000 x 8000): any image whose header declares more is refused
  (`decompression_bomb`) before its pixels are decoded. The pipelines' real inputs are far smaller
  (CT slices 512 x 512, microscopy frames ~1k x 1k, logos and PerVA photos a few megapixels).
- `MAX_BOX_COORDINATE` (100,000 px): a box coordinate or size beyond it is `absurd_box`.
- `MAX_BOX_SCALE` (2.0): a box wider or taller than twice its image is `absurd_box` too (clipping it would turn
  it into a full-image box); boxes that only run over the border are clipped as before.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from PIL import Image

MAX_IMAGE_PIXELS = 64_000_000
MAX_BOX_COORDINATE = 100_000.0
MAX_BOX_SCALE = 2.0
DECOMPRESSION_BOMB = "decompression_bomb"


class ImageTooLargeError(ValueError):
    """The image declares more pixels than `MAX_IMAGE_PIXELS` (the reason code is `decompression_bomb`)."""

    reason = DECOMPRESSION_BOMB


def check_pixels(width: int, height: int, name: str = "image", limit: int = MAX_IMAGE_PIXELS) -> None:
    if int(width) * int(height) > limit:
        raise ImageTooLargeError(
            f"{name} declares {width}x{height} = {int(width) * int(height):,} pixels, "
            f"more than the limit of {limit:,} (a possible decompression bomb)"
        )


@contextmanager
def open_image(
    path: str | os.PathLike, name: str | None = None, limit: int = MAX_IMAGE_PIXELS
) -> Iterator[Image.Image]:
    """`PIL.Image.open` that refuses images over `limit` pixels from the header, before any pixel is decoded."""
    label = name or os.fspath(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLargeError(f"{label}: {exc}") from exc
    with img:
        check_pixels(*img.size, name=label, limit=limit)
        yield img


def beyond_box_limits(xywh: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Rows of an `(n, 4)` array of usable boxes that `box_limit_problem` refuses (a boolean mask)."""
    x, y, w, h = xywh.T
    largest = np.maximum.reduce([np.abs(x), np.abs(y), w, h])
    return (largest > MAX_BOX_COORDINATE) | (w > MAX_BOX_SCALE * width) | (h > MAX_BOX_SCALE * height)


def box_limit_problem(x: float, y: float, w: float, h: float, width: float, height: float) -> str | None:
    """Why a (finite, positive-size) box is beyond the documented limits (reason `absurd_box`), or None."""
    if max(abs(x), abs(y), w, h) > MAX_BOX_COORDINATE:
        return f"bbox {[x, y, w, h]} has a coordinate or size over {MAX_BOX_COORDINATE:g} px"
    if w > MAX_BOX_SCALE * width or h > MAX_BOX_SCALE * height:
        return f"bbox {[x, y, w, h]} is more than {MAX_BOX_SCALE:g}x its {width}x{height} image"
    return None
