"""Charts for people, drawn with matplotlib (Agg, no display): labelled axes, value labels, legends beside the
data (never over it), and one colour per split in every pipeline. Each function returns PNG bytes; the same
inputs give the same bytes (no timestamp or version in the file).
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from dataprep_assets.lib.memo import remembered, remembered_bytes

SPLIT_COLORS = {
    "train": "#1f77b4",
    "validation": "#ff7f0e",
    "valid": "#ff7f0e",
    "val": "#ff7f0e",
    "test": "#2ca02c",
    "negative": "#7f7f7f",
}
"""One colour per split, in every chart of every pipeline (validation/valid/val are the same split)."""
PALETTE = ["#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#d62728", "#393b79", "#637939", "#8c6d31"]
"""Colours of series that are not splits, in order of first appearance."""


def remembered_charts(root) -> AbstractContextManager[None]:
    """Within the block, a chart drawn from the same data as before is the stored PNG of then (`lib.memo`).
    Any change to this module or another matplotlib starts afresh (both are in the key)."""
    return remembered(root, "charts", matplotlib.__version__, _CODE_HASH)


_CODE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def series_colors(names: Sequence[str]) -> dict[str, str]:
    """The split colour for a split name, the next palette colour for anything else."""
    out, others = {}, iter(PALETTE * (1 + len(names) // len(PALETTE)))
    for name in names:
        out[name] = SPLIT_COLORS.get(str(name).lower()) or next(others)
    return out


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _finish(fig, ax, *, title: str, xlabel: str, ylabel: str, legend: bool, y_margin: float | None = None) -> bytes:
    """Every chart's frame: axis labels, title, no top/right spines, the legend right of the axes (when there is
    one); then the PNG."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if y_margin is not None:
        ax.margins(y=y_margin)
    ax.spines[["top", "right"]].set_visible(False)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    return _png(fig)


def _format(value: float, fmt: str) -> str:
    return fmt.format(value) if np.isfinite(value) else ""


@remembered_bytes
def grouped_bars(
    data: Mapping[str, Mapping[str, float]] | Mapping[str, float],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    value_format: str = "{:,.0f}",
    reference: tuple[float, str] | None = None,
    width: float = 7.5,
    height: float = 3.6,
) -> bytes:
    """Bars per group (x axis) and series (colour), each labelled with its value; legend right of the axes.

    `data` is {group: {series: value}} or {group: value}. A bar too small to see still shows its value.
    `reference` draws a dashed horizontal line (a target) with its label in the legend.
    """
    groups = {str(g): (v if isinstance(v, Mapping) else {"": v}) for g, v in data.items()}
    series = list(dict.fromkeys(str(s) for v in groups.values() for s in v))
    colors = series_colors(series) if any(series) else {"": SPLIT_COLORS["train"]}
    fig, ax = plt.subplots(figsize=(width, height))
    x = np.arange(len(groups))
    bar_w = 0.8 / max(len(series), 1)
    for i, name in enumerate(series):
        values = np.array([float(v.get(name, 0.0)) for v in groups.values()])
        by_split = len(series) == 1 and all(g.lower() in SPLIT_COLORS for g in groups)
        color = [SPLIT_COLORS[g.lower()] for g in groups] if by_split else colors[name]
        bars = ax.bar(
            x + (i - (len(series) - 1) / 2) * bar_w,
            values,
            bar_w,
            label=None if by_split else (name or None),
            color=color,
        )
        ax.bar_label(bars, labels=[_format(v, value_format) for v in values], fontsize=7, padding=1)
    if reference is not None:
        ax.axhline(reference[0], color="black", linestyle="--", linewidth=1, label=reference[1])
    crowded = len(groups) > 8 or sum(len(g) for g in groups) > 60
    ax.set_xticks(x, list(groups), rotation=30 if crowded else 0, ha="right" if crowded else "center")
    return _finish(
        fig,
        ax,
        title=title,
        xlabel=xlabel,
        ylabel=ylabel,
        legend=bool(ax.get_legend_handles_labels()[0]),
        y_margin=0.15,
    )


@remembered_bytes
def histograms(
    values: Mapping[str, Sequence[float] | np.ndarray],
    *,
    title: str,
    xlabel: str,
    ylabel: str = "count",
    bins: int = 20,
    value_range: tuple[float, float] | None = None,
    log_x: bool = False,
    width: float = 7.5,
    height: float = 3.4,
) -> bytes:
    """One step histogram per series (split, class, competitor), with n and the median in the legend."""
    fig, ax = plt.subplots(figsize=(width, height))
    arrays = {str(k): np.asarray(v, dtype=float)[np.isfinite(np.asarray(v, dtype=float))] for k, v in values.items()}
    everything = np.concatenate([a for a in arrays.values() if a.size] or [np.zeros(1)])
    lo, hi = value_range if value_range else (float(everything.min()), float(everything.max()))
    if hi <= lo:
        hi = lo + 1.0
    edges = np.geomspace(max(lo, 1e-6), hi, bins + 1) if log_x else np.linspace(lo, hi, bins + 1)
    colors = series_colors(list(arrays))
    for name, arr in arrays.items():
        if arr.size:
            label = f"{name} (n={arr.size:,}, median {np.median(arr):.3g})"
            ax.hist(arr, bins=edges, histtype="step", linewidth=1.8, color=colors[name], label=label)  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    if log_x:
        ax.set_xscale("log")
    return _finish(fig, ax, title=title, xlabel=xlabel, ylabel=ylabel, legend=bool(arrays))


def histograms_by(frame: pd.DataFrame, value: str, by: str, *, order: Sequence[str] | None = None, **chart) -> bytes:
    """`histograms` of `frame[value]` per group of `frame[by]` (missing values left out): the groups present, in
    sorted order, or every group of `order` (an absent one is an empty series). `chart`: `histograms`' options."""
    if order is None:
        groups = {key: group[value].dropna().to_numpy() for key, group in frame.groupby(by, sort=True)}
    else:
        groups = {key: frame.loc[frame[by] == key, value].dropna().to_numpy() for key in order}
    return histograms(groups, **chart)  # pyright: ignore[reportArgumentType]  # pandas-stubs types group keys as any scalar


@remembered_bytes
def scatter(
    points: Mapping[str, np.ndarray],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    width: float = 6.0,
    height: float = 4.0,
) -> bytes:
    """Points per series ({name: array of shape (n, 2)}), legend right of the axes."""
    fig, ax = plt.subplots(figsize=(width, height))
    colors = series_colors(list(points))
    for name, xy in points.items():
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        ax.scatter(xy[:, 0], xy[:, 1], s=10, alpha=0.7, color=colors[name], label=f"{name} (n={len(xy):,})")
    return _finish(fig, ax, title=title, xlabel=xlabel, ylabel=ylabel, legend=bool(points))
