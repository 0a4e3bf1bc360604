"""Per-slice work of `no_hem_pngs`, run in worker processes: DICOM -> windowed 8-bit PNG.

The windowing is `lib.dicom` (one lookup table per rescale/window pair); PNGs are encoded with
OpenCV with the `Up` row filter and zlib's run-length strategy at a low level: lossless, smaller than
PIL's default on windowed CT (long runs of 0 and 255) and several times faster.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from dataprep_assets.lib.compute import fresh_output
from dataprep_assets.lib.dicom import DicomError, load_slice_uint8
from dataprep_assets.lib.itemcache import ItemCache
from dataprep_assets.lib.naming import safe_token, unique_names

BATCH = 16
"""Slices per worker call."""
CODE_VERSION = "dicom_to_png/1"
"""Bump when a change here changes the PNG bytes or the row values: every cached slice is then redone."""
CACHED_NAME = "slice.png"
"""The name a slice's PNG is cached under (its published name can change when other slices collide)."""


@dataclass(frozen=True)
class PngTask:
    src: str
    dst: str
    name: str
    """How errors refer to the slice (its store path)."""
    center: float
    width: float
    use_header_window: bool
    window_index: int
    compression: int
    cache_key: str = ""
    """Where the result is stored for reuse ('' = not cached)."""


def encode_png(image: np.ndarray, compression: int = 1) -> bytes:
    params = [
        cv2.IMWRITE_PNG_COMPRESSION,
        int(compression),
        cv2.IMWRITE_PNG_STRATEGY,
        cv2.IMWRITE_PNG_STRATEGY_RLE,
        cv2.IMWRITE_PNG_FILTER,
        cv2.IMWRITE_PNG_FILTER_UP,
    ]
    ok, buf = cv2.imencode(".png", image, params)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def convert_one(task: PngTask) -> dict:
    """Convert one slice; never raises for bad input (the reason comes back instead)."""
    try:
        slice8 = load_slice_uint8(
            task.src, task.center, task.width, task.use_header_window, task.window_index, name=task.name
        )
    except DicomError as exc:
        return {"ok": False, "reason": exc.reason, "detail": str(exc)}
    except Exception as exc:  # a decoder crash on hostile input is a reject, not a failed run
        return {"ok": False, "reason": "conversion_error", "detail": f"{task.name}: {type(exc).__name__}: {exc}"}
    with open(fresh_output(task.dst), "wb") as fh:
        fh.write(encode_png(slice8.image, task.compression))
    h = slice8.header
    return {
        "ok": True,
        "reason": "",
        "detail": "",
        "width": int(slice8.image.shape[1]),
        "height": int(slice8.image.shape[0]),
        "window_center": float(slice8.center),
        "window_width": float(slice8.width),
        "window_source": slice8.window_source,
        "photometric": h.photometric,
        "transfer_syntax": h.transfer_syntax,
    }


def convert_batch(tasks: Sequence[PngTask], cache: ItemCache | None = None) -> list[dict]:
    """Several slices per worker call: the process-pool round trip costs about as much as one slice.

    With a cache, each result (the PNG and its row, or its reject reason) is stored for reuse."""
    results = [convert_one(task) for task in tasks]
    if cache is not None:
        for task, result in zip(tasks, results, strict=True):
            if task.cache_key:
                cache.put(task.cache_key, {CACHED_NAME: task.dst} if result["ok"] else {}, result)
    return results


def convert_batch_star(args: tuple) -> list[dict]:
    return convert_batch(*args)


def png_names(slices) -> list[str]:
    """`<patient>_<instance>.png` per slice (a table with `sop_instance_uid, patient_id, instance_number`), as the
    seed names them; slices whose names coincide (same PatientID + InstanceNumber, ids equal after sanitising or
    differing only in case) all get a suffix from their SOP Instance UID (`lib.naming.unique_names`)."""
    claims = {
        str(r.sop_instance_uid): f"{safe_token(r.patient_id)}_{int(r.instance_number)}.png"
        for r in slices.itertuples(index=False)
    }
    if len(claims) != len(slices):
        raise ValueError("png_names: sop_instance_uid must be unique")
    names = unique_names(claims)
    return [names[str(uid)] for uid in slices["sop_instance_uid"]]
