"""Pictures for people: contrast stretching, PNG encoding, tile montages with captions, boxes with class names.

Charts are drawn with matplotlib in `lib/charts.py`."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from typing import Literal

import numpy as np
import PIL
from PIL import Image, ImageDraw, ImageFont, ImageOps

from dataprep_assets.lib.memo import remembered_bytes

Fit = Literal["stretch", "pad", "shrink"]


def to_uint8(image: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> np.ndarray:
    """Contrast-stretch any numeric image to 0-255 by percentiles (flat images become black)."""
    arr = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(arr, [low_pct, high_pct]) if arr.size else (0.0, 0.0)
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return (np.clip((arr - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


def thumbnail(image: Image.Image, size: int, *, fit: Fit = "stretch", fill: int | tuple[int, ...] = 0) -> np.ndarray:
    """A `size` x `size` tile of `image` for montages, in the image's own mode.

    `fit`: "stretch" resizes to the square (bilinear, aspect not kept); "pad" scales the longer side to `size`
    (up or down, bicubic) and centres it on `fill`; "shrink" is "pad" that never enlarges (PIL's `thumbnail`).
    """
    if fit == "stretch":
        return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR))
    if fit == "pad":
        return np.asarray(ImageOps.pad(image, (size, size), color=fill))
    small = image.copy()
    small.thumbnail((size, size))
    canvas = Image.new(image.mode, (size, size), fill)
    canvas.paste(small, ((size - small.width) // 2, (size - small.height) // 2))
    return np.asarray(canvas)


def thumbnail_file(
    path: str | os.PathLike, size: int, *, fit: Fit = "stretch", fill: int | tuple[int, ...] = 0, mode: str = "RGB"
) -> np.ndarray:
    """`thumbnail` of the picture file at `path`, converted to `mode` first."""
    with Image.open(path) as img:
        return thumbnail(img.convert(mode), size, fit=fit, fill=fill)


def png_bytes(image: np.ndarray | Image.Image) -> bytes:
    img = image if isinstance(image, Image.Image) else Image.fromarray(image)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def montage(tiles: Sequence[np.ndarray], columns: int = 8, scale: int = 2, gap: int = 2) -> np.ndarray:
    """Lay equally sized uint8 tiles (gray HxW or RGB HxWx3) out on a grid."""
    if not tiles:
        return np.zeros((1, 1, 3), dtype=np.uint8)
    rgb = [np.repeat(t[..., None], 3, axis=2) if t.ndim == 2 else t for t in tiles]
    h, w = rgb[0].shape[:2]
    rows = -(-len(rgb) // columns)
    cols = min(columns, len(rgb))
    canvas = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, 3), 40, dtype=np.uint8)
    for i, tile in enumerate(rgb):
        r, c = divmod(i, columns)
        canvas[gap + r * (h + gap) : gap + r * (h + gap) + h, gap + c * (w + gap) : gap + c * (w + gap) + w] = tile
    return np.kron(canvas, np.ones((scale, scale, 1), dtype=np.uint8)) if scale > 1 else canvas


def overlay_mask(gray: np.ndarray, mask: np.ndarray, color=(255, 64, 64), alpha: float = 0.45) -> np.ndarray:
    """Tint the pixels of `mask` on a uint8 gray image; returns RGB."""
    rgb = np.repeat(gray[..., None], 3, axis=2).astype(np.float32)
    sel = mask.astype(bool)
    rgb[sel] = (1 - alpha) * rgb[sel] + alpha * np.asarray(color, dtype=np.float32)
    return rgb.astype(np.uint8)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _rgb(tile: np.ndarray) -> np.ndarray:
    return np.repeat(tile[..., None], 3, axis=2) if tile.ndim == 2 else tile


def captioned_montage(
    tiles: Sequence[np.ndarray | None],
    captions: Sequence[str],
    columns: int,
    *,
    row_labels: Sequence[str] = (),
    column_labels: Sequence[str] = (),
    font_size: int = 11,
    gap: int = 6,
) -> np.ndarray:
    """A grid of equally sized tiles with a caption under each, optional labels left of rows and above columns.

    A `None` tile leaves its cell empty (a row shorter than the grid); captions may hold several lines.
    """
    if not tiles:
        return np.full((1, 1, 3), 255, dtype=np.uint8)
    first = next(_rgb(t) for t in tiles if t is not None)
    h, w = first.shape[:2]
    font = _font(font_size)
    line_h = font_size + 3
    caption_lines = max((len(str(c).splitlines()) for c in captions), default=0)
    cell_h = h + caption_lines * line_h + gap
    rows = -(-len(tiles) // columns)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = (max(probe.textlength(str(r), font=font) for r in row_labels) + 2 * gap) if row_labels else gap
    top = (line_h + gap) if column_labels else gap
    canvas = Image.new("RGB", (int(left) + columns * (w + gap), top + rows * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    for c, label in enumerate(column_labels[:columns]):
        draw.text((int(left) + c * (w + gap), gap // 2), str(label), fill="black", font=font)
    for r, label in enumerate(row_labels[:rows]):
        draw.text((gap, top + r * cell_h + h // 2 - line_h // 2), str(label), fill="black", font=font)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        x, y = int(left) + c * (w + gap), top + r * cell_h
        if tile is None:
            continue
        canvas.paste(Image.fromarray(_rgb(tile)), (x, y))
        for k, line in enumerate(str(captions[i] if i < len(captions) else "").splitlines()):
            draw.text((x, y + h + 1 + k * line_h), line, fill="black", font=font)
    return np.asarray(canvas)


@remembered_bytes(versions=(PIL.__version__,))
def captioned_montage_png(
    tiles: Sequence[np.ndarray | None], captions: Sequence[str], columns: int, *, row_labels: Sequence[str] = ()
) -> bytes:
    """`png_bytes(captioned_montage(...))`; inside `lib.memo.remembered` the same tiles and captions give the PNG
    encoded before (an asset and its dataset card showing the same samples encode them once)."""
    return png_bytes(captioned_montage(tiles, captions, columns, row_labels=row_labels))


BOX_COLORS = [
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
]
"""One outline colour per class index (distinct on gray CT slices)."""


def draw_boxes(
    image: Image.Image,
    boxes: Sequence[tuple[int, float, float, float, float]],
    names: Sequence[str],
    size: int,
    font_size: int = 12,
) -> np.ndarray:
    """Resize to `size` x `size` (`thumbnail`, stretched) and outline each `(class_index, x, y, w, h)` box with its
    class name above it."""
    sx, sy = size / image.width, size / image.height
    rgb = Image.fromarray(thumbnail(image.convert("RGB"), size))
    draw = ImageDraw.Draw(rgb)
    font = _font(font_size)
    for cls, x, y, w, h in boxes:
        color = BOX_COLORS[int(cls) % len(BOX_COLORS)]
        x0, y0, x1, y1 = x * sx, y * sy, (x + w) * sx, (y + h) * sy
        draw.rectangle((x0, y0, x1, y1), outline=color, width=2)
        label = str(names[int(cls)]) if 0 <= int(cls) < len(names) else str(cls)
        ty = y0 - font_size - 3 if y0 >= font_size + 3 else y1 + 1
        tw = draw.textlength(label, font=font)
        draw.rectangle((x0, ty, x0 + tw + 4, ty + font_size + 2), fill=color)
        draw.text((x0 + 2, ty), label, fill="black", font=font)
    return np.asarray(rgb)
