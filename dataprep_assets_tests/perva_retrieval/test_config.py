"""perva_retrieval's launchpad config: ranges are declared on the fields (pydantic), so a value out of range fails
at once in one line naming its field and the range; cross-field rules and checks against the encoder registry stay
validators, with messages that name the fields."""

import dagster as dg
import pytest

from dataprep_assets.defs.perva_retrieval.config import (
    CombineConfig,
    ConceptSplitsConfig,
    HFDatasetConfig,
    ImageCatalogConfig,
    RetrievalConfig,
)
from dataprep_assets_tests.harness import config_refusal
from dataprep_assets_tests.perva_retrieval.conftest import materialize


@pytest.mark.parametrize(
    ("config", "field", "bad", "good", "reason"),
    [
        (ImageCatalogConfig, "train_fraction", 0.0, 1.0, "must be in (0, 1], got 0.0"),
        (ImageCatalogConfig, "num_train", 0, None, "must be >= 1, got 0"),
        (ImageCatalogConfig, "train_dirname", "", "train", "must not be empty"),
        (ImageCatalogConfig, "out", "catalog.txt", "c.json", "must be a .json path, got 'catalog.txt'"),
        (ConceptSplitsConfig, "concept_frac", 1.5, 0.0, "must be in [0, 1], got 1.5"),
        (ConceptSplitsConfig, "min_concepts_threshold", 0, 1, "must be >= 1, got 0"),
        (ConceptSplitsConfig, "test_sample_frac", -0.1, 1.0, "must be in [0, 1], got -0.1"),
        (ConceptSplitsConfig, "max_test_images", -1, 0, "must be >= 0, got -1"),
        (RetrievalConfig, "top_k", 0, 2, "must be >= 1, got 0"),
        (RetrievalConfig, "batch_size", 0, 1, "must be >= 1, got 0"),
        (RetrievalConfig, "search_block", 0, 1, "must be >= 1, got 0"),
        (RetrievalConfig, "encoder", "dino", "auto", "must be auto or one of ['clip', 'color_texture'"),
        (CombineConfig, "num_samples", 0, None, "must be >= 1, got 0"),
        (CombineConfig, "output_filename", "out.csv", "out.json", "must end with .json, got 'out.csv'"),
        (HFDatasetConfig, "dataset", "../PerVA", "PerVA", "must be a plain folder-name part, got '../PerVA'"),
    ],
)
def test_a_value_out_of_range_fails_in_one_line_naming_its_field(config, field, bad, good, reason):
    with pytest.raises(dg.Failure) as raised:
        config(**{field: bad})
    assert str(raised.value.description).startswith(f"invalid {config.__name__} config: {field}: {reason}")
    assert getattr(config(**{field: good}), field) == good


def test_cross_field_rules_name_their_fields():
    with pytest.raises(dg.Failure, match="train_dirname and test_dirname must be two different names, both are 'x'"):
        ImageCatalogConfig(train_dirname="x", test_dirname="x")
    with pytest.raises(dg.Failure, match="top_k must be >= 2 when top_k_counts is candidates"):
        RetrievalConfig(top_k=1)
    assert RetrievalConfig(top_k=1, top_k_counts="negatives").negatives_per_query() == 1


@pytest.mark.parametrize(
    "op, config, message",
    [
        ("image_catalog", {"train_fraction": 0.0}, "train_fraction: must be in (0, 1], got 0.0"),
        ("image_catalog", {"layout": "flat"}, "layout"),  # outside the Literal: refused at launch
        ("concept_splits", {"concept_frac": 1.5}, "concept_frac: must be in [0, 1], got 1.5"),
        ("hf_retrieval_dataset", {"category": "a/b"}, "category: must be a plain folder-name part, got 'a/b'"),
    ],
)
def test_bad_config_fails_at_launch_naming_the_field(store, instance, op, config, message):
    refusal = config_refusal(
        lambda: materialize(store, instance, selection=[op], ops={op: {"config": config}}, raise_on_error=False)
    )
    assert message in refusal
    assert instance.get_latest_materialization_event(dg.AssetKey(op)) is None
