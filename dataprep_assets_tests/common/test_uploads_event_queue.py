"""Upload sensors fed by S3 event notifications on an SQS queue (moto's S3 + SQS on loopback): the first tick
lists the prefix once (catch-up), later ticks read only the queue, so a tick costs O(new objects); a re-upload of
the same bytes is not a change; a tick whose cursor was never stored loses nothing; messages for other buckets
stay in the queue for their reader."""

import json
import time

import boto3
import dagster as dg
import pytest

from dataprep_assets.common.sensors import ReportedLedger, S3EventQueueSource, evaluate_changes
from dataprep_assets.common.store import LocalDatasetStore, S3DatasetStore
from dataprep_assets.common.uploads import UploadWatch, change_source, upload_batch_definitions

VISIBILITY = 3
"""Seconds a received message stays hidden (half the sensor's interval): long enough that one tick of 60 messages
finishes inside it on a loaded 2-core CI machine (at 1 s a tick there outlasted it)."""


def _queue(s3_env: str, bucket: str, prefix: str) -> str:
    sqs = boto3.client("sqs", endpoint_url=s3_env)
    url = sqs.create_queue(QueueName=f"{bucket}-uploads")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    rules = {"FilterRules": [{"Name": "prefix", "Value": prefix}]}
    boto3.client("s3", endpoint_url=s3_env).put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"], "Filter": {"Key": rules}}
            ]
        },
    )
    return url


def _messages_left(s3_env: str, url: str) -> int:
    attrs = boto3.client("sqs", endpoint_url=s3_env).get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_ticks_read_the_queue_not_the_bucket_and_lose_nothing(s3_bucket, s3_env, tmp_path):
    s3 = boto3.client("s3", endpoint_url=s3_env)
    url = _queue(s3_env, s3_bucket, "store/raw/demo/")
    existing = 60
    for i in range(existing):
        s3.put_object(Bucket=s3_bucket, Key=f"store/raw/demo/old/{i:03d}.bin", Body=f"payload {i}".encode())
    store = S3DatasetStore(bucket=s3_bucket, prefix="store", cache_dir=str(tmp_path / "cache"))
    watch = UploadWatch(
        pipeline="demo", prefix="raw/demo", events_queue_url=url, minimum_interval_seconds=VISIBILITY * 2
    )
    ledger = ReportedLedger(store, "demo_upload_sensor")

    def tick(cursor):
        source = change_source(store, watch)
        assert isinstance(source, S3EventQueueSource)
        return evaluate_changes(source, cursor, max_changes=100, lookback_seconds=0, ledger=ledger)

    catch_up = tick(None)  # a fresh cursor lists the prefix once
    assert len(catch_up.changes) == existing and catch_up.listed == existing
    cursor = catch_up.cursor.to_json()
    listed = 0  # the queue holds the same 60 objects: all reported already, acknowledged
    for _ in range(4):  # a tick that outlasts the visibility timeout ends early; the next one goes on
        quiet = tick(cursor)
        assert quiet.changes == []
        listed += quiet.listed
        if _messages_left(s3_env, url) == 0:
            break
    assert listed >= existing and _messages_left(s3_env, url) == 0, "messages of reported objects are deleted"

    s3.put_object(Bucket=s3_bucket, Key="store/raw/demo/old/007.bin", Body=b"payload 7")  # same bytes, same ETag
    s3.put_object(Bucket=s3_bucket, Key="store/raw/demo/new/a.bin", Body=b"new a")
    s3.put_object(Bucket=s3_bucket, Key="store/raw/demo/new/b.bin", Body=b"new b")
    s3.put_object(Bucket=s3_bucket, Key="store/elsewhere/c.bin", Body=b"not ours")  # filtered out by the bucket
    boto3.client("sqs", endpoint_url=s3_env).send_message(
        QueueUrl=url,
        MessageBody=json.dumps(
            {"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "another"}, "object": {}}}]}
        ),
    )
    lost = tick(cursor)  # this tick's cursor is never stored (the tick "fails" after evaluating)
    assert sorted(o.key for o in lost.changes) == ["new/a.bin", "new/b.bin"]
    assert lost.listed == 3, "a tick reads only the new events, not the 60 objects already there"
    time.sleep(VISIBILITY + 0.3)  # past the visibility timeout: the messages come back
    retried = tick(cursor)
    assert sorted(o.key for o in retried.changes) == ["new/a.bin", "new/b.bin"], "nothing lost"
    time.sleep(VISIBILITY + 0.3)
    after = tick(retried.cursor.to_json())
    assert after.changes == [], "nothing twice"
    time.sleep(VISIBILITY + 0.3)
    assert _messages_left(s3_env, url) == 1, "only the other bucket's message stays, for its own reader"
    assert len(after.cursor.to_json()) < 200


def test_sensor_requests_one_batch_per_event_tick(s3_bucket, s3_env, tmp_path, instance):
    s3 = boto3.client("s3", endpoint_url=s3_env)
    url = _queue(s3_env, s3_bucket, "store/raw/demo/")
    store = S3DatasetStore(bucket=s3_bucket, prefix="store", cache_dir=str(tmp_path / "cache"))
    watch = UploadWatch(pipeline="demo", prefix="raw/demo", events_queue_url=url, minimum_interval_seconds=2)
    asset, sensor = upload_batch_definitions(watch)
    defs = dg.Definitions(assets=[asset], sensors=[sensor], resources={"store": store})

    def tick(cursor):
        with dg.build_sensor_context(
            instance=instance,
            instance_ref=instance.get_ref(),
            cursor=cursor,
            resources={"store": store},
            definitions=defs,
        ) as context:
            return sensor.evaluate_tick(context)

    first = tick(None)
    assert first.run_requests == [] and first.skip_message
    s3.put_object(Bucket=s3_bucket, Key="store/raw/demo/x.bin", Body=b"x")
    (request,) = tick(first.cursor).run_requests
    assert request.run_config["ops"]["demo_uploads"]["config"]["keys"] == ["x.bin"]


def test_an_event_queue_needs_an_s3_store(tmp_path):
    watch = UploadWatch(pipeline="demo", prefix="raw/demo", events_queue_url="http://127.0.0.1:1/q")
    with pytest.raises(ValueError, match="needs the dataset store on S3"):
        change_source(LocalDatasetStore(root=str(tmp_path)), watch)


def test_a_tick_slower_than_the_visibility_timeout_takes_each_message_once(s3_bucket, s3_env):
    """Received messages come back after `visibility_timeout`: a slow tick must not count them twice."""
    s3 = boto3.client("s3", endpoint_url=s3_env)
    url = _queue(s3_env, s3_bucket, "store/raw/demo/")
    for i in range(25):
        s3.put_object(Bucket=s3_bucket, Key=f"store/raw/demo/{i:03d}.bin", Body=b"x")
    fast = boto3.client("sqs", endpoint_url=s3_env)

    class SlowQueue:  # the real queue, read by a tick that takes longer than the visibility timeout
        def __getattr__(self, name):
            return getattr(fast, name)

        def receive_message(self, **kwargs):
            reply = fast.receive_message(**kwargs)
            time.sleep(1.5)
            return reply

    class SlowSource(S3EventQueueSource):
        def sqs(self):
            return SlowQueue()

    source = SlowSource(
        bucket=s3_bucket,
        prefix="store/raw/demo",
        endpoint_url=s3_env,
        queue_url=url,
        visibility_timeout=1,
        max_messages=100,
    )
    keys = [o.key for o in source.receive_objects()]
    assert keys and len(keys) == len(set(keys))  # each announced object once, however slow the tick
