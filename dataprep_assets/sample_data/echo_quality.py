"""Echo videos and the inference results an EchoQuality run writes about them.

`raw/echo_quality/raw_data/<MACHINE>-<nnnn>/` holds multi-frame ultrasound DICOMs (a beating
ventricle in a sector scan, speckle, per-machine size and colour, Manufacturer / ManufacturerModelName
filled; worse quality = less contrast, more noise, dropout bands). Exams link like real ones: one
patient scanned on two machines, one study exported as two folders, anonymised IDs. pydicom's
bundled SonoSite clip (`examples_ybr_color.dcm`, JPEG, 30 frames) is one more exam.

`raw/echo_quality/inference_output/` holds what the inference wrote: per-folder
`inference_results.json`, a `summary.json` (`folder_results`), a CSV summary from another batch
(other spelling of machine names, absolute paths from the inference host) and a failed-files report.
Scores cover every assessment band (the real model's phrases), borderline values and statuses.

Bad inputs (with `defects=True`): scores that are not numbers or outside [0, 1], unknown statuses,
a malformed entry, a truncated JSON, a CSV without a score column, a result whose DICOM is missing,
a text file named `.dcm`, a duplicated video, a single-frame still and two sources that disagree.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

PREFIX = "raw/echo_quality"
RAW_DIR = f"{PREFIX}/raw_data"
RESULTS_DIR = f"{PREFIX}/inference_output"
INFERENCE_THRESHOLD = 0.3

# folder prefix: (Manufacturer, ManufacturerModelName, rows, columns, RGB?)
MACHINES = {
    "VIVIDE95": ("GE Vingmed Ultrasound", "Vivid E95", 72, 96, True),
    "VIVIDS60": ("GE Vingmed Ultrasound", "Vivid S60", 64, 88, True),
    "VIVIDS70": ("GE Vingmed Ultrasound", "Vivid S70", 64, 88, True),
    "VIVIDIQ": ("GE Healthcare", "Vivid iq", 60, 80, False),
    "EPIQ7": ("Philips Medical Systems", "EPIQ 7C", 80, 96, False),
    "AFFINITI70G": ("Philips Medical Systems", "Affiniti 70G", 72, 88, False),
    "AFFINITI50G": ("Philips Medical Systems", "Affiniti 50G", 64, 80, False),
}
CSV_MACHINE_SPELLING = {"VIVIDE95": "Vivid E95", "VIVIDS60": "GE Vivid S60"}
EXAMPLE_FOLDER = "sonosite_export"


def assessment(score: float) -> str:
    """The real inference's assessment bands."""
    if score >= 0.8:
        return "Excellent quality"
    if score >= 0.6:
        return "Good quality"
    if score >= 0.3:
        return "Acceptable quality, but may have minor issues"
    if score >= 0.2:
        return "Poor quality - likely issues with clarity, contrast, or positioning"
    if score >= 0.1:
        return "Very poor quality - significant issues with image acquisition"
    return "Critical issues - may include artifacts, improper view, or technical errors"


def result_entry(score: float, path: str) -> dict:
    return {
        "score": score,
        "status": "PASS" if score >= INFERENCE_THRESHOLD else "FAIL",
        "assessment": assessment(score),
        "path": path,
    }


def echo_video(rng: np.random.Generator, frames: int, rows: int, cols: int, quality: float, rgb: bool) -> np.ndarray:
    """A sector-scan clip of a beating ventricle; `quality` in [0, 1] sets contrast, noise and dropout."""
    yy, xx = np.mgrid[:rows, :cols].astype(np.float32)
    apex_y, apex_x = 2.0, cols / 2
    radius = np.hypot(yy - apex_y, xx - apex_x)
    angle = np.degrees(np.arctan2(xx - apex_x, yy - apex_y))
    sector = (np.abs(angle) < 38) & (radius < rows * 0.96)
    cy, cx = rows * 0.58, cols * 0.5
    clip = np.empty((frames, rows, cols), dtype=np.float32)
    for t in range(frames):
        beat = 1.0 + 0.12 * np.sin(2 * np.pi * t / max(frames, 2))
        ry, rx = rows * 0.22 * beat, cols * 0.16 * beat
        ellipse = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        wall = np.exp(-((ellipse - 1.0) ** 2) / 0.06)
        tissue = 0.25 + (0.35 + 0.55 * quality) * wall - 0.2 * (ellipse < 0.85)
        speckle = rng.rayleigh(0.55 + 0.6 * (1 - quality), (rows, cols))
        frame = np.clip(tissue, 0.02, None) * speckle + rng.normal(0, 0.05 + 0.35 * (1 - quality), (rows, cols))
        if quality < 0.35:
            bands = rng.integers(0, rows, 2 + int(6 * (0.35 - quality) * 10))
            frame[bands] *= 0.1
        clip[t] = np.where(sector, frame, 0)
    clip = np.clip(clip / max(np.percentile(clip, 99.5), 1e-6) * 235, 0, 255).astype(np.uint8)
    if rgb:
        tint = np.array([1.0, 0.97, 0.9], dtype=np.float32)
        clip = (clip[..., None] * tint).astype(np.uint8)
    return clip


def write_echo_dicom(
    path: Path, pixels: np.ndarray, *, manufacturer: str, model: str, patient_id: str, study_uid: str, sop_uid: str
) -> Path:
    """A multi-frame US DICOM (explicit VR little endian) with the tags a scanner fills."""
    from pydicom.uid import UltrasoundMultiFrameImageStorage, generate_uid

    from dataprep_assets.lib.dicom import new_dataset

    series_uid = generate_uid(entropy_srcs=[sop_uid, "series"])
    ds = new_dataset(UltrasoundMultiFrameImageStorage, sop_uid, study_uid, series_uid)
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "US", manufacturer, model
    ds.PatientID, ds.PatientName, ds.StudyDate = patient_id, patient_id.replace("-", "^"), "20240517"
    ds.NumberOfFrames, ds.FrameTime, ds.CineRate = pixels.shape[0], 33.3, 30
    ds.FrameIncrementPointer = 0x00181063
    ds.Rows, ds.Columns = pixels.shape[1], pixels.shape[2]
    ds.SamplesPerPixel = 3 if pixels.ndim == 4 else 1
    ds.PhotometricInterpretation = "RGB" if pixels.ndim == 4 else "MONOCHROME2"
    if pixels.ndim == 4:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_results_json(root: str | Path, folder: str, results: dict, name: str = "inference_results.json") -> Path:
    """`<results>/<folder>/inference_results.json` as the inference writes it ({file_id: entry})."""
    path = Path(root) / RESULTS_DIR / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(path)
    return path


def write_exam(
    root: str | Path,
    folder: str,
    scores: list[float],
    *,
    seed: int = 0,
    frames: int = 4,
    patient_id: str = "",
    study_uid: str = "",
    results: bool = True,
) -> dict:
    """One more exam: DICOM videos under raw_data/<folder>/ and (with `results`) its inference_results.json.

    The machine is the folder's prefix (one of `MACHINES`, else a generic GE model). Returns the results."""
    from pydicom.uid import generate_uid

    prefix = folder.split("-")[0]
    manufacturer, model, rows, cols, rgb = MACHINES.get(prefix, ("GE Healthcare", prefix.title(), 64, 80, False))
    rng = np.random.default_rng([seed, len(folder)])
    study_uid = study_uid or generate_uid(entropy_srcs=[str(seed), folder, "study"])
    entries = {}
    for i, score in enumerate(scores):
        name = f"IM_{i + 1:04d}.dcm"
        sop = generate_uid(entropy_srcs=[str(seed), folder, name])
        path = Path(root) / RAW_DIR / folder / name
        write_echo_dicom(path, echo_video(rng, frames, rows, cols, score, rgb), manufacturer=manufacturer, model=model,
                         patient_id=patient_id or f"PAT-{folder}", study_uid=study_uid, sop_uid=sop)  # fmt: skip
        entries[name] = result_entry(score, f"raw_data/{folder}/{name}")
    if results:
        write_results_json(root, folder, entries)
    return entries


def _scores(rng: np.random.Generator, n: int) -> list[float]:
    """A realistic mix: many excellent, some critical, the bands in between."""
    kind = rng.choice(["high", "low", "mid"], size=n, p=[0.5, 0.25, 0.25])
    out = []
    for k in kind:
        if k == "high":
            out.append(round(float(rng.uniform(0.95, 0.999)), 4))
        elif k == "low":
            out.append(round(float(rng.uniform(0.005, 0.099)), 4))
        else:
            out.append(round(float(rng.uniform(0.1, 0.95)), 4))
    return out


def _file_names(rng: np.random.Generator, prefix: str, n: int) -> list[str]:
    if prefix.startswith(("EPIQ", "AFFINITI")):  # Philips exports: 8-character names, no extension
        letters = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"))
        return sorted({"".join(rng.choice(letters, 8)) for _ in range(n)})
    return [f"IM_{i + 1:04d}.dcm" for i in range(n)]


def _exams(seed: int) -> list[tuple[str, str, str, str]]:
    """(machine prefix, folder, patient id, study uid): linked like a real archive."""
    from pydicom.uid import generate_uid

    exams = []
    for m, prefix in enumerate(MACHINES):
        for e in range(1, 3):
            folder = f"{prefix}-{e:04d}"
            exams.append(
                (prefix, folder, f"PAT-{m * 2 + e:03d}", generate_uid(entropy_srcs=[str(seed), folder, "study"]))
            )
    fix = {f: i for i, (_, f, _, _) in enumerate(exams)}
    p, f, _, s = exams[fix["AFFINITI70G-0001"]]
    exams[fix["AFFINITI70G-0001"]] = (p, f, exams[fix["EPIQ7-0002"]][2], s)  # same patient on two machines
    p, f, pid, _ = exams[fix["VIVIDE95-0002"]]
    exams[fix["VIVIDE95-0002"]] = (p, f, pid, exams[fix["VIVIDE95-0001"]][3])  # one study exported as two folders
    for folder in ("VIVIDS70-0002", "AFFINITI50G-0001"):  # anonymised exports
        p, f, _, s = exams[fix[folder]]
        exams[fix[folder]] = (p, f, "ANONYMOUS", s)
    return exams


def generate(
    root: str | Path,
    *,
    seed: int = 0,
    videos_per_exam: tuple[int, int] = (5, 8),
    frames: tuple[int, int] = (6, 10),
    defects: bool = True,
) -> Path:
    """Write `<root>/raw/echo_quality/` (replacing a previous sample) and return it."""
    from pydicom.uid import generate_uid

    base = Path(root) / PREFIX
    shutil.rmtree(base, ignore_errors=True)
    rng = np.random.default_rng(seed)
    per_folder, csv_rows, summary = {}, [], []
    for prefix, folder, patient, study in _exams(seed):
        manufacturer, model, rows, cols, rgb = MACHINES[prefix]
        names = _file_names(rng, prefix, int(rng.integers(videos_per_exam[0], videos_per_exam[1] + 1)))
        scores = _scores(rng, len(names))
        results = {}
        for name, score in zip(names, scores, strict=True):
            pixels = echo_video(rng, int(rng.integers(frames[0], frames[1] + 1)), rows, cols, score, rgb)
            sop = generate_uid(entropy_srcs=[str(seed), folder, name])
            write_echo_dicom(
                base / "raw_data" / folder / name,
                pixels,
                manufacturer=manufacturer,
                model=model,
                patient_id=patient,
                study_uid=study,
                sop_uid=sop,
            )
            results[name] = result_entry(score, f"raw_data/{folder}/{name}")
        per_folder[folder] = results
    _add_example_clip(base, per_folder)
    _add_borderline(per_folder)
    for folder in ("VIVIDE95-0002", "VIVIDS60-0001"):  # another batch wrote a CSV summary instead
        for name, entry in per_folder.pop(folder).items():
            machine = CSV_MACHINE_SPELLING[folder.split("-")[0]]
            csv_rows.append(
                {
                    "folder": folder,
                    "filename": name,
                    "machine_type": machine,
                    **entry,
                    "path": f"/mnt/echo-share/raw_data/{folder}/{name}",
                }
            )
    for folder, results in sorted(per_folder.items()):
        write_results_json(root, folder, results)
        summary.append({"folder": folder, "status": "success", "num_files": len(results), "results": results})
    if defects:
        _add_defects(root, base, rng, per_folder, csv_rows, summary)
    _write_csv(base / "inference_output" / "batch_2024-05_vivid_summary.csv", csv_rows)
    (base / "inference_output" / "summary.json").write_text(
        json.dumps({"total_folders": len(summary), "folder_results": summary}, indent=2)
    )
    return base


def _add_example_clip(base: Path, per_folder: dict) -> None:
    from pydicom import examples

    target = base / "raw_data" / EXAMPLE_FOLDER / "examples_ybr_color.dcm"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(examples.get_path("ybr_color"), target)
    per_folder[EXAMPLE_FOLDER] = {target.name: result_entry(0.9731, f"raw_data/{EXAMPLE_FOLDER}/{target.name}")}


def _add_borderline(per_folder: dict) -> None:
    """Scores right on the thresholds: 0.95 and 0.1 (which the real model calls 'Very poor', not 'Critical')."""
    for folder, score in (
        ("EPIQ7-0001", 0.95),
        ("EPIQ7-0002", 0.1),
        ("AFFINITI70G-0002", 0.9499),
        ("VIVIDIQ-0001", 0.0999),
    ):
        name = sorted(per_folder[folder])[0]
        per_folder[folder][name] = result_entry(score, per_folder[folder][name]["path"])


def _write_csv(path: Path, rows: list[dict]) -> None:
    import pandas as pd

    cols = ["folder", "filename", "machine_type", "score", "status", "assessment", "path"]
    pd.DataFrame(rows, columns=cols).to_csv(path, index=False)


def _add_defects(
    root: str | Path, base: Path, rng: np.random.Generator, per_folder: dict, csv_rows: list, summary: list
) -> None:
    raw, out = base / "raw_data", base / "inference_output"
    bad = {
        "IM_9001.dcm": {"score": "high", "status": "PASS", "assessment": "Excellent quality"},
        "IM_9002.dcm": {"score": 1.7, "status": "PASS", "assessment": "Excellent quality"},
        "IM_9003.dcm": {"score": -0.2, "status": "FAIL", "assessment": "Critical issues - may include artifacts"},
        "IM_9004.dcm": {"score": 0.97, "status": "pending", "assessment": "Excellent quality"},
        "IM_9005.dcm": ["not", "an", "object"],
        "IM_9006.dcm": result_entry(0.98, "raw_data/VIVIDS70-0001/IM_9006.dcm"),  # DICOM never uploaded
        "IM_9007.dcm": result_entry(0.03, "raw_data/VIVIDS70-0001/IM_9007.dcm"),  # a text file named .dcm
        "IM_9008.dcm": result_entry(0.97, "raw_data/VIVIDS70-0001/IM_9008.dcm"),  # a still, not a clip
    }
    (raw / "VIVIDS70-0001" / "IM_9007.dcm").write_text("report exported by mistake: LV EF 55%\n")
    manufacturer, model, rows, cols, rgb = MACHINES["VIVIDS70"]
    from pydicom.uid import generate_uid

    write_echo_dicom(
        raw / "VIVIDS70-0001" / "IM_9008.dcm",
        echo_video(rng, 1, rows, cols, 0.97, rgb),
        manufacturer=manufacturer, model=model, patient_id="PAT-005", study_uid=generate_uid(entropy_srcs=["still"]),
        sop_uid=generate_uid(entropy_srcs=["still", "sop"]),
    )  # fmt: skip
    write_results_json(root, "VIVIDS70-0001", {**per_folder["VIVIDS70-0001"], **bad})
    # The same clip copied into another exam folder under a new name.
    src_name = sorted(per_folder["EPIQ7-0001"])[1]
    shutil.copyfile(raw / "EPIQ7-0001" / src_name, raw / "EPIQ7-0002" / "DUPL0001")
    dup = dict(per_folder["EPIQ7-0001"][src_name], path="raw_data/EPIQ7-0002/DUPL0001")
    write_results_json(root, "EPIQ7-0002", {**per_folder["EPIQ7-0002"], "DUPL0001": dup})
    # A CSV row that contradicts the per-folder JSON of the same file.
    name, entry = sorted(per_folder["AFFINITI50G-0002"].items())[0]
    flipped = 0.02 if entry["score"] >= 0.5 else 0.99
    csv_rows.append(
        {
            "folder": "AFFINITI50G-0002",
            "filename": name,
            "machine_type": "Affiniti 50G",
            **result_entry(flipped, entry["path"]),
        }
    )
    # A result file cut off mid-write, a CSV without scores, and a failed-files report.
    (out / "VIVIDIQ-0002" / "inference_results_rerun.json").write_text('{"IM_0001.dcm": {"score": 0.97, "status": "PA')
    (out / "reviewer_notes.csv").write_text("folder,filename,comment\nEPIQ7-0001,ABC,looks fine\n")
    failed = {
        "folder": "VIVIDS60-0002",
        "total_failed_files": 1,
        "failed_files": [
            {"filename": "IM_0099.dcm", "path": "raw_data/VIVIDS60-0002/IM_0099.dcm", "reasons": ["not_dicom"]}
        ],
    }
    (out / "VIVIDS60-0002" / "failed_files").mkdir(parents=True, exist_ok=True)
    (out / "VIVIDS60-0002" / "failed_files" / "VIVIDS60-0002_failed_files.json").write_text(
        json.dumps(failed, indent=2)
    )
