"""Pictures for people: crop montages and small charts embedded in asset metadata."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw


def to_uint8(image: np.ndarray, low_pct: float = 1.0, high_pct: float = 99.0) -> np.ndarray:
    """Contrast-stretch any numeric image to 0-255 by percentiles (flat images become black)."""
    arr = np.asarray(image, dtype=np.float32)
    lo, hi = np.percentile(arr, [low_pct, high_pct]) if arr.size else (0.0, 0.0)
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return (np.clip((arr - lo) / (hi - lo), 0, 1) * 255).astype(np.uint8)


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


def bar_chart(
    series: Mapping[str, Mapping[str, float]] | Mapping[str, float],
    title: str = "",
    width: int = 640,
    height: int = 280,
) -> np.ndarray:
    """A small grouped bar chart with PIL (no plotting dependency); `series` is {group: {bar: value}}."""
    groups = {k: (v if isinstance(v, Mapping) else {"": v}) for k, v in series.items()}
    bars = sorted({b for v in groups.values() for b in v})
    palette = [(66, 133, 244), (219, 68, 55), (244, 180, 0), (15, 157, 88), (171, 71, 188), (0, 172, 193)]
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    draw.text((8, 4), title, fill="black")
    top, bottom, left = 22, height - 34, 40
    vmax = max([v for g in groups.values() for v in g.values()] + [1e-9])
    slot = (width - left - 8) / max(len(groups), 1)
    bar_w = max(2, int(slot * 0.8 / max(len(bars), 1)))
    draw.line((left, bottom, width - 4, bottom), fill="black")
    draw.text((2, top), f"{vmax:.3g}", fill="black")
    for gi, (gname, values) in enumerate(groups.items()):
        x0 = left + gi * slot + slot * 0.1
        for bi, bname in enumerate(bars):
            value = values.get(bname, 0.0)
            y = bottom - (bottom - top) * (value / vmax)
            draw.rectangle((x0 + bi * bar_w, y, x0 + (bi + 1) * bar_w - 1, bottom), fill=palette[bi % len(palette)])
        draw.text((x0, bottom + 4), str(gname)[:14], fill="black")
    for bi, bname in enumerate(bars):
        if bname:
            draw.rectangle((width - 150, top + bi * 12, width - 142, top + bi * 12 + 8), fill=palette[bi % len(palette)])
            draw.text((width - 138, top + bi * 12 - 2), str(bname)[:20], fill="black")
    return np.asarray(img)


def histogram_chart(values: np.ndarray, bins: int = 20, value_range=(0.0, 1.0), title: str = "") -> np.ndarray:
    counts, edges = np.histogram(np.asarray(values, dtype=float), bins=bins, range=value_range)
    return bar_chart({f"{edges[i]:.2f}": float(c) for i, c in enumerate(counts)}, title=title)


def markdown_image(png: bytes, alt: str = "image") -> str:
    """Inline a PNG in markdown metadata so the Dagster UI shows it."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"
