"""Image quality metrics of a rendering against its original: SSIM, MSE, PSNR.

SSIM follows Wang et al. (2004): luminance (ITU-R BT.601) of both images, an 11x11 Gaussian window
(sigma 1.5), K1 = 0.01, K2 = 0.03, L = 255, averaged over the image. MSE is over all RGB values
(0-255); PSNR = 10 log10(255^2 / MSE) dB (capped at `PSNR_CAP` for identical images).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

PSNR_CAP = 100.0
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


def luminance(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb, dtype=np.float64)
    return arr @ _LUMA if arr.ndim == 3 else arr


def ssim(reference: np.ndarray, rendering: np.ndarray, sigma: float = 1.5, data_range: float = 255.0) -> float:
    x, y = luminance(reference), luminance(rendering)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    blur = lambda a: ndimage.gaussian_filter(a, sigma, truncate=3.5, mode="reflect")  # noqa: E731
    mu_x, mu_y = blur(x), blur(y)
    sxx = blur(x * x) - mu_x**2
    syy = blur(y * y) - mu_y**2
    sxy = blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def mse(reference: np.ndarray, rendering: np.ndarray) -> float:
    diff = np.asarray(reference, dtype=np.float64) - np.asarray(rendering, dtype=np.float64)
    return float(np.mean(diff * diff))


def psnr_from_mse(value: float, data_range: float = 255.0) -> float:
    if value <= 0:
        return PSNR_CAP
    return float(min(PSNR_CAP, 10.0 * np.log10(data_range**2 / value)))


def quality_metrics(reference: np.ndarray, rendering: np.ndarray) -> dict[str, float]:
    m = mse(reference, rendering)
    return {"ssim": ssim(reference, rendering), "mse": m, "psnr": psnr_from_mse(m)}
