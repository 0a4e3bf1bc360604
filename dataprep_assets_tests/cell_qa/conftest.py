"""The cell_qa tests' entry points: the pipeline run through the shared harness and a small generated sample."""

from dataprep_assets.sample_data.cell_qa import DATASETS, generate
from dataprep_assets_tests.harness import runner


def crops_config(**config) -> dict:
    """Op config of `cell_crops`: one worker (the CI's 2 cores are shared) unless a test says otherwise."""
    return {"cell_crops": {"config": {"max_workers": 1, **config}}}


materialize = runner("cell_qa", raise_on_error=False, default_ops=crops_config())
"""The cell_qa graph (without its card) and every one of its checks, on a real instance."""


def small_sample(root) -> None:
    generate(root, seed=3, sequences=3, frames=2, size=128, datasets=DATASETS)
