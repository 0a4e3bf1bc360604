"""Deterministic generators of realistic demo inputs for every pipeline.

`python -m dataprep_assets.sample_data [ROOT]` writes them all under a dataset store root.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dataprep_assets.sample_data import cell_qa

GENERATORS: dict[str, Callable[..., Path]] = {
    "cell_qa": cell_qa.generate,
}


def generate_all(root: str | Path, seed: int = 0) -> dict[str, Path]:
    return {name: gen(root, seed=seed) for name, gen in GENERATORS.items()}
