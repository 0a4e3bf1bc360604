"""The one code location loads, validates with Dagster's own CLI, and every config field is documented."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

ROOT = Path(__file__).resolve().parents[1]


def test_definitions_load_with_checks_and_jobs(defs: dg.Definitions):
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"cell_crops", "cell_level_dataframe", "cell_level_dataframe_with_splits"} <= keys
    checks = {(k.asset_key.to_user_string(), k.name) for k in defs.resolve_asset_graph().asset_check_keys}
    assert ("cell_level_dataframe_with_splits", "no_original_image_key_overlap") in checks
    assert defs.resolve_job_def("cell_qa_job") is not None


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
    assert checked >= 7


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
