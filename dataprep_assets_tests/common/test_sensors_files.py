"""The shared "new or changed files" mechanism every pipeline's upload sensor reuses must never miss a
file, never report one twice, and keep its state in the cursor: the cursor algorithm on controlled
listings (same-second bursts, late arrivals, caps, re-uploads, deletions, restarts), then the real
sensor on a local directory and on a real S3 protocol server (moto on loopback) with > 1,000 keys."""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import boto3
import dagster as dg
import pytest

from dataprep_assets.common.sensors import (
    ChangeSource,
    LocalDirectorySource,
    S3PrefixSource,
    new_files_sensor,
    source_from_uri,
)
from dataprep_assets.lib.changes import (
    ChangeCursor,
    CursorError,
    ObjectInfo,
    batch_key,
    detect_changes,
    hold_until_quiet,
    listing_fingerprint,
)

T0 = 1_760_000_000


def obj(key: str, second: float, etag: str = "e1") -> ObjectInfo:
    return ObjectInfo(key, etag, float(second), 10)


# -- the cursor algorithm -----------------------------------------------------------------------


def test_burst_in_one_second_is_capped_and_finished_next_tick():
    listing = [obj(f"k{i:05d}", T0) for i in range(2500)]
    first = detect_changes(listing, None, max_changes=1000)
    assert [o.key for o in first.changes] == [f"k{i:05d}" for i in range(1000)]
    assert first.pending == 1500 and first.cursor.watermark == T0
    second = detect_changes(listing, ChangeCursor.from_json(first.cursor.to_json()), max_changes=1000)
    third = detect_changes(listing, second.cursor, max_changes=1000)
    fourth = detect_changes(listing, third.cursor, max_changes=1000)
    reported = [o.key for b in (first, second, third) for o in b.changes]
    assert len(reported) == len(set(reported)) == 2500
    assert fourth.changes == [] and fourth.pending == 0


def test_cap_across_seconds_never_moves_the_watermark_past_a_leftover():
    listing = [obj("a", T0 + 5), obj("b", T0 + 1), obj("c", T0 + 3)]
    first = detect_changes(listing, None, max_changes=2)
    assert [o.key for o in first.changes] == ["b", "c"] and first.cursor.watermark == T0 + 3
    second = detect_changes(listing, first.cursor, max_changes=2)
    assert [o.key for o in second.changes] == ["a"]


def test_object_landing_in_an_already_seen_second_is_reported():
    """Listing is not a snapshot: an object of the watermark second can appear on the next listing."""
    first = detect_changes([obj("z", T0)], None)
    late = detect_changes([obj("a", T0), obj("z", T0)], first.cursor)
    assert [o.key for o in late.changes] == ["a"]


def test_late_arrival_older_than_the_watermark_within_lookback():
    first = detect_changes([obj("new", T0 + 30)], None, lookback_seconds=60)
    late = detect_changes([obj("new", T0 + 30), obj("slow-upload", T0 + 1)], first.cursor, lookback_seconds=60)
    assert [o.key for o in late.changes] == ["slow-upload"]
    strict = detect_changes(
        [obj("new", T0 + 30), obj("slow-upload", T0 + 1)], detect_changes([obj("new", T0 + 30)]).cursor
    )
    assert strict.changes == [], "without lookback an object older than the watermark second is out of the window"


def test_reupload_with_new_etag_is_a_change_same_etag_is_not():
    first = detect_changes([obj("k", T0, "v1")], None)
    same = detect_changes([obj("k", T0, "v1")], first.cursor)
    assert same.changes == []
    changed = detect_changes([obj("k", T0 + 2, "v2")], first.cursor)
    assert [o.etag for o in changed.changes] == ["v2"]
    rewritten_same_content = detect_changes([obj("k", T0, "v2")], changed.cursor)
    assert rewritten_same_content.changes == []


def test_deletions_do_not_break_and_window_is_pruned():
    first = detect_changes([obj("a", T0), obj("b", T0 + 100)], None, lookback_seconds=10)
    assert first.cursor.seen_count == 1, "only digests inside the lookback window are kept"
    after_delete = detect_changes([obj("a", T0)], first.cursor, lookback_seconds=10)
    assert after_delete.changes == [] and after_delete.cursor.watermark == T0 + 100
    newer = detect_changes([obj("c", T0 + 101)], after_delete.cursor, lookback_seconds=10)
    assert [o.key for o in newer.changes] == ["c"]


def test_an_upload_is_held_until_quiet_but_never_past_the_longest_wait():
    listing = [obj("a", T0), obj("b", T0 + 8)]
    batch = detect_changes(listing, None)

    def hold(now: float, **kw):
        return hold_until_quiet(batch, ChangeCursor(), **{"quiet_seconds": 5, "max_wait_seconds": 60, **kw}, now=now)

    held = hold(T0 + 10)
    assert held.settling and held.changes == [] and held.pending == 2 and held.cursor == ChangeCursor()
    assert hold(T0 + 13).changes == batch.changes, "quiet for 5 s: the whole upload in one batch"
    assert hold(T0 + 10, max_wait_seconds=10).changes == batch.changes, "a source that never goes quiet"
    assert hold(T0 + 10, quiet_seconds=0) is batch
    capped = detect_changes(listing, None, max_changes=1)
    assert hold_until_quiet(capped, ChangeCursor(), quiet_seconds=5, max_wait_seconds=60, now=T0 + 1) is capped, (
        "a backlog left by the per-tick cap is not held"
    )


def test_cursor_round_trip_and_errors():
    batch = detect_changes([obj("a", T0), obj("b", T0, "x")], None)
    text = batch.cursor.to_json()
    payload = json.loads(text)
    assert payload["watermark"] == T0 and payload["watermark_utc"].startswith("2025-10-09")
    assert ChangeCursor.from_json(text) == batch.cursor
    assert ChangeCursor.from_json(None) == ChangeCursor() == ChangeCursor.from_json("")
    with pytest.raises(CursorError, match="unreadable change cursor"):
        ChangeCursor.from_json("{not json")
    with pytest.raises(CursorError, match="version"):
        ChangeCursor.from_json('{"v": 99}')
    with pytest.raises(ValueError, match="max_changes"):
        detect_changes([], None, max_changes=0)


def test_batch_key_and_fingerprint_depend_on_keys_and_etags_only():
    a = [obj("a", T0), obj("b", T0 + 1)]
    assert batch_key(a) == batch_key(list(reversed(a)))
    assert listing_fingerprint(a) != listing_fingerprint([obj("a", T0, "e2"), obj("b", T0 + 1)])
    assert listing_fingerprint(a) == listing_fingerprint([obj("a", T0 + 9), obj("b", T0 + 9)])


# -- the sensor ----------------------------------------------------------------------------------


@dg.asset
def landed_files() -> None:
    """A target for the sensor under test."""


@dataclass(frozen=True)
class ScriptedSource(ChangeSource):
    """A listing whose objects change between ticks (and while a tick lists)."""

    ticks: list = field(default_factory=list, compare=False)

    def _list(self, prefix):
        listing = self.ticks.pop(0)
        yield from listing() if callable(listing) else listing

    def read_bytes(self, key):
        return b""

    def describe(self):
        return "scripted://"


def tick(sensor, instance, cursor):
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        result = sensor.evaluate_tick(context)
    return result.run_requests, result.cursor, result.skip_message


def test_sensor_reports_files_that_land_while_a_tick_lists(instance):
    arrived = []

    def listing_during_which_a_file_lands():
        yield obj("b.json", T0 + 10)
        arrived.append(obj("a.json", T0 + 10))  # sorts before b: this listing already passed it

    source = ScriptedSource(
        ticks=[
            listing_during_which_a_file_lands,
            lambda: [arrived[0], obj("b.json", T0 + 10)],
            [obj("b.json", T0 + 10)],
        ]
    )
    sensor = new_files_sensor(name="scripted_sensor", source=source, target=[landed_files], lookback_seconds=0)
    requests, cursor, _ = tick(sensor, instance, None)
    assert [r.tags["dataprep/first_changed"] for r in requests] == ["b.json"]
    requests, cursor, _ = tick(sensor, instance, cursor)
    assert [r.tags["dataprep/first_changed"] for r in requests] == ["a.json"]
    requests, cursor, skip = tick(sensor, instance, cursor)
    assert requests == [] and "nothing new" in skip


def test_local_directory_sensor(tmp_path, instance):
    root = tmp_path / "incoming"
    (root / "2025" / "batch").mkdir(parents=True)
    (root / "2025" / "batch" / "r1.json").write_text("{}")
    (root / "notes.txt").write_text("ignored: wrong suffix")
    (root / ".r2.json.tmp").write_text("ignored: hidden temp file")
    sensor = new_files_sensor(
        name="local_sensor",
        source=LocalDirectorySource(root=str(root), suffixes=(".json",)),
        target=[landed_files],
    )
    requests, cursor, _ = tick(sensor, instance, None)
    assert len(requests) == 1 and requests[0].tags["dataprep/changed_files"] == "1"
    assert requests[0].run_key.startswith("local_sensor:")
    first_key = requests[0].run_key
    requests, cursor, skip = tick(sensor, instance, cursor)
    assert requests == [] and "1 files listed" in skip

    # A restarted daemon only has the stored cursor: same answer.
    requests, _, _ = tick(sensor, instance, cursor)
    assert requests == []

    (root / "2025" / "batch" / "r1.json").write_text('{"changed": true}')
    (root / "r3.json").write_text("{}")
    requests, cursor, _ = tick(sensor, instance, cursor)
    assert len(requests) == 1 and requests[0].tags["dataprep/changed_files"] == "2" and requests[0].run_key != first_key

    (root / "r3.json").unlink()
    requests, cursor, skip = tick(sensor, instance, cursor)
    assert requests == [] and skip


def test_unreadable_cursor_fails_the_tick_loudly(instance, tmp_path):
    sensor = new_files_sensor(
        name="local_sensor_bad_cursor", source=LocalDirectorySource(root=str(tmp_path)), target=[landed_files]
    )
    with pytest.raises(Exception, match="unreadable change cursor"):
        tick(sensor, instance, "garbage")


def _put_many(bucket: str, keys: list[str], body: bytes = b"{}") -> None:
    client = boto3.client("s3")
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=bucket, Key=k, Body=body), keys))


def test_s3_sensor_paginates_caps_and_resumes(s3_bucket, instance):
    keys = [f"results/batch-{i // 100:02d}/r{i:05d}.json" for i in range(1050)]
    _put_many(s3_bucket, keys)
    _put_many(s3_bucket, ["results/readme.txt", "elsewhere/r.json"])
    source = source_from_uri(f"s3://{s3_bucket}/results", suffixes=(".json",))
    assert isinstance(source, S3PrefixSource) and source.describe() == f"s3://{s3_bucket}/results/"
    assert len(list(source.list_objects())) == 1050, "more than one page of list_objects_v2"
    sensor = new_files_sensor(
        name="s3_sensor",
        source=source,
        target=[landed_files],
        max_changes_per_tick=1000,
    )
    requests, cursor, _ = tick(sensor, instance, None)
    assert (
        len(requests) == 1
        and requests[0].tags["dataprep/changed_files"] == "1000"
        and requests[0].tags["dataprep/pending_files"] == "50"
    )
    requests, cursor, _ = tick(sensor, instance, cursor)
    assert (
        len(requests) == 1
        and requests[0].tags["dataprep/changed_files"] == "50"
        and requests[0].tags["dataprep/pending_files"] == "0"
    )
    requests, cursor, skip = tick(sensor, instance, cursor)
    assert requests == [] and "1050 files listed" in skip
    assert len(cursor) < 60_000, "the cursor stays compact (16 hex characters per object in the window)"

    client = boto3.client("s3")
    client.put_object(Bucket=s3_bucket, Key=keys[7], Body=b"{}")  # same content: same ETag
    client.put_object(Bucket=s3_bucket, Key=keys[8], Body=b'{"v": 2}')  # new content
    client.delete_object(Bucket=s3_bucket, Key=keys[9])
    requests, cursor, _ = tick(sensor, instance, cursor)
    assert len(requests) == 1 and requests[0].tags["dataprep/changed_files"] == "1"
    assert requests[0].tags["dataprep/first_changed"] == keys[8].removeprefix("results/")


def test_s3_endpoint_from_environment_and_date_prefixes(s3_bucket, s3_env):
    today = datetime.now(UTC)
    recent = f"uploads/{today:%Y/%m/%d}/scan.json"
    _put_many(s3_bucket, [recent, "uploads/2019/01/01/old.json"])
    assert os.environ["AWS_ENDPOINT_URL_S3"] == s3_env
    source = source_from_uri(f"s3://{s3_bucket}/uploads", date_prefix_format="%Y/%m/%d/", date_prefix_days=2)
    assert [o.key for o in source.list_objects()] == [recent.removeprefix("uploads/")]
    assert source.read_bytes(recent.removeprefix("uploads/")) == b"{}"
    with pytest.raises(ValueError, match="names no bucket"):
        source_from_uri("s3:///prefix")


def test_local_source_uses_arrival_time_for_copies_with_old_mtime(tmp_path):
    path = tmp_path / "old.json"
    path.write_text("{}")
    os.utime(path, (T0, T0))  # what `cp -p` / `rsync -t` leave behind
    (listed,) = LocalDirectorySource(root=str(tmp_path)).list_objects()
    assert listed.last_modified > time.time() - 3600, "ctime (arrival) wins over an old mtime"
