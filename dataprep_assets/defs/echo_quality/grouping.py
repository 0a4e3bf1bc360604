"""Leak-free grouping of echo videos: whatever links two videos keeps them in the same split.

Two videos are linked when they share a folder (one exam upload), a StudyInstanceUID, or a real
PatientID (anonymised placeholders such as `ANONYMOUS` or empty IDs link nothing). The groups are
the connected components of those links, so a patient scanned in two exams, or one study spread
over two folders, can never straddle train and test.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import pandas as pd

DEFAULT_PLACEHOLDER_IDS = ("", "anonymous", "anonymized", "anonymised", "unknown", "none", "null", "0", "n/a", "na")
GroupBy = Literal["patient", "study", "folder"]


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def real_ids(values: pd.Series, placeholders: Iterable[str] = DEFAULT_PLACEHOLDER_IDS) -> pd.Series:
    """The IDs that identify someone; placeholders and blanks become ''."""
    lowered = {p.strip().lower() for p in placeholders}
    text = values.fillna("").astype(str).str.strip()
    return text.where(~text.str.lower().isin(lowered), "")


def study_keys(frame: pd.DataFrame) -> pd.Series:
    """StudyInstanceUID where the header has one, else the folder."""
    uid = frame["study_uid"].fillna("").astype(str).str.strip()
    return uid.where(uid != "", "folder:" + frame["folder"].astype(str))


def patient_keys(frame: pd.DataFrame, placeholders: Iterable[str] = DEFAULT_PLACEHOLDER_IDS) -> pd.Series:
    """A real PatientID, else the study key (a video without a patient stands for its own study)."""
    pid = real_ids(frame["patient_id"], placeholders)
    return pid.where(pid != "", "study:" + study_keys(frame))


def leak_groups(
    frame: pd.DataFrame, group_by: GroupBy = "patient", placeholders: Iterable[str] = DEFAULT_PLACEHOLDER_IDS
) -> pd.Series:
    """A group id per row: connected components of folder (+ study, + patient) links."""
    uf = _UnionFind()
    folders = ("f:" + frame["folder"].astype(str)).tolist()
    links = [folders]
    if group_by in ("study", "patient"):
        links.append(("s:" + study_keys(frame)).tolist())
    if group_by == "patient":
        pid = real_ids(frame["patient_id"], placeholders)
        links.append([f"p:{p}" if p else "" for p in pid])
    for i, folder in enumerate(folders):
        for link in links[1:]:
            if link[i]:
                uf.union(folder, link[i])
    roots = [uf.find(f) for f in folders]
    # Name each group by its smallest folder so ids are readable and stable.
    names: dict[str, str] = {}
    for root, folder in sorted(zip(roots, frame["folder"].astype(str), strict=True)):
        names.setdefault(root, folder)
    return pd.Series([names[r] for r in roots], index=frame.index, dtype="string")


def group_strata(frame: pd.DataFrame, group_col: str, label_col: str) -> dict[str, str]:
    """Per group: which classes it holds (`high`, `low` or `mixed`), to stratify the split."""
    kinds = frame.groupby(group_col, sort=True)[label_col].agg(
        lambda s: "mixed" if s.nunique() > 1 else ("high" if s.iloc[0] == 1 else "low")
    )
    return kinds.to_dict()  # pyright: ignore[reportReturnType]  # pandas-stubs types DataFrame cells and reductions as any scalar
