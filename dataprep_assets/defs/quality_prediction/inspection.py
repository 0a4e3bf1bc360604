"""The seed's 10% visual inspection: a reproducible sample per stratum, a gallery and a CSV a person fills in.

`inspection_sample` picks ceil(share x source images) per stratum (logo type x SSIM bin) in a seeded hash
order, so the same data and seed give the same sample and a grown dataset keeps the images already picked.
The CSV (`image_id, image_group, stratum, split, verdict, note`) keeps verdicts already written by a person
across refreshes; `verdict` is `ok`, `bad` or empty. `bad_images` reads it back: `clean_conversion_results`
rejects every result of an image marked bad (reason `inspection_marked_bad`, the note as detail).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pandas as pd

from dataprep_assets.lib.accounting import Ledger, account

COLUMNS = ["image_id", "image_group", "stratum", "split", "verdict", "note"]
VERDICTS = ("", "ok", "bad")
REJECT_REASON = "inspection_marked_bad"


def _rank(seed: int, group: str) -> str:
    return hashlib.sha256(f"{seed}:{group}".encode()).hexdigest()


def sample_per_stratum(examples: pd.DataFrame, share: float, seed: int) -> pd.DataFrame:
    """One row per sampled source image (its first image id), ceil(share x groups) per stratum."""
    groups = examples.sort_values("image_id").drop_duplicates("image_group")[
        ["image_id", "image_group", "stratum", "split"]
    ]
    picked = []
    for _, part in groups.groupby("stratum", sort=True, observed=True):
        ranked = part.assign(_rank=[_rank(seed, g) for g in part["image_group"]]).sort_values("_rank")
        picked.append(ranked.head(math.ceil(share * len(part))).drop(columns="_rank"))
    out = pd.concat(picked, ignore_index=True) if picked else pd.DataFrame(columns=COLUMNS[:4])
    return out.sort_values(["stratum", "image_id"]).reset_index(drop=True)


def sample_ledger(examples: pd.DataFrame, sample: pd.DataFrame, sheet: pd.DataFrame) -> Ledger:
    """Every source image (image group) is one row of the written sheet, or set aside (not sampled). Rows the
    sheet keeps for verdicts on images of earlier samples (not sampled now) are not records of this input."""
    groups = examples.drop_duplicates("image_group")["image_group"].astype(str).tolist()
    sampled = set(sample["image_group"].astype(str))
    current = sheet[sheet["image_id"].astype(str).isin(set(sample["image_id"].astype(str)))]
    return account(
        "source images",
        groups,
        current["image_group"].astype(str),
        [],
        set_aside=[g for g in groups if g not in sampled],
    )


def read_verdicts(path: Path) -> pd.DataFrame:
    """The person's CSV (missing file = no verdicts); verdicts normalised to lower case; unknown ones are errors."""
    if not path.is_file():
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("image_id", "verdict") if c not in frame.columns]
    if missing:
        raise ValueError(f"{path.name}: missing columns {missing}; expected {COLUMNS}")
    frame["verdict"] = frame["verdict"].str.strip().str.lower()
    unknown = sorted(set(frame["verdict"]) - set(VERDICTS))
    if unknown:
        raise ValueError(f"{path.name}: unknown verdict(s) {unknown}; use ok, bad or leave empty")
    if "note" not in frame.columns:
        frame["note"] = ""
    return frame


def merge_verdicts(sample: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """The new sample with the verdicts and notes already given (by image id); earlier verdicts of images no
    longer sampled are kept too, so nothing a person wrote is lost."""
    known = (
        previous.set_index("image_id")[["verdict", "note"]]
        if len(previous)
        else pd.DataFrame(columns=["verdict", "note"])
    )
    out = sample.join(known, on="image_id")
    extra = (
        previous[~previous["image_id"].isin(sample["image_id"]) & (previous["verdict"] != "")]
        if len(previous)
        else previous
    )
    out = pd.concat([out, extra.reindex(columns=COLUMNS)], ignore_index=True)
    return out.fillna("").reindex(columns=COLUMNS)


def bad_images(path: Path) -> dict[str, str]:
    """image_id -> note for every image marked `bad`."""
    frame = read_verdicts(path)
    bad = frame[frame["verdict"] == "bad"]
    return dict(zip(bad["image_id"], bad["note"], strict=True))
