"""Config pieces shared by the pipelines' launchpad forms.

Ranges and choices are declared on the fields (`Field(ge=..., le=...)`, `Literal[...]`); pydantic checks them when
the step receives its config and `LaunchpadConfig` turns any violation into one line naming the field and what it
allows. Validators remain only for rules that pydantic cannot declare (several fields together, a registry, a
string's shape)."""

from typing import Annotated, Any, ClassVar

import dagster as dg
import pydantic
from pydantic import Field, model_validator

from dataprep_assets.common.continuity import RESPLIT_DESCRIPTION
from dataprep_assets.lib.splits import validate_fractions

Fraction = Annotated[float, Field(ge=0, le=1)]
"""A share between 0 and 1 (inclusive): a split fraction."""

BOUNDS = ("gt", "ge", "lt", "le")
RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _number(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def allowed_range(bounds: dict[str, Any]) -> str:
    """`{"gt": 0, "le": 1}` -> `in (0, 1]`; `{"ge": 1}` -> `>= 1` (whole floats written as integers)."""
    bounds = {b: int(v) if isinstance(v, float) and v.is_integer() else v for b, v in bounds.items()}
    low = ("(", bounds["gt"]) if "gt" in bounds else ("[", bounds["ge"]) if "ge" in bounds else None
    high = (bounds["lt"], ")") if "lt" in bounds else (bounds["le"], "]") if "le" in bounds else None
    if low and high:
        return f"in {low[0]}{low[1]}, {high[0]}{high[1]}"
    if low:
        return f"{'>' if low[0] == '(' else '>='} {low[1]}"
    assert high is not None
    return f"{'<' if high[1] == ')' else '<='} {high[0]}"


def _field_bounds(model: type[pydantic.BaseModel] | None, loc: tuple) -> dict[str, Any]:
    """The bounds declared on a top-level field (both ends of a range, though pydantic reports only the one broken)."""
    field = model.model_fields.get(str(loc[0])) if model is not None and len(loc) == 1 else None
    return {b: getattr(m, b) for m in (field.metadata if field else []) for b in BOUNDS if hasattr(m, b)}


def _reason(error: Any, model: type[pydantic.BaseModel] | None) -> str:
    kind, ctx, value = error["type"], error.get("ctx") or {}, error.get("input")
    if kind in RANGE_ERRORS:
        bounds = {b: ctx[b] for b in BOUNDS if b in ctx} | _field_bounds(model, tuple(error["loc"]))
        return f"must be {allowed_range(bounds)}, got {_number(value)}"
    if kind == "literal_error":
        return f"must be one of {ctx['expected']}, got {_number(value)}"
    if kind in ("too_short", "string_too_short"):
        least = ctx["min_length"]
        return "must not be empty" if least == 1 else f"must have at least {least} items, got {len(value)}"
    return error["msg"].removeprefix("Value error, ")


def config_error_line(
    config_name: str, error: pydantic.ValidationError, model: type[pydantic.BaseModel] | None = None
) -> str:
    """One line naming each bad field and why, e.g. `min_image_size: must be >= 1, got 0` (the run's failure
    description, not a traceback). A rule over several fields names them in its own message."""
    parts = []
    for e in error.errors():
        field = ".".join(str(p) for p in e["loc"])
        parts.append(f"{field}: {_reason(e, model)}" if field else _reason(e, model))
    return f"invalid {config_name} config: " + "; ".join(parts)


class LaunchpadConfig(dg.Config):
    """A `dg.Config` whose invalid values fail the step at its start with a `dg.Failure` whose
    description is one line naming the field (shown at the top of the run), before any work and
    without a retry. Dagster's config schema checks types and `Literal` choices when the run is launched;
    ranges (`Field(ge=...)`) and cross-field rules (fractions summing to 1) are pydantic's, checked here,
    the moment the step receives its config."""

    def __init__(self, **data):
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            description = config_error_line(type(self).__name__, exc, type(self))
            raise dg.Failure(description=description, allow_retries=False) from None


class SplitFractionsConfig(LaunchpadConfig):
    """Base of a config with one `<split>_fraction` field per split (declared by the subclass as a `Fraction`, with
    its own defaults and descriptions): gives `fractions` and refuses fractions that do not sum to 1.
    Existing groups keep their split across refreshes unless `resplit` is set."""

    split_fields: ClassVar[dict[str, str]] = {
        "train": "train_fraction",
        "validation": "validation_fraction",
        "test": "test_fraction",
    }

    resplit: bool = Field(default=False, description=RESPLIT_DESCRIPTION)

    @property
    def fractions(self) -> dict[str, float]:
        return {split: getattr(self, name) for split, name in self.split_fields.items()}

    @model_validator(mode="after")
    def _check_split_fractions(self):
        validate_fractions(self.fractions, field=" + ".join(self.split_fields.values()))
        return self
