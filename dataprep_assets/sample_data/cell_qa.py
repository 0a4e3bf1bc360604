"""Synthetic microscopy in the Cell Tracking Challenge layout, with four competitors' segmentations.

Raw frames are 16-bit, with textured, touching cells of different sizes, darker membranes, uneven
illumination and shot noise. Competitors have distinct error modes:

- `competitor_A`: precise, boundaries off by one pixel, shuffled non-contiguous uint16 labels;
- `competitor_B`: under-segmentation (touching cells merged), 10% of cells missed, eroded, uint8;
- `competitor_C`: over-segmentation (large cells split), dilated, false positives, int32 ids > 100000;
- `competitor_D`: every pixel assigned to its nearest seed (no background pixel at all), int32.

With `defects=True` the tree also holds the bad inputs a real upload has: a frame without ground
truth, a competitor missing a frame, a truncated TIFF, an empty mask and a shape mismatch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage

DATASETS = {  # name: (cell radius range, cells per frame)
    "BF-C2DL-HSC": ((4, 9), 45),
    "Fluo-N2DH-GOWT1": ((8, 16), 22),
    "PhC-C2DH-U373": ((10, 20), 14),
    "DIC-C2DH-HeLa": ((9, 18), 18),
}
COMPETITORS = ("competitor_A", "competitor_B", "competitor_C", "competitor_D")
PREFIX = "raw/cell_qa"


def _ellipse_labels(rng: np.random.Generator, shape, centres, radii, angles) -> np.ndarray:
    labels = np.zeros(shape, dtype=np.int32)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    for label, ((cy, cx), (ry, rx), theta) in enumerate(zip(centres, radii, angles, strict=True), start=1):
        y0, y1 = int(max(cy - ry - rx, 0)), int(min(cy + ry + rx + 1, shape[0]))
        x0, x1 = int(max(cx - ry - rx, 0)), int(min(cx + ry + rx + 1, shape[1]))
        dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
        c, s = np.cos(theta), np.sin(theta)
        inside = ((dy * c + dx * s) / ry) ** 2 + ((-dy * s + dx * c) / rx) ** 2 <= 1.0
        labels[y0:y1, x0:x1][inside] = label
    return labels


def _raw_frame(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    h, w = labels.shape
    yy, xx = np.mgrid[:h, :w] / max(h, w)
    background = 700 + 250 * yy + 150 * xx
    brightness = np.concatenate([[0.0], rng.uniform(1200, 4200, labels.max())])
    texture = ndimage.gaussian_filter(rng.normal(0, 1, labels.shape), 1.5) * 900
    image = background + brightness[labels] * (labels > 0) + texture * (labels > 0)
    membrane = (ndimage.grey_dilation(labels, size=3) != ndimage.grey_erosion(labels, size=3)) & (labels > 0)
    image[membrane] *= 0.6
    image = ndimage.gaussian_filter(image, 0.8)
    image = rng.poisson(np.clip(image, 0, None) / 4.0) * 4.0 + rng.normal(0, 25, image.shape)
    return np.clip(image, 0, 65535).astype(np.uint16)


def _erode(labels: np.ndarray, px: int = 1) -> np.ndarray:
    size = 2 * px + 1
    keep = (ndimage.grey_erosion(labels, size=size) == labels) & (ndimage.grey_dilation(labels, size=size) == labels)
    return np.where(keep, labels, 0)


def _dilate(labels: np.ndarray, px: int = 1) -> np.ndarray:
    grown = ndimage.grey_dilation(labels, size=2 * px + 1)
    return np.where(labels == 0, grown, labels)


def _remap(labels: np.ndarray, new_ids: np.ndarray, dtype) -> np.ndarray:
    lut = np.concatenate([[0], new_ids]).astype(np.int64)
    return lut[labels].astype(dtype)


def competitor_masks(rng: np.random.Generator, gt: np.ndarray) -> dict[str, np.ndarray]:
    n = int(gt.max())
    masks = {}
    a = _dilate(gt) if rng.random() < 0.5 else _erode(gt)
    masks["competitor_A"] = _remap(a, rng.choice(np.arange(1, 60000), n, replace=False), np.uint16)

    b = gt.copy()
    neighbours = ndimage.grey_dilation(gt, size=3)
    for label in rng.permutation(np.arange(1, n + 1))[: n // 3]:
        touching = np.unique(neighbours[(gt == label)])
        touching = touching[(touching != label) & (touching != 0)]
        if len(touching):
            b[b == touching[0]] = label
    dropped = rng.random(n + 1) < 0.1
    dropped[0] = False
    b[dropped[b]] = 0
    masks["competitor_B"] = _remap(_erode(b), np.arange(1, n + 1) % 250 + 1, np.uint8)

    c = _dilate(gt, 2)
    next_label = n + 1
    for label, sl in enumerate(ndimage.find_objects(c), start=1):
        if sl is None:
            continue
        region = c[sl] == label
        if region.sum() > 350:
            cy, cx = ndimage.center_of_mass(region)
            yy, xx = np.mgrid[: region.shape[0], : region.shape[1]]
            half = region & ((yy - cy) * rng.normal() + (xx - cx) * rng.normal() > 0)
            c[sl][half] = next_label
            next_label += 1
    for _ in range(3):
        cy, cx = rng.integers(8, np.array(gt.shape) - 8)
        blob = _ellipse_labels(rng, gt.shape, [(cy, cx)], [(rng.uniform(3, 7), rng.uniform(3, 7))], [0.0]) > 0
        c[blob & (c == 0)] = next_label
        next_label += 1
    masks["competitor_C"] = _remap(c, 100_000 + 7 * np.arange(1, next_label), np.int32)

    present = np.flatnonzero(np.bincount(gt.ravel(), minlength=n + 1)[1:]) + 1
    kept = present[rng.random(len(present)) > 0.05]
    seeds = np.array(ndimage.center_of_mass(gt > 0, gt, kept)).reshape(-1, 2)
    seed_img = np.zeros(gt.shape, dtype=np.int32)
    seed_img[tuple(np.round(seeds).astype(int).T)] = np.arange(1, len(seeds) + 1)
    _, (iy, ix) = ndimage.distance_transform_edt(seed_img == 0, return_indices=True)  # pyright: ignore[reportGeneralTypeIssues]  # scipy: with return_indices=True the result is (distances, indices)
    masks["competitor_D"] = (seed_img[iy, ix] * 3 + 11).astype(np.int32)
    return masks


def _write(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array, photometric="minisblack")


def generate(
    root: str | Path,
    *,
    seed: int = 0,
    sequences: int = 5,
    frames: int = 3,
    size: int = 256,
    datasets: dict | None = None,
    defects: bool = True,
) -> Path:
    """Write the tree under `<root>/raw/cell_qa/` and return that directory."""
    base = Path(root) / PREFIX
    rng = np.random.default_rng(seed)
    datasets = datasets or DATASETS
    for dataset, ((r_lo, r_hi), n_cells) in datasets.items():
        for s in range(1, sequences + 1):
            seq = f"{s:02d}"
            centres = rng.uniform(r_hi, size - r_hi, (n_cells, 2))
            radii = rng.uniform(r_lo, r_hi, (n_cells, 2))
            angles = rng.uniform(0, np.pi, n_cells)
            for t in range(frames):
                centres = np.clip(centres + rng.normal(0, 1.5, centres.shape), r_lo, size - r_lo)
                gt = _ellipse_labels(rng, (size, size), centres, radii, angles)
                gt = np.where(np.isin(gt, np.flatnonzero(np.bincount(gt.ravel()) > 0)), gt, 0)
                _write(base / dataset / seq / f"t{t:03d}.tif", _raw_frame(rng, gt))
                _write(base / dataset / f"{seq}_GT" / "SEG" / f"man_seg{t:03d}.tif", gt.astype(np.uint16))
                for name, mask in competitor_masks(rng, gt).items():
                    _write(base / "competitors" / name / dataset / f"{seq}_RES" / f"mask{t:03d}.tif", mask)
    if defects:
        _add_defects(base, datasets, frames, size)
    return base


def _add_defects(base: Path, datasets: dict, frames: int, size: int) -> None:
    first, last = list(datasets)[0], list(datasets)[-1]
    t = frames - 1
    (base / first / "01_GT" / "SEG" / f"man_seg{t:03d}.tif").unlink()  # frame without ground truth
    (base / "competitors" / "competitor_B" / first / "02_RES" / f"mask{t:03d}.tif").unlink()  # missing frame
    truncated = base / "competitors" / "competitor_C" / last / "01_RES" / "mask000.tif"
    truncated.write_bytes(truncated.read_bytes()[:300])  # cut off mid-file
    _write(
        base / "competitors" / "competitor_A" / last / "02_RES" / "mask000.tif", np.zeros((size, size), np.uint16)
    )  # empty
    _write(
        base / "competitors" / "competitor_D" / last / "03_RES" / "mask000.tif", np.ones((size // 2, size), np.int32)
    )  # wrong shape
