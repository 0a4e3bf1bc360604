"""Retention as a Dagster job: `store_gc_job` applies the retention policy to the dataset store, and a
weekly schedule runs it (stopped by default: turn it on in the UI's Automation tab)."""

import dagster as dg
from pydantic import Field

from dataprep_assets.common.config import LaunchpadConfig
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.versions import retention_policy


class StoreGcConfig(LaunchpadConfig):
    keep_last: int = Field(default=10, ge=1, description="Newest versions kept per dataset.")
    keep_days: float = Field(default=30.0, ge=0, description="Every version younger than this many days is kept.")
    grace_hours: float = Field(
        default=1.0,
        ge=0,
        description="Unreferenced objects younger than this are kept (a writer elsewhere may use them).",
    )
    dry_run: bool = Field(default=False, description="Report what would be freed and delete nothing.")


@dg.op(
    description="Drop the versions the retention policy lets go (never one a kept release pins), then unreferenced "
    "objects."
)
def collect_store_garbage(
    context: dg.OpExecutionContext, config: StoreGcConfig, store: DatasetStore
) -> dg.Output[None]:
    report = store.gc(retention_policy(config.keep_last, config.keep_days, config.grace_hours), dry_run=config.dry_run)
    context.log.info(report.summary())
    return dg.Output(
        None,
        metadata={
            "bytes_freed": report.bytes_freed,
            "objects_deleted": report.objects_deleted,
            "versions_dropped": len(report.versions_dropped),
            "versions_kept": report.versions_kept,
            "objects_kept": report.objects_kept,
            "dry_run": report.dry_run,
            "dropped": dg.MetadataValue.json(report.versions_dropped[:200]),
        },
    )


@dg.job(description="Apply the dataset store's retention policy (the same as `python -m dataprep_assets gc`).")
def store_gc_job():
    collect_store_garbage()


store_gc_weekly = dg.ScheduleDefinition(
    job=store_gc_job,
    cron_schedule="0 3 * * 0",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="Sundays 03:00 UTC: the retention policy with its defaults (keep the last 10, 30 days, releases' "
    "pins).",
)
