"""COCO detection files: load, validate, remap, clip, convert to and from tables, write.

pycocotools loads broken files silently (duplicate image or annotation ids, undefined category ids,
annotations of images that do not exist, boxes outside the image), so `validate_coco` checks each of
those itself. Boxes are `[x, y, width, height]` in pixels, as COCO defines them.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported where tables are built: workers that only clip boxes start faster
    import pandas as pd

DROP = "drop"
IMAGE_COLUMNS = ["id", "file_name", "width", "height"]
ANNOTATION_COLUMNS = ["id", "image_id", "category_id", "x", "y", "w", "h", "area", "iscrowd"]


class CocoError(ValueError):
    """A COCO file or mapping that cannot be used at all (the message names the file and the problem)."""


@dataclass(frozen=True)
class Problem:
    kind: str
    item: str
    detail: str


def load_coco(path: str | os.PathLike) -> dict:
    """Parse a COCO file and check its top-level shape; raise `CocoError` naming the file otherwise."""
    path = Path(path)
    try:
        coco = json.loads(path.read_text(encoding="utf-8-sig"))  # a UTF-8 BOM is accepted
    except FileNotFoundError as exc:
        raise CocoError(f"{path}: COCO file not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CocoError(f"{path}: malformed COCO JSON ({exc})") from exc
    if not isinstance(coco, dict):
        raise CocoError(f"{path}: COCO JSON must be an object, got {type(coco).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(coco.get(key), list):
            raise CocoError(f"{path}: COCO JSON needs a list `{key}`, got {type(coco.get(key)).__name__}")
    for key, required in (
        ("images", ("id", "file_name")),
        ("annotations", ("id", "image_id", "category_id", "bbox")),
        ("categories", ("id", "name")),
    ):
        try:  # all there (the usual case): one pass in C; a JSON value that is no object raises TypeError
            deque(map(itemgetter(*required), coco[key]), maxlen=0)
            continue
        except (KeyError, TypeError):
            pass
        needed = set(required)
        for i, item in enumerate(coco[key]):
            if isinstance(item, dict) and item.keys() >= needed:
                continue
            missing = [k for k in required if not isinstance(item, dict) or k not in item]
            if missing:
                raise CocoError(f"{path}: {key}[{i}] lacks {', '.join(missing)}")
    return coco


def box_problem(bbox: object) -> str | None:
    """Why a raw bbox value is unusable (not 4 finite numbers, negative or zero size), or None."""
    if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
        return f"bbox must be 4 numbers, got {bbox!r}"
    try:
        x, y, w, h = map(float, bbox)
    except (TypeError, ValueError, OverflowError):
        return f"bbox has non-numeric values {bbox!r}"
    if not math.isfinite(x + y + w + h) and not all(math.isfinite(v) for v in (x, y, w, h)):
        return f"bbox has NaN/inf values {bbox!r}"
    if w <= 0 or h <= 0:
        return f"bbox has non-positive size {bbox!r}"
    return None


def clip_box(x: float, y: float, w: float, h: float, width: float, height: float) -> tuple[float, float, float, float]:
    """Clip a box to the image `[0, width] x [0, height]` (the result may be empty)."""
    x0, y0 = min(max(x, 0.0), width), min(max(y, 0.0), height)
    x1, y1 = min(max(x + w, 0.0), width), min(max(y + h, 0.0), height)
    return x0, y0, x1 - x0, y1 - y0


def usable_boxes(bboxes: Sequence[object]) -> tuple[np.ndarray, np.ndarray]:
    """`box_problem` for many raw bbox values at once: an `(n, 4)` float array (NaN rows where the value is not
    4 numbers) and a mask of the boxes `box_problem` accepts (4 finite numbers, positive width and height)."""
    xywh = np.full((len(bboxes), 4), np.nan)
    shaped = np.array([isinstance(b, (list, tuple)) and len(b) == 4 for b in bboxes], dtype=bool)
    try:
        picked = bboxes if shaped.all() else [b for b, ok in zip(bboxes, shaped.tolist(), strict=True) if ok]
        values = np.array(picked or np.empty((0, 4)))
    except (TypeError, ValueError):  # ragged: a value inside a box is itself a sequence
        values = np.empty(0, dtype=object)
    if values.dtype.kind in "biuf" and values.shape == (int(shaped.sum()), 4):
        xywh[shaped] = values
    else:  # strings, huge integers, nested values: `float()` box by box, as `box_problem` does
        for i in np.flatnonzero(shaped):
            with contextlib.suppress(TypeError, ValueError, OverflowError):
                xywh[i] = [float(v) for v in bboxes[i]]  # type: ignore[union-attr]
    with np.errstate(invalid="ignore"):
        usable = np.isfinite(xywh).all(axis=1) & (xywh[:, 2] > 0) & (xywh[:, 3] > 0)
    return xywh, usable


def clip_boxes(xywh: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    """`clip_box` over rows of an `(n, 4)` array, with the same floating-point results (and signs of zero)."""
    x, y, w, h = xywh.T

    def clamp(v: np.ndarray, top: np.ndarray) -> np.ndarray:  # min(max(v, 0.0), top), argument order kept
        v = np.where(v < 0.0, 0.0, v)
        return np.where(top < v, top, v)

    x0, y0 = clamp(x, width), clamp(y, height)
    with np.errstate(over="ignore"):  # x + w may overflow to inf, as it does in Python floats
        x1, y1 = clamp(x + w, width), clamp(y + h, height)
    return np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)


def category_map(
    categories: Sequence[Mapping], mapping: Mapping[str, str], targets: Sequence[str], source: str
) -> dict[int, int | None]:
    """Source category id -> target category index (None: dropped), by the declarative name mapping.

    Raises `CocoError` naming every source category the mapping does not cover and every mapping
    target that is not one of `targets` (or `drop`).
    """
    bad_targets = sorted({v for v in mapping.values() if v != DROP and v not in targets})
    if bad_targets:
        raise CocoError(f"{source}: category mapping targets {bad_targets} are not among {list(targets)} (or '{DROP}')")
    unknown = sorted({str(c["name"]) for c in categories if str(c["name"]) not in mapping})
    if unknown:
        raise CocoError(
            f"{source}: categories {unknown} are not in the category mapping; map each to one of {list(targets)} or "
            f"'{DROP}'"
        )
    index = {name: i for i, name in enumerate(targets)}
    return {
        int(c["id"]): (None if mapping[str(c["name"])] == DROP else index[mapping[str(c["name"])]]) for c in categories
    }


def categories_block(names: Sequence[str], supercategory: str = "hemorrhage") -> list[dict]:
    return [{"id": i, "name": name, "supercategory": supercategory} for i, name in enumerate(names)]


def round2(values: np.ndarray) -> list[float]:
    """`[round(v, 2) for v in values]` (Python's correctly rounded result, bit for bit) over a float array, in
    numpy: `rint(v * 100) / 100` is that result (the division of an exact integer by 100 is correctly rounded)
    except where the product `v * 100` lies so near a half that its own rounding may have crossed it; those few
    values, and non-finite or huge ones, go through `round` itself."""
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = values * 100.0
        margin = 1e-9 * np.maximum(np.abs(scaled), 1.0)  # >> the product's rounding error (2**-53 relative)
        near_half = ~(np.abs(np.abs(scaled - np.trunc(scaled)) - 0.5) > margin)
        doubtful = near_half | ~(np.abs(values) < 1e13)  # NaN and inf land here too
        rounded = (np.rint(scaled) / 100.0).tolist()
    for i in np.flatnonzero(doubtful).tolist():
        rounded[i] = round(float(values[i]), 2)
    return rounded


def coco_from_frames(
    images: pd.DataFrame,
    annotations: pd.DataFrame,
    categories: Sequence[str],
    extra_image_fields: Sequence[str] = (),
    info: Mapping | None = None,
) -> dict:
    """A COCO dict from an image table (`id, file_name, width, height`, + extras) and a box table."""
    return {
        "info": dict(info or {}),
        "images": image_records(images, extra_image_fields),
        "annotations": annotation_records(annotations),
        "categories": categories_block(categories),
    }


def image_records(images: pd.DataFrame, extra_image_fields: Sequence[str] = ()) -> list[dict]:
    """The COCO `images` entries of an image table (`id, file_name, width, height`, + extras), built from whole
    columns (Python values: numpy scalars in object columns become plain ones)."""
    ids, widths, heights = (images[c].astype("int64").tolist() for c in ("id", "width", "height"))
    names = [str(v) for v in images["file_name"].tolist()]
    extras = [[v.item() if isinstance(v, np.generic) else v for v in images[c].tolist()] for c in extra_image_fields]
    keys = ("id", "file_name", "width", "height", *extra_image_fields)
    return [dict(zip(keys, row, strict=True)) for row in zip(ids, names, widths, heights, *extras, strict=True)]


def annotation_records(annotations: pd.DataFrame) -> list[dict]:
    """The COCO `annotations` entries of a box table: bbox and area rounded to 2 decimals (`round2`)."""
    ints = [annotations[c].astype("int64").tolist() for c in ("id", "image_id", "category_id", "iscrowd")]
    x, y, w, h = (annotations[c].to_numpy(dtype=np.float64) for c in ("x", "y", "w", "h"))
    return [
        {
            "id": i,
            "image_id": image_id,
            "category_id": category_id,
            "bbox": [rx, ry, rw, rh],
            "area": area,
            "iscrowd": iscrowd,
            "segmentation": [],
        }
        for i, image_id, category_id, iscrowd, rx, ry, rw, rh, area in zip(
            *ints, round2(x), round2(y), round2(w), round2(h), round2(w * h), strict=True
        )
    ]


def frames_from_coco(coco: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Image and annotation tables of a (validated) COCO dict; extra image fields become columns."""
    import pandas as pd

    images = pd.DataFrame(list(coco["images"]))
    if images.empty:
        images = pd.DataFrame(columns=IMAGE_COLUMNS)
    rows = [
        (a["id"], a["image_id"], a["category_id"], *map(float, a["bbox"]), a.get("iscrowd", 0))
        for a in coco["annotations"]
    ]
    boxes = pd.DataFrame(rows, columns=["id", "image_id", "category_id", "x", "y", "w", "h", "iscrowd"])
    boxes["area"] = boxes["w"] * boxes["h"]
    return images, boxes[ANNOTATION_COLUMNS]


def validate_coco(coco: Mapping, image_dir: str | os.PathLike | None = None, tolerance: float = 1e-6) -> list[Problem]:
    """Everything pycocotools lets through: duplicate ids, undefined categories, orphan annotations,
    boxes outside their image or of non-positive size, missing image files (when `image_dir` is given)."""
    problems: list[Problem] = []
    images = coco.get("images", [])
    image_ids = Counter(im.get("id") for im in images)
    problems += [
        Problem("duplicate_image_id", str(i), f"{n} images share id {i}") for i, n in image_ids.items() if n > 1
    ]
    names = Counter(im.get("file_name") for im in images)
    problems += [
        Problem("duplicate_file_name", str(f), f"{n} images share file_name {f}") for f, n in names.items() if n > 1
    ]
    ann_ids = Counter(a.get("id") for a in coco.get("annotations", []))
    problems += [
        Problem("duplicate_annotation_id", str(i), f"{n} annotations share id {i}") for i, n in ann_ids.items() if n > 1
    ]
    category_ids = {c.get("id") for c in coco.get("categories", [])}
    sizes = {im.get("id"): (im.get("width"), im.get("height")) for im in images}
    for im in images:
        w, h = im.get("width"), im.get("height")
        if not isinstance(w, (int, float)) or not isinstance(h, (int, float)) or w <= 0 or h <= 0:
            problems.append(Problem("bad_image_size", str(im.get("file_name")), f"width/height {w!r}x{h!r}"))
        if image_dir is not None and not (Path(image_dir) / str(im.get("file_name"))).is_file():
            problems.append(Problem("missing_image_file", str(im.get("file_name")), f"not found in {image_dir}"))
    for a in coco.get("annotations", []):
        item = f"annotation {a.get('id')}"
        if a.get("category_id") not in category_ids:
            problems.append(Problem("undefined_category", item, f"category_id {a.get('category_id')!r} is not defined"))
        if a.get("image_id") not in sizes:
            problems.append(Problem("orphan_annotation", item, f"image_id {a.get('image_id')!r} does not exist"))
            continue
        issue = box_problem(a.get("bbox"))
        if issue:
            problems.append(Problem("invalid_box", item, issue))
            continue
        x, y, w, h = map(float, a["bbox"])
        iw, ih = sizes[a["image_id"]]
        if not (isinstance(iw, (int, float)) and isinstance(ih, (int, float))):
            continue
        if x < -tolerance or y < -tolerance or x + w > iw + tolerance or y + h > ih + tolerance:
            problems.append(Problem("box_outside_image", item, f"bbox {a['bbox']} outside {iw}x{ih}"))
    return problems


def pycocotools_load(coco: Mapping):
    """Load a COCO dict with pycocotools (as training code will), its chatter silenced."""
    from pycocotools.coco import COCO

    api = COCO()
    api.dataset = json.loads(json.dumps(coco))
    with contextlib.redirect_stdout(io.StringIO()):
        api.createIndex()
    return api


def problem_counts(problems: Iterable[Problem]) -> dict[str, int]:
    return dict(sorted(Counter(p.kind for p in problems).items()))
