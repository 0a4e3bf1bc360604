"""A dataset declaration: which asset owns it, where it lives in the seed layout, and what kind of data it is.

Each pipeline declares its datasets once (`defs/<pipeline>/datasets.py`); assets write, read and describe
them through these declarations (`DatasetStore.read` / `write`, `common.publish.materialized`), and
downstream assets and checks find upstream data the same way. Dagster-free, so worker code may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DatasetKind = Literal["table", "json", "directory", "file"]
"""table: one parquet/CSV file read as a DataFrame; json: one JSON document; directory: a folder versioned
whole; file: any other single file."""


@dataclass(frozen=True)
class Dataset:
    asset: str
    """Name of the asset that writes it (its asset key)."""
    path: str
    """Store-relative path, in the seed's layout."""
    kind: DatasetKind

    def __post_init__(self) -> None:
        if not self.path or self.path.startswith("/") or ".." in self.path.split("/"):
            raise ValueError(f"dataset {self.asset}: path {self.path!r} must be relative to the store root")

    def member(self, name: str) -> str:
        """Store-relative path of a file inside a directory dataset."""
        if self.kind != "directory":
            raise ValueError(f"dataset {self.asset} ({self.path}) is a {self.kind}, not a directory")
        return f"{self.path}/{name}"
