"""The quarantine record: every input a pipeline refuses, with what it was, where, and why."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

REJECT_COLUMNS = ["item", "stage", "reason", "detail"]


@dataclass(frozen=True)
class Reject:
    item: str
    """The file, key or row that was refused (a store-relative path where there is one)."""
    stage: str
    """The step that refused it, e.g. `read_tiff` or `clip_boxes`."""
    reason: str
    """A short, stable reason code (`unreadable`, `shape_mismatch`, ...) that can be counted."""
    detail: str = ""
    """The human explanation: the exception text or the offending values."""


class RejectLog:
    """Collects rejects while a step runs; deterministic order (sorted) when turned into a table."""

    def __init__(self, rejects: Iterable[Reject] = ()):
        self._rejects: list[Reject] = list(rejects)

    def add(self, item: str, stage: str, reason: str, detail: str = "") -> None:
        self._rejects.append(Reject(str(item), stage, reason, str(detail)))

    def extend(self, rejects: Iterable[Reject]) -> None:
        self._rejects.extend(rejects)

    def __len__(self) -> int:
        return len(self._rejects)

    def __iter__(self):
        return iter(self._rejects)

    def store_relative(self, *roots: str | os.PathLike) -> RejectLog:
        """The same rejects with every absolute form of `roots` removed from items and details (`<root>/a/b` ->
        `a/b`), so that two runs over stores at different places write identical tables and no local path leaks."""
        forms = sorted({str(f) for r in roots for f in (Path(r), Path(r).resolve())}, key=len, reverse=True)

        def strip(text: str) -> str:
            for form in forms:
                text = text.replace(form + os.sep, "").replace(form + "/", "").replace(form, "<store>")
            return text

        return RejectLog(Reject(strip(r.item), r.stage, r.reason, strip(r.detail)) for r in self._rejects)

    def counts_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(r.reason for r in self._rejects).items()))

    def to_frame(self) -> pd.DataFrame:
        rows = sorted({tuple(asdict(r).values()) for r in self._rejects})
        return pd.DataFrame(rows, columns=REJECT_COLUMNS).astype("string")

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> RejectLog:
        return cls(Reject(*(str(v) for v in row)) for row in frame[REJECT_COLUMNS].itertuples(index=False))
