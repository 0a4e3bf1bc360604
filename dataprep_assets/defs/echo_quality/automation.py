"""Refresh the echo dataset when new inference results land: a sensor on the results location and a
daily schedule that skips when the results are unchanged since the last materialization.

The location is the asset's: `$ECHO_RESULTS_URI` (a directory or `s3://bucket/prefix`, endpoint from
`$AWS_ENDPOINT_URL_S3`) or `raw/echo_quality/inference_output` in the dataset store. Both request
`echo_quality_job` with `results_uri` set to the location they looked at. The schedule's cron is
`$ECHO_REFRESH_CRON` (default `0 6 * * *`) in `$ECHO_REFRESH_TIMEZONE` (default UTC).
"""

import os

import dagster as dg

from dataprep_assets.common.metadata import latest_materialization_metadata
from dataprep_assets.common.sensors import FINGERPRINT_CHARS, FINGERPRINT_TAG, ChangeSource, new_files_sensor
from dataprep_assets.defs.echo_quality.assets import echo_inference_results, echo_quality_job
from dataprep_assets.defs.echo_quality.results_location import results_source
from dataprep_assets.lib.changes import listing_fingerprint

SENSOR_NAME = "echo_inference_results_sensor"
SCHEDULE_NAME = "echo_quality_daily_refresh"
DEFAULT_CRON = "0 6 * * *"
MAX_CHANGES_PER_TICK = int(os.environ.get("ECHO_SENSOR_MAX_CHANGES_PER_TICK", "1000"))


def refresh_run_config(uri: str) -> dict:
    return {"ops": {echo_inference_results.op.name: {"config": {"results_uri": uri}}}}


def _source(context) -> ChangeSource:
    return results_source(context.resources.store)


IN_FLIGHT_OR_DONE = [
    dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.SUCCESS,
]  # fmt: skip


def refresh_requested(instance: dg.DagsterInstance, fingerprint: str) -> str | None:
    """Why the results listing `fingerprint` needs no new run (one already queued, running or done), or None."""
    runs = instance.get_run_records(
        dg.RunsFilter(job_name=echo_quality_job.name, tags={FINGERPRINT_TAG: fingerprint}, statuses=IN_FLIGHT_OR_DONE),
        limit=1,
    )
    if runs:
        run = runs[0].dagster_run
        return (
            f"run {run.run_id[:8]} ({run.status.value}) already refreshes these inference results "
            f"(listing {fingerprint})"
        )
    return None


echo_inference_results_sensor = new_files_sensor(
    name=SENSOR_NAME,
    source=_source,
    target=echo_quality_job,
    run_config=lambda source, batch: refresh_run_config(source.describe()),
    max_changes_per_tick=MAX_CHANGES_PER_TICK,
    lookback_seconds=int(os.environ.get("ECHO_SENSOR_LOOKBACK_SECONDS", "120")),
    minimum_interval_seconds=int(os.environ.get("ECHO_SENSOR_INTERVAL_SECONDS", "60")),
    required_resource_keys={"store"},
    description="New or changed inference result files (*.json, *.csv; key + ETag) under $ECHO_RESULTS_URI or the "
    "store's "
    "raw/echo_quality/inference_output request one refresh of the echo dataset.",
    tags={"dataprep/pipeline": "echo_quality"},
    ledger_in_store=True,
    skip_if_requested=lambda context, fingerprint: refresh_requested(context.instance, fingerprint),
)


@dg.schedule(
    name=SCHEDULE_NAME,
    cron_schedule=os.environ.get("ECHO_REFRESH_CRON", DEFAULT_CRON),
    execution_timezone=os.environ.get("ECHO_REFRESH_TIMEZONE", "UTC"),
    target=echo_quality_job,
    required_resource_keys={"store"},
    description="Daily refresh of the echo dataset; skips when the result files (key + ETag) are the same as at the "
    "last materialization.",
)
def echo_quality_daily_refresh(context: dg.ScheduleEvaluationContext):
    source = results_source(context.resources.store)
    fingerprint = listing_fingerprint(source.list_objects())
    last = latest_materialization_metadata(context.instance, echo_inference_results.key).get("results_fingerprint")
    if last == fingerprint:
        return dg.SkipReason(f"inference results under {source.describe()} unchanged since the last materialization")
    handled = refresh_requested(context.instance, fingerprint[:FINGERPRINT_CHARS])
    if handled:
        return dg.SkipReason(handled)
    day = context.scheduled_execution_time.strftime("%Y-%m-%d") if context.scheduled_execution_time else "manual"
    return dg.RunRequest(
        run_key=f"{SCHEDULE_NAME}:{day}:{fingerprint[:16]}",
        run_config=refresh_run_config(source.describe()),
        tags={"dataprep/pipeline": "echo_quality", FINGERPRINT_TAG: fingerprint[:FINGERPRINT_CHARS]},
    )
