"""Fixtures for the echo_quality tests: small sample data and a Definitions object bound to the test store."""

from pathlib import Path

import dagster as dg
import pytest

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.echo_quality import assets, automation, checks
from dataprep_assets.sample_data.echo_quality import generate

ASSETS = [
    assets.echo_inference_output,
    assets.echo_inference_results,
    assets.echo_training_selection,
    assets.echo_training_data,
    assets.echo_training_splits,
    assets.echo_dataset_release,
]
CHECKS = [v for v in vars(checks).values() if isinstance(v, dg.AssetChecksDefinition)]
FAST_CHECKS = [c for c in CHECKS if c is not checks.inference_results_valid]  # skips Great Expectations' start-up


def echo_definitions(store: LocalDatasetStore) -> dg.Definitions:
    return dg.Definitions(
        assets=ASSETS,
        asset_checks=CHECKS,
        jobs=[assets.echo_quality_job],
        sensors=[automation.echo_inference_results_sensor],
        schedules=[automation.echo_quality_daily_refresh],
        resources={"store": store},
    )


def materialize_echo(store, instance, run_config=None, checks=FAST_CHECKS, selection=None, raise_on_error=True):
    return dg.materialize(
        ASSETS + list(checks),
        instance=instance,
        resources={"store": store},
        run_config=run_config or {},
        selection=selection,
        raise_on_error=raise_on_error,
    )


@pytest.fixture
def sample(store_root: Path) -> Path:
    return generate(store_root, videos_per_exam=(3, 4), frames=(3, 4))
