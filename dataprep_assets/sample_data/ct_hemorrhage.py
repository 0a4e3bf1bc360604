"""Synthetic head CT for ct_hemorrhage: DICOM slices, a feedback CSV and two labelled COCO sources.

Slices are 512x512 int16 with rescale -1024/1 (stored = HU + 1024): air, a bone ring of skull, brain
parenchyma with grey/white texture, ventricles, noise; hemorrhages are bright (60-80 HU) blobs.

- `raw/ct_hemorrhage/dicom/<patient>/<study>/<instance>.dcm`: no-hemorrhage slices named by the
  feedback CSV; most 5.0 or 5.5 mm, some 1.25/2.5 mm (filtered out), some RLE or JPEG 2000
  compressed, with single- or multi-valued window tags.
- `raw/ct_hemorrhage/metadata/no_hemorrhage_positive_feedback.csv`: study/series/instance keys,
  patient id, S3 key (relative to `raw/ct_hemorrhage/dicom/`), `FP` or `TN`.
- `raw/ct_hemorrhage/v3/filtered_4class/coco/train/`: 4-class COCO (IPH, IVH, SAH, SDH), images
  `<patient>_<slice>.jpg`.
- `raw/ct_hemorrhage/roboflow/UAT_CT_BRAIN_HEMORRHAGE_V3.v3i.coco/train/`: an 8-category Roboflow
  export (its superclass, EDH, Contusion, IPH, IVH, SAH, SDH, calcification), images
  `<patient>_<slice>_png.rf.<hash>.jpg`, RGB.

With `defects=True` the inputs also hold what real ones do: truncated and non-DICOM files, a slice
without pixel data, one without PatientID (the CSV's is used) and one without any patient id, a key
missing from the bucket, a duplicated CSV row, rows already in the labelled sets, boxes out of bounds,
NaN and negative boxes, images missing on disk, a duplicate image id, an undefined category id and an
annotation of an image that does not exist.

`generate` writes only under `root`; with `upload_to="s3://bucket/prefix"` it also uploads
`raw/ct_hemorrhage/` there (the demo does so for every pipeline when the store is on S3).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

from dataprep_assets.defs.ct_hemorrhage.datasets import DICOM_PREFIX, FEEDBACK_CSV, RAW_PREFIX, ROBOFLOW_COCO, V3_COCO
from dataprep_assets.defs.ct_hemorrhage.feedback import FEEDBACK_COLUMNS
from dataprep_assets.lib.dicom import new_dataset

SIZE = 512
V3_CLASSES = ("IPH", "IVH", "SAH", "SDH")
ROBOFLOW_CATEGORIES = ("hemorrhage-ct", "EDH", "Contusion", "IPH", "IVH", "SAH", "SDH", "calcification")
UID_ROOT = "1.2.826.0.1.3680043.8.498."


def _uid(*parts: object) -> str:
    digits = str(int(hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:24], 16))
    return (UID_ROOT + digits)[:64]


# -- the anatomy ---------------------------------------------------------------------------------
_GRID = np.mgrid[:SIZE, :SIZE].astype(np.float32)


def render_slice_hu(
    rng: np.random.Generator, position: float, lesions: Sequence[tuple[float, float, float, float]] = ()
) -> np.ndarray:
    """One axial slice in HU; `position` in [0, 1] scales the skull; lesions are (cy, cx, ry, rx) ellipses."""
    yy, xx = _GRID
    cy, cx = SIZE / 2 + rng.normal(0, 6), SIZE / 2 + rng.normal(0, 6)
    ry, rx = 200 * (0.75 + 0.25 * np.sin(np.pi * position)), 165 * (0.75 + 0.25 * np.sin(np.pi * position))
    r = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2)
    hu = np.full((SIZE, SIZE), -1000.0, dtype=np.float32)
    hu[r < 1.08] = 1100.0 + rng.normal(0, 60)  # skull
    brain = r < 1.0
    texture = rng.normal(0, 1, (SIZE // 8, SIZE // 8)).astype(np.float32)
    texture = np.kron(texture, np.ones((8, 8), dtype=np.float32))
    hu[brain] = 32.0 + 5.0 * texture[brain]
    ventricles = (((yy - cy) / (ry * 0.25)) ** 2 + ((np.abs(xx - cx) - rx * 0.12) / (rx * 0.07)) ** 2) < 1.0
    hu[ventricles & brain] = 6.0
    for ly, lx, lry, lrx in lesions:
        blob = (((yy - ly) / lry) ** 2 + ((xx - lx) / lrx) ** 2) < 1.0
        hu[blob & brain] = 70.0 + rng.normal(0, 4)
    hu += rng.normal(0, 4.0, hu.shape).astype(np.float32)
    return hu


def brain_window_uint8(hu: np.ndarray, center: float = 40.0, width: float = 80.0) -> np.ndarray:
    return np.clip(((hu - (center - 0.5)) / (width - 1) + 0.5) * 255, 0, 255).astype(np.uint8)


def _lesions(rng: np.random.Generator, count: int) -> list[tuple[float, float, float, float]]:
    out = []
    for _ in range(count):
        ry, rx = rng.uniform(8, 40), rng.uniform(8, 40)
        out.append((rng.uniform(140, 372), rng.uniform(140, 372), ry, rx))
    return out


# -- DICOM ---------------------------------------------------------------------------------------
def write_dicom(
    path: Path,
    hu: np.ndarray,
    *,
    patient_id: str | None,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    instance: int,
    thickness: float,
    windows: tuple[list[float], list[float]] | None = ([40.0], [80.0]),
    syntax=ExplicitVRLittleEndian,
    pixels: bool = True,
) -> None:
    """A CT Image Storage file with stored = HU + 1024 (rescale intercept -1024, slope 1)."""
    ds = new_dataset(CTImageStorage, sop_uid, study_uid, series_uid)
    if patient_id is not None:
        ds.PatientID = patient_id
    ds.PatientName = "ANON"
    ds.Modality = "CT"
    ds.InstanceNumber = instance
    ds.SliceThickness = f"{thickness:g}"
    ds.Rows, ds.Columns = hu.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = "-1024", "1", "HU"
    if windows is not None:
        ds.WindowCenter = [f"{v:g}" for v in windows[0]] if len(windows[0]) > 1 else f"{windows[0][0]:g}"
        ds.WindowWidth = [f"{v:g}" for v in windows[1]] if len(windows[1]) > 1 else f"{windows[1][0]:g}"
    stored = np.clip(np.rint(hu + 1024), -32768, 32767).astype(np.int16)
    if pixels:
        ds.PixelData = stored.tobytes()
        if syntax != ExplicitVRLittleEndian:
            ds.compress(syntax, stored, generate_instance_uid=False)  # keep the UID the CSV names
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


# -- labelled sources ----------------------------------------------------------------------------
@dataclass
class Labelled:
    images: list[dict] = field(default_factory=list)
    annotations: list[dict] = field(default_factory=list)


def _box(rng: np.random.Generator, lesion: tuple[float, float, float, float]) -> list[float]:
    ly, lx, lry, lrx = lesion
    return [round(lx - lrx, 1), round(ly - lry, 1), round(2 * lrx, 1), round(2 * lry, 1)]


def _write_jpeg(path: Path, gray: np.ndarray, rgb: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.repeat(gray[..., None], 3, axis=2) if rgb else gray)
    img.save(path, format="JPEG", quality=90)


def _labelled_source(
    rng: np.random.Generator,
    directory: Path,
    patients: list[str],
    class_ids: dict[str, int],
    classes_per_patient,
    name_of,
    rgb: bool,
    no_hem_share: float,
) -> Labelled:
    out = Labelled()
    for patient in patients:
        classes = classes_per_patient(patient)
        for slice_no in sorted(rng.choice(np.arange(8, 36), size=int(rng.integers(3, 7)), replace=False).tolist()):
            negative = rng.random() < no_hem_share
            lesions = [] if negative else _lesions(rng, int(rng.integers(1, 3)))
            hu = render_slice_hu(rng, slice_no / 40, lesions)
            file_name = name_of(patient, slice_no)
            _write_jpeg(directory / file_name, brain_window_uint8(hu), rgb)
            image_id = len(out.images)
            out.images.append({"id": image_id, "file_name": file_name, "width": SIZE, "height": SIZE})
            for lesion in lesions:
                cls = classes[int(rng.integers(len(classes)))]
                bbox = _box(rng, lesion)
                out.annotations.append(
                    {
                        "id": len(out.annotations),
                        "image_id": image_id,
                        "category_id": class_ids[cls],
                        "bbox": bbox,
                        "area": round(bbox[2] * bbox[3], 1),
                        "iscrowd": 0,
                        "segmentation": [],
                    }
                )
    return out


def _add_label_defects(rng: np.random.Generator, src: Labelled, directory: Path, noise_category: int | None) -> None:
    anns, images = src.annotations, src.images
    anns[0]["bbox"] = [-12.0, anns[0]["bbox"][1], anns[0]["bbox"][2] + 12.0, anns[0]["bbox"][3]]  # partly outside
    anns[1]["bbox"] = [anns[1]["bbox"][0], anns[1]["bbox"][1], 600.0, anns[1]["bbox"][3]]  # past the right edge
    next_id = max(a["id"] for a in anns) + 1
    extra = [
        ([530.0, 40.0, 20.0, 20.0], "entirely outside: degenerate after clipping"),
        ([float("nan"), 10.0, 20.0, 20.0], "NaN"),
        ([100.0, 100.0, -15.0, 20.0], "negative width"),
    ]
    for i, (bbox, _) in enumerate(extra):
        anns.append(
            {
                "id": next_id + i,
                "image_id": images[3 + i]["id"],
                "category_id": anns[0]["category_id"],
                "bbox": bbox,
                "area": 0,
                "iscrowd": 0,
            }
        )
    anns.append(
        {
            "id": next_id + 3,
            "image_id": 99999,
            "category_id": anns[0]["category_id"],
            "bbox": [1, 1, 5, 5],
            "area": 25,
            "iscrowd": 0,
        }
    )
    anns.append(
        {
            "id": next_id + 4,
            "image_id": images[6]["id"],
            "category_id": 77,
            "bbox": [200, 200, 20, 20],
            "area": 400,
            "iscrowd": 0,
        }
    )
    if noise_category is not None:
        anns.append(
            {
                "id": next_id + 5,
                "image_id": images[7]["id"],
                "category_id": noise_category,
                "bbox": [250, 90, 12, 12],
                "area": 144,
                "iscrowd": 0,
            }
        )
    for victim in images[-2:]:  # listed, never exported
        (directory / victim["file_name"]).unlink()


def _coco_file(path: Path, src: Labelled, names: tuple[str, ...], superclass: str | None = None) -> None:
    categories = [
        {
            "id": i,
            "name": n,
            "supercategory": "none" if (superclass and n == superclass) else (superclass or "hemorrhage"),
        }
        for i, n in enumerate(names)
    ]
    payload = {
        "info": {"description": path.parent.parent.name},
        "images": src.images,
        "annotations": src.annotations,
        "categories": categories,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, allow_nan=True))


# -- the whole tree ------------------------------------------------------------------------------
def _patients(rng: np.random.Generator, n: int, taken: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        pid = str(int(rng.integers(100_000_000, 999_999_999)))
        if pid not in taken:
            taken.add(pid)
            out.append(pid)
    return out


def generate(
    root: str | Path,
    *,
    seed: int = 0,
    v3_patients: int = 36,
    roboflow_patients: int = 20,
    pool_patients: int = 34,
    defects: bool = True,
    upload_to: str | None = None,
) -> Path:
    """Write the ct_hemorrhage inputs under `<root>/raw/ct_hemorrhage/` (and, with `upload_to`, under that S3
    store URL too) and return the local directory. Nothing is written anywhere else, whatever the environment."""
    root = Path(root)
    base = root / RAW_PREFIX
    if base.exists():
        shutil.rmtree(base)
    rng = np.random.default_rng(seed)
    taken: set[str] = set()
    v3_ids = _patients(rng, v3_patients, taken)
    rf_only = _patients(rng, roboflow_patients - 4, taken)
    rf_ids = v3_ids[:4] + rf_only  # a few patients have slices in both sources

    v3_dir = (root / V3_COCO).parent
    v3 = _labelled_source(
        rng,
        v3_dir,
        v3_ids,
        {c: i for i, c in enumerate(V3_CLASSES)},
        lambda p: list(rng.choice(V3_CLASSES, size=int(rng.integers(2, 4)), replace=False)),
        lambda p, s: f"{p}_{s}.jpg",
        rgb=False,
        no_hem_share=0.3,
    )
    rf_dir = (root / ROBOFLOW_COCO).parent
    rare = {p: ("EDH" if i % 2 == 0 else "Contusion") for i, p in enumerate(rf_only)}
    rf = _labelled_source(
        rng,
        rf_dir,
        rf_ids,
        {c: i for i, c in enumerate(ROBOFLOW_CATEGORIES)},
        lambda p: [rare.get(p, "SAH"), *rng.choice(["IPH", "IVH", "SAH", "SDH"], size=2, replace=False).tolist()],
        lambda p, s: f"{p}_{s}_png.rf.{hashlib.md5(f'{p}/{s}'.encode()).hexdigest()}.jpg",
        rgb=True,
        no_hem_share=0.3,
    )
    if defects:
        _add_label_defects(rng, v3, v3_dir, None)
        _add_label_defects(rng, rf, rf_dir, ROBOFLOW_CATEGORIES.index("calcification"))
        rf.images.append(dict(rf.images[5], file_name="duplicate_id_" + rf.images[5]["file_name"]))
        shutil.copy(rf_dir / rf.images[5]["file_name"], rf_dir / rf.images[-1]["file_name"])
    _coco_file(root / V3_COCO, v3, V3_CLASSES)
    _coco_file(root / ROBOFLOW_COCO, rf, ROBOFLOW_CATEGORIES, superclass="hemorrhage-ct")

    rows = _write_pool(rng, root, _patients(rng, pool_patients, taken), v3_ids[4:10], defects)
    if defects:  # feedback on slices that are already labelled: must be excluded as candidates
        for image in v3.images[:3]:
            pid, slice_no = Path(image["file_name"]).stem.split("_")[:2]
            rows.append(_row(pid, int(slice_no), "FP", f"{pid}/{_uid(pid)}/{slice_no}.dcm"))
    csv_path = root / FEEDBACK_CSV
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(FEEDBACK_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    if upload_to:
        upload(root, upload_to)
    return base


def _row(pid: str, slice_no: int, feedback: str, key: str) -> dict:
    study = _uid(pid)
    return {
        "study_instance_uid": study,
        "series_instance_uid": _uid(pid, "series"),
        "sop_instance_uid": _uid(pid, slice_no),
        "instance_number": slice_no,
        "patient_id": pid,
        "s3_key": key,
        "feedback": feedback,
    }


def _write_pool(
    rng: np.random.Generator, root: Path, new_patients: list[str], labelled_patients: list[str], defects: bool
) -> list[dict]:
    """No-hemorrhage DICOM slices and their CSV rows: new patients plus other slices of labelled ones."""
    rows, n = [], 0
    for pid in new_patients + labelled_patients:
        fp_patient = rng.random() < 0.2
        for slice_no in sorted(rng.choice(np.arange(40, 60), size=int(rng.integers(3, 6)), replace=False).tolist()):
            n += 1
            thickness = 1.25 if n % 17 == 0 else 2.5 if n % 23 == 0 else (5.5 if n % 5 == 0 else 5.0)
            syntax = RLELossless if n % 11 == 0 else JPEG2000Lossless if n % 13 == 0 else ExplicitVRLittleEndian
            windows = ([40.0, 400.0], [80.0, 2000.0]) if n % 3 == 0 else ([40.0], [80.0]) if n % 7 else None
            row = _row(pid, slice_no, "FP" if fp_patient or n % 9 == 0 else "TN", f"{pid}/{_uid(pid)}/{slice_no}.dcm")
            write_dicom(
                root / DICOM_PREFIX / row["s3_key"],
                render_slice_hu(rng, (slice_no - 30) / 40),
                patient_id=pid,
                study_uid=row["study_instance_uid"],
                series_uid=row["series_instance_uid"],
                sop_uid=row["sop_instance_uid"],
                instance=slice_no,
                thickness=thickness,
                windows=windows,
                syntax=syntax,
            )
            rows.append(row)
    if defects:
        rows += _pool_defects(rng, root)
    return rows


def _pool_defects(rng: np.random.Generator, root: Path) -> list[dict]:
    out = []
    pid = "900000001"
    for slice_no, kind in enumerate(
        ["truncated", "not_dicom", "no_pixels", "no_patient_id", "no_patient_anywhere", "missing_object"], start=40
    ):
        row = _row(pid, slice_no, "TN" if slice_no % 2 else "FP", f"{pid}/{_uid(pid)}/{slice_no}.dcm")
        path = root / DICOM_PREFIX / row["s3_key"]
        common = {
            "study_uid": row["study_instance_uid"],
            "series_uid": row["series_instance_uid"],
            "sop_uid": row["sop_instance_uid"],
            "instance": slice_no,
            "thickness": 5.0,
        }
        hu = render_slice_hu(rng, 0.5)
        if kind == "truncated":
            write_dicom(path, hu, patient_id=pid, **common)
            path.write_bytes(path.read_bytes()[:3000])
        elif kind == "not_dicom":
            path.parent.mkdir(parents=True, exist_ok=True)
            buf = io.BytesIO()
            Image.fromarray(brain_window_uint8(hu)).save(buf, format="PNG")
            path.write_bytes(buf.getvalue())
        elif kind == "no_pixels":
            write_dicom(path, hu, patient_id=pid, pixels=False, **common)
        elif kind == "no_patient_id":
            write_dicom(path, hu, patient_id=None, **common)
        elif kind == "no_patient_anywhere":
            write_dicom(path, hu, patient_id=None, **common)
            row["patient_id"] = ""
        out.append(row)
    out.append(dict(out[0]))  # the same instance reported twice
    return out


def upload(root: str | Path, url: str) -> str:
    """Push `<root>/raw/ct_hemorrhage/` to the S3 store at `url` (`s3://bucket/prefix`); returns its URI."""
    if not url.startswith("s3://"):
        raise ValueError(f"upload_to must be an s3:// store URL, got {url!r}")
    from dataprep_assets.defs.resources import build_store

    store = build_store(url=url, cache_dir=str(root))
    store.push(RAW_PREFIX)
    return store.uri(RAW_PREFIX)
