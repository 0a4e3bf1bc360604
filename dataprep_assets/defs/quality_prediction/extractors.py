"""Pluggable image feature extractors: ResNet-50 (the seed's, torch loaded lazily) and an offline fallback.

`auto` (the default) is `resnet50` whenever torch is importable, else `image_stats`.

- `image_stats` (the offline fallback, v1, 128-d, numpy only, no weights, runs anywhere): colour statistics and a
  4x4x4 colour histogram, palette size and entropy, edge magnitude / orientation histograms and edge
  density (Sobel), rotation-invariant uniform LBP texture histogram, smooth-gradient share, radial
  FFT energy bands, multi-scale detail loss, and foreground layout by quadrant. These are the image
  properties that decide how well a raster logo vectorises (colour count, gradients, fine detail).
- `resnet50` (v1, 2048-d): global-average-pooled ResNet-50 activations, weights from a local
  torchvision-format state-dict file (`dataprep_assets/ml/resnet.py`); never downloaded. Without a weights
  file, seeded random weights saved in the same layout are used (and said so in the metadata): the
  pipeline runs end to end, but such features carry no ImageNet knowledge.

An extractor is an `ImageVectorizer` (`lib/vectors.py`, the interface perva_retrieval's encoders share) with
`version`, `input_size` and `feature_names` besides: `load(path)` decodes a logo to a (input_size, input_size, 3)
uint8 array (transparency on white), `encode(batch) -> (B, dim) float32` takes a stack of those, and
`fingerprint()` keys the shared content-hash `VectorCache`. `REGISTRY` resolves `auto` and builds them by name.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from scipy import ndimage

from dataprep_assets.lib.rgb import load_rgb
from dataprep_assets.lib.vectors import ImageVectorizer, VectorizerRegistry, torch_available


class FeatureExtractor(ImageVectorizer, Protocol):
    version: str
    input_size: int
    feature_names: list[str]


_RIU2 = np.full(256, 9, dtype=np.int64)
for _code in range(256):
    _bits = [(_code >> i) & 1 for i in range(8)]
    if sum(_bits[i] != _bits[(i + 1) % 8] for i in range(8)) <= 2:
        _RIU2[_code] = sum(_bits)


def _hist_rows(values: np.ndarray, bins: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Per-row histogram of integer bin ids in [0, bins) (B, N) -> (B, bins), normalised to sum 1."""
    b = values.shape[0]
    offsets = (np.arange(b)[:, None] * bins + values).ravel()
    w = None if weights is None else weights.ravel()
    counts = np.bincount(offsets, weights=w, minlength=b * bins).reshape(b, bins)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)


def _sobel(gray: np.ndarray, axis: int) -> np.ndarray:
    """Sobel derivative along `axis` of a (B, H, W) stack, smoothing only the other image axis (never across images)."""
    other = 1 if axis == 2 else 2
    derivative = ndimage.correlate1d(gray, [-1.0, 0.0, 1.0], axis=axis, mode="nearest")
    return ndimage.correlate1d(derivative, [1.0, 2.0, 1.0], axis=other, mode="nearest")


def _image_stats_names() -> list[str]:
    names = [
        "mean_r",
        "mean_g",
        "mean_b",
        "std_r",
        "std_g",
        "std_b",
        "saturation_mean",
        "saturation_std",
        "value_mean",
        "value_std",
        "hue_cos",
        "hue_sin",
        "colourfulness",
    ]
    names += [f"colour_hist_{r}{g}{b}" for r in range(4) for g in range(4) for b in range(4)]
    names += ["distinct_colours_log", "dominant_colour_share", "white_share", "palette_entropy"]
    names += [f"edge_magnitude_bin{i}" for i in range(8)] + ["edge_density_0.1", "edge_density_0.5", "edge_density_1.0"]
    names += [f"edge_orientation_{i}" for i in range(8)] + ["smooth_gradient_share", "laplacian_log_var"]
    names += [f"lbp_uniform_{i}_ones" for i in range(9)] + ["lbp_non_uniform"]
    names += [f"fft_band_{i}" for i in range(8)]
    names += ["detail_loss_2x", "detail_loss_4x", "gray_mean", "gray_std"]
    names += ["foreground_top_left", "foreground_top_right", "foreground_bottom_left", "foreground_bottom_right"]
    return names


class ImageStatsExtractor:
    """128 colour, edge and texture statistics per image, vectorised over the batch."""

    name = "image_stats"
    parallel_decode = True
    version = "1"
    dim = 128
    input_size = 128
    feature_names = _image_stats_names()

    def fingerprint(self) -> str:
        return json.dumps({"name": self.name, "version": self.version, "input_size": self.input_size})

    def load(self, path: str | os.PathLike) -> np.ndarray:
        return load_rgb(path, self.input_size)

    def encode(self, images: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """A batch of `load`ed images (a list or a stacked (B, S, S, 3) uint8 array) -> (B, dim) float32."""
        pixels = np.ascontiguousarray(images, dtype=np.uint8)
        b = pixels.shape[0]
        flat_u8 = pixels.reshape(b, -1, 3)
        flat = flat_u8.astype(np.float32) * np.float32(1 / 255)
        gray = (flat @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).reshape(pixels.shape[:3])
        q4 = flat_u8 >> 6
        hist64 = _hist_rows((q4[..., 0].astype(np.int64) << 4) | (q4[..., 1].astype(np.int64) << 2) | q4[..., 2], 64)
        minimum = np.minimum(np.minimum(flat_u8[..., 0], flat_u8[..., 1]), flat_u8[..., 2])
        parts = [
            self._colour(flat, hist64),
            self._palette(flat_u8, minimum, hist64),
            self._edges(gray),
            self._texture(gray),
            self._frequency(gray),
            self._detail(gray),
            self._layout(minimum.reshape(pixels.shape[:3])),
        ]
        out = np.concatenate(parts, axis=1).astype(np.float32)
        if out.shape[1] != self.dim:
            raise AssertionError(f"image_stats produced {out.shape[1]} features, expected {self.dim}")
        return out

    @staticmethod
    def _colour(flat: np.ndarray, hist64: np.ndarray) -> np.ndarray:
        r, g, bl = (np.ascontiguousarray(flat[..., c]) for c in range(3))
        mx, mn = np.maximum(np.maximum(r, g), bl), np.minimum(np.minimum(r, g), bl)
        sat = (mx - mn) / np.maximum(mx, np.float32(1e-6))
        u, v = 2 * r - g - bl, np.float32(np.sqrt(3)) * (g - bl)
        norm = np.sqrt(u * u + v * v) + np.float32(1e-6)
        hue_w = np.maximum(sat.sum(axis=1), 1e-6)
        rg, yb = r - g, np.float32(0.5) * (r + g) - bl
        colourfulness = np.sqrt(rg.std(axis=1) ** 2 + yb.std(axis=1) ** 2) + 0.3 * np.sqrt(
            rg.mean(axis=1) ** 2 + yb.mean(axis=1) ** 2
        )
        return np.column_stack(
            [
                *(c.mean(axis=1) for c in (r, g, bl)),
                *(c.std(axis=1) for c in (r, g, bl)),
                sat.mean(axis=1),
                sat.std(axis=1),
                mx.mean(axis=1),
                mx.std(axis=1),
                (sat * u / norm).sum(axis=1) / hue_w,
                (sat * v / norm).sum(axis=1) / hue_w,
                colourfulness,
                hist64,
            ]
        )  # 3 + 3 + 2 + 2 + 2 + 1 + 64 = 77

    @staticmethod
    def _palette(flat_u8: np.ndarray, minimum: np.ndarray, hist64: np.ndarray) -> np.ndarray:
        b, n = flat_u8.shape[:2]
        q = (flat_u8 >> 3).astype(np.int64)
        codes = (q[..., 0] << 10) | (q[..., 1] << 5) | q[..., 2]
        counts = np.bincount((np.arange(b)[:, None] * 32768 + codes).ravel(), minlength=b * 32768).reshape(b, 32768)
        distinct = np.log1p((counts > 0).sum(axis=1)) / np.log1p(n)
        dominant = counts.max(axis=1) / n
        white = (minimum >= 240).mean(axis=1)
        entropy = -(hist64 * np.log2(np.maximum(hist64, 1e-12))).sum(axis=1) / 6.0
        return np.column_stack([distinct, dominant, white, entropy])  # 4

    @staticmethod
    def _edges(gray: np.ndarray) -> np.ndarray:
        gx = _sobel(gray, axis=2)
        gy = _sobel(gray, axis=1)
        mag = np.hypot(gx, gy).reshape(gray.shape[0], -1)
        thresholds = np.array([0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6])
        mag_bins = _hist_rows(np.searchsorted(thresholds, mag), 8)
        density = np.stack([(mag > t).mean(axis=1) for t in (0.1, 0.5, 1.0)], axis=1)
        angle = np.arctan2(gy, gx).reshape(gray.shape[0], -1)
        orient = _hist_rows(((angle + np.pi) / (2 * np.pi) * 8).astype(np.int64) % 8, 8, weights=mag)
        smooth = ((mag > 0.005) & (mag < 0.08)).mean(axis=1)
        second = [ndimage.correlate1d(gray, [1.0, -2.0, 1.0], axis=a, mode="nearest") for a in (1, 2)]
        lap = (second[0] + second[1]).reshape(gray.shape[0], -1)
        return np.column_stack(
            [mag_bins, density, orient, smooth, np.log1p(lap.var(axis=1) * 100)]
        )  # 8 + 3 + 8 + 1 + 1 = 21

    @staticmethod
    def _texture(gray: np.ndarray) -> np.ndarray:
        p = np.pad(gray, ((0, 0), (1, 1), (1, 1)), mode="edge")
        c = p[:, 1:-1, 1:-1]
        h, w = c.shape[1:]
        shifts = [(0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0)]
        code = np.zeros(c.shape, dtype=np.int64)
        for bit, (dy, dx) in enumerate(shifts):
            code |= (p[:, dy : dy + h, dx : dx + w] >= c + 1e-3).astype(np.int64) << bit
        return _hist_rows(_RIU2[code].reshape(gray.shape[0], -1), 10)  # 10

    @staticmethod
    def _frequency(gray: np.ndarray) -> np.ndarray:
        g = gray - gray.mean(axis=(1, 2), keepdims=True)
        power = np.abs(np.fft.rfft2(g)) ** 2
        fy = np.fft.fftfreq(gray.shape[1])[:, None]
        fx = np.fft.rfftfreq(gray.shape[2])[None, :]
        radius = np.sqrt(fy**2 + fx**2) / 0.5
        band = np.minimum((radius * 8).astype(np.int64), 7)
        energy = np.stack([power[:, band == k].sum(axis=1) for k in range(8)], axis=1)
        return energy / np.maximum(energy.sum(axis=1, keepdims=True), 1e-12)  # 8

    @staticmethod
    def _detail(gray: np.ndarray) -> np.ndarray:
        out = []
        for f in (2, 4):
            b, h, w = gray.shape
            small = gray[:, : h - h % f, : w - w % f].reshape(b, h // f, f, w // f, f).mean(axis=(2, 4))
            up = np.repeat(np.repeat(small, f, axis=1), f, axis=2)
            out.append(np.abs(gray[:, : up.shape[1], : up.shape[2]] - up).mean(axis=(1, 2)))
        return np.column_stack(out + [gray.mean(axis=(1, 2)), gray.std(axis=(1, 2))])  # 4

    @staticmethod
    def _layout(minimum: np.ndarray) -> np.ndarray:
        fg = (minimum < 240).astype(np.float32)
        b, h, w = fg.shape
        return fg[:, : h - h % 2, : w - w % 2].reshape(b, 2, h // 2, 2, w // 2).mean(axis=(2, 4)).reshape(b, 4)  # 4


def _resnet50(weights_path: str = "", threads: int = 0, device: str = "cpu") -> FeatureExtractor:
    """ResNet-50 imports torch here, never at definition load."""
    from dataprep_assets.ml.resnet import ResNet50Extractor

    return ResNet50Extractor(weights_path, threads=threads, device=device)


REGISTRY = VectorizerRegistry(
    "feature extractor",
    {"image_stats": lambda **_: ImageStatsExtractor(), "resnet50": _resnet50},
    auto=lambda **_: "resnet50" if torch_available() else "image_stats",
)
EXTRACTOR_NAMES = ("auto", *REGISTRY.names())


def resolve_extractor_name(name: str) -> str:
    """`auto` -> `resnet50` when torch is importable, else `image_stats`; other registered names unchanged."""
    return REGISTRY.resolve(name)


def build_extractor(name: str, *, weights_path: str = "", threads: int = 0, device: str = "cpu") -> FeatureExtractor:
    """An extractor by name (`auto` resolved)."""
    return REGISTRY.build(name, weights_path=weights_path, threads=threads, device=device)
