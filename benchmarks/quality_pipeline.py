"""quality_prediction end to end: the whole Dagster graph over ~10,000 conversion results.

    .venv/bin/python -m benchmarks.quality_pipeline [--logos 1000] [--runs 3] [--quick]

Generates the sample data at the seed's scale (1,000 logos x 10 parameter settings, metrics computed
for real, all the sample's bad inputs). Each side runs in fresh child processes (benchmarks/_harness.py):
the warm-up call imports Dagster and the assets, copies the side's starting store into a fresh folder
and opens a fresh Dagster instance; the timed call is the run's materialization, the first in that
process (as a scheduled run is: no warm-up materialization). Peak memory: the sampled PSS of the
process tree; per core: examples per CPU-second.

- ours, cold: every asset and check (inventory, cleaning, splits, image_stats features, report);
- then 1,000 new results for existing logos land (a new optimisation run) on the store of one cold run,
  and the graph reruns from copies of it: ours with the feature cache (only changed images are
  featurised: none here), and NAIVE, the same rerun recomputing every feature (`use_cache: false`):
  the same graph and output, without the cache (the simplest way to the same files).

Prints examples/s and per CPU-second (median and spread of the runs), examples per minute beside the
seed's target (>= 1,000 examples/minute for complete processing) and the cached rerun over the naive one.
"""

from __future__ import annotations

import argparse
import atexit
import csv
import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from benchmarks._harness import header, measure, ratio

MODULE = "benchmarks.quality_pipeline"


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


_RUN: dict = {}
"""The warm-up's fresh store, Dagster instance and graph, used by the timed call."""


def pipeline(warmup: bool, source: str, cache: bool, keep: str = "") -> dict:
    """Warm-up: imports, a fresh copy of `source`, a fresh instance. Timed: materialize every asset and check.
    `keep`: where to move the store after the run (the starting point of the reruns)."""
    import dagster as dg

    from dataprep_assets.common.store import LocalDatasetStore
    from dataprep_assets.defs.quality_prediction import assets, checks
    from dataprep_assets.defs.quality_prediction.datasets import EXAMPLES

    if warmup:
        stack = ExitStack()
        atexit.register(stack.close)
        root = Path(tempfile.mkdtemp(dir=Path(source).parent)) / "store"
        shutil.copytree(source, root, symlinks=True)
        _RUN.update(
            root=root,
            instance=stack.enter_context(dg.instance_for_test()),
            graph=list(
                {
                    id(v): v
                    for m in (assets, checks)
                    for v in vars(m).values()
                    if isinstance(v, dg.AssetSpec) or (isinstance(v, dg.AssetsDefinition) and not v.partitions_def)
                }.values()  # the upload batch asset is partitioned per batch: the sources are already in place
            ),
        )
        return {}
    store = LocalDatasetStore(root=str(_RUN["root"]))
    result = dg.materialize(
        _RUN["graph"],
        instance=_RUN["instance"],
        resources={"store": store},
        run_config={"ops": {"image_features": {"config": {"use_cache": cache}}}},
        raise_on_error=False,
    )
    meta = {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    import pandas as pd

    examples = len(pd.read_parquet(store.path(EXAMPLES), columns=["result_id"]))
    if keep and not Path(keep).exists():
        _RUN["root"].rename(keep)
    return {
        "items": examples,
        "success": result.success,
        "results": meta["conversion_results"]["dagster/row_count"].value,
        "computed": meta["image_features"]["computed"].value,
        "cached": meta["image_features"]["from_cache"].value,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logos", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="small smoke run (120 logos, ~1,200 results, 1 run)")
    args = parser.parse_args()
    logos, runs = (120, 1) if args.quick else (args.logos, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        pristine, rerun = Path(tmp, "pristine"), Path(tmp, "after_cold_run")
        start = time.perf_counter()
        generate_sample(pristine, logos)
        header(
            f"quality_prediction pipeline: {logos} logos, sample generated in {time.perf_counter() - start:.0f}s; "
            "examples/s"
        )
        cold = measure(
            MODULE,
            "pipeline",
            "ours, cold (every asset and check)",
            runs,
            unit="ex",
            source=str(pristine),
            cache=True,
            keep=str(rerun),
        )
        add_new_results(rerun, max(logos, 100))
        cached = measure(
            MODULE,
            "pipeline",
            "ours, rerun after a new run, feature cache",
            runs,
            unit="ex",
            source=str(rerun),
            cache=True,
        )
        naive = measure(
            MODULE,
            "pipeline",
            "naive, same rerun, every feature recomputed",
            runs,
            unit="ex",
            source=str(rerun),
            cache=False,
        )
        for m in (cold, cached, naive):
            e = m.extra
            print(
                f"   {m.label:<46} {e['results']:>6} results -> {m.items:>6} examples "
                f"{m.rate * 60:>8,.0f} examples/min;"
                f" features computed {e['computed']:>5}, cached {e['cached']:>5}  {'ok' if e['success'] else 'FAILED'}"
            )
        ratio(cached, naive, "same rerun, same output; feature cache vs every feature recomputed")
        print(f"   seed target: >= 1,000 examples/minute for complete processing -> ours cold {cold.rate * 60:,.0f}")
        if not all(m.extra["success"] for m in (cold, cached, naive)):
            raise SystemExit("a run failed")


if __name__ == "__main__":
    main()
