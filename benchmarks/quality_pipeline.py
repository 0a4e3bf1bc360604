"""quality_prediction end to end: the whole Dagster graph over ~10,000 conversion results.

Generates the sample data at the seed's scale (1,000 logos x 10 parameter settings, metrics computed
for real, all the sample's bad inputs), then, each in a fresh child process on a fresh Dagster
instance so peak memory is per run:

- ours, cold: every asset and check (inventory, cleaning, splits, image_stats features, report);
- then 1,000 new results for existing logos land (a new optimisation run), and the graph reruns:
  ours with the feature cache (only changed images are featurised: none here), and naive, the same
  rerun recomputing every feature (`use_cache: false`).

Prints examples per minute beside the seed's target (>= 1,000 examples/minute for complete
processing) and the rerun speed-up.

Usage: python -m benchmarks.quality_pipeline [--logos 1000] [--quick]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import header, run_child


def generate_sample(root: Path, logos: int) -> None:
    from dataprep_assets.sample_data.quality_prediction import TYPE_COUNTS, generate

    scale = logos / sum(TYPE_COUNTS.values())
    generate(root, seed=0, type_counts={t: max(3, round(n * scale)) for t, n in TYPE_COUNTS.items()})


def add_new_results(root: Path, count: int) -> None:
    """A new optimisation run over existing logos, written as one more CSV table (metrics computed for real)."""
    from PIL import Image

    from dataprep_assets.defs.quality_prediction.metrics import quality_metrics
    from dataprep_assets.sample_data.quality_prediction import (
        CSV_COLUMNS,
        LOG_TYPE_NAMES,
        sample_params,
        simulate_vectorization,
    )

    base = root / "raw" / "quality_prediction"
    images = sorted(p for p in (base / "images").glob("*/*.png") if not p.stem.endswith("copy"))
    rng = np.random.default_rng(99)
    with open(base / "results" / "method3" / "adaptive_results_new_run.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for i in range(count):
            path = images[i % len(images)]
            try:
                image = Image.open(path).convert("RGB")
            except OSError:
                continue
            params = sample_params(rng, 3)
            m = quality_metrics(np.asarray(image), simulate_vectorization(image, params))
            writer.writerow(
                [
                    path.relative_to(base).as_posix(),
                    LOG_TYPE_NAMES[path.parent.name],
                    "method3",
                    *[params[c] for c in CSV_COLUMNS[3:12]],
                    round(m["ssim"], 6),
                    round(m["mse"], 4),
                    round(m["psnr"], 4),
                    f"2024-06-{1 + i % 28:02d}T12:00:00Z",
                ]
            )


def child(args) -> None:
    import dagster as dg

    from dataprep_assets.common.store import LocalDatasetStore
    from dataprep_assets.defs.quality_prediction import assets, checks
    from dataprep_assets.defs.quality_prediction.datasets import EXAMPLES

    graph = list(
        {
            id(v): v
            for m in (assets, checks)
            for v in vars(m).values()
            if isinstance(v, (dg.AssetsDefinition, dg.AssetSpec))
        }.values()
    )
    store = LocalDatasetStore(root=args.root)
    config = {"ops": {"image_features": {"config": {"use_cache": args.cache}}}}
    with dg.instance_for_test() as instance:
        start = time.perf_counter()
        result = dg.materialize(
            graph, instance=instance, resources={"store": store}, run_config=config, raise_on_error=False
        )
        seconds = time.perf_counter() - start
        meta = {
            e.materialization.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()
        }
    import pandas as pd

    print(
        json.dumps(
            {
                "success": result.success,
                "seconds": seconds,
                "examples": len(pd.read_parquet(store.path(EXAMPLES), columns=["result_id"])),
                "results": meta["conversion_results"]["dagster/row_count"].value,
                "computed": meta["image_features"]["computed"].value,
                "cached": meta["image_features"]["from_cache"].value,
                "peak_mb": max(
                    resource.getrusage(w).ru_maxrss for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                )
                / 1024,
            }
        )
    )


def measure(root: Path, cache: bool) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.quality_pipeline", "--child", "--root", str(root)] + (
        [] if cache else ["--no-cache"]
    )
    out, peak = run_child(cmd)  # peak: sampled PSS of the child and its workers (the harness)
    return json.loads(out.strip().splitlines()[-1]) | {"peak_mb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logos", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="small smoke run (120 logos, ~1,200 results)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--no-cache", dest="cache", action="store_false", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    logos = 120 if args.quick else args.logos
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        generate_sample(root, logos)
        header(
            f"quality_prediction pipeline benchmark: {logos} logos, sample generated in "
            f"{time.perf_counter() - start:.0f}s"
        )
        cold = measure(root, cache=True)
        add_new_results(root, max(logos, 100))
        cached = measure(root, cache=True)
        naive = measure(root, cache=False)
        for name, r in (
            ("ours, cold (every asset and check)", cold),
            ("ours, rerun after a new run, feature cache", cached),
            ("naive, same rerun, every feature recomputed", naive),
        ):
            print(
                f"{name:<46} {r['results']:>6} results -> {r['examples']:>6} examples {r['seconds']:7.1f}s "
                f"{r['examples'] / r['seconds'] * 60:>8,.0f} examples/min  features computed {r['computed']:>5}, "
                f"cached {r['cached']:>5}"
                f"  peak PSS {r['peak_mb']:5.0f} MB  {'ok' if r['success'] else 'FAILED'}"
            )
        print(f"speed-up of the cached rerun over the naive rerun: {naive['seconds'] / cached['seconds']:.2f}x")
        print(
            "seed target: >= 1,000 examples/minute for complete processing -> ours cold "
            f"{cold['examples'] / cold['seconds'] * 60:,.0f}"
        )


if __name__ == "__main__":
    main()
