"""Bad launchpad config fails at the step's start with one line naming the field (a `dg.Failure`
description at the top of the run, not a traceback), before any work, and is not retried. Ranges are
declared on the fields and come out with the whole allowed range; choices are `Literal`s, which
Dagster's schema (the launchpad's) refuses before a run exists."""

from typing import Annotated, Literal

import dagster as dg
import pytest
from pydantic import Field

from dataprep_assets.common.config import LaunchpadConfig, SplitFractionsConfig, allowed_range
from dataprep_assets.defs.cell_qa.config import SplitConfig
from dataprep_assets_tests.harness import definitions

WORK_STARTED: list[str] = []


@dg.asset
def splits(config: SplitConfig) -> None:
    WORK_STARTED.append("splits")


def test_fractions_summing_to_1_1_fail_with_one_line_naming_the_fields(instance):
    bad = {"ops": {"splits": {"config": {"train_fraction": 0.8, "validation_fraction": 0.2, "test_fraction": 0.1}}}}
    result = dg.materialize([splits], instance=instance, run_config=bad, raise_on_error=False)
    assert not result.success and WORK_STARTED == []
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    user = failure.step_failure_data.user_failure_data
    assert user is not None, "a dg.Failure, not an unexpected exception"
    assert "\n" not in user.description
    assert user.description.startswith(
        "invalid SplitConfig config: train_fraction + validation_fraction + test_fraction: fractions must sum to 1.0"
    )
    assert "1.1" in user.description and "Traceback" not in user.description


def test_type_errors_name_the_field_too():
    class Demo(LaunchpadConfig):
        crop_size: int = 64

    with pytest.raises(dg.Failure, match=r"invalid Demo config: crop_size: Input should be a valid integer"):
        Demo(crop_size="big")
    assert issubclass(SplitConfig, SplitFractionsConfig) and SplitConfig().fractions["train"] == 0.70


class Declared(LaunchpadConfig):
    share: float = Field(gt=0, le=1, default=0.5, description="A share.")
    tile_size: int = Field(ge=8, default=96, description="Pixels.")
    formats: list[str] = Field(min_length=1, default=["PNG"], description="At least one.")
    mix: dict[str, Annotated[float, Field(ge=0)]] = Field(default={"a": 1.0}, description="Non-negative shares.")
    mode: Literal["fast", "exact"] = Field(default="fast", description="A choice.")


def test_every_declared_constraint_comes_out_as_field_range_and_value_in_one_line():
    with pytest.raises(dg.Failure) as raised:
        Declared(**{"share": 1.5, "tile_size": 4, "formats": [], "mix": {"a": -0.5}, "mode": "slow"})
    assert raised.value.description == (
        "invalid Declared config: share: must be in (0, 1], got 1.5; tile_size: must be >= 8, got 4; "
        "formats: must not be empty; mix.a: must be >= 0, got -0.5; mode: must be one of 'fast' or 'exact', got 'slow'"
    )
    assert raised.value.allow_retries is False
    assert Declared(share=1.0, tile_size=8, mix={"a": 0.0}).share == 1.0, "the bounds themselves are allowed"


@pytest.mark.parametrize(
    ("bounds", "text"),
    [
        ({"ge": 0.0, "le": 1}, "in [0, 1]"),
        ({"ge": 0.5}, ">= 0.5"),
        ({"gt": 0, "lt": 1}, "in (0, 1)"),
        ({"gt": 0}, "> 0"),
        ({"le": 9}, "<= 9"),
    ],
)
def test_allowed_range_reads_like_the_declaration(bounds, text):
    assert allowed_range(bounds) == text


def test_the_launchpad_refuses_a_choice_outside_its_literal_and_the_step_refuses_a_range():
    job = definitions().resolve_job_def("echo_quality_job")
    op = "echo_training_selection"
    with pytest.raises(dg.DagsterInvalidConfigError, match=f"{op}:config:high_quality_status not in enum"):
        dg.validate_run_config(job, {"ops": {op: {"config": {"high_quality_status": "OK"}}}})
    launched = dg.validate_run_config(job, {"ops": {op: {"config": {"max_low_quality": 0}}}})
    assert launched["ops"][op]["config"]["max_low_quality"] == 0, "Dagster's schema holds no ranges: pydantic does"
