"""A one-asset code location for the run-monitoring test: its first run hangs until it is killed.

The run worker writes its pid to `$CRASH_TEST_MARKER` and sleeps; a later run (the retry) sees the
marker and finishes at once.
"""

import os
import time
from pathlib import Path

import dagster as dg


@dg.asset
def hangs_on_first_attempt() -> str:
    marker = Path(os.environ["CRASH_TEST_MARKER"])
    if not marker.exists():
        marker.write_text(str(os.getpid()))
        time.sleep(600)
    return "done"


defs = dg.Definitions(
    assets=[hangs_on_first_attempt],
    jobs=[dg.define_asset_job("hangs_on_first_attempt_job", [hangs_on_first_attempt])],
    executor=dg.in_process_executor,
)
