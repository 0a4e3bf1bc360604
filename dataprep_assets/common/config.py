"""Config pieces shared by the pipelines' launchpad forms."""

from typing import ClassVar

import dagster as dg
import pydantic
from pydantic import Field, model_validator

from dataprep_assets.common.continuity import RESPLIT_DESCRIPTION
from dataprep_assets.lib.splits import validate_fractions


def config_error_line(config_name: str, error: pydantic.ValidationError) -> str:
    """One line naming each bad field and why (the run's failure description, not a traceback)."""
    parts = []
    for e in error.errors():
        field = ".".join(str(p) for p in e["loc"]) or config_name
        parts.append(f"{field}: {e['msg'].removeprefix('Value error, ')}")
    return f"invalid {config_name} config: " + "; ".join(parts)


class LaunchpadConfig(dg.Config):
    """A `dg.Config` whose invalid values fail the step at its start with a `dg.Failure` whose
    description is one line naming the field (shown at the top of the run), before any work and
    without a retry. Dagster's config schema cannot express cross-field rules (fractions summing
    to 1), so they are checked here, the moment the step receives its config."""

    def __init__(self, **data):
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise dg.Failure(description=config_error_line(type(self).__name__, exc), allow_retries=False) from None


class SplitFractionsConfig(LaunchpadConfig):
    """Base of a config with one `<split>_fraction` field per split (declared by the subclass, with its
    own defaults and descriptions): gives `fractions` and refuses fractions that do not sum to 1.
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
