"""The user asked for refreshes when new inference results land: a new result file must trigger
exactly one refresh whose annotations contain it (results in the store's directory and in an S3
bucket), quiet ticks must request nothing, and the daily schedule must skip when nothing changed."""

from datetime import UTC, datetime

import boto3
import dagster as dg
import pytest

from dataprep_assets.defs.echo_quality.assets import read_annotations
from dataprep_assets.defs.echo_quality.automation import SCHEDULE_NAME, SENSOR_NAME
from dataprep_assets.defs.echo_quality.results_location import RESULTS_ENV
from dataprep_assets.sample_data.echo_quality import write_exam
from dataprep_assets_tests.echo_quality.conftest import echo_definitions

NEW_SCORES = [0.99, 0.97, 0.03, 0.5]


def sensor_tick(defs: dg.Definitions, instance, cursor, store):
    sensor = defs.resolve_sensor_def(SENSOR_NAME)
    # contexts are closed (`with`): an open one keeps the instance entered after the test disposes it
    with dg.build_sensor_context(instance=instance, cursor=cursor, resources={"store": store}) as context:
        data = sensor.evaluate_tick(context)
    return data.run_requests, data.cursor


def run(defs: dg.Definitions, instance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    job = defs.resolve_job_def("echo_quality_job")
    result = job.execute_in_process(run_config=request.run_config, instance=instance, tags=request.tags)
    assert result.success
    return result


def schedule_tick(defs: dg.Definitions, instance, store):
    schedule = defs.resolve_schedule_def(SCHEDULE_NAME)
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime(2026, 1, 2, 6, tzinfo=UTC), resources={"store": store}
    ) as context:
        return schedule.evaluate_tick(context)


def test_new_result_triggers_exactly_one_refresh_that_includes_it(store, instance, store_root, monkeypatch):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    for folder in ("EPIQ7-0001", "VIVIDE95-0001"):
        write_exam(store_root, folder, [0.98, 0.96, 0.02, 0.05, 0.4], seed=1)
    defs = echo_definitions(store)

    (request,), cursor = sensor_tick(defs, instance, None, store)
    assert request.run_config["ops"]["echo_inference_results"]["config"]["results_uri"].endswith(
        "raw/echo_quality/inference_output"
    )
    run(defs, instance, request)
    assert len(read_annotations(store)) == 8
    assert sensor_tick(defs, instance, cursor, store)[0] == []
    assert schedule_tick(defs, instance, store).skip_message, "nothing changed since the last materialization"

    write_exam(store_root, "AFFINITI70G-0009", NEW_SCORES, seed=2)
    requests, cursor = sensor_tick(defs, instance, cursor, store)
    assert len(requests) == 1 and requests[0].tags["dataprep/changed_files"] == "1"
    assert requests[0].tags["dataprep/first_changed"] == "AFFINITI70G-0009/inference_results.json"
    run(defs, instance, requests[0])
    annotations = read_annotations(store)
    new = annotations[annotations["folder"] == "AFFINITI70G-0009"]
    assert sorted(new["quality_score"].tolist()) == [0, 1, 1] and len(annotations) == 11
    assert sensor_tick(defs, instance, cursor, store)[0] == [], "the same files never trigger twice"

    write_exam(store_root, "AFFINITI70G-0010", [0.99, 0.01], seed=3)
    scheduled = schedule_tick(defs, instance, store)
    (request,) = scheduled.run_requests
    assert request.run_key.startswith(f"{SCHEDULE_NAME}:2026-01-02:")
    run(defs, instance, request)
    assert schedule_tick(defs, instance, store).skip_message


@pytest.fixture
def s3_results(s3_bucket, monkeypatch):
    uri = f"s3://{s3_bucket}/echo/inference_output"
    monkeypatch.setenv(RESULTS_ENV, uri)
    return s3_bucket, uri


def _upload_results(bucket: str, local_results, folder: str) -> None:
    path = local_results / folder / "inference_results.json"
    boto3.client("s3").put_object(
        Bucket=bucket, Key=f"echo/inference_output/{folder}/inference_results.json", Body=path.read_bytes()
    )


def test_results_in_an_s3_bucket(store, instance, store_root, s3_results):
    bucket, uri = s3_results
    local_results = store_root / "raw" / "echo_quality" / "inference_output"
    for folder, scores in (("VIVIDS60-0001", [0.97, 0.96, 0.04]), ("EPIQ7-0003", [0.99, 0.02, 0.3])):
        write_exam(store_root, folder, scores, seed=4)
        _upload_results(bucket, local_results, folder)
    for path in local_results.rglob("*.json"):
        path.unlink()  # only the bucket holds results now
    defs = echo_definitions(store)

    (request,), cursor = sensor_tick(defs, instance, None, store)
    assert request.run_config["ops"]["echo_inference_results"]["config"]["results_uri"] == f"{uri}/"
    result = run(defs, instance, request)
    metadata = result.asset_materializations_for_node("echo_inference_results")[0].metadata
    assert metadata["results_location"].value == f"{uri}/" and metadata["result_files"].value == 2
    assert len(read_annotations(store)) == 5

    write_exam(store_root, "VIVIDS70-0004", NEW_SCORES, seed=5)
    _upload_results(bucket, local_results, "VIVIDS70-0004")
    requests, cursor = sensor_tick(defs, instance, cursor, store)
    assert len(requests) == 1
    run(defs, instance, requests[0])
    assert set(read_annotations(store)["folder"]) == {"VIVIDS60-0001", "EPIQ7-0003", "VIVIDS70-0004"}
    assert sensor_tick(defs, instance, cursor, store)[0] == []
    assert schedule_tick(defs, instance, store).skip_message


def test_one_change_one_refresh_whether_the_sensor_or_the_schedule_sees_it_first(
    store, instance, store_root, monkeypatch
):
    monkeypatch.delenv(RESULTS_ENV, raising=False)
    write_exam(store_root, "EPIQ7-0001", [0.98, 0.96, 0.02, 0.05], seed=1)
    defs = echo_definitions(store)
    (request,), cursor = sensor_tick(defs, instance, None, store)
    run(defs, instance, request)

    write_exam(store_root, "VIVIDE95-0007", NEW_SCORES, seed=3)
    (queued,), cursor = sensor_tick(defs, instance, cursor, store)  # requested, still in the queue
    instance.create_run_for_job(
        defs.resolve_job_def("echo_quality_job"), run_config=queued.run_config, tags=queued.tags
    )
    scheduled = schedule_tick(defs, instance, store)
    assert not scheduled.run_requests and "already refreshes" in scheduled.skip_message

    write_exam(store_root, "VIVIDIQ-0003", NEW_SCORES, seed=4)
    (by_schedule,) = schedule_tick(defs, instance, store).run_requests
    run(defs, instance, by_schedule)
    requests, cursor = sensor_tick(defs, instance, cursor, store)
    assert requests == [], "the schedule's run already covers the new file"
    write_exam(store_root, "VIVIDIQ-0004", NEW_SCORES, seed=5)
    assert len(sensor_tick(defs, instance, cursor, store)[0]) == 1, "a later change is still one refresh"
