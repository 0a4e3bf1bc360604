"""Deterministic generators of realistic demo inputs for every pipeline.

Each module here that defines `generate(root, *, seed=0) -> Path` is one pipeline's generator; it
writes under `<root>/raw/<pipeline>/` (or wherever its pipeline reads). `python -m
dataprep_assets.sample_data [ROOT]` runs them all.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path


def generators() -> dict[str, Callable[..., Path]]:
    """Every generator module in this package, by pipeline name (sorted)."""
    found = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if callable(getattr(module, "generate", None)):
            found[info.name] = module.generate
    return found


def generate_all(root: str | Path, seed: int = 0) -> dict[str, Path]:
    return {name: gen(root, seed=seed) for name, gen in generators().items()}
