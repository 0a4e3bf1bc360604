"""Run Great Expectations expectations on a DataFrame and get plain results back.

Great Expectations is imported lazily (it takes seconds), and its progress bars are switched off.
Expectations are given as `(name, kwargs)` pairs, e.g.
`("expect_column_values_to_be_between", {"column": "cell_jaccard", "min_value": 0, "max_value": 1})`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

ExpectationSpec = tuple[str, dict]


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str
    success: bool
    unexpected_count: int
    unexpected_examples: list


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def validate_frame(frame: pd.DataFrame, expectations: Sequence[ExpectationSpec]) -> list[ExpectationOutcome]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (
        context.data_sources.add_pandas("frame")
        .add_dataframe_asset("frame")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame})
    )
    outcomes = []
    for name, kwargs in expectations:
        expectation_cls = getattr(gx.expectations, _camel(name))
        result = batch.validate(expectation_cls(**kwargs))
        details = result.result or {}
        outcomes.append(
            ExpectationOutcome(
                expectation=name,
                column=str(kwargs.get("column", "")),
                success=bool(result.success),
                unexpected_count=int(details.get("unexpected_count", 0) or 0)
                + int(details.get("missing_count", 0) or 0)
                if not result.success
                else 0,
                unexpected_examples=list(details.get("partial_unexpected_list", []) or [])[:10],
            )
        )
    return outcomes
