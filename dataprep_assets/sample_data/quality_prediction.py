"""Logos and the conversion results three optimisation methods left behind (seed 002).

Logos (128x128 PNG) of four types: `simple` flat shapes, `text` letters, `gradient` shaded shapes and
`complex` drawings with many small parts. Each logo is "vectorised" with several VTracer-style
parameter settings by a simulated vectorizer (posterise to `color_precision` bits and
`layer_difference` steps, remove speckles, smooth geometry by `length_threshold`/`path_precision`,
round corners by `corner_threshold`, polygon or spline fitting), and SSIM/MSE/PSNR are computed for
real between that rendering and the original: quality depends on the parameters and the image.

The results are written in the formats the experiments leave:
- method 1 (correlation mapping): JSON documents `results/method1/batch_XX.json` with a `results` list;
- method 2 (reinforcement learning): JSON lines `results/method2/episodes_XX.jsonl`;
- method 3 (adaptive): CSV tables `results/method3/adaptive_results_XX.csv`.

With `defects=True` the tree also holds what real result folders hold: a truncated JSON log, a
garbled JSON line, incomplete records, non-numeric / NaN / out-of-range metrics, an extreme outlier,
PSNR inconsistent with MSE, out-of-range parameters, an unknown logo type, a duplicate record, results
whose image is missing, a truncated PNG, a BMP saved as `.png`, and one logo copied under two names.
"""

from __future__ import annotations

import csv
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from dataprep_assets.defs.quality_prediction.metrics import quality_metrics
from dataprep_assets.ml.vectorizer_params import MODES

PREFIX = "raw/quality_prediction"
SIZE = 128
TYPE_COUNTS = {"simple": 36, "text": 30, "gradient": 30, "complex": 24}
LOG_TYPE_NAMES = {"simple": "simple_geometric", "text": "text_based", "gradient": "gradient", "complex": "complex"}
START = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
PALETTE = [
    (220, 38, 38),
    (37, 99, 235),
    (22, 163, 74),
    (234, 179, 8),
    (147, 51, 234),
    (15, 23, 42),
    (249, 115, 22),
    (8, 145, 178),
]


# -- logos ---------------------------------------------------------------------------------------
def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    base = np.array(PALETTE[rng.integers(len(PALETTE))], dtype=float)
    r, g, b = (int(v) for v in np.clip(base + rng.normal(0, 12, 3), 0, 255))
    return r, g, b


def _shape(draw: ImageDraw.ImageDraw, rng: np.random.Generator, box, fill) -> None:
    kind = rng.integers(4)
    if kind == 0:
        draw.ellipse(box, fill=fill)
    elif kind == 1:
        draw.rectangle(box, fill=fill)
    elif kind == 2:
        x0, y0, x1, y1 = box
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)
    else:
        draw.rounded_rectangle(box, radius=int(rng.integers(4, 14)), fill=fill)


def _box(rng: np.random.Generator, lo: int, hi: int):
    w, h = rng.integers(lo, hi, 2)
    x0, y0 = rng.integers(4, SIZE - 4 - w), rng.integers(4, SIZE - 4 - h)
    return (int(x0), int(y0), int(x0 + w), int(y0 + h))


def simple_logo(rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(1, 4)):
        _shape(draw, rng, _box(rng, 36, 100), _colour(rng))
    return img


def text_logo(rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(img)
    letters = "".join(chr(c) for c in rng.integers(65, 91, rng.integers(2, 5)))
    font = ImageFont.load_default(size=int(rng.integers(30, 52)) if len(letters) < 4 else 30)
    if rng.random() < 0.4:
        draw.rectangle(_box(rng, 90, 118), fill=_colour(rng))
        fill = (255, 255, 255)
    else:
        fill = _colour(rng)
    draw.text((SIZE / 2, SIZE / 2), letters, fill=fill, font=font, anchor="mm")
    if rng.random() < 0.5:
        small = ImageFont.load_default(size=12)
        draw.text((SIZE / 2, SIZE - 14), letters.lower() + " inc", fill=(60, 60, 60), font=small, anchor="mm")
    return img


def gradient_logo(rng: np.random.Generator) -> Image.Image:
    yy, xx = np.mgrid[:SIZE, :SIZE] / SIZE
    a, b = np.array(_colour(rng), float), np.array(_colour(rng), float)
    if rng.random() < 0.5:
        theta = rng.uniform(0, np.pi)
        t = np.clip((xx * np.cos(theta) + yy * np.sin(theta) + 0.2) / 1.6, 0, 1)
    else:
        cy, cx = rng.uniform(0.3, 0.7, 2)
        t = np.clip(np.hypot(yy - cy, xx - cx) / 0.6, 0, 1)
    shaded = Image.fromarray((a * (1 - t[..., None]) + b * t[..., None]).astype(np.uint8))
    mask = Image.new("L", (SIZE, SIZE), 0)
    _shape(ImageDraw.Draw(mask), rng, _box(rng, 70, 118), 255)
    img = Image.new("RGB", (SIZE, SIZE), "white")
    img.paste(shaded, mask=mask)
    return img


def complex_logo(rng: np.random.Generator) -> Image.Image:
    img = gradient_logo(rng) if rng.random() < 0.5 else Image.new("RGB", (SIZE, SIZE), _colour(rng))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.integers(6, 14)):
        _shape(draw, rng, _box(rng, 8, 40), _colour(rng))
    for _ in range(rng.integers(3, 8)):
        x0, y0, x1, y1 = (int(v) for v in rng.integers(0, SIZE, 4))
        draw.line((x0, y0, x1, y1), fill=_colour(rng), width=int(rng.integers(1, 4)))
    if rng.random() < 0.5:
        draw.text(
            (8, SIZE - 22),
            "".join(chr(c) for c in rng.integers(97, 123, 6)),
            fill="black",
            font=ImageFont.load_default(size=14),
        )
    return img


DRAW = {"simple": simple_logo, "text": text_logo, "gradient": gradient_logo, "complex": complex_logo}


# -- the simulated vectorizer --------------------------------------------------------------------
def simulate_vectorization(image: Image.Image, params: dict) -> np.ndarray:
    """What an SVG made with `params` looks like when rendered back at the original size (uint8 RGB)."""
    arr = np.asarray(image.convert("RGB"), dtype=np.float64)
    step = max(256 >> int(params["color_precision"]), float(params["layer_difference"]), 1.0)
    img = Image.fromarray(np.clip(np.round(arr / step) * step, 0, 255).astype(np.uint8))
    speckle = int(params["filter_speckle"])
    if speckle >= 4:
        img = img.filter(
            ImageFilter.MedianFilter(3 if speckle < 8 else 5 if speckle < 16 else 7 if speckle < 32 else 9)
        )
    detail = 1.0 - 0.08 * float(params["length_threshold"]) + 0.04 * min(int(params["path_precision"]), 8)
    detail *= 0.7 + 0.3 * min(int(params["max_iterations"]), 20) / 20
    scale = float(np.clip(detail, 0.15, 1.0))
    if scale < 0.999:
        small = max(8, int(SIZE * scale))
        resample = Image.Resampling.NEAREST if params["mode"] == "polygon" else Image.Resampling.BILINEAR
        img = img.resize((small, small), Image.Resampling.BOX).resize((SIZE, SIZE), resample)
    radius = float(params["corner_threshold"]) / 180 * 3.0 + float(params["splice_threshold"]) / 180 * 1.2
    if params["mode"] == "none":
        radius *= 0.3
    if radius > 0.05:
        img = img.filter(ImageFilter.GaussianBlur(radius))
    return np.asarray(img)


def sample_params(rng: np.random.Generator, method: int) -> dict:
    """Method 1 sticks near formula outputs, 2 explores widely, 3 refines around good settings."""
    if method == 2:
        p = {
            "color_precision": int(rng.integers(1, 9)),
            "layer_difference": int(rng.integers(4, 128)),
            "filter_speckle": int(rng.integers(1, 64)),
            "corner_threshold": round(float(rng.uniform(10, 180)), 1),
            "length_threshold": round(float(rng.uniform(1.0, 16.0)), 2),
            "max_iterations": int(rng.integers(2, 20)),
            "splice_threshold": round(float(rng.uniform(10, 120)), 1),
            "path_precision": int(rng.integers(1, 10)),
            "mode": str(rng.choice(MODES, p=[0.6, 0.3, 0.1])),
        }
    else:
        spread = 1.0 if method == 1 else 0.5
        p = {
            "color_precision": int(np.clip(round(rng.normal(6, 1.5 * spread)), 2, 8)),
            "layer_difference": int(np.clip(round(rng.normal(16, 10 * spread)), 2, 64)),
            "filter_speckle": int(np.clip(round(rng.normal(4, 3 * spread)), 1, 16)),
            "corner_threshold": round(float(np.clip(rng.normal(60, 25 * spread), 5, 150)), 1),
            "length_threshold": round(float(np.clip(rng.normal(4.0, 2.0 * spread), 1.0, 10.0)), 2),
            "max_iterations": int(np.clip(round(rng.normal(10, 3 * spread)), 3, 20)),
            "splice_threshold": round(float(np.clip(rng.normal(45, 15 * spread), 10, 100)), 1),
            "path_precision": int(np.clip(round(rng.normal(4, 2 * spread)), 1, 8)),
            "mode": "spline" if method == 3 or rng.random() < 0.8 else "polygon",
        }
    return p


# -- writing the experiment logs -----------------------------------------------------------------
def _iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _json_default(value):
    return float(value) if isinstance(value, np.floating) else int(value)


def _write_method1(base: Path, records: list[dict]) -> None:
    out = base / "results" / "method1"
    out.mkdir(parents=True, exist_ok=True)
    for b in range(0, len(records), 40):
        chunk = records[b : b + 40]
        doc = {
            "method": "method1_correlation_mapping",
            "created": chunk[0]["timestamp"],
            "results": [
                {
                    "image": r["image"],
                    "logo_type": r["log_type"],
                    "parameters": r["params"],
                    "metrics": r["metrics"],
                    "timestamp": r["timestamp"],
                }
                for r in chunk
            ],
        }
        (out / f"batch_{b // 40:02d}.json").write_text(json.dumps(doc, indent=1, default=_json_default))


def _write_method2(base: Path, records: list[dict]) -> None:
    out = base / "results" / "method2"
    out.mkdir(parents=True, exist_ok=True)
    for b in range(0, len(records), 100):
        lines = []
        for i, r in enumerate(records[b : b + 100]):
            epoch = datetime.strptime(r["timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
            row = {
                "episode": b + i,
                "image_path": r["image"],
                "category": r["log_type"],
                "params": r["params"],
                "quality": r["metrics"],
                "time": epoch,
                "method": 2,
            }
            lines.append(json.dumps(row, default=_json_default))
        (out / f"episodes_{b // 100:02d}.jsonl").write_text("\n".join(lines) + "\n")


CSV_COLUMNS = [
    "image_path",
    "logo_type",
    "method",
    "color_precision",
    "layer_difference",
    "filter_speckle",
    "corner_threshold",
    "length_threshold",
    "max_iterations",
    "splice_threshold",
    "path_precision",
    "mode",
    "ssim",
    "mse",
    "psnr",
    "timestamp",
]


def _write_method3(base: Path, records: list[dict]) -> None:
    out = base / "results" / "method3"
    out.mkdir(parents=True, exist_ok=True)
    for b in range(0, len(records), 150):
        with open(out / f"adaptive_results_{b // 150:02d}.csv", "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_COLUMNS)
            for r in records[b : b + 150]:
                m = r["metrics"]
                writer.writerow(
                    [
                        r["image"],
                        r["log_type"],
                        "method3",
                        *[r["params"][c] for c in CSV_COLUMNS[3:12]],
                        *[m.get(k, "") for k in ("ssim", "mse", "psnr")],
                        r["timestamp"],
                    ]
                )


def _round_metrics(metrics: dict) -> dict:
    return {"ssim": round(metrics["ssim"], 6), "mse": round(metrics["mse"], 4), "psnr": round(metrics["psnr"], 4)}


def generate(
    root: str | Path,
    *,
    seed: int = 0,
    type_counts: dict[str, int] | None = None,
    settings_per_method: tuple[int, int, int] = (4, 3, 3),
    defects: bool = True,
) -> Path:
    """Write logos under `<root>/raw/quality_prediction/images/` and result logs under `.../results/`."""
    base = Path(root) / PREFIX
    rng = np.random.default_rng(seed)
    type_counts = type_counts or TYPE_COUNTS
    by_method: dict[int, list[dict]] = {1: [], 2: [], 3: []}
    for logo_type, count in type_counts.items():
        for i in range(count):
            image = DRAW[logo_type](rng)
            rel = f"images/{logo_type}/{logo_type}_{i:03d}.png"
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            image.save(base / rel, format="PNG")
            original = np.asarray(image)
            for method, n in zip((1, 2, 3), settings_per_method, strict=True):
                for _ in range(n):
                    params = sample_params(rng, method)
                    ts = START + timedelta(days=7 * (method - 1) + float(rng.uniform(0, 6)))
                    metrics = _round_metrics(quality_metrics(original, simulate_vectorization(image, params)))
                    by_method[method].append(
                        {
                            "image": rel,
                            "log_type": LOG_TYPE_NAMES[logo_type],
                            "params": params,
                            "metrics": metrics,
                            "timestamp": _iso(ts),
                        }
                    )
            if defects and rel == "images/simple/simple_000.png":  # the same logo under a second name
                (base / "images/simple/simple_000_copy.png").write_bytes((base / rel).read_bytes())
                for _ in range(2):
                    params = sample_params(rng, 3)
                    metrics = _round_metrics(quality_metrics(original, simulate_vectorization(image, params)))
                    ts = _iso(START + timedelta(days=14 + float(rng.uniform(0, 6))))
                    by_method[3].append(
                        {
                            "image": "images/simple/simple_000_copy.png",
                            "log_type": "simple_geometric",
                            "params": params,
                            "metrics": metrics,
                            "timestamp": ts,
                        }
                    )
    for records in by_method.values():
        records.sort(key=lambda r: (r["timestamp"], r["image"]))
    if defects:
        _add_record_defects(base, by_method, rng)
    _write_method1(base, by_method[1])
    _write_method2(base, by_method[2])
    _write_method3(base, by_method[3])
    if defects:
        _add_file_defects(base, type_counts)
    return base


def _add_record_defects(base: Path, by_method: dict[int, list[dict]], rng: np.random.Generator) -> None:
    m1, m2, m3 = by_method[1], by_method[2], by_method[3]
    del m1[5]["metrics"]["ssim"]  # incomplete: metric missing
    m1[11]["metrics"]["ssim"] = float("nan")  # NaN metric (JSON NaN)
    m1[23]["metrics"]["ssim"] = 1.37  # SSIM out of [-1, 1]
    m1[31]["metrics"]["mse"] = -4.2  # negative MSE
    m1[47]["params"]["color_precision"] = 0  # parameter outside its range
    m1[58]["log_type"] = "abstract_art"  # unknown logo type
    m1.append(dict(m1[64]))  # the same result logged twice
    m2[7]["params"]["mode"] = "bezier"  # unknown mode
    m2[19]["metrics"]["ssim"] = -0.62  # in range but an extreme outlier
    m2[33]["metrics"]["psnr"] = 250.0  # PSNR inconsistent with MSE (and an outlier)
    m3[9]["metrics"]["ssim"] = "n/a"  # non-numeric metric in a CSV table
    m3[21]["metrics"]["mse"] = ""  # empty cell
    for method, records in by_method.items():  # results whose image was deleted afterwards
        params = sample_params(rng, method)
        metrics = {"ssim": 0.91, "mse": 40.0, "psnr": round(10 * math.log10(255**2 / 40.0), 4)}
        records.append(
            {
                "image": "images/text/text_deleted.png",
                "log_type": "text_based",
                "params": params,
                "metrics": metrics,
                "timestamp": _iso(START + timedelta(days=7 * (method - 1) + 3)),
            }
        )


def _add_file_defects(base: Path, type_counts: dict[str, int]) -> None:
    results = base / "results"
    (results / "method1" / "batch_99.json").write_text(
        '{"method": "method1_correlation_mapping", "results": [{"image": "images/simple/simple_000.png", "parame'
    )
    with open(results / "method2" / "episodes_00.jsonl", "a") as fh:
        fh.write('{"episode": 9999, "image_path": "images/simple/simple_001.png", "params": {"color_pre\n')
    n_complex = type_counts.get("complex", 0)
    if n_complex >= 3:
        victim = base / "images" / "complex" / f"complex_{n_complex - 1:03d}.png"
        victim.write_bytes(victim.read_bytes()[:200])  # truncated PNG
        impostor = base / "images" / "complex" / f"complex_{n_complex - 2:03d}.png"
        Image.open(impostor).convert("RGB").save(impostor, format="BMP")  # a BMP behind a .png name
