"""Sample PerVA trees for the perva_retrieval tests (generated once per session, copied per test)."""

import shutil
from pathlib import Path

import pytest

from dataprep_assets.sample_data.perva_retrieval import generate
from dataprep_assets_tests.harness import runner

materialize = runner("perva_retrieval")
"""The perva_retrieval graph (without its card) and every one of its checks, on a real instance."""


@pytest.fixture(scope="session")
def perva_sample(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("perva_sample")
    generate(root, seed=0, scale=0.5)
    return root


@pytest.fixture
def perva_store_root(store_root: Path, perva_sample: Path) -> Path:
    """A fresh store holding the sample tree (symlinks copied as symlinks)."""
    shutil.copytree(perva_sample / "raw", store_root / "raw", symlinks=True)
    return store_root


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory) -> Path:
    """A randomly initialised CLIPModel + CLIPImageProcessor saved like a real local model."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={
            "vocab_size": 99,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
        },
        projection_dim=12,
    )
    path = tmp_path_factory.mktemp("tiny_clip")
    CLIPModel(config).save_pretrained(path)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(path)
    return path
