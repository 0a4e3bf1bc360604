"""Dataset and feature analysis: coverage, PCA, correlation with SSIM, clustering, a linear probe.

Statistics over the feature matrix are accumulated block by block from the HDF5 file (sums, sums of
squares, cross-products), so the analysis runs at any size in bounded memory (d x d for PCA).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from dataprep_assets.ml.featurestore import FeatureFile
from dataprep_assets.ml.vectorizer_params import (
    LOGO_TYPES,
    MODES,
    NUMERIC_PARAMS,
    PARAM_NAMES,
    TARGET_LOGO_MIX,
)

SSIM_COVERAGE_EDGES = (-1.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


# -- coverage ----------------------------------------------------------------------------------------
def quality_distribution(frame: pd.DataFrame) -> pd.DataFrame:
    """count / mean / std / min / quartiles / max of SSIM, MSE and PSNR."""
    desc = frame[["ssim", "mse", "psnr"]].astype(float).describe().T
    return desc.rename_axis("metric").reset_index()


def parameter_coverage(frame: pd.DataFrame, bins: int = 10, min_share: float = 0.01) -> pd.DataFrame:
    """Per parameter: explored min / p5 / p95 / max, and the share of `bins` equal bins of its valid range
    holding at least `min_share` of the results."""
    rows = []
    for spec in NUMERIC_PARAMS:
        v = pd.to_numeric(frame[spec.name], errors="coerce").astype(float)
        v = v[np.isfinite(v) & (v >= spec.low) & (v <= spec.high)]
        counts = np.histogram(v, bins=bins, range=(spec.low, spec.high))[0] if len(v) else np.zeros(bins)
        share = counts / max(len(v), 1)
        rows.append(
            {
                "parameter": spec.name,
                "valid_range": f"[{spec.low:g}, {spec.high:g}]",
                "min": float(v.min()) if len(v) else np.nan,
                "p5": float(v.quantile(0.05)) if len(v) else np.nan,
                "p95": float(v.quantile(0.95)) if len(v) else np.nan,
                "max": float(v.max()) if len(v) else np.nan,
                "distinct": int(v.nunique()),
                "range_coverage": float((share >= min_share).mean()),
            }
        )
    modes = frame["mode"].astype("string").value_counts()
    rows.append(
        {
            "parameter": "mode",
            "valid_range": "/".join(MODES),
            "distinct": int(modes.index.isin(MODES).sum()),
            "range_coverage": float(np.mean([modes.get(m, 0) / max(len(frame), 1) >= min_share for m in MODES])),
        }
    )
    return pd.DataFrame(rows)


def logo_type_mix(frame: pd.DataFrame, targets: Mapping[str, float] = TARGET_LOGO_MIX) -> pd.DataFrame:
    counts = frame["logo_type"].value_counts()
    total = max(int(counts.sum()), 1)
    return pd.DataFrame(
        [
            {
                "logo_type": t,
                "results": int(counts.get(t, 0)),
                "share": float(counts.get(t, 0)) / total,
                "target_share": targets.get(t, 0.0),
            }
            for t in LOGO_TYPES
        ]
    )


def ssim_coverage(frame: pd.DataFrame) -> pd.DataFrame:
    counts = np.histogram(frame["ssim"].astype(float), bins=SSIM_COVERAGE_EDGES)[0]
    return pd.DataFrame(
        {
            "ssim_bin": [
                f"[{a:.2f}, {b:.2f})" for a, b in zip(SSIM_COVERAGE_EDGES[:-1], SSIM_COVERAGE_EDGES[1:], strict=True)
            ],
            "results": counts.astype(int),
            "share": counts / max(int(counts.sum()), 1),
        }
    )


def coverage_gaps(
    examples: pd.DataFrame, *, min_groups_per_stratum: int = 5, min_ssim_share: float = 0.02
) -> tuple[list[str], list[str]]:
    """Gaps found and what to collect next (plain sentences for the report)."""
    gaps, recs = [], []
    ssim_cov = ssim_coverage(examples)
    for row in ssim_cov.itertuples():
        lo = float(row.ssim_bin.strip("[)").split(",")[0])  # pyright: ignore[reportArgumentType, reportAttributeAccessIssue, reportOptionalMemberAccess]  # pandas-stubs types DataFrame cells and reductions as any scalar
        if lo >= 0.3 and row.share < min_ssim_share:  # pyright: ignore[reportOperatorIssue]  # pandas-stubs types DataFrame cells and reductions as any scalar
            gaps.append(f"SSIM {row.ssim_bin}: {row.results} results ({row.share:.1%} < {min_ssim_share:.0%})")
    if any(g.startswith("SSIM") for g in gaps):
        recs.append(
            "Run the optimisers with deliberately poor settings (low color_precision, high length_threshold) to fill "
            "the low-SSIM bins the seed asks for (0.3-1.0)."
        )
    per_stratum = examples.groupby("stratum", observed=True)["image_group"].nunique()
    for stratum, n in per_stratum.items():
        if n < min_groups_per_stratum:
            gaps.append(f"stratum {stratum}: only {n} source image(s)")
    if (per_stratum < min_groups_per_stratum).any():
        recs.append(
            f"Add logos to the strata with fewer than {min_groups_per_stratum} source images, so each split gets some."
        )
    mix = logo_type_mix(examples)
    for row in mix.itertuples():
        if abs(row.share - row.target_share) > 0.05:  # pyright: ignore[reportArgumentType, reportOperatorIssue]  # pandas-stubs types DataFrame cells and reductions as any scalar
            gaps.append(f"logo type {row.logo_type}: {row.share:.1%} of results vs the {row.target_share:.0%} target")
            if row.share < row.target_share:  # pyright: ignore[reportOperatorIssue]  # pandas-stubs types DataFrame cells and reductions as any scalar
                recs.append(f"Convert more {row.logo_type} logos (target {row.target_share:.0%} of results).")
    cov = parameter_coverage(examples)
    for row in cov.itertuples():
        if row.range_coverage < 0.5:  # pyright: ignore[reportOperatorIssue]  # pandas-stubs types DataFrame cells and reductions as any scalar
            gaps.append(
                f"parameter {row.parameter}: {row.range_coverage:.0%} of its valid range {row.valid_range} explored"
            )
    thin = cov.loc[cov["range_coverage"] < 0.5, "parameter"].tolist()
    if thin:
        recs.append(
            f"Explore wider values of {', '.join(thin)} (e.g. with the method-2 explorer) so the model does not "
            "extrapolate."
        )
    return gaps, recs


# -- features ----------------------------------------------------------------------------------------
def moments(ff: FeatureFile, rows: np.ndarray, y: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Mean, covariance and (with `y`) the per-dimension Pearson correlation with y, over `rows`, block-wise."""
    order = np.argsort(rows)
    rows, y = rows[order], None if y is None else np.asarray(y, dtype=np.float64)[order]
    d, n = ff.dim, len(rows)
    s, ss, xy = np.zeros(d), np.zeros((d, d)), np.zeros(d)
    for start in range(0, n, 1024):
        block = ff.read_rows(rows[start : start + 1024]).astype(np.float64)
        s += block.sum(axis=0)
        ss += block.T @ block
        if y is not None:
            xy += block.T @ y[start : start + 1024]
    mean = s / max(n, 1)
    cov = ss / max(n, 1) - np.outer(mean, mean)
    out = {"mean": mean, "cov": cov, "n": np.array(n)}
    if y is not None:
        sd_x = np.sqrt(np.maximum(np.diag(cov), 0))
        cov_xy = xy / max(n, 1) - mean * y.mean()
        out["corr"] = np.where(sd_x > 1e-12, cov_xy / np.maximum(sd_x * y.std(), 1e-12), 0.0)
    return out


def pca(cov: np.ndarray, standardise: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(explained variance ratios, components (d, d) as columns, scale) of a covariance matrix, largest first."""
    sd = np.sqrt(np.maximum(np.diag(cov), 0))
    scale = np.where(sd > 1e-12, sd, 1.0) if standardise else np.ones_like(sd)
    corr = cov / np.outer(scale, scale)
    values, vectors = np.linalg.eigh(corr)
    order = np.argsort(values)[::-1]
    values, vectors = np.maximum(values[order], 0), vectors[:, order]
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    vectors = vectors * np.where(signs == 0, 1, signs)
    return values / max(values.sum(), 1e-12), vectors, scale


def pca_of_rows(
    ff: FeatureFile, rows: np.ndarray, m: dict[str, np.ndarray], min_components: int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`pca(m["cov"])`, through the n x n Gram matrix when there are fewer rows than dimensions (2048-d ResNet
    features of a small dataset): the same non-zero spectrum and components at O(n^2 d) instead of O(d^3)."""
    d, n = ff.dim, len(rows)
    if n >= d:
        return pca(m["cov"])
    sd = np.sqrt(np.maximum(np.diag(m["cov"]), 0))
    scale = np.where(sd > 1e-12, sd, 1.0)
    x = (ff.read_rows(np.sort(rows)).astype(np.float64) - m["mean"]) / scale
    values, u = np.linalg.eigh(x @ x.T / max(n, 1))
    order = np.argsort(values)[::-1]
    values, u = np.maximum(values[order], 0), u[:, order]
    keep = values > 1e-12 * max(values.max(initial=0.0), 1e-300)
    vectors = np.zeros((d, max(min_components, int(keep.sum()))))
    vectors[:, : int(keep.sum())] = x.T @ u[:, keep] / np.sqrt(max(n, 1) * values[keep])
    signs = np.sign(vectors[np.argmax(np.abs(vectors), axis=0), np.arange(vectors.shape[1])])
    vectors = vectors * np.where(signs == 0, 1, signs)
    total = float((sd > 1e-12).sum())
    ratios = np.zeros(vectors.shape[1])
    ratios[: int(keep.sum())] = values[keep] / max(total, 1e-12)
    return ratios, vectors, scale


def components_for(ratios: np.ndarray, levels: Sequence[float] = (0.5, 0.8, 0.9, 0.95, 0.99)) -> dict[str, int]:
    cum = np.cumsum(ratios)
    return {f"{lvl:.0%}": int(min(np.searchsorted(cum, lvl) + 1, len(ratios))) for lvl in levels}


def kmeans(x: np.ndarray, k: int, seed: int, n_init: int = 4, iterations: int = 100) -> tuple[np.ndarray, float]:
    """Lloyd's k-means with k-means++ seeding; the best of `n_init` runs (labels, inertia)."""
    rng = np.random.default_rng(seed)
    k = max(1, min(k, len(x)))
    best_labels, best_inertia = np.zeros(len(x), dtype=np.int64), np.inf
    for _ in range(n_init):
        centres = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            d2 = np.min(((x[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
            p = d2 / d2.sum() if d2.sum() > 0 else np.full(len(x), 1 / len(x))
            centres.append(x[rng.choice(len(x), p=p)])
        c = np.array(centres)
        for _ in range(iterations):
            labels = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
            new = np.array([x[labels == j].mean(axis=0) if (labels == j).any() else c[j] for j in range(k)])
            if np.allclose(new, c):
                break
            c = new
        inertia = float(((x - c[labels]) ** 2).sum())
        if inertia < best_inertia:
            best_labels, best_inertia = labels, inertia
    return best_labels, best_inertia


def cluster_summary(labels: np.ndarray, logo_types: Sequence[str], ssim: Sequence[float]) -> tuple[pd.DataFrame, float]:
    """Per cluster: size, logo-type composition, mean SSIM; and purity (share of the majority type)."""
    frame = pd.DataFrame({"cluster": labels, "logo_type": list(logo_types), "ssim": np.asarray(ssim, dtype=float)})
    table = frame.pivot_table(index="cluster", columns="logo_type", values="ssim", aggfunc="count", fill_value=0)
    table = table.reindex(columns=[t for t in LOGO_TYPES if t in table.columns])
    purity = float(table.max(axis=1).sum() / max(len(frame), 1))
    table["images"] = table.sum(axis=1)
    table["mean_ssim"] = frame.groupby("cluster")["ssim"].mean()
    return table.reset_index(), purity


# -- linear probe ------------------------------------------------------------------------------------
def design_matrix(
    examples: pd.DataFrame, image_part: np.ndarray | None, param_mean: np.ndarray, param_std: np.ndarray
) -> np.ndarray:
    params = (examples[list(PARAM_NAMES)].to_numpy(float) - param_mean) / param_std
    modes = np.stack([(examples["mode"] == m).to_numpy(float) for m in MODES], axis=1)
    parts = [np.ones((len(examples), 1)), params, modes] + ([] if image_part is None else [image_part])
    return np.concatenate(parts, axis=1)


def ridge_fit(x_train: np.ndarray, y_train: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Ridge weights (the first column, the intercept, unpenalised)."""
    reg = alpha * np.eye(x_train.shape[1])
    reg[0, 0] = 0.0
    return np.linalg.solve(x_train.T @ x_train + reg, x_train.T @ y_train)


def r2(y: np.ndarray, predicted: np.ndarray) -> float:
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - ((y - predicted) ** 2).sum() / total) if total > 0 else 0.0


def ridge_r2(
    x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray, alpha: float = 1.0
) -> float:
    """R^2 on the evaluation rows of a ridge regression fitted on the training rows."""
    return r2(y_eval, x_eval @ ridge_fit(x_train, y_train, alpha))


def design_columns(image_components: int = 0) -> list[tuple[str, list[int]]]:
    """(name, column indices) of `design_matrix`'s inputs: each parameter, the mode one-hot, each image PC."""
    groups = [(name, [1 + i]) for i, name in enumerate(PARAM_NAMES)]
    start = 1 + len(PARAM_NAMES)
    groups.append(("mode", list(range(start, start + len(MODES)))))
    start += len(MODES)
    groups += [(f"image_pc_{j + 1}", [start + j]) for j in range(image_components)]
    if image_components:
        groups.append(("image_features (all PCs)", list(range(start, start + image_components))))
    return groups


def permutation_importance(
    weights: np.ndarray,
    x_eval: np.ndarray,
    y_eval: np.ndarray,
    groups: Sequence[tuple[str, list[int]]],
    seed: int = 0,
    repeats: int = 5,
) -> pd.DataFrame:
    """Drop in validation R^2 of a fitted linear model when a feature group's columns are shuffled together
    (rows permuted, seeded; mean and std over `repeats`): the larger the drop, the more the model relies on it."""
    rng = np.random.default_rng(seed)
    base = r2(y_eval, x_eval @ weights)
    rows = []
    for name, cols in groups:
        drops = []
        for _ in range(repeats):
            shuffled = x_eval.copy()
            shuffled[:, cols] = x_eval[rng.permutation(len(x_eval))][:, cols]
            drops.append(base - r2(y_eval, shuffled @ weights))
        rows.append({"feature": name, "r2_drop": float(np.mean(drops)), "r2_drop_std": float(np.std(drops))})
    out = pd.DataFrame(rows, columns=["feature", "r2_drop", "r2_drop_std"])
    return out.sort_values(["r2_drop", "feature"], ascending=[False, True], kind="stable").reset_index(drop=True)


def processing_time_estimate(
    seconds_per_image: float,
    seconds_per_result: float = 0.0,
    sizes: Sequence[int] = (10_000, 100_000),
    results_per_image: float = 10.0,
) -> pd.DataFrame:
    """The seed's processing-time estimate: measured per-image (feature extraction) and per-result costs scaled
    linearly to future dataset sizes of N images."""
    rows = []
    for n in sizes:
        seconds = n * seconds_per_image + n * results_per_image * seconds_per_result
        rows.append(
            {
                "images": int(n),
                "results": int(n * results_per_image),
                "estimated_seconds": round(seconds, 1),
                "estimated_hours": round(seconds / 3600, 3),
            }
        )
    return pd.DataFrame(rows)
