"""One automation-condition sensor per pipeline, running by default on a fresh instance.

Every pipeline asset declares when it should run (`FOLLOW_UPSTREAM` in common/uploads.py); these
sensors are what evaluate those conditions. Dagster's own `default_automation_condition_sensor` is
STOPPED on a fresh instance and mixes every pipeline's assets into shared runs; one sensor per
pipeline group instead:

- is RUNNING as soon as the daemon starts (nothing to turn on: an upload batch propagates);
- launches runs of that pipeline only, tagged `dataprep/pipeline: <pipeline>` (the production
  per-pipeline concurrency limit applies to them, and the Runs page filters by it);
- has a name that says what it serves (`<pipeline>_automation`).

Set `DATAPREP_AUTOMATION_SENSORS=stopped` to start them STOPPED instead (a shared instance where
someone turns automation on deliberately). The interval is `DATAPREP_AUTOMATION_INTERVAL_SECONDS`
(default 30, Dagster's own default).
"""

import os

import dagster as dg

from dataprep_assets.common.automation import PIPELINES, pipeline_automation_sensor


@dg.definitions
def automation() -> dg.Definitions:
    running = os.environ.get("DATAPREP_AUTOMATION_SENSORS", "running").strip().lower() != "stopped"
    interval = int(os.environ.get("DATAPREP_AUTOMATION_INTERVAL_SECONDS", "30"))
    return dg.Definitions(
        sensors=[pipeline_automation_sensor(p, running=running, interval_seconds=interval) for p in PIPELINES]
    )
