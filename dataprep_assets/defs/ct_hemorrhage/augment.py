"""Per-image work of `augmented_coco_6class`, run in worker processes.

Each image is copied byte for byte into its split; train images also get `copies` augmented JPEGs
(`<stem>_aug<k>.jpg`). Albumentations transforms image and boxes together (`clip=True`, boxes that
end up smaller than `min_box` or less visible than `min_visibility` dropped); labels come back as
floats and are cast back. Each copy's seed derives from the run seed, the file name and the copy
number, so results do not depend on which worker ran what.

Incremental: each image's outputs are keyed by its bytes, its boxes, its copy count and the settings
(`lib.itemcache`); the asset restores unchanged images' outputs and sends only the rest to workers.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from dataprep_assets.lib.coco import clip_box
from dataprep_assets.lib.compute import fresh_output
from dataprep_assets.lib.itemcache import ItemCache

Box = tuple[int, float, float, float, float]
"""(category_id, x, y, w, h)"""
CODE_VERSION = "augment/1"
"""Bump when a change here changes the written images or boxes: every cached image is then redone."""
BATCH = 8
"""Images per worker call."""


@dataclass(frozen=True)
class AugTask:
    src: str
    out_dir: str
    file_name: str
    boxes: tuple[Box, ...]
    copies: int
    seed: int
    jpeg_quality: int
    min_box: float
    min_visibility: float
    cache_key: str = ""
    """Where the outputs are stored for reuse ('' = not cached)."""


@dataclass(frozen=True)
class AugImage:
    file_name: str
    width: int
    height: int
    original: str
    aug_index: int
    boxes: tuple[Box, ...]


def _albumentations():
    """Import albumentations lazily (seconds), without its network version check. Its optional torch bridge
    is skipped unless torch is already loaded: nothing here uses it, and importing torch would cost seconds
    before the first image is augmented (in each worker, and in the asset's own process when a rebuild's few
    new images are augmented inline)."""
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    if "albumentations" in sys.modules or "torch" in sys.modules:
        import albumentations

        return albumentations
    sys.modules["torch"] = None  # pyright: ignore[reportArgumentType]  # None is the documented import blocker; makes albumentations' `from .pytorch import *` a (suppressed) ImportError
    try:
        import albumentations
    finally:
        del sys.modules["torch"]
    return albumentations


@lru_cache(maxsize=4)
def library_versions() -> list[str]:
    """Versions of the libraries whose output bytes the cached augmentations depend on."""
    from importlib.metadata import version

    return [version("albumentations"), cv2.__version__, np.__version__]


def build_transform(min_box: float, min_visibility: float):
    """Geometric + intensity augmentation suited to axial head CT (no vertical flips)."""
    A = _albumentations()

    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.Affine(
                scale=(0.9, 1.1),
                translate_percent=(-0.06, 0.06),
                rotate=(-12, 12),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                p=0.8,
            ),
            A.RandomBrightnessContrast(brightness_limit=0.1, contrast_limit=0.1, p=0.5),
        ],
        bbox_params=A.BboxParams(
            format="coco",
            label_fields=["labels"],
            clip=True,
            min_visibility=min_visibility,
            min_width=min_box,
            min_height=min_box,
            filter_invalid_bboxes=True,
        ),
        seed=0,
    )


def decode_complete(data: bytes) -> np.ndarray | None:
    """Decode a JPEG or PNG, or None when it does not decode or is cut short (OpenCV decodes a
    truncated JPEG into a grey-filled image without complaint, so the end marker is checked too)."""
    if data[:2] == b"\xff\xd8" and data.rstrip(b"\x00")[-2:] != b"\xff\xd9":
        return None
    if data[:8] == b"\x89PNG\r\n\x1a\n" and not data.endswith(b"IEND\xaeB`\x82"):
        return None
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return None if image is None or image.size == 0 else image


def copy_seed(seed: int, file_name: str, copy: int) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}/{file_name}/{copy}".encode()).digest()[:4], "little")


def augment_boxes(
    image: np.ndarray, boxes: tuple[Box, ...], seed: int, min_box: float, min_visibility: float
) -> tuple[np.ndarray, tuple[Box, ...]]:
    """One augmented copy of `image` and its boxes, clipped and filtered."""
    transform = build_transform(min_box, min_visibility)
    transform.set_random_seed(seed)
    coords = np.array([b[1:] for b in boxes], dtype=np.float32).reshape(-1, 4)
    labels = np.array([b[0] for b in boxes], dtype=np.int64)
    out = transform(image=image, bboxes=coords, labels=labels)
    h, w = out["image"].shape[:2]
    kept = []
    for (x, y, bw, bh), label in zip(
        np.asarray(out["bboxes"], dtype=np.float64).reshape(-1, 4), out["labels"], strict=True
    ):
        x, y, bw, bh = (round(float(v), 2) for v in clip_box(float(x), float(y), float(bw), float(bh), w, h))
        if bw >= min_box and bh >= min_box:
            kept.append((int(round(float(label))), x, y, bw, bh))
    return out["image"], tuple(kept)


def augment_one(task: AugTask) -> list[AugImage]:
    """Copy the original into its split and write its augmented copies; return every image written
    (nothing when the original does not decode: the caller records it as a reject)."""
    out_dir = Path(task.out_dir)
    data = Path(task.src).read_bytes()
    image = decode_complete(data)
    if image is None:
        return []
    fresh_output(out_dir / task.file_name).write_bytes(data)
    height, width = image.shape[:2]
    written = [AugImage(task.file_name, width, height, task.file_name, 0, task.boxes)]
    stem = Path(task.file_name).stem
    for k in range(1, task.copies + 1):
        augmented, boxes = augment_boxes(
            image, task.boxes, copy_seed(task.seed, task.file_name, k), task.min_box, task.min_visibility
        )
        name = f"{stem}_aug{k}.jpg"
        ok, buf = cv2.imencode(".jpg", augmented, [cv2.IMWRITE_JPEG_QUALITY, task.jpeg_quality])
        if not ok:
            raise ValueError(f"{task.src}: JPEG encoding of copy {k} failed")
        fresh_output(out_dir / name).write_bytes(buf.tobytes())
        written.append(AugImage(name, augmented.shape[1], augmented.shape[0], task.file_name, k, boxes))
    return written


def augment_batch(tasks: Sequence[AugTask], cache: ItemCache | None = None) -> list[list[AugImage]]:
    """Several images per worker call (fewer process-pool round trips); results stored in `cache` when given."""
    results = [augment_one(task) for task in tasks]
    if cache is not None:
        for task, written in zip(tasks, results, strict=True):
            if task.cache_key:
                files = {im.file_name: Path(task.out_dir) / im.file_name for im in written}
                cache.put(task.cache_key, files, [images_to_json(written)])
    return results


def augment_batch_star(args: tuple) -> list[list[AugImage]]:
    return augment_batch(*args)


def images_to_json(images: list[AugImage]) -> list:
    return [
        [im.file_name, im.width, im.height, im.original, im.aug_index, [list(b) for b in im.boxes]] for im in images
    ]


def images_from_json(payload: list) -> list[AugImage]:
    return [
        AugImage(name, w, h, original, k, tuple(tuple(b) for b in boxes)) for name, w, h, original, k, boxes in payload
    ]
