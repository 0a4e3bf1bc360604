"""The dataset analysis report (`reports/dataset_analysis_report.json`) and the split summary.

Everything written is a function of the inputs and the config (no timings), so equal inputs give a
byte-identical report; timings live in the assets' metadata only.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from PIL import Image

from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.quality_prediction import analysis
from dataprep_assets.defs.quality_prediction.datasets import CLEAN, SPLIT_TABLES
from dataprep_assets.defs.quality_prediction.stratify import SPLITS
from dataprep_assets.lib import charts
from dataprep_assets.lib.images import png_bytes
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.ml.featurestore import FeatureFile
from dataprep_assets.ml.vectorizer_params import PARAM_NAMES

CLIP = 5.0
"""Standardised features are clipped to +-5 before projection: a dimension nearly constant in train (a rare
colour bin) would otherwise throw a validation image hundreds of deviations out and wreck a linear fit."""


def _r(value: float, digits: int = 6) -> float:
    return float(round(float(value), digits))


def _records(frame: pd.DataFrame) -> list[dict]:
    out = []
    for row in frame.to_dict(orient="records"):
        out.append(
            {
                k: (
                    _r(v)
                    if isinstance(v, float) and np.isfinite(v)
                    else None
                    if isinstance(v, float)
                    else v.item()
                    if hasattr(v, "item")
                    else v
                )
                for k, v in row.items()
            }
        )
    return out


def split_summary(examples: pd.DataFrame, config, edges: dict[str, list[float]], strata: pd.DataFrame) -> dict:
    total = max(len(examples), 1)
    groups_total = max(int(examples["image_group"].nunique()), 1)
    per_split = {}
    for name in SPLITS:
        part = examples[examples["split"] == name]
        per_split[name] = {
            "rows": int(len(part)),
            "source_images": int(part["image_group"].nunique()),
            "row_share": _r(len(part) / total),
            "image_share": _r(part["image_group"].nunique() / groups_total),
            "target": _r(config.fractions[name]),
            "mean_ssim": _r(part["ssim"].mean()) if len(part) else None,
        }
    folds = (
        examples[examples["cv_fold"] >= 0]
        .groupby("cv_fold")
        .agg(rows=("result_id", "size"), source_images=("image_group", "nunique"))
    )
    return {
        "mode": config.mode,
        "seed": config.seed,
        "target_fractions": config.fractions,
        "ssim_bin_edges": edges,
        "cv_folds": config.cv_folds,
        "per_split": per_split,
        "folds": {str(k): {"rows": int(v.rows), "source_images": int(v.source_images)} for k, v in folds.iterrows()},
        "strata": _records(strata),
    }


def dimension_stats(stats: dict[str, np.ndarray]) -> pd.DataFrame:
    """A one-glance summary of the per-dimension statistics (not one row per dimension)."""
    std, mean = stats["std"].astype(float), stats["mean"].astype(float)
    return pd.DataFrame(
        [
            {"statistic": "dimensions", "value": float(len(std))},
            {"statistic": "constant dimensions (std < 1e-6)", "value": float((std < 1e-6).sum())},
            {"statistic": "mean of means", "value": float(mean.mean()) if len(mean) else 0.0},
            {"statistic": "median std", "value": float(np.median(std)) if len(std) else 0.0},
            {"statistic": "min value", "value": float(stats["min"].min()) if len(std) else 0.0},
            {"statistic": "max value", "value": float(stats["max"].max()) if len(std) else 0.0},
        ]
    )


def input_versions(store: DatasetStore, features_file: str, features_hash: str) -> dict[str, str]:
    """The content hash of each input of the report: the clean results, the split tables, the feature file."""
    paths = (CLEAN.path, SPLIT_TABLES.path)
    versions = {path: (m.dataset_hash if (m := store.manifest(path)) else "") for path in paths}
    versions[features_file] = features_hash
    return versions


def build_report(
    examples: pd.DataFrame, results: pd.DataFrame, clean_rejects: RejectLog, ff: FeatureFile, config, versions: dict
) -> tuple[dict, bytes]:
    """The report payload and a PNG of the feature charts."""
    featured = examples[examples["image_id"].isin(set(ff.image_ids))]
    per_image = (
        featured.groupby("image_id")
        .agg(ssim=("ssim", "mean"), logo_type=("logo_type", "first"), split=("split", "first"))
        .sort_index()
    )
    rows = ff.rows_of(per_image.index.tolist())
    train_rows = rows[(per_image["split"] == "train").to_numpy()]
    m_all = analysis.moments(ff, rows, per_image["ssim"].to_numpy())
    ratios, vectors, scale = analysis.pca_of_rows(ff, rows, m_all)
    k = min(10, ff.dim)
    scores = np.clip((ff.read_rows(rows) - m_all["mean"]) / scale, -CLIP, CLIP) @ vectors[:, :k]
    labels, inertia = analysis.kmeans(scores, config.clusters, config.seed)
    clusters, purity = analysis.cluster_summary(labels, per_image["logo_type"].tolist(), per_image["ssim"].to_numpy())
    corr = np.nan_to_num(m_all["corr"])
    top = np.argsort(-np.abs(corr), kind="stable")[:10]
    names = ff.feature_names()
    probe = _linear_probe(ff, featured, train_rows, config.probe_components, config.seed)
    gaps, recs = analysis.coverage_gaps(examples, min_groups_per_stratum=config.min_groups_per_stratum)
    split_counts = examples.groupby("split")["result_id"].size().reindex(list(SPLITS), fill_value=0)
    if split_counts.get("train", 0) < 8000:
        recs.append(
            f"Train holds {int(split_counts.get('train', 0))} examples; the seed asks for >= 8,000: run more "
            "conversions before training at scale."
        )
    payload = {
        "dataset": {
            "examples": int(len(examples)),
            "source_images": int(examples["image_group"].nunique()),
            "images": int(examples["image_id"].nunique()),
            "input_results": int(len(results)),
            "rejected_while_cleaning": len(clean_rejects),
            "pass_rate": _r(len(examples) / max(len(results), 1)),
            "rejects_by_reason": clean_rejects.counts_by_reason(),
            "results_per_split": {k: int(v) for k, v in split_counts.items()},
            "versions": versions,
        },
        "quality_distribution": _records(analysis.quality_distribution(examples)),
        "ssim_coverage": _records(analysis.ssim_coverage(examples)),
        "logo_type_mix": _records(analysis.logo_type_mix(examples)),
        "parameter_coverage": _records(analysis.parameter_coverage(examples)),
        "per_method": _records(
            examples.groupby("method").agg(results=("result_id", "size"), mean_ssim=("ssim", "mean")).reset_index()
        ),
        "coverage": {"gaps": gaps},
        "recommendations": recs,
        "features": {
            "extractor": f"{ff.attrs.get('extractor')} v{ff.attrs.get('extractor_version')}",
            "dim": ff.dim,
            "storage": ff.feature_storage,  # `pca`: the analysis below is of the stored PCA scores (train-fitted)
            "source_dim": int(ff.attrs.get("source_feature_dim", ff.dim)),
            "images": len(ff),
            "featurised_examples": int(len(featured)),
            "dimension_statistics": _records(dimension_stats(ff.stats())),
            "pca": {
                "explained_variance_ratio": [_r(v) for v in ratios[:20]],
                "components_for_variance": analysis.components_for(ratios),
                "standardised": True,
            },
            "correlation_with_ssim": {
                "target": "mean SSIM per image",
                "max_abs_r": _r(np.abs(corr).max()) if len(corr) else 0.0,
                "dims_with_abs_r_over_0_3": int((np.abs(corr) > 0.3).sum()),
                "top": [{"dimension": int(i), "feature": names[i], "pearson_r": _r(corr[i])} for i in top],  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
            },
            "clustering": {
                "k": int(config.clusters),
                "on": f"first {k} principal components",
                "inertia": _r(inertia, 3),
                "purity_vs_logo_type": _r(purity),
                "clusters": _records(clusters),
            },
            "linear_probe": probe,
        },
    }
    return payload, _charts(ratios, scores, per_image["logo_type"].tolist(), corr, top, names)


def _linear_probe(
    ff: FeatureFile, examples: pd.DataFrame, train_rows: np.ndarray, components: int, seed: int = 0
) -> dict:
    """Validation R^2 of ridge regressions of SSIM on the parameters alone and on parameters + image PCs (fit on train),
    and the permutation importance of each input of the fuller model on validation (`permutation_importance`)."""
    train, val = examples[examples["split"] == "train"], examples[examples["split"] == "validation"]
    if len(train) < 10 or len(val) < 2:
        return {"note": "too few examples for a probe"}
    p_mean = train[list(PARAM_NAMES)].to_numpy(float).mean(axis=0)
    p_std = np.maximum(train[list(PARAM_NAMES)].to_numpy(float).std(axis=0), 1e-9)
    base = {
        name: analysis.design_matrix(part, None, p_mean, p_std)
        for name, part in (("train", train), ("validation", val))
    }
    out: dict[str, object] = {
        "params_only": _r(
            analysis.ridge_r2(base["train"], train["ssim"].to_numpy(), base["validation"], val["ssim"].to_numpy())
        )
    }
    model_x, n_components = base, 0
    if components > 0 and len(train_rows) > 2:
        m_train = analysis.moments(ff, train_rows)
        _, vectors, scale = analysis.pca_of_rows(ff, train_rows, m_train, min_components=components)
        proj = vectors[:, : min(components, ff.dim)]

        def image_part(part: pd.DataFrame) -> np.ndarray:
            z = (ff.read_rows(ff.rows_of(part["image_id"].tolist())) - m_train["mean"]) / scale
            return np.clip(z, -CLIP, CLIP) @ proj

        full = {
            name: analysis.design_matrix(part, image_part(part), p_mean, p_std)
            for name, part in (("train", train), ("validation", val))
        }
        out["params_and_image_features"] = _r(
            analysis.ridge_r2(full["train"], train["ssim"].to_numpy(), full["validation"], val["ssim"].to_numpy())
        )
        out["image_components"] = int(proj.shape[1])
        model_x, n_components = full, int(proj.shape[1])
    weights = analysis.ridge_fit(model_x["train"], train["ssim"].to_numpy())
    importance = analysis.permutation_importance(
        weights, model_x["validation"], val["ssim"].to_numpy(), analysis.design_columns(n_components), seed=seed
    )
    out["permutation_importance"] = {
        "on": "validation",
        "model": "ridge (alpha 1) of SSIM",
        "repeats": 5,
        "metric": "drop in R^2",
        "features": _records(importance),
    }
    return out


def _charts(
    ratios: np.ndarray, scores: np.ndarray, logo_types: list[str], corr: np.ndarray, top: np.ndarray, names: list[str]
) -> bytes:
    """Cumulative explained variance, the PC1/PC2 scatter and the strongest correlations with SSIM, side by side."""
    cumulative = np.cumsum(ratios)[:20]
    types = np.asarray(logo_types)
    xy = scores[:, :2] if scores.ndim == 2 and scores.shape[1] >= 2 else np.zeros((0, 2))
    pngs = [
        charts.grouped_bars(
            {str(i + 1): float(v) for i, v in enumerate(cumulative)},
            title="PCA: cumulative explained variance",
            xlabel="principal components",
            ylabel="explained variance",
            value_format="{:.2f}",
            width=6.0,
        ),
        charts.scatter(
            {t: xy[types == t] for t in sorted(set(logo_types))} if len(xy) else {},
            title="PC1 / PC2 by logo type",
            xlabel="PC1",
            ylabel="PC2",
        ),
        charts.grouped_bars(
            {f"{rank}. {names[i]}": float(abs(corr[i])) for rank, i in enumerate(top[:8], 1)},
            title="top |Pearson r| of a feature with mean SSIM",
            xlabel="feature",
            ylabel="|r|",
            value_format="{:.2f}",
        ),
    ]
    panels = [np.asarray(Image.open(io.BytesIO(p)).convert("RGB")) for p in pngs]
    height = max(p.shape[0] for p in panels)
    padded = [np.pad(p, ((0, height - p.shape[0]), (0, 4), (0, 0)), constant_values=255) for p in panels]
    return png_bytes(np.concatenate(padded, axis=1))
