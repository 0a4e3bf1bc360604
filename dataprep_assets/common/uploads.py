"""New uploads become work: a sensor per pipeline turns new files into an upload batch.

Files land under a pipeline's raw prefix in the dataset store (`raw/<pipeline>/...`: a local
directory, or `s3://bucket/prefix/raw/<pipeline>/...` when the store is on S3). The sensor lists that
prefix with the change cursor of `common/sensors.py` (nothing missed, nothing twice, capped per tick,
restart-safe), groups the new key+ETags into the day's upload batch (one dynamic partition per UTC
day, never one per file), and requests a run of only `<pipeline>_uploads` for that partition. The
pipeline's ingestion asset depends on `<pipeline>_uploads` and everything downstream follows through
declarative automation (`common.automation.FOLLOW_UPSTREAM`), which waits for upstream blocking checks to pass.
"""

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
from pydantic import Field

from dataprep_assets.common.metadata import rejects_metadata, table
from dataprep_assets.common.sensors import (
    ChangeSource,
    LocalDirectorySource,
    ReportedLedger,
    S3EventQueueSource,
    S3PrefixSource,
    evaluate_changes,
)
from dataprep_assets.common.store import DatasetStore, S3DatasetStore
from dataprep_assets.lib.accounting import Ledger, account, ledgers_metadata
from dataprep_assets.lib.changes import ObjectInfo, batch_key
from dataprep_assets.lib.dated import date_prefix_pattern, names_a_dated_folder, undated_view
from dataprep_assets.lib.itemcache import CACHE_DIR
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.s3uri import is_s3_uri, split_s3_uri
from dataprep_assets.lib.storage import UnsafePathError, safe_join

UPLOADS_GROUP = "uploads"
BATCH_FORMAT = "%Y-%m-%d"
UPLOAD_SENSORS_ENV = "DATAPREP_UPLOAD_SENSORS"
INLINE_KEYS = 500
DATE_PREFIX_ENV = "DATAPREP_UPLOAD_DATE_PREFIX"
QUIET_ENV = "DATAPREP_UPLOAD_QUIET_SECONDS"
DEFAULT_QUIET_SECONDS = 30
RAW_VIEWS_DIR = f"{CACHE_DIR}/raw_views"


def upload_sensor_default_status() -> dg.DefaultSensorStatus:
    """STOPPED unless `$DATAPREP_UPLOAD_SENSORS=running` (`make watch`): on a fresh instance, upload
    sensors start by themselves only where someone asked for it. Applies until toggled in the UI."""
    running = os.environ.get(UPLOAD_SENSORS_ENV, "stopped").strip().lower() == "running"
    return dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED


def date_prefix_format(pipeline: str) -> str:
    """The date-prefix layout of a pipeline's uploads (a deployment setting, read by its sensor and its inventory
    alike): the pipeline's variable, else the global one; "" for the seed's undated layout. A bad value fails both
    with a message naming the variable and the value."""
    for variable in (f"DATAPREP_{pipeline.upper()}_UPLOAD_DATE_PREFIX", DATE_PREFIX_ENV):
        value = os.environ.get(variable, "").strip()
        if value:
            try:
                date_prefix_pattern(value)  # raises if it is not a folder-per-date strftime pattern
            except ValueError as exc:
                raise ValueError(f"${variable}: {exc}") from None
            return value
    return ""


def raw_inputs(
    store: DatasetStore, pipeline: str, prefix: str, relpath: str | None = None, *, pull: bool = True
) -> str:
    """The store-relative path an asset reads `relpath` (default: all of `prefix`, the pipeline's upload prefix)
    from in the seed's layout, pulled from the store. With date-prefixed uploads and `relpath` under `prefix`: the
    same path in the undated view of `prefix` (`lib.dated`: the latest upload of a path wins; rebuilt only when the
    listing of `prefix` changed, so the assets of a run share one view); else `relpath` itself. A `relpath` that
    already names a date folder (`raw/cell_qa/2026/11/28`) is read as it is.

    `pull=False`: the caller pulls what it reads (single objects of a large archive), so an undated `relpath` is
    only named; a dated `prefix` is still pulled whole, since its view is built from the local copy."""
    rel = (prefix if relpath is None else relpath).strip("/")
    try:
        date_format = date_prefix_format(pipeline)
    except ValueError as exc:  # a deployment setting: one line at the top of the run's failure, not a traceback
        raise dg.Failure(description=f"{pipeline} inputs: {exc}") from None
    rest = rel[len(prefix) :].strip("/") if rel == prefix or rel.startswith(f"{prefix}/") else None
    if not date_format or rest is None or (rest and names_a_dated_folder(rest, date_format)):
        if pull:
            store.pull(rel)
        return rel
    store.pull(prefix)
    view = f"{RAW_VIEWS_DIR}/{pipeline}"
    undated_view(store.path(prefix), store.path(view), date_format)
    return f"{view}/{rest}" if rest else view


@dataclass(frozen=True)
class UploadWatch:
    pipeline: str
    prefix: str
    """Store-relative prefix the pipeline reads its raw inputs from, e.g. `raw/cell_qa`."""
    suffixes: tuple[str, ...] = ()
    """File name endings that count as inputs (case-insensitive); empty = every file."""
    date_prefix_days: int = 2
    """With date-prefixed uploads (`$DATAPREP_<PIPELINE>_UPLOAD_DATE_PREFIX`, e.g. `%Y/%m/%d/`, else
    `$DATAPREP_UPLOAD_DATE_PREFIX`): the sensor lists only the last this-many days' sub-prefixes, so a tick's cost
    does not grow with the bucket; the inventories read the dated trees as the seed's layout (`raw_inputs`)."""
    max_files_per_tick: int = 1000
    lookback_seconds: int = 120
    minimum_interval_seconds: int = field(
        default_factory=lambda: int(os.environ.get("DATAPREP_UPLOAD_SENSOR_INTERVAL_SECONDS", "60"))
    )
    quiet_seconds: int | None = None
    """An upload is batched once its newest file is this many seconds old (files still arriving are held, so
    one `aws s3 cp --recursive` gives one batch, not one per tick it straddles; never held past
    `max_wait_seconds`). Else `$DATAPREP_UPLOAD_QUIET_SECONDS`, else 30; 0 batches whatever is there."""
    max_wait_seconds: int = 600
    events_queue_url: str = ""
    """An SQS queue that receives the bucket's S3 event notifications for this prefix: ticks read the
    queue instead of listing the prefix (S3 stores only). Else `$DATAPREP_<PIPELINE>_UPLOAD_QUEUE_URL`."""

    @property
    def date_format(self) -> str:
        return date_prefix_format(self.pipeline)

    @property
    def quiet(self) -> int:
        if self.quiet_seconds is not None:
            return self.quiet_seconds
        value = os.environ.get(QUIET_ENV, "").strip() or str(DEFAULT_QUIET_SECONDS)
        if not value.isdigit():
            raise ValueError(f"{QUIET_ENV} must be a whole number of seconds >= 0, got {value!r}")
        return int(value)

    @property
    def queue_url(self) -> str:
        return self.events_queue_url or os.environ.get(f"DATAPREP_{self.pipeline.upper()}_UPLOAD_QUEUE_URL", "")

    @property
    def asset_name(self) -> str:
        return f"{self.pipeline}_uploads"

    @property
    def partitions(self) -> dg.DynamicPartitionsDefinition:
        return dg.DynamicPartitionsDefinition(name=f"{self.pipeline}_upload_batches")


class UploadBatchConfig(dg.Config):
    keys: list[str] = Field(
        default_factory=list, description="Keys (relative to the watched prefix) that arrived in this tick."
    )
    etags: list[str] = Field(default_factory=list, description="ETag of each key (S3) or size-mtime (local files).")
    sizes: list[int] = Field(default_factory=list, description="Size in bytes of each key.")
    listing: str = Field(
        default="",
        description=f"Store path of a JSON {{keys, etags, sizes}} with more changes (a catch-up batch of over "
        f"{INLINE_KEYS} "
        "files is passed this way, not in the run config).",
    )

    deleted: list[str] = Field(
        default_factory=list, description="Keys reported in an earlier batch that are gone from the prefix now."
    )
    deleted_etags: list[str] = Field(default_factory=list, description="The ETag each deleted key had.")

    def changes(self, store: DatasetStore) -> list[tuple[str, str, int]]:
        """(key, etag, size) of every change: the inline lists, then the listing file's."""
        rows = list(zip(self.keys, self.etags, self.sizes, strict=True))
        if self.listing:
            more = store.read_json(self.listing)
            rows += list(zip(more["keys"], more["etags"], more["sizes"], strict=True))
        return rows

    def deletions(self, store: DatasetStore) -> list[tuple[str, str]]:
        """(key, etag) of every deletion: the inline lists, then the listing file's."""
        rows = list(zip(self.deleted, self.deleted_etags, strict=True))
        if self.listing:
            more = store.read_json(self.listing)
            rows += list(zip(more.get("deleted", []), more.get("deleted_etags", []), strict=True))
        return rows


def change_source(store: DatasetStore, watch: UploadWatch) -> ChangeSource:
    """Where the store keeps `watch.prefix`: an S3 prefix or a local directory."""
    uri = store.uri(watch.prefix)
    listing = {
        "suffixes": watch.suffixes,
        "date_prefix_format": watch.date_format,
        "date_prefix_days": watch.date_prefix_days,
    }
    if is_s3_uri(uri):
        bucket, key_prefix = split_s3_uri(uri)
        where = {"bucket": bucket, "prefix": key_prefix, "endpoint_url": getattr(store, "endpoint_url", "") or ""}
        if watch.queue_url:
            visibility = max(1, watch.minimum_interval_seconds // 2)
            source = S3EventQueueSource(**where, **listing, queue_url=watch.queue_url, visibility_timeout=visibility)
        else:
            source = S3PrefixSource(**where, **listing)
        return source.use_client(store.client()) if isinstance(store, S3DatasetStore) else source
    if watch.queue_url:
        raise ValueError(
            f"{watch.pipeline}: an upload event queue ({watch.queue_url}) needs the dataset store on S3, "
            f"but it is {uri}"
        )
    return LocalDirectorySource(root=str(store.path(watch.prefix)), **listing)


def batch_ledger(
    changes: list[tuple[str, str, int]],
    refused: list[tuple[str, str]],
    written: dict,
    deletions: Sequence[tuple[str, str]] = (),
    written_deleted: dict | None = None,
) -> Ledger:
    """Every change of a tick (key @ ETag) is in the written batch, a reject (unsafe key), or set aside:
    superseded by a later change of the same key in the same tick. Every deletion is in the batch's `deleted`."""
    ids = [f"{key}@{etag}" for key, etag, _ in changes] + [f"{key}@{etag} deleted" for key, etag in deletions]
    refused_ids = [f"{key}@{etag}" for key, etag in refused]
    refused_set = set(refused)
    accepted = [(key, etag) for key, etag, _ in changes if (key, etag) not in refused_set]
    last = {key: i for i, (key, _) in enumerate(accepted)}
    superseded = [f"{key}@{etag}" for i, (key, etag) in enumerate(accepted) if last[key] != i]
    out = [f"{key}@{written[key]['etag']}" for key in sorted(last) if key in written]
    gone = written_deleted or {}
    out += [f"{key}@{gone[key]['etag']} deleted" for key in sorted({k for k, _ in deletions}) if key in gone]
    return account("uploaded files", ids, out, refused_ids, set_aside=superseded)


def upload_batch_definitions(watch: UploadWatch) -> tuple[dg.AssetsDefinition, dg.SensorDefinition]:
    """The `<pipeline>_uploads` asset (one partition per UTC day) and the sensor that feeds it."""
    partitions = watch.partitions

    @dg.asset(
        name=watch.asset_name,
        group_name=UPLOADS_GROUP,
        partitions_def=partitions,
        kinds={"json"},
        description=f"Files uploaded under `{watch.prefix}/`, one partition per UTC day: keys, ETags, sizes. "
        f"Written by the `{watch.pipeline}_upload_sensor`; the {watch.pipeline} pipeline follows it.",
    )
    def _uploads(
        context: dg.AssetExecutionContext, config: UploadBatchConfig, store: DatasetStore
    ) -> dg.MaterializeResult:
        relpath = f"uploads/{watch.pipeline}/{context.partition_key}.json"
        previous = store.read_json(relpath) if store.exists(relpath) else {"files": {}}
        files, rejects = dict(previous["files"]), RejectLog()
        deleted = dict(previous.get("deleted", {}))
        changes, deletions = config.changes(store), config.deletions(store)
        refused = []
        for key, etag, size in changes:
            try:
                safe_join(store.local_root(), watch.prefix, key)
            except UnsafePathError as exc:
                rejects.add(f"{watch.prefix}/{key}", "upload_batch", "unsafe_key", str(exc))
                refused.append((key, etag))
                continue
            files[key] = {"etag": etag, "size": int(size)}
            deleted.pop(key, None)  # deleted earlier today, uploaded again
        for key, etag in deletions:  # gone from the prefix: the pipeline no longer sees it, so it rebuilds
            files.pop(key, None)
            deleted[key] = {"etag": etag}
        manifest = store.write_json(
            relpath,
            {
                "pipeline": watch.pipeline,
                "batch": context.partition_key,
                "prefix": watch.prefix,
                "files": dict(sorted(files.items())),
                **({"deleted": dict(sorted(deleted.items()))} if deleted else {}),
            },
        )
        rejects_path = store.write_rejects(f"{watch.asset_name}_{context.partition_key}", rejects)
        written = store.read_json(relpath)
        ledger = batch_ledger(changes, refused, written["files"], deletions, written.get("deleted", {}))
        frame = pd.DataFrame([(k, v["size"]) for k, v in files.items()], columns=["key", "size"])
        by_folder = (
            frame.assign(folder=frame["key"].str.rsplit("/", n=1).str[0])
            .groupby("folder")["size"]
            .agg(["count", "sum"])
        )
        context.log.info(
            f"upload batch {context.partition_key}: {len(changes)} new/changed, {len(deletions)} deleted, "
            f"{len(files)} files in the batch"
        )
        return dg.MaterializeResult(
            data_version=dg.DataVersion(manifest.dataset_hash[:32]),
            metadata={
                "files_in_batch": len(files),
                "new_or_changed_this_run": len(changes) - len(rejects),
                "deleted_this_run": len(deletions),
                "deleted_in_batch": len(deleted),
                "bytes_in_batch": int(frame["size"].sum()),
                "by_folder": table(
                    by_folder.rename(columns={"count": "files", "sum": "bytes"}).reset_index(), max_rows=30
                ),
                **rejects_metadata(store, rejects_path, rejects),
                **ledgers_metadata(ledger),
            },
        )

    @dg.sensor(
        name=f"{watch.pipeline}_upload_sensor",
        target=[_uploads],
        minimum_interval_seconds=watch.minimum_interval_seconds,
        required_resource_keys={"store"},
        default_status=upload_sensor_default_status(),
        description=f"New or changed files under `{watch.prefix}/` in the dataset store become the day's upload batch "
        f"once the upload has gone quiet (${QUIET_ENV}, default {DEFAULT_QUIET_SECONDS}s; at most "
        f"{watch.max_files_per_tick} files per tick, the rest next tick).",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        source = change_source(context.resources.store, watch)
        started = time.perf_counter()
        ledger = ReportedLedger(context.resources.store, f"{watch.pipeline}_upload_sensor")
        batch = evaluate_changes(
            source,
            context.cursor,
            max_changes=watch.max_files_per_tick,
            lookback_seconds=watch.lookback_seconds,
            ledger=ledger,
            quiet_seconds=watch.quiet,
            max_wait_seconds=watch.max_wait_seconds,
        )
        context.log.info(
            f"{source.describe()}: {batch.listed} listed in {time.perf_counter() - started:.2f}s, {len(batch.changes)} "
            f"new, {batch.pending} pending"
        )
        cursor = batch.cursor.to_json()
        if batch.settling:
            return dg.SensorResult(
                skip_reason=f"{batch.pending} new file(s) in {source.describe()} still arriving: batched once "
                f"none is newer than {watch.quiet}s",
                cursor=cursor,
            )
        if not batch.changes and not batch.deleted:
            return dg.SensorResult(skip_reason=f"no new uploads in {source.describe()}", cursor=cursor)
        day = datetime.now(UTC).strftime(BATCH_FORMAT)
        gone = [ObjectInfo(key, f"deleted {etag}", 0) for key, etag in batch.deleted.items()]
        run_key = f"{watch.asset_name}:{batch_key(batch.changes + gone)}"
        rows = {
            "keys": [o.key for o in batch.changes],
            "etags": [o.etag for o in batch.changes],
            "sizes": [o.size for o in batch.changes],
            **({"deleted": list(batch.deleted), "deleted_etags": list(batch.deleted.values())} if gone else {}),
        }
        if len(batch.changes) + len(gone) <= INLINE_KEYS:
            config = UploadBatchConfig(**rows)
        else:  # a catch-up: one batch, its listing in the store rather than in the run config
            listing = f"uploads/{watch.pipeline}/incoming/{batch_key(batch.changes + gone)}.json"
            context.resources.store.write_json(listing, rows)
            config = UploadBatchConfig(listing=listing)
        request = dg.RunRequest(
            run_key=run_key,
            partition_key=day,
            asset_selection=[_uploads.key],
            run_config={"ops": {watch.asset_name: {"config": config.model_dump()}}},
            tags={
                "dataprep/pipeline": watch.pipeline,
                "dataprep/new_files": str(len(batch.changes)),
                "dataprep/deleted_files": str(len(gone)),
                "dataprep/pending_files": str(batch.pending),
            },
        )
        return dg.SensorResult(
            run_requests=[request],
            dynamic_partitions_requests=[partitions.build_add_request([day])],
            cursor=cursor,
        )

    return _uploads, _sensor
