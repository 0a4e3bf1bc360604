"""Any image decoded to uint8 RGB the way a model sees it: transparency on white, 16-bit scaled to 8, resized."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from dataprep_assets.lib.limits import open_image


def to_rgb(img: Image.Image) -> Image.Image:
    """Any mode -> RGB; transparency is composited on white (how a logo is shown)."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        return Image.fromarray((arr / max(arr.max(), 1) * 255).astype(np.uint8)).convert("RGB")
    return img.convert("RGB")


def load_rgb(path: str | os.PathLike, size: int | None = None) -> np.ndarray:
    """Decode to uint8 RGB (H, W, 3); resized to `size` x `size` (bilinear, with antialiasing) when given."""
    with open_image(path) as img:
        rgb = to_rgb(img)
    if size is not None and rgb.size != (size, size):
        rgb = rgb.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)
