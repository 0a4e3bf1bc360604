"""How pipeline assets follow their upstream (`FOLLOW_UPSTREAM`), the per-pipeline automation-condition sensors that
evaluate it, and the run tag every pipeline run carries."""

from collections.abc import Sequence

import dagster as dg

PIPELINES = ("cell_qa", "ct_hemorrhage", "echo_quality", "quality_prediction", "perva_retrieval")
PIPELINE_TAG = "dataprep/pipeline"


def follow_upstream(ignore: Sequence[dg.AssetSpec | dg.AssetsDefinition] = ()) -> dg.AutomationCondition:
    """Materialize when an upstream asset updates, once none is in progress or missing and every
    blocking check on the upstream assets has passed (leakage never propagates). `ignore` names
    external inputs that are never materialized here (so they never count as missing)."""
    eager = dg.AutomationCondition.eager()
    if ignore:
        eager = eager.ignore(dg.AssetSelection.keys(*(a.key for a in ignore)))
    return eager & dg.AutomationCondition.all_deps_blocking_checks_passed()


FOLLOW_UPSTREAM = follow_upstream()


def automation_sensor_name(pipeline: str) -> str:
    return f"{pipeline}_automation"


def pipeline_automation_sensor(
    pipeline: str, *, running: bool = True, interval_seconds: int = 30
) -> dg.AutomationConditionSensorDefinition:
    """Evaluates the automation conditions of the `pipeline` asset group only; its runs are tagged with the pipeline."""
    return dg.AutomationConditionSensorDefinition(
        automation_sensor_name(pipeline),
        target=dg.AssetSelection.groups(pipeline),
        run_tags={PIPELINE_TAG: pipeline},
        default_status=dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED,
        minimum_interval_seconds=interval_seconds,
        description=f"Materializes {pipeline} assets whose automation condition is true (an upstream update, every "
        f"blocking check upstream passed); runs tagged {PIPELINE_TAG}={pipeline}. Running by default.",
    )
