"""A PerVA-like personal-object image tree, in both layouts, with the bad inputs a real one has.

Categories hold several concepts (one personal object each: a bag, a mug, a plant...). Every
concept is drawn with its own colours, pattern and proportions; its images are different views
of it (position, scale, rotation, flip, lighting, background), so images of one concept look
alike and concepts of one category share a silhouette: the hard negatives retrieval must find.

    raw/perva_retrieval/PerVA/{train,test}/<category>/<concept>/NNN.jpg   explicit layout (the demo)
    raw/perva_retrieval/PerVA_by_concept/<category>/<concept>/NNN.jpg     auto-split layout
    raw/perva_retrieval/outside/stray.jpg                                 target of an escaping symlink

Bad inputs (explicit tree): an empty concept folder, non-image files, a truncated JPEG and a
garbage PNG, a category with one concept (`tumbler`), the same file names in every concept plus
one byte-identical copy across concepts, a stray file at category level, and symlinks (a file
and a concept folder) pointing outside data_root.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PREFIX = "raw/perva_retrieval"
SIZE = 96
CATEGORIES = {  # category: concepts
    "bag": ["ale", "bo", "cin", "dex", "eva"],
    "book": ["atlas", "blue_novel", "cookbook", "diary", "poems"],
    "cup": ["mug_a", "mug_b", "mug_c", "mug_d", "teacup"],
    "plant": ["cactus", "fern", "monstera", "palm", "pothos", "sage"],
    "toy": ["bear", "bunny", "dino", "kitty", "robot"],
    "veg": ["carrot", "eggplant", "pepper", "squash"],
    "tumbler": ["steel"],
}
BACKGROUNDS = [(235, 230, 220), (200, 215, 230), (120, 110, 100), (60, 70, 80), (215, 200, 170), (180, 200, 180)]


def _concept_style(rng: np.random.Generator) -> dict:
    hue = rng.uniform(0, 1)
    primary = tuple(int(c) for c in (np.array(_hsv(hue, rng.uniform(0.5, 0.95), rng.uniform(0.45, 0.95))) * 255))
    secondary = tuple(
        int(c)
        for c in (
            np.array(_hsv((hue + rng.uniform(0.25, 0.75)) % 1, rng.uniform(0.3, 0.9), rng.uniform(0.3, 1.0))) * 255
        )
    )
    return {
        "primary": primary,
        "secondary": secondary,
        "pattern": rng.choice(["plain", "stripes", "dots", "band"]),
        "aspect": rng.uniform(0.75, 1.3),
        "detail": rng.uniform(0.2, 0.8),
    }


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    i = int(h * 6) % 6
    f = h * 6 - int(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    return [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i]


def _pattern(draw: ImageDraw.ImageDraw, box, style) -> None:
    x0, y0, x1, y1 = box
    color = style["secondary"]
    if style["pattern"] == "stripes":
        for x in range(int(x0) + 3, int(x1), 8):
            draw.line((x, y0 + 2, x, y1 - 2), fill=color, width=3)
    elif style["pattern"] == "dots":
        for y in range(int(y0) + 5, int(y1) - 2, 9):
            for x in range(int(x0) + 5, int(x1) - 2, 9):
                draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=color)
    elif style["pattern"] == "band":
        mid = (y0 + y1) / 2
        draw.rectangle((x0, mid - 5, x1, mid + 5), fill=color)


def _draw_object(category: str, style: dict) -> Image.Image:
    """The concept's object on a transparent 64x64 layer."""
    layer = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)
    p, s, a, det = style["primary"], style["secondary"], style["aspect"], style["detail"]
    w = 40 * min(a, 1.2)
    x0, x1 = 32 - w / 2, 32 + w / 2
    if category == "bag":
        d.arc((x0 + 6, 6, x1 - 6, 34), 180, 360, fill=s, width=4)
        d.polygon([(x0 + 4, 20), (x1 - 4, 20), (x1, 58), (x0, 58)], fill=p)
        _pattern(d, (x0 + 4, 22, x1 - 4, 56), style)
    elif category == "book":
        d.rectangle((x0, 8, x1, 58), fill=p)
        d.rectangle((x0, 8, x0 + 6, 58), fill=s)
        d.rectangle((x0 + 10, 16, x1 - 6, 16 + 10 * det), fill=s)
    elif category == "cup":
        d.ellipse((x1 - 8, 22, x1 + 8, 44), outline=p, width=4)
        d.rounded_rectangle((x0, 14, x1, 56), radius=6, fill=p)
        _pattern(d, (x0 + 2, 18, x1 - 2, 52), style)
    elif category == "plant":
        d.polygon([(x0 + 6, 40), (x1 - 6, 40), (x1 - 10, 60), (x0 + 10, 60)], fill=s)
        green = (int(40 + 60 * det), int(120 + 80 * det), int(40 + 40 * a))
        for k in range(3 + int(det * 4)):
            ang = np.pi * (0.15 + 0.7 * k / (2 + det * 4))
            cx, cy = 32 + 18 * np.cos(ang), 38 - 26 * np.sin(ang)
            d.ellipse((cx - 7, cy - 4 - 4 * a, cx + 7, cy + 4 + 4 * a), fill=green)
    elif category == "toy":
        d.ellipse((x0 + 6, 26, x1 - 6, 60), fill=p)
        d.ellipse((22, 6, 42, 28), fill=p)
        d.ellipse((18, 4, 26, 12), fill=s)
        d.ellipse((38, 4, 46, 12), fill=s)
        d.ellipse((27, 13, 30, 16), fill=(20, 20, 20))
        d.ellipse((34, 13, 37, 16), fill=(20, 20, 20))
    elif category == "veg":
        d.ellipse((x0 + 2, 14, x1 - 2, 60), fill=p)
        d.polygon([(28, 16), (32, 2), (36, 16)], fill=(40, 140, 50))
        _pattern(d, (x0 + 6, 20, x1 - 6, 54), style)
    else:  # tumbler
        d.rectangle((x0 + 8, 10, x1 - 8, 60), fill=p)
        d.rectangle((x0 + 6, 4, x1 - 6, 12), fill=s)
    return layer


def _view(obj: Image.Image, rng: np.random.Generator, background) -> Image.Image:
    """One photo of the object: background, jittered pose and scale, lighting, noise."""
    bg = np.empty((SIZE, SIZE, 3), dtype=np.float32)
    grad = np.linspace(0.85, 1.15, SIZE, dtype=np.float32)[:, None, None]
    bg[:] = np.asarray(background, dtype=np.float32) * grad
    canvas = Image.fromarray(np.clip(bg + rng.normal(0, 6, bg.shape), 0, 255).astype(np.uint8))
    scale = rng.uniform(0.95, 1.3)
    piece = obj.resize((int(64 * scale), int(64 * scale)), Image.Resampling.BILINEAR).rotate(
        float(rng.uniform(-20, 20)), expand=True, resample=Image.Resampling.BILINEAR
    )
    if rng.random() < 0.5:
        piece = piece.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    x = int(rng.integers(0, max(1, SIZE - piece.width)))
    y = int(rng.integers(0, max(1, SIZE - piece.height)))
    canvas.paste(piece, (x, y), piece)
    arr = np.asarray(canvas, dtype=np.float32) * rng.uniform(0.8, 1.15)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    return img.filter(ImageFilter.GaussianBlur(0.6)) if rng.random() < 0.3 else img


def _write_concept(folder: Path, obj: Image.Image, rng: np.random.Generator, count: int, start: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        background = BACKGROUNDS[int(rng.integers(0, len(BACKGROUNDS)))]
        _view(obj, rng, background).save(folder / f"{start + i:03d}.jpg", quality=88)


def _bad_inputs(base: Path, rng: np.random.Generator, outside: Path) -> None:
    train, test = base / "train", base / "test"
    (train / "toy" / "ghost").mkdir(parents=True, exist_ok=True)  # empty concept
    (test / "toy" / "ghost").mkdir(parents=True, exist_ok=True)
    (train / "bag" / "ale" / "notes.txt").write_text("bought in 2021\n")
    (train / "book" / "atlas" / "labels.json").write_text('{"owner": "me"}\n')
    (test / "cup" / "mug_a" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (train / "bag" / "README.md").write_text("photos of my bags\n")
    good = (test / "cup" / "mug_b" / "000.jpg").read_bytes()
    (test / "cup" / "mug_b" / "099.jpg").write_bytes(good[: len(good) // 3])  # truncated JPEG
    (test / "plant" / "fern" / "098.png").write_bytes(rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    shutil.copyfile(
        test / "book" / "diary" / "001.jpg", test / "book" / "cookbook" / "050.jpg"
    )  # same bytes, other concept
    outside.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (SIZE, SIZE), (200, 30, 30)).save(outside / "stray.jpg", quality=90)
    os.symlink(os.path.relpath(outside / "stray.jpg", train / "bag" / "bo"), train / "bag" / "bo" / "077.jpg")
    os.symlink(os.path.relpath(outside, train / "veg"), train / "veg" / "linked_outside")


def generate(root: str | Path, *, seed: int = 0, scale: float = 1.0) -> Path:
    """Write both layouts under `<root>/raw/perva_retrieval/` (replacing what was there)."""
    base = Path(root) / PREFIX
    if base.exists():
        shutil.rmtree(base)
    rng = np.random.default_rng(seed)
    explicit, flat = base / "PerVA", base / "PerVA_by_concept"
    for category, concepts in CATEGORIES.items():
        for concept in concepts:
            obj = _draw_object(category, _concept_style(rng))
            n_train = int(rng.integers(4, 10))
            n_test = max(3, int(rng.integers(4, 26) * scale))
            _write_concept(explicit / "train" / category / concept, obj, rng, n_train)
            _write_concept(explicit / "test" / category / concept, obj, rng, n_test)
            _write_concept(flat / category / concept, obj, rng, max(4, int(rng.integers(5, 16) * scale)))
    _bad_inputs(explicit, rng, base / "outside")
    return base
