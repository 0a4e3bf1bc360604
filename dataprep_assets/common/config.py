"""Config pieces shared by the pipelines' launchpad forms."""

from typing import ClassVar

import dagster as dg
from pydantic import Field, model_validator

from dataprep_assets.common.continuity import RESPLIT_DESCRIPTION

from dataprep_assets.lib.splits import validate_fractions


class SplitFractionsConfig(dg.Config):
    """Base of a config with one `<split>_fraction` field per split (declared by the subclass, with its
    own defaults and descriptions): gives `fractions` and refuses fractions that do not sum to 1.
    Existing groups keep their split across refreshes unless `resplit` is set."""

    split_fields: ClassVar[dict[str, str]] = {"train": "train_fraction", "validation": "validation_fraction", "test": "test_fraction"}

    resplit: bool = Field(default=False, description=RESPLIT_DESCRIPTION)

    @property
    def fractions(self) -> dict[str, float]:
        return {split: getattr(self, name) for split, name in self.split_fields.items()}

    @model_validator(mode="after")
    def _check_split_fractions(self):
        validate_fractions(self.fractions, field=" + ".join(self.split_fields.values()))
        return self
