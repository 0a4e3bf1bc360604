"""`make demo`: generate sample data, materialize every pipeline on the local instance, summarise.

Pipelines are discovered: every folder `dataprep_assets/defs/<name>/` with a job `<name>_job` is run;
`DEMO_SETTINGS` below gives a pipeline several jobs, partitions or run config instead (kept here, out of the
production code location that `defs/` is).

Runs each pipeline's job (every partition of partitioned ones) on the Dagster instance under
`$DAGSTER_HOME`, so the runs, materializations and check results show in `make ui` afterwards.
Exits non-zero when a run fails or a blocking check fails.
"""

from __future__ import annotations

import os
import pkgutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from dataprep_assets.common.store import DEFAULT_STORE_ROOT
from dataprep_assets.sample_data import generators


@dataclass(frozen=True)
class DemoPipeline:
    name: str
    job: str
    partitions: Callable[[dg.Definitions, dg.DagsterInstance], list[str]] | None = None
    """For partitioned jobs: registers and returns the partition keys to run."""
    run_config: dict = field(default_factory=dict)


def perva_categories(defs: dg.Definitions, instance: dg.DagsterInstance) -> list[str]:
    """The categories image_catalog registered (it ran just before)."""
    from dataprep_assets.defs.perva_retrieval.datasets import PARTITIONS_NAME

    return sorted(instance.get_dynamic_partitions(PARTITIONS_NAME))


DEMO_SETTINGS: dict[str, list[DemoPipeline]] = {
    # the whole job, with caps small enough that the sample data is capped
    "echo_quality": [
        DemoPipeline(
            "echo_quality",
            "echo_quality_job",
            run_config={
                "ops": {"echo_training_selection": {"config": {"max_high_quality": 30, "max_low_quality": 15}}}
            },
        )
    ],
    # the catalog job, every category partition, then the export; run config is the seed README's example
    # invocation (num_train 5, seed 42 for the catalog; seed 23 and K=3 for the rest), so the outputs land where
    # the seed's scripts would put them
    "perva_retrieval": [
        DemoPipeline(
            "perva_retrieval:catalog",
            "perva_retrieval_catalog_job",
            run_config={
                "ops": {
                    "image_catalog": {"config": {"num_train": 5, "seed": 42}},
                    "concept_splits": {"config": {"seed": 23}},
                }
            },
        ),
        DemoPipeline(
            "perva_retrieval:categories",
            "perva_retrieval_per_category_job",
            partitions=perva_categories,
            run_config={"ops": {"retrieval_per_category": {"config": {"seed": 23, "top_k": 3}}}},
        ),
        DemoPipeline(
            "perva_retrieval:export",
            "perva_retrieval_export_job",
            run_config={
                "ops": {
                    "retrieval_combined": {"config": {"seed": 23, "num_samples": 200}},
                    "hf_retrieval_dataset": {"config": {"seed": 23}},
                }
            },
        ),
    ],
}


def discover_pipelines(defs: dg.Definitions) -> list[DemoPipeline]:
    """Every pipeline folder under `defs/`, in name order: its `DEMO_SETTINGS`, else its `<name>_job`."""
    import dataprep_assets.defs as defs_pkg

    job_names = {job.name for job in defs.resolve_all_job_defs()}
    found = []
    for info in sorted(pkgutil.iter_modules(defs_pkg.__path__), key=lambda m: m.name):
        if info.name in DEMO_SETTINGS:
            found.extend(DEMO_SETTINGS[info.name])
        elif info.ispkg and f"{info.name}_job" in job_names:
            found.append(DemoPipeline(info.name, f"{info.name}_job"))
    return found


@dataclass
class RunSummary:
    pipeline: str
    success: bool
    seconds: float
    lines: list[str] = field(default_factory=list)
    failed_blocking_checks: list[str] = field(default_factory=list)


def _describe(result: dg.ExecuteInProcessResult, summary: RunSummary, store_root: Path, graph) -> None:
    for event in result.get_asset_materialization_events():
        meta = {k: v.value for k, v in event.materialization.metadata.items()}
        rows = meta.get("dagster/row_count", meta.get("cells", meta.get("files", "")))
        rejects = meta.get("rejects")
        path = str(meta.get("path", "")).removeprefix(store_root.resolve().as_uri() + "/")
        extra = f"  rejects={rejects}" if rejects else ""
        summary.lines.append(
            f"  asset {event.materialization.asset_key.to_user_string():<40} rows={rows!s:<8}{extra}  {path}"
        )
    for evaluation in result.get_asset_check_evaluations():
        status = (
            "PASS" if evaluation.passed else ("FAIL" if evaluation.severity == dg.AssetCheckSeverity.ERROR else "WARN")
        )
        key = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        blocking = graph.get_check_spec(evaluation.asset_check_key).blocking
        summary.lines.append(f"  check {key:<70} {status}{' (blocking)' if blocking else ''}")
        if not evaluation.passed and blocking:
            summary.failed_blocking_checks.append(key)


def run_pipeline(
    defs: dg.Definitions, instance: dg.DagsterInstance, pipeline: DemoPipeline, store_root: Path
) -> RunSummary:
    job = defs.resolve_job_def(pipeline.job)
    keys = pipeline.partitions(defs, instance) if pipeline.partitions else [None]
    started, summary = time.perf_counter(), RunSummary(pipeline.name, True, 0.0)
    for key in keys:
        run_config = {"loggers": {"console": {"config": {"log_level": "INFO"}}}, **pipeline.run_config}
        result = job.execute_in_process(
            instance=instance, partition_key=key, run_config=run_config, raise_on_error=False
        )
        summary.success &= result.success
        if key is not None:
            summary.lines.append(f"  partition {key}: {'ok' if result.success else 'FAILED'}")
        _describe(result, summary, store_root, defs.resolve_asset_graph())
    summary.seconds = time.perf_counter() - started
    return summary


def main(argv: list[str] | None = None) -> int:
    store_root = Path(os.environ.setdefault("DATAPREP_STORE_ROOT", str(Path(DEFAULT_STORE_ROOT).resolve())))
    os.environ.setdefault("DAGSTER_HOME", str(Path("var/dagster_home").resolve()))
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    only = set(argv or [])
    print(f"dataset store: {store_root}\nDagster instance: {os.environ['DAGSTER_HOME']}")
    store_url = os.environ.get("DATAPREP_STORE_URL", "")
    for name, generate in generators().items():
        if not only or name in only:
            print(f"sample data [{name}]: {generate(store_root)}")
            if store_url.startswith("s3://"):  # generators write where told; the demo uploads what the pipelines read
                from dataprep_assets.defs.resources import build_store

                build_store(url=store_url, cache_dir=str(store_root)).push(f"raw/{name}")
                print(f"  uploaded to {store_url.rstrip('/')}/raw/{name}")

    from dataprep_assets.definitions import defs as load_defs

    defs = load_defs()
    failures = []
    with dg.DagsterInstance.get() as instance:
        for pipeline in discover_pipelines(defs):
            if only and pipeline.name.split(":")[0] not in only:
                continue
            summary = run_pipeline(defs, instance, pipeline, store_root)
            print(f"\n== {pipeline.name}: {'success' if summary.success else 'FAILED'} in {summary.seconds:.1f}s")
            print("\n".join(summary.lines))
            if not summary.success or summary.failed_blocking_checks:
                failures.append(pipeline.name)
    print(f"\noutputs under {store_root}; see them in the UI with `make ui` (http://127.0.0.1:3000)")
    if failures:
        print(f"FAILED pipelines: {', '.join(failures)}", file=sys.stderr)
        return 1
    print("all pipelines succeeded; every blocking check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
