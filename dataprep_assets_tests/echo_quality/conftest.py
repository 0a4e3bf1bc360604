"""Fixtures for the echo_quality tests: small sample data and a Definitions object bound to the test store."""

from pathlib import Path

import dagster as dg
import pytest

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.echo_quality import assets, automation
from dataprep_assets.sample_data.echo_quality import generate
from dataprep_assets_tests.harness import group_assets, group_checks, runner

GROUP = "echo_quality"
SLOW_CHECK = "inference_results_valid"  # Great Expectations' start-up: evaluated where a test asks for every check

materialize_echo = runner(GROUP, skip_checks=(SLOW_CHECK,))
"""The echo_quality graph (without its card) and its checks but the slow one, on a real instance."""


def echo_definitions(store: LocalDatasetStore) -> dg.Definitions:
    return dg.Definitions(
        assets=group_assets(GROUP),
        asset_checks=group_checks(GROUP),
        jobs=[assets.echo_quality_job],
        sensors=[automation.echo_inference_results_sensor],
        schedules=[automation.echo_quality_daily_refresh],
        resources={"store": store},
    )


@pytest.fixture
def sample(store_root: Path) -> Path:
    return generate(store_root, videos_per_exam=(3, 4), frames=(3, 4))
