"""Sensors on "new or changed files" in a local directory or an S3 bucket/prefix, for every pipeline.

`ChangeSource` lists objects (`LocalDirectorySource`: files under a directory, `S3PrefixSource`:
paginated `list_objects_v2`, optionally only recent date prefixes; `S3EventQueueSource`: S3 event
notifications read from an SQS queue, so a tick costs O(new objects)); `lib/changes.py` decides what
is new with a cursor of its own (watermark second + key/ETag digests around it), so nothing is
missed when many objects share a second or land while a tick runs, nothing is reported twice, and
the state survives restarts in the sensor's cursor.

`new_files_sensor(...)` builds a `dg.sensor` that requests one run of its target when something
changed, with a run key made from the changed keys + ETags, and at most `max_changes_per_tick`
changes per tick (the rest come next tick).
"""

import gzip
import json
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

import dagster as dg

if TYPE_CHECKING:
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from dataprep_assets.lib.changes import (
    ChangeBatch,
    ChangeCursor,
    ObjectInfo,
    batch_key,
    deleted_objects,
    detect_changes,
    hold_until_quiet,
    listing_fingerprint,
    object_digest,
)
from dataprep_assets.lib.s3uri import SCHEME, is_s3_uri, list_objects, split_s3_uri


@dataclass(frozen=True)
class ChangeSource(ABC):
    """Somewhere files land. Keys are relative to the source's root, with `/` separators."""

    suffixes: tuple[str, ...] = ()
    """Only keys ending with one of these (case-insensitive); empty = every file."""
    date_prefix_format: str = ""
    """If set (e.g. `%Y/%m/%d/`), list only the sub-prefixes of the last `date_prefix_days` days (UTC)."""
    date_prefix_days: int = 2

    @abstractmethod
    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object under `prefix` (relative to the root)."""

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The content of one listed object."""

    @abstractmethod
    def describe(self) -> str:
        """A URI-like description for logs and metadata."""

    def list_objects(self, now: datetime | None = None) -> Iterator[ObjectInfo]:
        for prefix in self.prefixes(now):
            for obj in self._list(prefix):
                if self._wanted(obj.key):
                    yield obj

    def prefixes(self, now: datetime | None = None) -> list[str]:
        if not self.date_prefix_format:
            return [""]
        now = now or datetime.now(UTC)
        days = [now - timedelta(days=n) for n in range(self.date_prefix_days)]
        return sorted({d.strftime(self.date_prefix_format) for d in days})

    def _wanted(self, key: str) -> bool:
        name = key.rsplit("/", 1)[-1]
        if not name or name.startswith("."):
            return False
        return not self.suffixes or name.lower().endswith(tuple(s.lower() for s in self.suffixes))


@dataclass(frozen=True)
class LocalDirectorySource(ChangeSource):
    """Files under a directory. ETag = size + mtime (ns); the time is max(mtime, ctime), so a copy
    that keeps an old mtime (`cp -p`, `rsync -t`) still counts as arriving now."""

    root: str = "."

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        base = Path(self.root)
        start = base / prefix if prefix else base
        if not start.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(start):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                try:
                    st = path.stat()
                except FileNotFoundError:  # deleted while listing
                    continue
                key = path.relative_to(base).as_posix()
                yield ObjectInfo(key, f"{st.st_size}-{st.st_mtime_ns}", max(st.st_mtime, st.st_ctime), st.st_size)

    def read_bytes(self, key: str) -> bytes:
        from dataprep_assets.lib.storage import safe_join

        return safe_join(self.root, key).read_bytes()

    def describe(self) -> str:
        return str(Path(self.root).resolve())


@dataclass(frozen=True)
class S3PrefixSource(ChangeSource):
    """Objects under `s3://bucket/prefix`. The endpoint is `endpoint_url`, else `AWS_ENDPOINT_URL_S3`
    (MinIO, a loopback server), else AWS; credentials come from the usual AWS environment/profile."""

    bucket: str = ""
    prefix: str = ""
    endpoint_url: str = ""
    page_size: int = 1000
    _clients: dict = field(default_factory=dict, compare=False, repr=False)

    def client(self):
        """The S3 client given by `use_client` (the dataset store's, with its settings), else one from the
        environment (the seed's `AWS_ACCESS_KEY` / `AWS_SECRET_KEY` names accepted, as the store does)."""
        if "s3" not in self._clients:
            import boto3

            from dataprep_assets.lib.awsenv import apply_aliases

            apply_aliases()
            endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or None
            self._clients["s3"] = boto3.client("s3", endpoint_url=endpoint)
        return self._clients["s3"]

    def use_client(self, client) -> "S3PrefixSource":
        """List with `client` (e.g. the dataset store's, so endpoint, region and retries are the store's)."""
        self._clients["s3"] = client
        return self

    def _root(self) -> str:
        return self.prefix.strip("/") + "/" if self.prefix.strip("/") else ""

    def _list(self, prefix: str) -> Iterator[ObjectInfo]:
        root = self._root()
        for item in list_objects(self.client(), self.bucket, root + prefix, self.page_size):
            key = item["Key"][len(root) :]
            yield ObjectInfo(key, item["ETag"].strip('"'), item["LastModified"].timestamp(), int(item["Size"]))

    def read_bytes(self, key: str) -> bytes:
        return self.client().get_object(Bucket=self.bucket, Key=self._root() + key)["Body"].read()

    def describe(self) -> str:
        return f"{SCHEME}{self.bucket}/{self._root()}"


@dataclass(frozen=True)
class QueuedMessage:
    """One SQS message: its receipt handle and the digests of the objects it announced under our prefix."""

    receipt_handle: str
    digests: frozenset[str]


@dataclass(frozen=True)
class S3EventQueueSource(S3PrefixSource):
    """New objects under `s3://bucket/prefix`, announced by S3 event notifications on an SQS queue.

    For buckets too large to list every tick (seed 001's archive holds 322,690 negatives): a tick reads
    only the queue, so it costs O(new objects). `list_objects()` still lists the prefix: the sensor's
    first tick (a fresh cursor) catches up on what was there before the notifications were set up.

    Delivery is at least once, reporting exactly once: a tick receives the messages (hidden from other
    readers for `visibility_timeout` seconds) and deletes only those whose objects were all reported by an
    earlier, committed tick (the sensor's ledger); an object reported now is deleted when its message
    comes back after the tick's cursor was stored. A tick that fails therefore loses nothing.
    Messages for other buckets or prefixes are left in the queue (give each watched prefix its own
    queue, with a prefix filter on the bucket's notification); S3's test event and removal events are
    acknowledged (deletions stop appearing in listings; the pipeline's inventory no longer sees them)."""

    queue_url: str = ""
    visibility_timeout: int = 60
    max_messages: int = 10_000
    _inbox: list = field(default_factory=list, compare=False, repr=False)

    def sqs(self):
        if "sqs" not in self._clients:
            import boto3

            endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_SQS") or None
            endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL_S3") or None
            self._clients["sqs"] = boto3.client("sqs", endpoint_url=endpoint)
        return self._clients["sqs"]

    def receive_objects(self) -> list[ObjectInfo]:
        """Objects created under the prefix, as announced by the messages now in the queue (up to
        `max_messages` messages per tick; the rest come next tick)."""
        root, objects = self._root(), []
        self._inbox.clear()
        received: dict[str, int] = {}  # message id -> its place in the inbox (-1: not ours)
        wrapped = False
        while len(self._inbox) < self.max_messages and not wrapped:
            reply = self.sqs().receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.max_messages - len(self._inbox)),
                VisibilityTimeout=self.visibility_timeout,
                WaitTimeSeconds=0,
            )
            messages = reply.get("Messages", [])
            if not messages:
                break
            for message in messages:
                message_id = message.get("MessageId") or message["ReceiptHandle"]
                if message_id in received:  # visible again: this tick outlasted the visibility timeout
                    wrapped = True  # every message is in hand once; keep its newest receipt handle
                    place = received[message_id]
                    if place >= 0:
                        self._inbox[place] = QueuedMessage(message["ReceiptHandle"], self._inbox[place].digests)
                    continue
                announced = self._announced(message["Body"], root)
                if announced is None:
                    received[message_id] = -1
                    continue  # another bucket's or prefix's event: leave it for its reader
                objects += announced
                received[message_id] = len(self._inbox)
                self._inbox.append(QueuedMessage(message["ReceiptHandle"], frozenset(o.digest for o in announced)))
        return objects

    def _announced(self, body: str, root: str) -> list[ObjectInfo] | None:
        """The created objects a message announces under our prefix; [] for a message to acknowledge
        with nothing to report (test event, removals); None for a message that is not ours."""
        try:
            payload = json.loads(body)
        except ValueError:
            return None
        if payload.get("Event") == "s3:TestEvent":
            return [] if payload.get("Bucket") == self.bucket else None
        records, created = payload.get("Records"), []
        if not isinstance(records, list):
            return None
        for record in records:
            s3 = record.get("s3", {})
            key = unquote_plus(s3.get("object", {}).get("key", ""))
            if s3.get("bucket", {}).get("name") != self.bucket or not key.startswith(root):
                return None
            if not str(record.get("eventName", "")).startswith("ObjectCreated") or not self._wanted(key[len(root) :]):
                continue
            when = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).timestamp()
            etag = str(s3["object"].get("eTag", "")).strip('"')
            created.append(ObjectInfo(key[len(root) :], etag, when, int(s3["object"].get("size", 0))))
        return created

    def acknowledge(self, reported: Iterable[str] | frozenset[str]) -> int:
        """Delete the received messages whose objects are all in `reported` (committed); returns how many."""
        reported = reported if isinstance(reported, frozenset | set) else frozenset(reported)
        done = [m for m in self._inbox if m.digests <= reported]
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(done[start : start + 10])
            ]
            self.sqs().delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return len(done)

    def describe(self) -> str:
        return f"{super().describe()} (events from {self.queue_url})"


def source_from_uri(uri: str, **options) -> ChangeSource:
    """`s3://bucket/prefix` -> `S3PrefixSource`, anything else -> `LocalDirectorySource`."""
    if is_s3_uri(uri):
        bucket, prefix = split_s3_uri(uri)
        return S3PrefixSource(bucket=bucket, prefix=prefix, **options)
    options.pop("endpoint_url", None)
    options.pop("page_size", None)
    return LocalDirectorySource(root=uri, **options)


SourceFactory = Callable[[dg.SensorEvaluationContext], ChangeSource]
RunConfigFn = Callable[[ChangeSource, ChangeBatch], Mapping]


FINGERPRINT_TAG = "dataprep/listing_fingerprint"
FINGERPRINT_CHARS = 16
LEDGER_SLOTS = 3
CATCH_UP_MAX_CHANGES = 200_000


class ReportedLedger:
    """Digests (8 bytes each) of every key + ETag a sensor has reported, kept in the dataset store
    under `sensor_state/<sensor>/`; the sensor's cursor keeps only the ledger's generation.

    Generation g lives in slot g % 3: a tick writes g + 1 next to the current file, and the cursor
    pointing at it is stored by Dagster with the tick's run request. A tick that fails after writing
    leaves the cursor on g, whose file is intact; the next tick rewrites slot g + 1. So the cursor
    stays a few dozen bytes (not one digest per object), a same-content re-upload is never a change,
    and nothing is ever marked reported without its run being requested."""

    def __init__(self, store, sensor_name: str):
        self.store, self.sensor_name = store, sensor_name

    def relpath(self, generation: int) -> str:
        return f"sensor_state/{self.sensor_name}/reported-{generation % LEDGER_SLOTS}.bin"

    def load(self, generation: int | None) -> frozenset[str]:
        if generation is None:
            return frozenset()
        path = self.store.pull(self.relpath(generation))
        if not path.is_file():
            raise FileNotFoundError(
                f"{self.store.uri(self.relpath(generation))}: the ledger of {self.sensor_name}'s cursor is missing"
            )
        data = path.read_bytes()
        return frozenset(data[i : i + 8].hex() for i in range(0, len(data), 8))

    def save(self, digests: Iterable[str], generation: int) -> None:
        with self.store.write_file(self.relpath(generation)) as tmp:
            tmp.write_bytes(b"".join(bytes.fromhex(d) for d in sorted(digests)))

    def present_relpath(self, generation: int) -> str:
        return f"sensor_state/{self.sensor_name}/present-{generation % LEDGER_SLOTS}.tsv.gz"

    def load_present(self, generation: int | None) -> dict[str, str] | None:
        """Key -> ETag of what was reported and still listed at generation `generation`; None when unknown
        (a fresh cursor, or a ledger written before deletions were tracked: nothing is taken for deleted)."""
        if generation is None:
            return None
        path = self.store.pull(self.present_relpath(generation))
        if not path.is_file():
            return None
        lines = gzip.decompress(path.read_bytes()).decode().splitlines()
        return dict(line.split("\t", 1) for line in lines if line)

    def save_present(self, present: Mapping[str, str], generation: int) -> None:
        text = "".join(f"{key}\t{etag}\n" for key, etag in sorted(present.items()))
        with self.store.write_file(self.present_relpath(generation)) as tmp:
            tmp.write_bytes(gzip.compress(text.encode(), mtime=0))


def evaluate_changes(
    source: ChangeSource,
    cursor_text: str | None,
    *,
    max_changes: int,
    lookback_seconds: int,
    ledger: ReportedLedger | None = None,
    objects: Iterable[ObjectInfo] | None = None,
    quiet_seconds: float = 0,
    max_wait_seconds: float = 600,
    now: float | None = None,
) -> ChangeBatch:
    """List `source` once and compare with the stored cursor. With a `ledger`, the digests of what is
    reported are added to it (a new generation) and the returned cursor keeps no digests. A fresh
    cursor (first tick, catch-up of what is already there) takes everything in one batch.
    `objects`: the listing, when the caller already has it. `quiet_seconds`: report nothing while the newest
    change is younger than that (an upload still arriving; `lib.changes.hold_until_quiet`).
    Deletions (`ChangeBatch.deleted`): when this call lists the source itself with a `ledger` (not from an event
    queue), keys reported before and gone now are named, and a deleted key + ETag may come back as a change."""
    cursor = ChangeCursor.from_json(cursor_text)
    fresh = cursor.watermark is None and cursor.ledger is None
    queue = source if isinstance(source, S3EventQueueSource) and not fresh and ledger is not None else None
    events = queue is not None
    # deletions: only where this call lists the whole source itself, against the ledger's last listing
    tracks_deletions = objects is None and not events and ledger is not None
    listed_at = datetime.now(UTC)
    if objects is None:
        objects = queue.receive_objects() if queue is not None else list(source.list_objects(listed_at))

    def held(batch: ChangeBatch) -> ChangeBatch:
        clock = time.time() if now is None else now
        return hold_until_quiet(
            batch, cursor, quiet_seconds=quiet_seconds, max_wait_seconds=max_wait_seconds, now=clock
        )

    if ledger is None:
        return held(detect_changes(objects, cursor, max_changes=max_changes, lookback_seconds=lookback_seconds))
    reported = ledger.load(cursor.ledger)
    batch = held(
        detect_changes(
            objects,
            # events arrive late and out of order: the ledger alone decides what was reported
            ChangeCursor(None, {}, cursor.ledger) if events else cursor,
            max_changes=max(max_changes, CATCH_UP_MAX_CHANGES) if fresh else max_changes,
            lookback_seconds=lookback_seconds,
            reported=reported,
        )
    )
    if queue is not None:
        queue.acknowledge(reported)  # held changes are not acknowledged: their events come back next tick
    if batch.settling:
        return batch  # deletions wait too: an upload and the deletions around it become one batch
    present = ledger.load_present(cursor.ledger) if tracks_deletions else None
    deleted = deleted_objects(present, objects, source.prefixes(listed_at)) if present is not None else {}
    marks = [m for m in (cursor.watermark, batch.cursor.watermark) if m is not None]
    watermark = (max(marks) if marks else None) if events else batch.cursor.watermark
    generation = cursor.ledger
    if batch.changes or deleted:
        generation = 0 if generation is None else generation + 1
        # a deleted key + ETag is forgotten, so the same bytes uploaded again are a change again
        after = (reported | {o.digest for o in batch.changes}) - {object_digest(k, e) for k, e in deleted.items()}
        ledger.save(after, generation)
        if tracks_deletions:
            ledger.save_present({o.key: o.etag for o in objects if o.digest in after}, generation)
    return ChangeBatch(
        batch.changes, ChangeCursor(watermark, {}, generation), batch.pending, batch.listed, deleted=deleted
    )


def new_files_sensor(
    *,
    name: str,
    source: ChangeSource | SourceFactory,
    target: "dg.JobDefinition | UnresolvedAssetJobDefinition | dg.AssetSelection",
    run_config: Mapping | RunConfigFn | None = None,
    max_changes_per_tick: int = 1000,
    lookback_seconds: int = 120,
    minimum_interval_seconds: int = 60,
    required_resource_keys: set[str] | None = None,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.STOPPED,
    description: str | None = None,
    tags: Mapping[str, str] | None = None,
    ledger_in_store: bool = False,
    skip_if_requested: Callable[[dg.SensorEvaluationContext, str], str | None] | None = None,
) -> dg.SensorDefinition:
    """A sensor requesting one run of `target` (job or asset selection) per tick with changes.

    `source` may be a callable of the evaluation context (to use resources or the environment at
    tick time). `run_config` may be a callable of (source, batch). `lookback_seconds` is how late an
    object may show up in a listing relative to newer ones (slow listings, multipart uploads).
    `ledger_in_store`: keep the reported digests in the `store` resource (`ReportedLedger`), not the cursor.
    Runs are tagged `dataprep/listing_fingerprint` (every key + ETag listed); `skip_if_requested(context,
    fingerprint)` may return why that listing is already being handled (e.g. a schedule's run), and the
    tick then skips with the cursor moved on: one change, one refresh.
    """

    @dg.sensor(
        name=name,
        target=target,
        minimum_interval_seconds=minimum_interval_seconds,
        required_resource_keys=required_resource_keys,
        default_status=default_status,
        description=description
        or f"Requests a run when files are new or changed (key + ETag), at most {max_changes_per_tick} per tick.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        src = source(context) if callable(source) else source
        started = time.perf_counter()
        ledger = ReportedLedger(context.resources.store, name) if ledger_in_store else None
        objects = list(src.list_objects())
        batch = evaluate_changes(
            src,
            context.cursor,
            max_changes=max_changes_per_tick,
            lookback_seconds=lookback_seconds,
            ledger=ledger,
            objects=objects,
        )
        elapsed = time.perf_counter() - started
        cursor = batch.cursor.to_json()
        context.log.info(
            f"{src.describe()}: listed {batch.listed} in {elapsed:.1f}s; {len(batch.changes)} new/changed, "
            f"{batch.pending} left for the next tick; watermark {batch.cursor.watermark}"
        )
        if not batch.changes:
            return dg.SensorResult(
                skip_reason=f"nothing new or changed in {src.describe()} ({batch.listed} files listed)", cursor=cursor
            )
        fingerprint = listing_fingerprint(objects)[:FINGERPRINT_CHARS]
        handled = skip_if_requested(context, fingerprint) if skip_if_requested else None
        if handled:
            return dg.SensorResult(skip_reason=handled, cursor=cursor)
        config = run_config(src, batch) if callable(run_config) else (run_config or {})
        request = dg.RunRequest(
            run_key=f"{name}:{batch_key(batch.changes)}",
            run_config=dict(config),
            tags={
                **(tags or {}),
                "dataprep/source": src.describe()[:200],
                "dataprep/changed_files": str(len(batch.changes)),
                "dataprep/first_changed": batch.changes[0].key[:200],
                "dataprep/pending_files": str(batch.pending),
                FINGERPRINT_TAG: fingerprint,
            },
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return _sensor


def changed_keys(batch: ChangeBatch, limit: int = 50) -> Sequence[str]:
    """The first `limit` changed keys (for run config or logs)."""
    return [o.key for o in batch.changes[:limit]]
