"""quality_prediction feature storage: the seed's "<= 50 % overhead for feature storage vs raw images" for
2048-d ResNet-50 features, as the pipeline stores them (`feature_storage: auto`, `max_storage_overhead: 0.5`),
and what meeting it costs in fidelity.

Draws logos like the sample data's (128x128 PNG, the sample's default 120) and the same logos at a typical
real-logo size (512x512 PNG), extracts ResNet-50 features once (seeded random weights in torchvision's layout, as
the tests and the offline demo use), writes the full float16 + gzip file and its index exactly as `image_features`
does, then lets the pipeline's `store_within_budget` keep the full vectors or the PCA scores (fitted on the first
80%, "train") for each raw size. Printed per size: what was stored, bytes per image (the whole dataset, and the
matrix alone), the overhead against the PNGs, and the fidelity cost: explained variance on train, max / RMS
reconstruction error, and the validation R^2 of a ridge regression of SSIM (three simulated conversions per logo,
the sample data's simulator) on parameters + full vs stored features. The float16 rows beside are the baseline
(the simplest file for the same vectors: the full matrix, gzip). Sizes are exact byte counts; the seconds printed
are single runs, for scale only (benchmarks/_harness.py prints the header: machine, date, load).

Usage: python -m benchmarks.quality_feature_storage [--images 120] [--quick]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from benchmarks._harness import header
from dataprep_assets.defs.quality_prediction.feature_budget import ridge_fidelity, store_within_budget
from dataprep_assets.defs.quality_prediction.metrics import quality_metrics
from dataprep_assets.ml.featurestore import FeatureFile, FeatureWriter
from dataprep_assets.sample_data.quality_prediction import DRAW, sample_params, simulate_vectorization

TRAIN_SHARE, VALIDATION_SHARE = 0.80, 0.15


def png_size(image: Image.Image) -> int:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.tell()


def simulated_examples(logos: list[Image.Image], ids: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """Three conversions per logo (one per optimisation method) with the sample data's simulator and metrics."""
    n = len(ids)
    split = ["train"] * int(TRAIN_SHARE * n) + ["validation"] * int(VALIDATION_SHARE * n)
    split += ["test"] * (n - len(split))
    rows = []
    for image_id, logo, part in zip(ids, logos, split, strict=True):
        for method in (1, 2, 3):
            params = sample_params(rng, method)
            ssim = quality_metrics(np.asarray(logo), simulate_vectorization(logo, params))["ssim"]
            rows.append({"image_id": image_id, "split": part, **params, "ssim": ssim})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]  # the module has a docstring
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 40 if args.quick else args.images
    from dataprep_assets.ml.resnet import ResNet50Extractor, save_random_weights

    rng = np.random.default_rng(0)
    logos = [DRAW[list(DRAW)[i % 4]](rng).convert("RGB") for i in range(n)]
    raw = {
        "128x128": sum(png_size(im) for im in logos),
        "512x512": sum(png_size(im.resize((512, 512), Image.Resampling.LANCZOS)) for im in logos),
    }
    ids = [f"images/logo_{i:05d}.png" for i in range(n)]
    examples = simulated_examples(logos, ids, rng)
    train_ids = examples.loc[examples["split"] == "train", "image_id"].unique().tolist()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        extractor = ResNet50Extractor(save_random_weights(root / "resnet50_random.pth"))
        started = time.perf_counter()
        features = np.concatenate(
            [
                extractor.encode(
                    np.stack([np.asarray(im.resize((224, 224), Image.Resampling.BILINEAR)) for im in logos[i : i + 16]])
                )
                for i in range(0, n, 16)
            ]
        )
        header(
            f"quality_prediction feature storage: {n} logos, ResNet-50 2048-d features in "
            f"{time.perf_counter() - started:.1f}s (1 run); "
            f"PNG bytes per logo: 128x128 {raw['128x128'] / n:,.0f}, 512x512 {raw['512x512'] / n:,.0f}",
            columns=False,
        )
        hashes = [f"{i:064x}" for i in range(n)]
        index = root / "resnet50_index.parquet"
        pd.DataFrame({"image_id": ids, "row": np.arange(n), "content_hash": hashes}).to_parquet(
            index, index=False, compression="zstd"
        )
        for dtype in ("float32", "float16"):
            path = root / f"full_{dtype}.h5"
            with FeatureWriter(path, dim=2048, attrs={}, storage_dtype=dtype) as writer:
                writer.append(ids, hashes, features)
            with FeatureFile(path) as ff:
                error = float(np.abs(ff.read_rows(np.arange(n)) - features).max())
                matrix = ff.features.id.get_storage_size()  # pyright: ignore[reportAttributeAccessIssue]  # h5py types File[...] as Group | Dataset | Datatype
            size = path.stat().st_size + index.stat().st_size
            overheads = ", ".join(f"{size / b:.0%} ({matrix / b:.0%} matrix only) of {k}" for k, b in raw.items())
            print(
                f"full {dtype} gzip: {size / n:7,.0f} B/image (matrix {matrix / n:6,.0f})  overhead {overheads}  "
                f"max abs error vs float32 {error:.4g}"
            )
        for name, raw_bytes in raw.items():
            full = root / f"full_{name}.h5"
            full.write_bytes((root / "full_float16.h5").read_bytes())
            out = root / f"stored_{name}.h5"
            started = time.perf_counter()
            outcome = store_within_budget(
                full,
                out,
                train_ids=train_ids,
                raw_image_bytes=raw_bytes,
                other_bytes=index.stat().st_size,
                mode="auto",
                max_overhead=0.5,
                compression="gzip",
                storage_dtype="float16",
            )
            seconds = time.perf_counter() - started
            meta = outcome.metadata()
            print(
                f"{name} PNGs, feature_storage auto, budget 50%: stored {outcome.mode} {outcome.components}-d "
                f"in {seconds:.1f}s (1 run; {len(outcome.probes)} sizes probed); "
                f"{meta['feature_bytes_per_image']:,.0f} "
                f"B/image (matrix {meta['feature_matrix_bytes_per_image']:,.0f}); overhead "
                f"{meta['feature_storage_overhead']:.1%} with file costs, "
                f"{meta['feature_storage_overhead_matrix_only']:.1%} matrix only; within budget: {outcome.budget_met}"
            )
            if outcome.mode == "pca":
                fidelity = ridge_fidelity(root / "full_float16.h5", out, examples)
                print(
                    f"  fidelity: explained variance on train {outcome.explained_variance_train:.3f}, "
                    f"reconstruction error max {outcome.max_abs_reconstruction_error:.3g} / "
                    f"RMS {outcome.rms_reconstruction_error:.3g} (largest value {float(np.abs(features).max()):.3g}); "
                    f"validation R2 of SSIM (ridge): params only {fidelity.get('validation_r2_params_only')}, "
                    f"+ full features {fidelity.get('validation_r2_params_and_full_features')}, "
                    f"+ stored {fidelity.get('validation_r2_params_and_stored')}"
                )
    print("seed target: feature storage <= 50% of the raw image bytes (the whole features dataset counted)")


if __name__ == "__main__":
    main()
