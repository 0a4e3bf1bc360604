"""quality_prediction feature storage: the seed's "<= 50 % overhead for feature storage vs raw images" for
2048-d ResNet-50 features, float32 against float16, gzip against none, and what float16 costs in fidelity.

Draws logos like the sample data's (128x128 PNG) and the same logos at a typical real-logo size (512x512
PNG), extracts ResNet-50 features once (seeded random weights in torchvision's layout, as the tests and the
offline demo use; ImageNet weights give sparser activations that compress at least as well), writes them with
the pipeline's `FeatureWriter` in each storage variant and prints bytes per image (the whole file, and the
feature matrix alone: names and statistics are a fixed cost that small runs spread over few images), the overhead
against each
PNG size and the max abs error of float16 against float32 (absolute and relative to the largest value).

Usage: python -m benchmarks.quality_feature_storage [--images 64] [--quick]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from dataprep_assets.ml.featurestore import FeatureFile, FeatureWriter
from dataprep_assets.sample_data.quality_prediction import DRAW


def png_size(image: Image.Image) -> int:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.tell()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]  # the module has a docstring
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n = 16 if args.quick else args.images
    from dataprep_assets.ml.resnet import ResNet50Extractor, save_random_weights

    rng = np.random.default_rng(0)
    logos = [DRAW[list(DRAW)[i % 4]](rng).convert("RGB") for i in range(n)]
    raw = {
        "128x128": sum(png_size(im) for im in logos),
        "512x512": sum(png_size(im.resize((512, 512), Image.Resampling.LANCZOS)) for im in logos),
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        extractor = ResNet50Extractor(save_random_weights(root / "resnet50_random.pth"))
        started = time.perf_counter()
        features = np.concatenate(
            [
                extractor.extract(
                    np.stack([np.asarray(im.resize((224, 224), Image.Resampling.BILINEAR)) for im in logos[i : i + 16]])
                )
                for i in range(0, n, 16)
            ]
        )
        print(
            f"quality_prediction feature storage: {n} logos, ResNet-50 2048-d features in "
            f"{time.perf_counter() - started:.1f}s; "
            f"PNG bytes per logo: 128x128 {raw['128x128'] / n:,.0f}, 512x512 {raw['512x512'] / n:,.0f}"
        )
        ids = [f"logo_{i:05d}" for i in range(n)]
        for dtype in ("float32", "float16"):
            for compression in ("none", "gzip"):
                path = root / f"{dtype}_{compression}.h5"
                with FeatureWriter(path, dim=2048, attrs={}, compression=compression, storage_dtype=dtype) as writer:
                    writer.append(ids, ids, features)
                with FeatureFile(path) as ff:
                    error = float(np.abs(ff.read_rows(np.arange(n)) - features).max())
                    matrix = ff.features.id.get_storage_size()  # the part that grows with the dataset
                size = path.stat().st_size
                overheads = ", ".join(
                    f"{size / b:.0%} ({matrix / b:.0%} matrix only) of {name} PNGs" for name, b in raw.items()
                )
                print(
                    f"{dtype:8s} {compression:5s} file {size / n:7,.0f} B/image, matrix {matrix / n:7,.0f} B/image  "
                    f"overhead {overheads}  "
                    f"max abs error vs float32 {error:.4g} ({error / float(np.abs(features).max()):.1e} of the largest "
                    "value)"
                )
    print("seed target: feature storage <= 50% of the raw image bytes")


if __name__ == "__main__":
    main()
