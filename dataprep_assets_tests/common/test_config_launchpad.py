"""Bad launchpad config fails at the step's start with one line naming the field (a `dg.Failure`
description at the top of the run, not a traceback), before any work, and is not retried."""

import dagster as dg
import pytest

from dataprep_assets.common.config import LaunchpadConfig, SplitFractionsConfig
from dataprep_assets.defs.cell_qa.config import SplitConfig

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
    assert user.description.startswith("invalid SplitConfig config: ")
    assert "train_fraction + validation_fraction + test_fraction" in user.description and "1.1" in user.description
    assert "Traceback" not in user.description


def test_type_errors_name_the_field_too():
    class Demo(LaunchpadConfig):
        crop_size: int = 64

    with pytest.raises(dg.Failure, match=r"invalid Demo config: crop_size: Input should be a valid integer"):
        Demo(crop_size="big")
    assert issubclass(SplitConfig, SplitFractionsConfig) and SplitConfig().fractions["train"] == 0.70
