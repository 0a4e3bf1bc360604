"""Pluggable image encoders: CLIP from a local model directory (the seed's) and an offline fallback.

`auto` (the default) is CLIP whenever PyTorch is importable and a local CLIP model directory is present
(`clip_model_dir`, else `$PERVA_CLIP_MODEL_DIR`, else `models/perva_retrieval/clip` in the store), and
`color_texture`, the offline fallback, otherwise; `choose_encoder` makes that choice.

An encoder is an `ImageVectorizer` (`lib/vectors.py`, the interface quality_prediction's extractors share):
`load(path)` decodes an image to RGB (PIL), `encode(images)` turns a batch into L2-normalised float32 rows, and
`fingerprint()` names the model and its preprocessing: it keys the shared content-hash `VectorCache`, so a
different model never reuses another's vectors. Register another encoder with `register_encoder(name, factory)`;
`spec()` must rebuild it in a worker process (`build_encoder(*spec)`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

from dataprep_assets.lib.limits import open_image
from dataprep_assets.lib.vectors import ImageVectorizer, VectorizerRegistry, torch_available


class ImageEncoder(ImageVectorizer, Protocol):
    batch_size: int

    def spec(self) -> tuple[str, dict]: ...


def load_rgb_image(path: str | os.PathLike) -> Image.Image:
    """One image decoded to RGB (within the decompression limits of `lib.limits`)."""
    with open_image(path) as img:
        img.load()
        return img.convert("RGB")


def l2_normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32)


class ColorTextureEncoder:
    """The offline fallback: colour histogram + coarse colour layout + gradient-orientation histogram.

    No model, no download, deterministic, ~1 ms per image. Good enough to mine visually similar
    negatives (same colours, same silhouette) on synthetic or small data; use CLIP for real data.
    """

    name = "color_texture"
    parallel_decode = True
    VERSION = "1"

    def __init__(self, size: int = 64, batch_size: int = 64):
        if size < 8 or size % 4:
            raise ValueError(f"color_texture size must be a multiple of 4 and >= 8, got {size}")
        self.size, self.batch_size = size, batch_size

    def fingerprint(self) -> str:
        return f"{self.name}-v{self.VERSION}-s{self.size}"

    def spec(self) -> tuple[str, dict]:
        return self.name, {"size": self.size, "batch_size": self.batch_size}

    def load(self, path: str | os.PathLike) -> Image.Image:
        return load_rgb_image(path)

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        small = [im.convert("RGB").resize((self.size, self.size), Image.Resampling.BILINEAR) for im in images]
        pixels = np.stack([np.asarray(im, dtype=np.float32) for im in small]) / 255.0
        hsv = np.stack([np.asarray(im.convert("HSV"), dtype=np.float32) for im in small]) / 255.0
        parts = [self._colour_hist(hsv), self._layout(pixels), self._gradients(pixels.mean(axis=3))]
        return l2_normalise(np.concatenate([l2_normalise(p) for p in parts], axis=1))

    @property
    def dim(self) -> int:
        return 8 * 3 * 3 + 4 * 4 * 3 + 4 * 4 * 8

    @staticmethod
    def _colour_hist(hsv: np.ndarray) -> np.ndarray:
        h = np.minimum((hsv[..., 0] * 8).astype(int), 7)
        s = np.minimum((hsv[..., 1] * 3).astype(int), 2)
        v = np.minimum((hsv[..., 2] * 3).astype(int), 2)
        code = (h * 9 + s * 3 + v).reshape(len(hsv), -1)
        hist = np.stack([np.bincount(c, minlength=72) for c in code]).astype(np.float32)
        return np.sqrt(hist / hist.sum(axis=1, keepdims=True))

    @staticmethod
    def _layout(pixels: np.ndarray) -> np.ndarray:
        n, size = len(pixels), pixels.shape[1]
        cells = pixels.reshape(n, 4, size // 4, 4, size // 4, 3).mean(axis=(2, 4)).reshape(n, -1)
        return cells - cells.mean(axis=1, keepdims=True)

    @staticmethod
    def _gradients(gray: np.ndarray) -> np.ndarray:
        n, size = gray.shape[0], gray.shape[1]
        gy = np.zeros_like(gray)
        gx = np.zeros_like(gray)
        gy[:, 1:-1] = gray[:, 2:] - gray[:, :-2]
        gx[:, :, 1:-1] = gray[:, :, 2:] - gray[:, :, :-2]
        magnitude = np.hypot(gx, gy)
        angle = np.mod(np.arctan2(gy, gx), np.pi)
        bins = np.minimum((angle / np.pi * 8).astype(int), 7)
        cell = size // 4
        cy = np.minimum(np.arange(size) // cell, 3)
        cell_id = (cy[:, None] * 4 + cy[None, :])[None].repeat(n, axis=0)
        code = (np.arange(n)[:, None, None] * 128 + cell_id * 8 + bins).ravel()
        hist = np.bincount(code, weights=magnitude.ravel(), minlength=n * 128).reshape(n, 128)
        return np.sqrt(hist)


class ClipEncoder:
    """CLIP image embeddings (`transformers`) from a local model directory, never downloaded.

    The directory is what `CLIPModel.save_pretrained` + `CLIPImageProcessor.save_pretrained`
    write (e.g. a copy of openai/clip-vit-large-patch14-336, the seed's model).
    """

    name = "clip"
    parallel_decode = False

    def __init__(self, model_dir: str, batch_size: int = 32, device: str = "cpu"):
        path = Path(model_dir).expanduser()
        if not model_dir or not (path / "config.json").is_file():
            raise ValueError(
                f"clip_model_dir: {model_dir!r} is not a local model directory (no config.json); "
                "CLIP weights are never downloaded at run time: save the model there first"
            )
        self.model_dir, self.batch_size, self.device = str(path.resolve()), batch_size, device
        self._model = None
        self._processor = None

    def spec(self) -> tuple[str, dict]:
        return self.name, {"model_dir": self.model_dir, "batch_size": self.batch_size, "device": self.device}

    def load(self, path: str | os.PathLike) -> Image.Image:
        return load_rgb_image(path)

    def fingerprint(self) -> str:
        """Config + preprocessing + a sample of every weight file (size and first/last MiB)."""
        digest = hashlib.sha256()
        root = Path(self.model_dir)
        for path in sorted(p for p in root.iterdir() if p.is_file()):
            digest.update(path.name.encode())
            if path.suffix == ".json":
                digest.update(path.read_bytes())
            elif path.suffix in {".safetensors", ".bin", ".pt", ".pth"}:
                size = path.stat().st_size
                digest.update(str(size).encode())
                with open(path, "rb") as fh:
                    digest.update(fh.read(1 << 20))
                    fh.seek(max(size - (1 << 20), 0))
                    digest.update(fh.read(1 << 20))
        return f"{self.name}-{digest.hexdigest()[:16]}"

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from transformers import CLIPImageProcessor, CLIPModel

            self._model = CLIPModel.from_pretrained(self.model_dir, local_files_only=True).eval().to(self.device)  # pyright: ignore[reportArgumentType]  # transformers types from_pretrained and model outputs loosely
            self._processor = CLIPImageProcessor.from_pretrained(self.model_dir, local_files_only=True)
        return self._model, self._processor

    @property
    def dim(self) -> int:
        config = json.loads((Path(self.model_dir) / "config.json").read_text())
        return int(config.get("projection_dim", 512))

    def encode(self, images: Sequence[Image.Image]) -> np.ndarray:
        import torch

        model, processor = self._load()
        out = []
        for start in range(0, len(images), self.batch_size):
            batch = [im.convert("RGB") for im in images[start : start + self.batch_size]]
            pixels = processor(images=batch, return_tensors="pt")["pixel_values"].to(self.device)  # pyright: ignore[reportOptionalCall]  # transformers types from_pretrained and model outputs loosely
            with torch.inference_mode():
                features = model.get_image_features(pixel_values=pixels)
            if not isinstance(features, torch.Tensor):  # transformers >= 5 returns a model output
                features = features.pooler_output  # pyright: ignore[reportAttributeAccessIssue]  # transformers types from_pretrained and model outputs loosely
            out.append(features.float().cpu().numpy())  # pyright: ignore[reportOptionalMemberAccess]  # transformers types from_pretrained and model outputs loosely
        if not out:
            return np.zeros((0, self.dim), dtype=np.float32)
        return l2_normalise(np.concatenate(out))


ENCODERS: dict[str, Callable[..., ImageEncoder]] = {
    "color_texture": lambda **kw: ColorTextureEncoder(batch_size=kw.get("batch_size", 64), size=kw.get("size", 64)),
    "clip": lambda **kw: ClipEncoder(
        kw.get("model_dir", ""), batch_size=kw.get("batch_size", 32), device=kw.get("device", "cpu")
    ),
}


CLIP_DIR_ENV = "PERVA_CLIP_MODEL_DIR"
STORE_CLIP_DIR = "models/perva_retrieval/clip"


def is_model_dir(path: str | os.PathLike) -> bool:
    return bool(str(path)) and (Path(path).expanduser() / "config.json").is_file()


def _auto_encoder(model_dirs: Sequence[str] = (), torch_importable: bool | None = None, **_) -> str:
    """CLIP when torch is importable and one of `model_dirs` holds a saved model, else `color_texture`."""
    importable = torch_available() if torch_importable is None else torch_importable
    return "clip" if importable and any(is_model_dir(d) for d in model_dirs) else "color_texture"


REGISTRY = VectorizerRegistry("encoder", ENCODERS, auto=_auto_encoder)


def choose_encoder(requested: str, model_dirs: Sequence[str], torch_importable: bool | None = None) -> tuple[str, str]:
    """(encoder name, CLIP model directory or '') for `requested`; `auto` picks CLIP when torch is importable
    and one of `model_dirs` (in order) holds a saved model, else `color_texture`."""
    name = REGISTRY.resolve(requested, model_dirs=model_dirs, torch_importable=torch_importable)
    if name == "clip":
        return "clip", next((d for d in model_dirs if is_model_dir(d)), "") or next((d for d in model_dirs if d), "")
    return name, ""


def register_encoder(name: str, factory: Callable[..., ImageEncoder]) -> None:
    REGISTRY.register(name, factory)


def build_encoder(name: str, options: dict) -> ImageEncoder:
    return REGISTRY.build(name, **options)
