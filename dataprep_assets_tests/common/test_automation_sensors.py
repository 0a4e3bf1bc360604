"""Automation on a fresh instance: one automation-condition sensor per pipeline, RUNNING by default,
whose targets cover every automated asset exactly once and whose runs carry `dataprep/pipeline`.
(The real daemon running them end to end: deployment/test_daemon_uploads.py.)"""

import importlib

import dagster as dg

from dataprep_assets.common.automation import PIPELINE_TAG, PIPELINES, automation_sensor_name
from dataprep_assets.common.uploads import UPLOAD_SENSORS_ENV, upload_sensor_default_status


def _automation_sensors(defs: dg.Definitions) -> dict[str, dg.AutomationConditionSensorDefinition]:
    return {s.name: s for s in defs.sensors if isinstance(s, dg.AutomationConditionSensorDefinition)}


def test_one_running_automation_sensor_per_pipeline_covering_each_automated_asset_once(defs):
    sensors = _automation_sensors(defs)
    assert set(sensors) == {automation_sensor_name(p) for p in PIPELINES}
    graph = defs.resolve_asset_graph()
    automated = {k for k in graph.get_all_asset_keys() if graph.get(k).automation_condition is not None}
    covered: dict[dg.AssetKey, str] = {}
    for pipeline in PIPELINES:
        sensor = sensors[automation_sensor_name(pipeline)]
        assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
        assert sensor.run_tags == {PIPELINE_TAG: pipeline}
        targets = sensor.asset_selection.resolve(graph)
        assert {graph.get(k).group_name for k in targets} == {pipeline}, "a sensor's runs never mix pipelines"
        for key in targets & automated:
            assert key not in covered, f"{key} evaluated by {covered.get(key)} and {sensor.name}"
            covered[key] = sensor.name
    assert set(covered) == automated, f"automated assets no sensor evaluates: {automated - set(covered)}"


def test_stopped_on_request(monkeypatch):
    import dataprep_assets.defs.automation as module

    monkeypatch.setenv("DATAPREP_AUTOMATION_SENSORS", "stopped")
    defs = importlib.reload(module).automation()
    assert {s.default_status for s in defs.sensors} == {dg.DefaultSensorStatus.STOPPED}


def test_upload_sensors_stopped_unless_asked(defs, monkeypatch):
    uploads = [s for s in defs.sensors if s.name.endswith("_upload_sensor")]
    assert len(uploads) == len(PIPELINES) and {s.default_status for s in uploads} == {dg.DefaultSensorStatus.STOPPED}
    monkeypatch.setenv(UPLOAD_SENSORS_ENV, "running")
    assert upload_sensor_default_status() == dg.DefaultSensorStatus.RUNNING
