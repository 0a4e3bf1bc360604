"""The one code location loads with exactly the assets and checks of each pipeline, validates with Dagster's own
CLI, and every config field is documented."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from dataprep_assets.lib.datasets import Dataset
from dataprep_assets_tests import harness

ROOT = Path(__file__).resolve().parents[1]


# (assets, asset checks) per group: a new asset or check changes these numbers on purpose, nothing else does.
EXPECTED = {
    "cell_qa": (7, 5),
    "ct_hemorrhage": (13, 21),
    "echo_quality": (7, 10),
    "perva_retrieval": (6, 6),
    "quality_prediction": (7, 8),
    "uploads": (5, 0),
}
PIPELINES = sorted(set(EXPECTED) - {"uploads"})


def test_every_asset_is_in_a_known_group(defs: dg.Definitions):
    groups = {node.group_name for node in defs.resolve_asset_graph().asset_nodes}
    assert groups == set(EXPECTED)


@pytest.mark.parametrize("group", sorted(EXPECTED))
def test_each_group_has_exactly_its_assets_and_checks(defs: dg.Definitions, group: str):
    graph = defs.resolve_asset_graph()
    keys = {node.key for node in graph.asset_nodes if node.group_name == group}
    checks = {k for k in graph.asset_check_keys if k.asset_key in keys}
    assert (len(keys), len(checks)) == EXPECTED[group]
    # the harness runs exactly these: every asset (card included) and every check, found by group
    harnessed = {k for a in harness.group_assets(group, with_card=True) for k in harness.asset_keys(a)}
    assert harnessed == keys
    assert {k for c in harness.group_checks(group) for k in c.check_keys} == checks


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_each_pipeline_has_a_job_and_a_dataset_card(defs: dg.Definitions, pipeline: str):
    jobs = {job.name for job in defs.jobs or []}
    assert any(name.startswith(pipeline) for name in jobs), f"no job for {pipeline}"
    cards = [a for a in harness.group_assets(pipeline, with_card=True) if harness.is_card(a)]
    assert [k.to_user_string() for a in cards for k in harness.asset_keys(a)] == [f"{pipeline}_dataset_card"]


def test_dagster_definitions_validate_passes():
    env = {**os.environ, "DAGSTER_HOME": str(ROOT / "var" / "dagster_home_validate")}
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_config_field_has_a_description_and_default(defs: dg.Definitions):
    checked = 0
    for node in defs.resolve_asset_graph().asset_nodes:
        if not node.assets_def.is_executable:
            continue
        schema = node.assets_def.node_def.config_schema
        if schema is None or not hasattr(schema.config_type, "fields"):
            continue
        for name, field in schema.config_type.fields.items():
            checked += 1
            assert field.description, f"{node.key.to_user_string()}.{name} has no description"
            assert not field.is_required, f"{node.key.to_user_string()}.{name} has no default"
    assert checked == 192  # every config field of every asset (a new field changes this on purpose)


def test_requirements_txt_matches_the_lock_file():
    """pip users install from requirements.txt; it must pin exactly what uv.lock pins."""
    uv = Path(sys.executable).parent / "uv"
    result = subprocess.run(
        [
            str(uv),
            "export",
            "--frozen",
            "--format",
            "requirements-txt",
            "--all-groups",
            "--no-emit-project",
            "--no-hashes",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    pins = lambda text: sorted(line for line in text.splitlines() if "==" in line and not line.startswith("#"))  # noqa: E731
    assert pins(result.stdout) == pins((ROOT / "requirements.txt").read_text()), "run `make lock`"


def declared_datasets(pipeline: str) -> list:
    module = importlib.import_module(f"dataprep_assets.defs.{pipeline}.datasets")
    return [value for value in vars(module).values() if isinstance(value, Dataset)]


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_each_pipeline_declares_its_group_and_datasets_once(defs: dg.Definitions, pipeline: str):
    module = importlib.import_module(f"dataprep_assets.defs.{pipeline}.datasets")
    assert pipeline == module.GROUP
    datasets = declared_datasets(pipeline)
    assert datasets, f"{pipeline}/datasets.py declares no dataset"
    graph = defs.resolve_asset_graph()
    groups = {node.key.to_user_string(): node.group_name for node in graph.asset_nodes}
    for dataset in datasets:  # each written by an asset of the pipeline, at a path no other dataset claims
        assert groups.get(dataset.asset) == pipeline, f"{dataset.asset} is not an asset of {pipeline}"
    paths = [d.path for p in PIPELINES for d in declared_datasets(p)]
    assert len(paths) == len(set(paths))


def test_a_dataset_declaration_refuses_a_path_outside_the_store():
    for bad in ("/etc/passwd", "data/../../x", ""):
        with pytest.raises(ValueError, match="relative to the store root"):
            Dataset("a", bad, "table")
    with pytest.raises(ValueError, match="not a directory"):
        Dataset("a", "data/a.parquet", "table").member("x")
