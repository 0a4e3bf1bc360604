"""quality_prediction DataLoader: batch preparation from the HDF5 features, ours against the naive per-item read.

    .venv/bin/python -m benchmarks.quality_loader [--examples 10000] [--images 2000] [--dim 2048] [--runs 3] [--quick]

Writes a synthetic training set at the seed's scale (10,000 conversion results over 2,000 logos,
2048-d ResNet-50-sized features, gzip-compressed HDF5, 80/15/5 split), then iterates one epoch of
the train loader (batch 64, shuffled, torch threads 1). Each side runs in fresh child processes
(benchmarks/_harness.py: the loader is built and 3 batches drawn as the warm-up, which also starts the
persistent workers; then the timed call is one whole epoch; peak memory is the sampled PSS of the
process tree, main process and workers together; per core = examples per CPU-second, workers included):

- ours: `QualityPredictionDataset.__getitems__` reads a whole batch chunk by chunk, 0 and 2 workers;
- NAIVE (the fair baseline, same loader settings, 2 workers): a `Dataset.__getitem__` that reads one HDF5
  row per example (the usual h5py recipe), standardised per item; the same tensors come out;
- reference: the whole feature matrix loaded into RAM (fast, but memory grows with the dataset).

Prints examples/s (median and spread of the runs), per CPU-second and peak PSS, then ms per batch (mean
after the first batch, p95, first) and examples per minute beside the seed's targets (<= 100 ms per
batch, >= 1,000 examples/minute, <= 2 GB peak: here the whole process tree's PSS, stricter than per
process).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks._harness import header, measure, ratio
from dataprep_assets.ml.featurestore import FeatureWriter
from dataprep_assets.ml.vectorizer_params import MODES, NUMERIC_PARAMS

MODULE = "benchmarks.quality_loader"
BATCH = 64


def build(root: Path, examples: int, images: int, dim: int) -> None:
    rng = np.random.default_rng(0)
    ids = [f"images/logo_{i:06d}.png" for i in range(images)]
    with FeatureWriter(
        root / "features.h5", dim=dim, attrs={"extractor": "synthetic", "extractor_version": "1"}
    ) as writer:
        for start in range(0, images, 512):
            block = np.maximum(rng.normal(0.5, 0.5, (min(512, images - start), dim)), 0).astype(np.float32)
            writer.append(ids[start : start + len(block)], [f"h{i}" for i in range(start, start + len(block))], block)
    image_of = rng.integers(0, images, examples)
    split_of_image = rng.choice(["train", "validation", "test"], size=images, p=[0.8, 0.15, 0.05])
    frame = pd.DataFrame(
        {
            "result_id": [f"r{i:07d}" for i in range(examples)],
            "image_id": [ids[i] for i in image_of],
            "split": split_of_image[image_of],
            "mode": rng.choice(MODES, size=examples),
            **{p.name: rng.uniform(p.low, p.high, examples).round(0 if p.integer else 2) for p in NUMERIC_PARAMS},
            "ssim": rng.uniform(0.4, 1.0, examples),
            "mse": rng.uniform(5, 900, examples),
            "psnr": rng.uniform(18, 40, examples),
        }
    )
    frame["cv_fold"] = np.where(frame["split"] == "train", rng.integers(0, 5, examples), -1)
    frame.to_parquet(root / "examples.parquet", index=False)


class NaiveDataset:
    """The fair baseline: the simplest competent map-style dataset for the same tensors. One HDF5 row per
    `__getitem__` (the file opened once per worker), standardised per item, parameters appended; what differs
    from ours: rows read one at a time instead of a batch's chunks at once."""

    def __init__(
        self,
        features_path: str,
        rows: np.ndarray,
        params: np.ndarray,
        targets: np.ndarray,
        mean: np.ndarray,
        std: np.ndarray,
    ):
        self.features_path, self.rows, self.params, self.targets, self.mean, self.std = (
            features_path,
            rows,
            params,
            targets,
            mean,
            std,
        )
        self._h5 = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int):
        import h5py
        import torch

        if self._h5 is None:
            self._h5 = h5py.File(self.features_path, "r")
        x = (self._h5["features"][int(self.rows[i])] - self.mean) / self.std  # pyright: ignore[reportIndexIssue]  # torch types DataLoader's dataset as the generic Dataset
        return torch.from_numpy(np.concatenate([x, self.params[i]]).astype(np.float32)), torch.tensor(
            self.targets[i], dtype=torch.float32
        )


class InMemoryDataset(NaiveDataset):
    def __init__(self, *args):
        super().__init__(*args)
        import h5py

        with h5py.File(self.features_path, "r") as h5:
            self.matrix = (h5["features"][:] - self.mean) / self.std  # pyright: ignore[reportIndexIssue]  # torch types DataLoader's dataset as the generic Dataset

    def __getitem__(self, i: int):
        import torch

        return torch.from_numpy(
            np.concatenate([self.matrix[self.rows[i]], self.params[i]]).astype(np.float32)
        ), torch.tensor(self.targets[i], dtype=torch.float32)


def _loader(mode: str, root: Path, workers: int):
    from torch.utils.data import DataLoader

    from dataprep_assets.ml.quality_prediction import build_dataloaders, read_examples

    features, examples = root / "features.h5", root / "examples.parquet"
    loaders = build_dataloaders(features, examples, batch_size=BATCH, num_workers=workers)
    if mode == "ours":
        return loaders.train
    train = read_examples(examples).query("split == 'train'")
    norm = loaders.normalisation
    ds = loaders.train.dataset
    cls = NaiveDataset if mode == "naive" else InMemoryDataset
    plain = cls(str(features), ds.rows, ds.params, ds.targets, norm.features.mean, norm.features.std)  # pyright: ignore[reportAttributeAccessIssue]  # torch types DataLoader's dataset as the generic Dataset
    del loaders
    assert len(plain) == len(train)
    return DataLoader(plain, batch_size=BATCH, shuffle=True, num_workers=workers, persistent_workers=workers > 0)  # pyright: ignore[reportArgumentType]  # torch types DataLoader's dataset as the generic Dataset


_LOADERS: dict = {}
"""The loader of this child, built (and its workers started) by the warm-up call."""


def epoch(warmup: bool, root: str, mode: str, workers: int) -> dict:
    """Warm-up: build the loader and draw 3 batches. Timed: one whole train epoch, each batch's wait recorded."""
    import torch

    torch.set_num_threads(1)
    if warmup:
        loader = _LOADERS["loader"] = _loader(mode, Path(root), workers)
        for _, _batch in zip(range(3), loader, strict=False):
            pass
        return {}
    times, examples = [], 0
    last = time.perf_counter()
    for x, _ in _LOADERS["loader"]:
        now = time.perf_counter()
        times.append(now - last)
        last = now
        examples += len(x)
    steady = times[1:] or times
    return {
        "items": examples,
        "batches": len(times),
        "ms_per_batch": 1000 * float(np.mean(steady)),
        "p95_ms": 1000 * float(np.percentile(steady, 95)),
        "first_ms": 1000 * times[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=2_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small smoke run (2,000 examples over 400 images, 1 run)")
    args = parser.parse_args()
    examples, images, runs = (2_000, 400, 1) if args.quick else (args.examples, args.images, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, examples, images, args.dim)
        size = (root / "features.h5").stat().st_size
        header(
            f"quality_prediction loader: {examples:,} examples over {images:,} images, {args.dim}-d features "
            f"({size / 2**20:.0f} MiB gzip HDF5, {images * args.dim * 4 / 2**20:.0f} MiB raw), batch {BATCH}, one "
            "train epoch; examples/s"
        )
        sides = [
            ("ours __getitems__, 0 workers", "ours", 0),
            ("ours __getitems__, 2 workers", "ours", 2),
            ("naive row-per-item, 2 workers", "naive", 2),
            ("reference: matrix in RAM, 2 workers", "memory", 2),
        ]
        rows = [
            measure(
                MODULE, "epoch", label, runs, processes=1 + workers, unit="ex", root=tmp, mode=mode, workers=workers
            )
            for label, mode, workers in sides
        ]
        for m in rows:
            e = m.extra
            print(
                f"   {m.label:<38} {e['batches']:>4} batches {e['ms_per_batch']:7.1f} ms/batch "
                f"(p95 {e['p95_ms']:6.1f}, "
                f"first {e['first_ms']:6.0f}) {m.rate * 60:>10,.0f} examples/min"
            )
        cost, ours, naive = rows[0], rows[1], rows[2]
        ratio(ours, naive, "same loader settings (batch 64, 2 workers, shuffled)")
        ratio(cost, naive, "ours without workers against naive with 2")
        print(
            f"   seed targets: <= 100 ms per batch -> ours {cost.extra['ms_per_batch']:.1f} ms (0 workers, the full "
            f"preparation cost), {ours.extra['ms_per_batch']:.1f} ms delivered with 2 workers; >= 1,000 examples/min "
            f"-> ours {ours.rate * 60:,.0f}; <= 2 GB peak -> ours {ours.peak_mb:.0f} MB (PSS, main + workers)"
        )


if __name__ == "__main__":
    main()
