"""Logo images: check that a referenced image exists, decodes, has an accepted format and size; load it as RGB.

The content hash is taken over the decoded pixels (not the file bytes), so one logo saved twice, under two
names or with different PNG compression, is recognised as the same source image.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import UnidentifiedImageError

from dataprep_assets.lib.limits import ImageTooLargeError, open_image
from dataprep_assets.lib.rgb import to_rgb
from dataprep_assets.lib.storage import UnsafePathError, safe_join

EXTENSION_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".bmp": "BMP",
    ".gif": "GIF",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
}


@dataclass(frozen=True)
class ImageInfo:
    image_path: str
    status: str
    """`ok`, or a reject reason: `image_missing`, `image_unreadable`, `image_format`, `unsafe_path`,
    `decompression_bomb` (more pixels than `lib.limits.MAX_IMAGE_PIXELS`)."""
    detail: str = ""
    content_hash: str = ""
    width: int = 0
    height: int = 0
    format: str = ""
    mode: str = ""


def inspect_image(root: str, image_path: str, allowed_formats: tuple[str, ...], min_size: int) -> ImageInfo:
    """Everything cleaning needs to know about one referenced image (never raises)."""
    try:
        path = safe_join(root, image_path)
    except UnsafePathError as exc:
        return ImageInfo(image_path, "unsafe_path", str(exc))
    if not path.is_file():
        return ImageInfo(image_path, "image_missing", f"{image_path} does not exist under the results root")
    try:
        with open_image(path, name=image_path) as img:
            fmt, mode, (width, height) = img.format or "", img.mode, img.size
            img.load()
            pixels = np.asarray(to_rgb(img), dtype=np.uint8)
    except ImageTooLargeError as exc:
        return ImageInfo(image_path, exc.reason, str(exc))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        return ImageInfo(image_path, "image_unreadable", f"{type(exc).__name__}: {exc}")
    digest = hashlib.sha256(f"{pixels.shape}".encode() + pixels.tobytes()).hexdigest()
    info = ImageInfo(image_path, "ok", "", digest, width, height, fmt, mode)
    expected = EXTENSION_FORMATS.get(Path(image_path).suffix.lower())
    if fmt not in allowed_formats:
        return ImageInfo(
            **{
                **asdict(info),
                "status": "image_format",
                "detail": f"{fmt or 'unknown'} is not one of {', '.join(allowed_formats)}",
            }
        )
    if expected is not None and expected != fmt:
        return ImageInfo(
            **{**asdict(info), "status": "image_format", "detail": f"file is {fmt} but its name says {expected}"}
        )
    if min(width, height) < min_size:
        return ImageInfo(
            **{**asdict(info), "status": "image_format", "detail": f"{width}x{height} is smaller than {min_size}px"}
        )
    return info


def inspect_batch(args: tuple) -> list[ImageInfo]:
    """(root, [paths], formats, min_size) -> one ImageInfo per path (a unit of work for a process pool)."""
    root, paths, formats, min_size = args
    return [inspect_image(root, p, formats, min_size) for p in paths]
