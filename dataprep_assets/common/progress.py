"""Progress of long per-item work in the run's log, one style for every pipeline."""

from __future__ import annotations

import dagster as dg

from dataprep_assets.lib.compute import ProgressFn


def progress_logger(
    context: dg.AssetExecutionContext | dg.OpExecutionContext, what: str, unit: str = "items"
) -> ProgressFn:
    """A `progress(done, total, seconds)` callback (`lib.parallel.ordered_map`) that logs
    `<what>: <done>/<total> <unit> (<pct>), <rate> <unit>/s, ETA <s>s`."""

    def progress(done: int, total: int, seconds: float) -> None:
        rate = done / seconds if seconds > 0 else 0.0
        eta = f", ETA {(total - done) / rate:.0f}s" if rate > 0 and done < total else ""
        context.log.info(
            f"{what}: {done}/{total} {unit} ({done / max(total, 1):.0%}), {rate:.1f} {unit}/s, {seconds:.1f}s{eta}"
        )

    return progress
