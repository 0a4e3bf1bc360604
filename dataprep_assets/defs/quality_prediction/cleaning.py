"""Cleaning rules for conversion results; each refused row gets one reason (the first rule it breaks).

Rules, in order:
1. `incomplete` (a required field is missing) / `corrupt_value` (a value is not a number or timestamp);
2. `unknown_logo_type` / `unknown_method`;
3. `non_finite_metric` (NaN/inf) / `metric_out_of_range` (SSIM outside [-1, 1], MSE < 0, PSNR < 0);
4. `parameter_out_of_range` (outside the ranges in `params.py`, a fraction for an integer, unknown mode);
5. `metrics_inconsistent`: |PSNR - 10 log10(255^2 / MSE)| > `psnr_tolerance_db` (MSE > 0);
6. the image: `image_missing`, `image_unreadable`, `image_format`, `unsafe_path`, `decompression_bomb`;
7. `duplicate_result`: the same image, method, parameters and mode again (the earliest is kept);
8. `extreme_outlier`, per logo type, on each metric in `outlier_metrics`:
   - `iqr` (default): outside [Q1 - k IQR, Q3 + k IQR], k = 15 by default. Far wider than Tukey's "far out"
     k = 3 on purpose: SSIM has a long, real low tail (a gradient logo posterised to 2 colours scores 0.25
     where most score 0.9, 11 IQRs out), and poor conversions are the signal a quality model must learn.
     On the 10,000-result sample only a mis-recorded SSIM of -0.62 (26-32 IQRs out) is beyond 15;
   - `robust_z`: |x - median| / (1.4826 MAD) > k;
   - `none`: no outlier rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dataprep_assets.defs.quality_prediction.metrics import PSNR_CAP
from dataprep_assets.lib.accounting import Ledger, account
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.ml.vectorizer_params import MODES, NUMERIC_PARAMS, PARAM_NAMES

STAGE = "clean_results"
METRIC_RANGES = {"ssim": (-1.0, 1.0), "mse": (0.0, np.inf), "psnr": (0.0, np.inf)}
CLEAN_COLUMNS = [
    "result_id",
    "image_id",
    "image_group",
    "logo_type",
    "method",
    "timestamp",
    *PARAM_NAMES,
    "mode",
    "ssim",
    "mse",
    "psnr",
    "width",
    "height",
    "image_format",
    "source_file",
    "record",
]


@dataclass(frozen=True)
class CleaningRules:
    outlier_rule: str = "iqr"
    outlier_threshold: float = 15.0
    outlier_metrics: tuple[str, ...] = ("ssim", "psnr")
    psnr_tolerance_db: float = 0.5


def _describe(row: pd.Series, cols: list[str]) -> str:
    return ", ".join(f"{c}={row[c]!r}" for c in cols)


def outlier_mask(values: pd.Series, rule: str, k: float) -> pd.Series:
    """True where a value is an extreme outlier of its series under `rule` (NaN never is)."""
    x = values.astype(float)
    if rule == "none" or x.notna().sum() < 4:
        return pd.Series(False, index=values.index)
    if rule == "iqr":
        q1, q3 = np.nanpercentile(x, [25, 75])
        iqr = q3 - q1
        return (x < q1 - k * iqr) | (x > q3 + k * iqr)
    if rule == "robust_z":
        med = np.nanmedian(x)
        mad = np.nanmedian(np.abs(x - med)) * 1.4826
        return pd.Series(False, index=values.index) if mad == 0 else (x - med).abs() / mad > k
    raise ValueError(f"unknown outlier rule {rule!r}")


def row_problems(results: pd.DataFrame, psnr_tolerance_db: float) -> pd.DataFrame:
    """Rules 1-5 on every row: columns `reason` ('' when fine) and `detail`."""
    reason = pd.Series("", index=results.index, dtype=object)
    detail = pd.Series("", index=results.index, dtype=object)

    def mark(mask: pd.Series, code: str, describe) -> None:
        todo = mask.fillna(False).astype(bool) & (reason == "")
        for idx in results.index[todo]:
            reason[idx], detail[idx] = code, describe(results.loc[idx])

    issues = results["parse_issues"].fillna("")
    mark(issues.str.contains("missing:", regex=False), "incomplete", lambda r: r["parse_issues"])
    mark(issues != "", "corrupt_value", lambda r: r["parse_issues"])
    mark(
        results["logo_type"].isna(),
        "unknown_logo_type",
        lambda r: f"logo type {r['logo_type_raw']!r} is not simple, text, gradient or complex",
    )
    mark(results["method"].isna(), "unknown_method", lambda r: f"method {r['method_raw']!r} is not 1, 2 or 3")
    metric_cols = list(METRIC_RANGES)
    values = results[metric_cols].astype(float)
    mark((~np.isfinite(values)).any(axis=1), "non_finite_metric", lambda r: _describe(r, metric_cols))  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    out = pd.concat([(values[c] < lo) | (values[c] > hi) for c, (lo, hi) in METRIC_RANGES.items()], axis=1).any(axis=1)
    mark(out, "metric_out_of_range", lambda r: _describe(r, metric_cols) + " (SSIM in [-1, 1], MSE >= 0, PSNR >= 0)")
    bad_param = ~results["mode"].isin(MODES)
    for spec in NUMERIC_PARAMS:
        v = results[spec.name].astype(float)
        bad = (v < spec.low) | (v > spec.high)
        if spec.integer:
            bad |= v != np.round(v)
        bad_param |= bad.fillna(True)

    def describe_params(r: pd.Series) -> str:
        wrong = [
            f"{s.name}={r[s.name]!r} not in [{s.low}, {s.high}]"
            for s in NUMERIC_PARAMS
            if not (s.low <= r[s.name] <= s.high) or (s.integer and r[s.name] != round(r[s.name]))
        ]
        if r["mode"] not in MODES:
            wrong.append(f"mode={r['mode']!r} not in {list(MODES)}")
        return "; ".join(wrong)

    mark(bad_param, "parameter_out_of_range", describe_params)
    with np.errstate(divide="ignore"):
        expected = np.minimum(PSNR_CAP, 10 * np.log10(255.0**2 / values["mse"].where(values["mse"] > 0)))
    mark(
        (values["psnr"] - expected).abs() > psnr_tolerance_db,
        "metrics_inconsistent",
        lambda r: f"psnr={r['psnr']} but 10*log10(255^2/mse={r['mse']}) = {10 * np.log10(255.0**2 / r['mse']):.3f} dB",
    )
    return pd.DataFrame({"reason": reason, "detail": detail})


def clean_results(results: pd.DataFrame, images: pd.DataFrame, rules: CleaningRules) -> tuple[pd.DataFrame, RejectLog]:
    """Apply every rule; return the clean rows (see `CLEAN_COLUMNS`) and one reject per refused row."""
    rejects = RejectLog()
    problems = row_problems(results, rules.psnr_tolerance_db)
    info = images.set_index("image_path")
    joined = results.join(info[["status", "detail", "content_hash", "width", "height", "format"]], on="image_path")
    image_bad = (problems["reason"] == "") & (joined["status"] != "ok")
    problems.loc[image_bad, "reason"] = joined.loc[image_bad, "status"]
    problems.loc[image_bad, "detail"] = joined.loc[image_bad, "image_path"] + ": " + joined.loc[image_bad, "detail"]
    refused = problems["reason"] != ""
    for idx in results.index[refused]:
        rejects.add(_item(results.loc[idx]), STAGE, problems.at[idx, "reason"], problems.at[idx, "detail"])  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    kept = joined[~refused].copy()
    kept["timestamp_sort"] = kept["timestamp"].fillna(pd.Timestamp.max.tz_localize("UTC"))
    kept = kept.sort_values(["timestamp_sort", "source_file", "record"], kind="stable")
    dup = kept.duplicated(["image_path", "method", *PARAM_NAMES, "mode"], keep="first")
    firsts = kept[~dup].set_index(["image_path", "method", *PARAM_NAMES, "mode"])["result_id"]
    for _, row in kept[dup].iterrows():
        first = firsts.loc[tuple(row[c] for c in ["image_path", "method", *PARAM_NAMES, "mode"])]
        rejects.add(_item(row), STAGE, "duplicate_result", f"same image, method and parameters as result {first}")
    kept = kept[~dup]
    flagged = pd.Series(False, index=kept.index)
    why = pd.Series("", index=kept.index, dtype=object)
    for metric in rules.outlier_metrics:
        for logo_type, group in kept.groupby("logo_type", sort=True):
            mask = outlier_mask(group[metric], rules.outlier_rule, rules.outlier_threshold) & ~flagged.loc[group.index]
            for idx in group.index[mask]:
                why[idx] = (
                    f"{metric}={group.at[idx, metric]} is an extreme outlier among {logo_type} logos "
                    f"({rules.outlier_rule}, k={rules.outlier_threshold})"
                )
            flagged.loc[group.index] |= mask
    for idx in kept.index[flagged]:
        rejects.add(_item(kept.loc[idx]), STAGE, "extreme_outlier", why[idx])
    kept = kept[~flagged]
    clean = kept.rename(columns={"image_path": "image_id", "content_hash": "image_group", "format": "image_format"})
    clean["image_group"] = clean["image_group"].str.slice(0, 16)
    clean["width"] = clean["width"].astype("int64")
    clean["height"] = clean["height"].astype("int64")
    clean = clean[CLEAN_COLUMNS].sort_values(["image_id", "method", "result_id"], kind="stable").reset_index(drop=True)
    for col in ("result_id", "image_id", "image_group", "logo_type", "mode", "image_format", "source_file"):
        clean[col] = clean[col].astype("string")
    clean["method"] = clean["method"].astype("int64")
    return clean, rejects


def _item(row: pd.Series) -> str:
    return f"{row['source_file']}#{row['record']}"


def cleaning_ledger(results: pd.DataFrame, clean: pd.DataFrame, rejects: RejectLog) -> Ledger:
    """Every result is a clean row or a reject row, once."""
    items = results["source_file"].astype(str) + "#" + results["record"].astype(str)
    out = items[results["result_id"].isin(set(clean["result_id"]))]
    return account("results", items.tolist(), out.tolist(), [r.item for r in rejects])
