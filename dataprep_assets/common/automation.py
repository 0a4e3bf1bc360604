"""Per-pipeline automation-condition sensors and the run tag every pipeline run carries."""

import dagster as dg

PIPELINES = ("cell_qa", "ct_hemorrhage", "echo_quality", "quality_prediction", "perva_retrieval")
PIPELINE_TAG = "dataprep/pipeline"


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
