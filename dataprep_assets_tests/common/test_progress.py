"""Progress lines in a real run's log: counts, share, rate and ETA, one style for every pipeline."""

import dagster as dg

from dataprep_assets.common.progress import progress_logger


@dg.asset
def counted(context: dg.AssetExecutionContext) -> None:
    progress = progress_logger(context, "slices", unit="slices")
    progress(25, 100, 5.0)
    progress(100, 100, 20.0)


def test_progress_lines_reach_the_run_log():
    with dg.instance_for_test() as instance:
        result = dg.materialize([counted], instance=instance)
        messages = [
            e.user_message
            for e in instance.all_logs(result.run_id)
            if e.user_message.startswith("slices:")  # pyright: ignore[reportOptionalMemberAccess]
        ]
    assert messages == [
        "slices: 25/100 slices (25%), 5.0 slices/s, 5.0s, ETA 15s",
        "slices: 100/100 slices (100%), 5.0 slices/s, 20.0s",
    ]
