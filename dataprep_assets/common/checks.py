"""Asset-check factories shared by the pipelines: leakage, split continuity, split fractions, expectations.

Each factory takes a `load(store) -> DataFrame`, or the `Dataset` declaration of the table its asset wrote, so
that a check reads exactly what its asset wrote.
"""

from collections.abc import Callable, Mapping, Sequence

import dagster as dg
import pandas as pd

from dataprep_assets.common.continuity import (
    REFERENCE,
    RESPLIT,
    changes_summary,
    own_reference,
    reference_version,
    table_at,
)
from dataprep_assets.common.metadata import latest_materialization_metadata, markdown_table
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.lib.datasets import Dataset
from dataprep_assets.lib.expectations import ExpectationSpec, validate_frame
from dataprep_assets.lib.splits import group_overlap, moved_groups, previous_assignment, split_changes, split_summary

FrameLoader = Callable[[DatasetStore], pd.DataFrame]
FrameSource = FrameLoader | Dataset
"""How a check gets its table: a function of the store, or the declaration of a table dataset (`store.read`)."""


def frame_loader(source: FrameSource) -> FrameLoader:
    """`source` as a function of the store: a `Dataset` is read with `store.read`."""
    if isinstance(source, Dataset):
        return lambda store: store.read(source)
    return source


def group_overlap_check(
    *,
    asset: dg.AssetsDefinition | str,
    load: FrameSource,
    group_col: str,
    split_col: str = "split",
    name: str | None = None,
    blocking: bool = True,
) -> dg.AssetChecksDefinition:
    """Fails (and, when blocking, stops downstream) if any `group_col` value is in two splits."""

    @dg.asset_check(
        asset=asset,
        name=name or f"no_{group_col}_overlap",
        blocking=blocking,
        description=f"Every `{group_col}` belongs to exactly one split: zero overlap, or the data leaks.",
    )
    def _check(store: DatasetStore) -> dg.AssetCheckResult:
        frame = frame_loader(load)(store)
        overlap = group_overlap(frame, group_col, split_col)
        leaked = sorted({g for groups in overlap.values() for g in groups}, key=str)
        rows = pd.DataFrame(
            [(f"{a} / {b}", len(g), ", ".join(map(str, g[:5]))) for (a, b), g in overlap.items()],
            columns=["splits", "shared_groups", "examples"],
        )
        return dg.AssetCheckResult(
            passed=not leaked,
            severity=dg.AssetCheckSeverity.ERROR,
            description=None if not leaked else f"{len(leaked)} {group_col} value(s) appear in more than one split",
            metadata={
                "overlapping_groups": len(leaked),
                "overlap": dg.MetadataValue.md(markdown_table(rows) if leaked else "none"),
                "per_split": dg.MetadataValue.md(markdown_table(split_summary(frame, group_col, split_col))),
            },
        )

    return _check


def split_continuity_check(
    *,
    asset: dg.AssetsDefinition | str,
    relpath: str | Callable[[dg.AssetCheckExecutionContext], str],
    group_col: str,
    member: str | None = None,
    split_col: str = "split",
    rows: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
    order: Sequence[str] = ("train", "validation", "valid", "test"),
    name: str | None = None,
    blocking: bool = True,
) -> dg.AssetChecksDefinition:
    """Fails (and, when blocking, stops downstream) if a `group_col` value changed split since the version the
    latest one was built on (its `reference`: the newest version that passed these checks, never a blocked one),
    unless the latest version was written with `resplit: true` in its metadata.

    `relpath` is the split table's path (or a function of the check's context that finds it, e.g. from the
    asset's metadata); `member` names the table file inside a directory dataset; `rows` selects the rows compared.
    """
    select = rows or (lambda frame: frame)

    @dg.asset_check(
        asset=asset,
        name=name or f"{group_col}_splits_stay_put",
        blocking=blocking,
        description=f"Every `{group_col}` of the previous version keeps its split (new ones are added); "
        "a moved group would leak the previous version's test data into training. Passes on an explicit re-split.",
    )
    def _check(context: dg.AssetCheckExecutionContext, store: DatasetStore) -> dg.AssetCheckResult:
        path = relpath(context) if callable(relpath) else relpath
        if not path:
            return dg.AssetCheckResult(
                passed=False, description="no split table recorded by the asset's latest materialization"
            )
        versions = store.versions(path)
        if not versions:
            return dg.AssetCheckResult(passed=False, description=f"{path} has no version: its asset wrote nothing")
        latest = versions[-1]
        # compared with the version it was built on: the newest one that passed these checks, never a blocked one
        if REFERENCE in (latest.meta or {}):
            before = own_reference(versions, len(versions) - 1)
        else:
            before = reference_version(store, path, group_col, member, select, versions[:-1])
        if before is None:
            return dg.AssetCheckResult(
                passed=True, metadata={"versions": len(versions), "compared": "first version: nothing to compare"}
            )
        previous = previous_assignment(select(table_at(store, path, before.version_id, member)), group_col, split_col)
        current = previous_assignment(select(table_at(store, path, latest.version_id, member)), group_col, split_col)
        moved = moved_groups(previous, current)
        resplit = bool((latest.meta or {}).get(RESPLIT))
        description = None
        if moved:
            description = f"{len(moved)} {group_col} value(s) changed split since version {before.version_id}" + (
                " (accepted: this version is an explicit re-split)"
                if resplit
                else "; set resplit=True to re-split on purpose"
            )
        return dg.AssetCheckResult(
            passed=not moved or resplit,
            severity=dg.AssetCheckSeverity.ERROR,
            description=description,
            metadata={
                "previous_version": before.version_id,
                "version": latest.version_id,
                RESPLIT: resplit,
                **changes_summary(previous, current, order),
                "per_split": dg.MetadataValue.md(markdown_table(split_changes(previous, current, order))),
                "first_moved_groups": dg.MetadataValue.json([f"{g}: {a} -> {b}" for g, a, b in moved[:20]]),
            },
        )

    return _check


def split_fractions_check(
    *,
    asset: dg.AssetsDefinition | str,
    load: FrameSource,
    group_col: str,
    split_col: str = "split",
    targets_metadata_key: str = "target_fractions",
    tolerance: float = 0.1,
    name: str = "split_fractions_near_target",
) -> dg.AssetChecksDefinition:
    """Warns when the share of groups per split is further than `tolerance` from its target.

    Targets are read from the asset's latest materialization metadata, so they follow the config
    the asset actually ran with.
    """
    asset_key = asset.key if isinstance(asset, dg.AssetsDefinition) else dg.AssetKey(asset)

    @dg.asset_check(
        asset=asset,
        name=name,
        description=f"The share of `{group_col}` groups per split is within ±{tolerance:.0%} of the configured "
        "fractions.",
    )
    def _check(context: dg.AssetCheckExecutionContext, store: DatasetStore) -> dg.AssetCheckResult:
        targets: Mapping[str, float] = latest_materialization_metadata(context.instance, asset_key).get(
            targets_metadata_key, {}
        )
        if not targets:
            return dg.AssetCheckResult(
                passed=False, description=f"no `{targets_metadata_key}` in the latest materialization"
            )
        summary = split_summary(frame_loader(load)(store), group_col, split_col).set_index(split_col)
        table = pd.DataFrame(
            {
                "target": pd.Series(targets, dtype=float),
                "achieved": summary["group_fraction"].reindex(list(targets)).fillna(0.0),
            }
        )
        table["difference"] = (table["achieved"] - table["target"]).abs()
        worst = float(table["difference"].max())
        return dg.AssetCheckResult(
            passed=worst <= tolerance,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "max_difference": worst,
                "tolerance": tolerance,
                "fractions": dg.MetadataValue.md(markdown_table(table.rename_axis("split").reset_index())),
            },
        )

    return _check


def expectations_check(
    *,
    asset: dg.AssetsDefinition | str,
    load: FrameSource,
    expectations: Sequence[ExpectationSpec],
    name: str,
    description: str,
    blocking: bool = False,
) -> dg.AssetChecksDefinition:
    """Runs Great Expectations expectations on the asset's table; fails if any is unmet."""

    @dg.asset_check(asset=asset, name=name, blocking=blocking, description=description)
    def _check(store: DatasetStore) -> dg.AssetCheckResult:
        outcomes = validate_frame(frame_loader(load)(store), expectations)
        table = pd.DataFrame(
            [
                (o.expectation, o.column, o.success, o.unexpected_count, str(o.unexpected_examples[:5]))
                for o in outcomes
            ],
            columns=["expectation", "column", "success", "unexpected", "examples"],
        )
        return dg.AssetCheckResult(
            passed=all(o.success for o in outcomes),
            metadata={
                "expectations": len(outcomes),
                "failed": sum(not o.success for o in outcomes),
                "results": dg.MetadataValue.md(markdown_table(table)),
            },
        )

    return _check


def share_in_range_check(
    *,
    asset: dg.AssetsDefinition | str,
    load: FrameSource,
    flag_col: str,
    low: float,
    high: float,
    name: str,
    description: str,
    split_col: str = "split",
    blocking: bool = False,
) -> dg.AssetChecksDefinition:
    """Class balance: fails when, in any split, the share of rows whose `flag_col` is true is outside [low, high]."""

    @dg.asset_check(asset=asset, name=name, blocking=blocking, description=description)
    def _check(store: DatasetStore) -> dg.AssetCheckResult:
        frame = frame_loader(load)(store)
        flags = frame[flag_col].astype(bool)
        table = flags.groupby(frame[split_col], observed=True).agg(rows="size", flagged="sum").reset_index()
        table["share"] = table["flagged"] / table["rows"].clip(lower=1)
        table["in_range"] = table["share"].between(low, high)
        outside = table[~table["in_range"]][split_col].tolist()
        return dg.AssetCheckResult(
            passed=not outside and not table.empty,
            description=f"share of `{flag_col}` outside [{low:.0%}, {high:.0%}] in {outside}" if outside else None,
            metadata={
                "low": low,
                "high": high,
                "splits_outside": dg.MetadataValue.json(outside),
                "shares": dg.MetadataValue.md(markdown_table(table)),
            },
        )

    return _check
