"""The local run launcher tells run monitoring whether a run's worker process still lives: a real
instance from dagster.yaml, a real run record and real processes (alive, killed, zombie, pid reused)."""

import shutil
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus

from dataprep_assets.common.run_launcher import MonitoredLocalRunLauncher, worker_alive

ROOT = Path(__file__).resolve().parents[2]


@dg.op
def noop() -> None:
    pass


@dg.job
def noop_job() -> None:
    noop()


@pytest.fixture
def local_instance(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        yield instance


def _run_with_worker(instance: dg.DagsterInstance, pid: int) -> dg.DagsterRun:
    run = instance.create_run_for_job(noop_job)
    instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))
    return run


def test_the_local_instance_monitors_runs_with_a_health_checking_launcher(local_instance):
    assert isinstance(local_instance.run_launcher, MonitoredLocalRunLauncher)
    assert local_instance.run_launcher.supports_check_run_worker_health
    assert local_instance.run_monitoring_enabled and local_instance.run_retries_enabled
    assert local_instance.run_monitoring_max_resume_run_attempts == 0  # fail, then run_retries re-executes


def test_live_worker_is_running_killed_or_zombie_worker_is_failed(local_instance):
    worker = subprocess.Popen(["sleep", "60"])
    try:
        run = _run_with_worker(local_instance, worker.pid)
        health = local_instance.run_launcher.check_run_worker_health(run)
        assert health.status == WorkerStatus.RUNNING, health
        worker.kill()
        time.sleep(0.2)  # not reaped: a zombie
        health = local_instance.run_launcher.check_run_worker_health(run)
        assert health.status == WorkerStatus.FAILED and "zombie" in health.msg, health
        worker.wait()
        health = local_instance.run_launcher.check_run_worker_health(run)
        assert health.status == WorkerStatus.FAILED and f"{worker.pid} is gone" in health.msg, health
    finally:
        worker.kill()
        worker.wait()


def test_a_run_without_a_worker_pid_yet_is_left_to_the_start_timeout(local_instance):
    run = local_instance.create_run_for_job(noop_job)
    assert local_instance.run_launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING


def test_a_reused_pid_is_not_the_worker():
    worker = subprocess.Popen(["sleep", "60"])
    try:
        assert worker_alive(worker.pid, time.time())[0]
        alive, why = worker_alive(worker.pid, time.time() - 3600)  # announced an hour before this process began
        assert not alive and "belongs to a process started later" in why
    finally:
        worker.kill()
        worker.wait()
