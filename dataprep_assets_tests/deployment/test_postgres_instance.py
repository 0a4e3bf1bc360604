"""The production instance config works against a real PostgreSQL server.

deploy/dagster.prod.yaml is loaded as it ships (credentials from DAGSTER_POSTGRES_*, step logs to S3
on the loopback server), the code location's cell_qa job runs on it, and the event log is read back
three ways: through the same instance, through a fresh instance (new connections, as the webserver
and the daemon would open), and with plain SQL, which proves the rows live in Postgres.
"""

import shutil

import boto3
import dagster as dg
import pytest
from dagster_aws.s3.compute_log_manager import S3ComputeLogManager
from dagster_docker import DockerRunLauncher
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets_tests.deployment.conftest import ROOT, write_cell_qa_sample

pytestmark = pytest.mark.slow


@pytest.fixture
def prod_home(tmp_path, postgres, s3_bucket, monkeypatch):
    for key, value in postgres.dagster_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DAGSTER_COMPUTE_LOGS_BUCKET", s3_bucket)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "deploy" / "dagster.prod.yaml", home / "dagster.yaml")
    return home


def test_prod_instance_config_builds_postgres_storage_queue_and_docker_launcher(prod_home):
    with dg.DagsterInstance.from_config(str(prod_home)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        assert isinstance(instance.run_launcher, DockerRunLauncher)
        assert isinstance(instance.compute_log_manager, S3ComputeLogManager)
        limits = {
            limit["key"]: limit["limit"]
            for limit in instance.get_concurrency_config().run_queue_config.tag_concurrency_limits
        }
        assert (
            limits["gpu"] == 1
            and limits["dagster/backfill"] < instance.get_concurrency_config().run_queue_config.max_concurrent_runs
        )


def test_cell_qa_materializes_on_postgres_and_the_event_log_reads_back(prod_home, postgres, defs, tmp_path, s3_bucket):
    store_root = tmp_path / "store"
    write_cell_qa_sample(store_root)
    job = defs.resolve_job_def("cell_qa_job")
    expected_assets = {key.to_user_string() for key in job.asset_layer.executable_asset_keys}
    expected_checks = {
        (key.asset_key.to_user_string(), key.name) for key in job.asset_layer.asset_graph.asset_check_keys
    }

    with dg.DagsterInstance.from_config(str(prod_home)) as instance:
        result = job.execute_in_process(
            instance=instance,
            resources={"store": LocalDatasetStore(root=str(store_root))},
            run_config={"ops": {"cell_crops": {"config": {"max_workers": 1}}}},
        )
        assert result.success
        run_id = result.run_id
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS

    # A fresh instance: new connections, nothing cached in this process.
    with dg.DagsterInstance.from_config(str(prod_home)) as fresh:
        logs = fresh.all_logs(run_id)
        materialized = {
            e.dagster_event.asset_key.to_user_string()
            for e in logs
            if e.dagster_event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        }
        assert materialized == expected_assets
        evaluations = [
            e.dagster_event.event_specific_data
            for e in logs
            if e.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ]
        assert {(ev.asset_key.to_user_string(), ev.check_name) for ev in evaluations} == expected_checks
        assert all(ev.passed for ev in evaluations)
        assert logs[-1].dagster_event_type == dg.DagsterEventType.RUN_SUCCESS

        splits = fresh.fetch_materializations(dg.AssetKey("cell_level_dataframe_with_splits"), limit=1).records[0]
        assert splits.run_id == run_id
        assert splits.asset_materialization.metadata["dagster/row_count"].value > 0
        assert fresh.get_latest_data_version_record(dg.AssetKey("cell_qa_release")) is not None

    # The same facts straight from Postgres.
    conn = postgres.connect()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT status FROM runs WHERE run_id = %s", (run_id,))
            assert cur.fetchone() == ("SUCCESS",)
            cur.execute(
                "SELECT DISTINCT asset_key FROM event_logs WHERE run_id = %s AND dagster_event_type = "
                "'ASSET_MATERIALIZATION'",
                (run_id,),
            )
            keys = {dg.AssetKey.from_db_string(row[0]).to_user_string() for row in cur.fetchall()}
            assert keys == expected_assets
    finally:
        conn.close()

    # Step logs went to the S3 compute-log bucket (MinIO in compose; moto's server here).
    listed = boto3.client("s3").list_objects_v2(Bucket=s3_bucket, Prefix="compute-logs/")
    assert listed.get("KeyCount", 0) > 0, "no step logs were uploaded to the compute-log bucket"
