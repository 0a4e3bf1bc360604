"""perva_retrieval's launchpad config: ranges are declared on the fields (pydantic), so a value out of range fails
at once naming its field; cross-field rules stay validators with messages that name the fields."""

import pytest
from pydantic import ValidationError

from dataprep_assets.defs.perva_retrieval.config import (
    CombineConfig,
    ConceptSplitsConfig,
    ImageCatalogConfig,
    RetrievalConfig,
)


@pytest.mark.parametrize(
    ("config", "field", "bad", "good"),
    [
        (ImageCatalogConfig, "train_fraction", 0.0, 1.0),
        (ImageCatalogConfig, "num_train", 0, None),
        (ConceptSplitsConfig, "concept_frac", 1.5, 0.0),
        (ConceptSplitsConfig, "min_concepts_threshold", 0, 1),
        (ConceptSplitsConfig, "test_sample_frac", -0.1, 1.0),
        (ConceptSplitsConfig, "max_test_images", -1, 0),
        (RetrievalConfig, "batch_size", 0, 1),
        (RetrievalConfig, "search_block", 0, 1),
        (CombineConfig, "num_samples", 0, None),
    ],
)
def test_a_value_out_of_range_fails_naming_its_field(config, field, bad, good):
    with pytest.raises(ValidationError, match=field):
        config(**{field: bad})
    assert getattr(config(**{field: good}), field) == good


def test_cross_field_rules_name_their_fields():
    with pytest.raises(ValidationError, match="train_dirname and test_dirname"):
        ImageCatalogConfig(train_dirname="x", test_dirname="x")
    with pytest.raises(ValidationError, match="top_k must be >= 2"):
        RetrievalConfig(top_k=1)
