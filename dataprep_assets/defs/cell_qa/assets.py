"""cell_qa assets: inventory -> crops + Jaccard -> cell-level dataframe -> leak-free splits -> release."""

import dataclasses
import time

import dagster as dg
import numpy as np
import pandas as pd

from dataprep_assets.common.automation import FOLLOW_UPSTREAM
from dataprep_assets.common.continuity import continuity_metadata, reference_table, version_meta
from dataprep_assets.common.metadata import (
    column_schema,
    counts_table,
    figure_metadata,
    preview_metadata,
    rejects_metadata,
    run_info,
    table,
)
from dataprep_assets.common.publish import materialized
from dataprep_assets.common.release import release_asset
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.common.uploads import raw_inputs
from dataprep_assets.defs.cell_qa import columns
from dataprep_assets.defs.cell_qa.config import CellCropsConfig, SplitConfig
from dataprep_assets.defs.cell_qa.datasets import (
    CELL_TABLE,
    CELLS_INDEX,
    CROPS,
    GROUP,
    INVENTORY,
    RAW_PREFIX,
    RELEASE,
    SEG_INDEX,
    SEG_SCORES,
    SPLIT_ORDER,
    SPLITS,
)
from dataprep_assets.defs.cell_qa.extract import (
    CODE_VERSION,
    CompetitorOutput,
    FrameTask,
    load_crop,
    process_frame_star,
    sequential_names,
)
from dataprep_assets.defs.cell_qa.inventory import build_inventory_with_ledger
from dataprep_assets.defs.cell_qa.uploads import cell_qa_uploads
from dataprep_assets.lib.accounting import account, account_split, ledgers_metadata
from dataprep_assets.lib.charts import grouped_bars, histograms_by, remembered_charts
from dataprep_assets.lib.compute import backend_for
from dataprep_assets.lib.images import captioned_montage_png, overlay_mask, to_uint8
from dataprep_assets.lib.itemcache import InputHashes, ItemCache, fingerprint
from dataprep_assets.lib.parallel import ordered_map, resolve_workers
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.rowblocks import Rows, concat_rows
from dataprep_assets.lib.splits import assign_group_splits, previous_assignment, split_summary


@dg.asset(group_name=GROUP, deps=[cell_qa_uploads], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def cell_qa_inventory(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """Every (frame, competitor) pair with its raw, ground-truth and mask file; unmatched files are rejects."""
    raw = raw_inputs(store, GROUP, RAW_PREFIX)  # the seed's layout (an undated view of date-prefixed uploads)
    inventory, rejects, ledger = build_inventory_with_ledger(store.local_root(), raw)
    manifest = store.write(INVENTORY, inventory)
    context.log.info(
        f"inventory: {inventory['frame_key'].nunique()} frames, {len(inventory)} frame/competitor pairs, "
        f"{len(rejects)} rejects"
    )
    return materialized(
        store,
        INVENTORY,
        manifest,
        rejects=rejects,
        metadata={
            "frames": int(inventory["frame_key"].nunique()),
            "original_image_keys": int(inventory["original_image_key"].nunique()),
            "competitors": dg.MetadataValue.json(sorted(inventory["competitor"].unique().tolist())),
            "dagster/row_count": len(inventory),
            **column_schema(inventory, columns.INVENTORY),
            **ledgers_metadata(ledger),
        },
    )


FRAME_COLUMNS = ["frame_key", "original_image_key", "dataset", "sequence", "frame", "raw_path", "gt_path"]


def _frame_tasks(inventory: pd.DataFrame) -> list[FrameTask]:
    """One task per frame (sorted by its columns), with its (competitor, mask) and (competitor, crop stem) pairs."""
    competitors, masks = inventory["competitor"].tolist(), inventory["mask_path"].tolist()
    stems = inventory["crop_stem"].tolist() if "crop_stem" in inventory else None
    rows_of: dict[tuple, list[int]] = {}
    for row, frame in enumerate(zip(*(inventory[c].tolist() for c in FRAME_COLUMNS), strict=True)):
        rows_of.setdefault(frame, []).append(row)
    tasks = []
    for (frame_key, image_key, dataset, seq, frame, raw, gt), rows in sorted(rows_of.items()):
        pairs = tuple(sorted((competitors[i], masks[i]) for i in rows))
        named = tuple(sorted((competitors[i], stems[i]) for i in rows)) if stems is not None else ()
        tasks.append(FrameTask(frame_key, image_key, dataset, seq, int(frame), raw, gt, pairs, crop_stems=named))
    return tasks


MIN_FRAMES_PER_WORKER = 32
"""A frame takes ~0.1 CPU-s; a fresh worker process spends seconds importing its libraries first."""


def _plan(
    tasks: list[FrameTask], cache: ItemCache, hashes: InputHashes, staging
) -> tuple[list[FrameTask], dict, list[str]]:
    """Restore cached (frame, competitor) results into staging; return the frames with work left
    (only their uncached competitors), the cached outputs and cells by (frame_key, competitor) and every pair's
    key."""
    todo, reused, every_key = [], {}, []
    for task in tasks:
        raw, gt = hashes(task.raw_path), hashes(task.gt_path)
        pending, keys = [], []
        stems = dict(task.crop_stems)
        for competitor, mask in task.competitors:
            key = cache.key(
                raw, gt, hashes(mask), competitor, stems.get(competitor, "")
            )  # the stem names the output files
            every_key.append(key)
            item = cache.get(key) if raw and gt else None
            if item is None:
                pending.append((competitor, mask))
                keys.append(key)
            else:
                cache.restore(item, staging)
                reused[(task.frame_key, competitor)] = (CompetitorOutput.from_cache(item.result), item.rows)
        if pending:
            todo.append(dataclasses.replace(task, competitors=tuple(pending), cache_keys=tuple(keys)))
    return todo, reused, every_key


@dg.asset(group_name=GROUP, deps=[cell_qa_inventory], kinds={"tiff", "numpy"}, automation_condition=FOLLOW_UPSTREAM)
def cell_crops(context: dg.AssetExecutionContext, config: CellCropsConfig, store: DatasetStore) -> dg.MaterializeResult:
    """A 2-channel crop (raw, cell mask) per cell of every competitor segmentation, with its Jaccard vs ground truth.

    Incremental: a (frame, competitor) whose raw frame, ground truth and mask are unchanged (by content)
    under the same crop settings is restored from the store, not recomputed; the output is identical.
    """
    inventory = store.read(INVENTORY)
    tasks = _frame_tasks(inventory)
    raw_inputs(store, GROUP, RAW_PREFIX)  # the files the inventory names (its dated view, reused if no new upload)
    root = str(store.local_root())
    cache = ItemCache(root, "cell_crops", fingerprint(CODE_VERSION, config.crop_size, config.layout))
    hashes = InputHashes(root, "cell_crops")
    rejects, seg_rows = RejectLog(), []
    started = time.perf_counter()
    with store.write_dir(CROPS.path) as staged:
        if config.layout == "stacked":
            (staged.path / "stacks").mkdir()
        todo, reused, every_key = _plan(tasks, cache, hashes, staged.path)
        workers = resolve_workers(config.max_workers, len(todo), MIN_FRAMES_PER_WORKER)  # a few new frames: inline
        backend = backend_for(workers, root)  # workers read the frames and write the crops themselves
        pairs = sum(len(t.competitors) for t in tasks)
        context.log.info(
            f"cutting {config.crop_size}px crops ({config.layout}): {len(reused)} of {pairs} frame/competitor pairs "
            "reused, "
            f"{pairs - len(reused)} to compute in {len(todo)} frames on {backend.describe()}"
        )
        args = [(t, root, str(staged.path), config.crop_size, config.layout, cache) for t in todo]
        progress = lambda done, total, s: context.log.info(f"crops: {done}/{total} frames, {s:.1f}s")  # noqa: E731
        computed = {
            t.frame_key: r
            for t, r in zip(
                todo, ordered_map(process_frame_star, args, progress=progress, backend=backend), strict=True
            )
        }
        cell_rows: list[Rows] = []  # each pair's cells, in task order (reused ones are slices of the cache's blocks)
        for task in tasks:
            result = computed.get(task.frame_key)
            if result is not None:
                rejects.extend(result.rejects)
            fresh = {o.competitor: o for o in result.outputs} if result is not None else {}
            for competitor, _ in task.competitors:
                output = fresh.get(competitor)
                if output is not None:
                    cells_of_pair = Rows.of(output.cells) if output.cells is not None else None
                elif (task.frame_key, competitor) in reused:
                    output, cells_of_pair = reused[(task.frame_key, competitor)]
                else:  # the frame failed before this competitor (raw or ground truth unusable)
                    continue
                rejects.extend(output.rejects)
                if output.seg is not None:
                    seg_rows.append(output.seg)
                if cells_of_pair is not None:
                    cell_rows.append(cells_of_pair)
        hashes.save()
        cache.save_index(every_key)  # the next rebuild reads this run's pairs from one file
        cells = pd.DataFrame(concat_rows(cell_rows)) if cell_rows else pd.DataFrame(columns=["cell_id", "cell_jaccard"])
        if config.naming == "sequential" and not cells.empty:
            cells = sequential_names(cells, staged.path, config.layout)
        cells.to_parquet(staged.path / "_cells.parquet", index=False)
        pd.DataFrame(seg_rows).to_parquet(staged.path / "_seg_scores.parquet", index=False)
    elapsed = time.perf_counter() - started
    ledger = crops_ledger(inventory, cells, rejects)
    if cells.empty:
        rejects_path = store.write_rejects(CROPS.asset, rejects)
        raise dg.Failure(
            f"no cells were extracted from {len(tasks)} frames; see {rejects_path}",
            metadata=rejects_metadata(store, rejects_path, rejects),
        )
    return materialized(
        store,
        CROPS,
        staged.committed,
        rejects=rejects,
        metadata={
            "cells": len(cells),
            "frames": len(tasks),
            "pairs_computed": pairs - len(reused),
            "pairs_reused": len(reused),
            "cells_per_competitor": counts_table(
                cells["competitor"].value_counts().sort_index().to_frame("cells"), "competitor"
            ),
            "crop_size": config.crop_size,
            **ledgers_metadata(ledger),
            **run_info(
                layout=config.layout,
                naming=config.naming,
                workers=workers,
                compute=backend.describe(),
                cells_per_second=round(len(cells) / max(elapsed, 1e-9), 1),
            ),
        },
    )


def crops_ledger(inventory: pd.DataFrame, cells: pd.DataFrame, rejects: RejectLog):
    """Each (frame, competitor) pair of the inventory gave cells or was refused (its mask, ground truth or raw
    frame)."""
    refused = {r.item for r in rejects}
    produced = set(zip(cells["frame_key"], cells["competitor"], strict=True)) if len(cells) else set()
    pairs = list(
        zip(
            inventory["frame_key"],
            inventory["competitor"],
            inventory["raw_path"],
            inventory["gt_path"],
            inventory["mask_path"],
            strict=True,
        )
    )
    ids = [f"{f}|{c}" for f, c, *_ in pairs]
    out = [f"{f}|{c}" for f, c, *_ in pairs if (f, c) in produced]
    rejected = [f"{f}|{c}" for f, c, raw, gt, mask in pairs if (f, c) not in produced and {raw, gt, mask} & refused]
    return account("frame/competitor pairs", ids, out, rejected)


def sample_montage(store: DatasetStore, cells: pd.DataFrame, per_competitor: int = 8, scale: int = 2) -> bytes:
    """One row per competitor (named on the left), crops spread over its Jaccard range, low to high, each
    captioned with its Jaccard: raw in gray, the cell's mask tinted."""
    tiles, captions, names, root = [], [], [], store.local_root()
    for competitor, group in cells.sort_values(["competitor", "cell_jaccard", "cell_id"]).groupby(
        "competitor", sort=True
    ):
        picks = np.unique(np.linspace(0, len(group) - 1, min(per_competitor, len(group))).round().astype(int))
        row = group.iloc[picks]
        for ref, jaccard in zip(row["stacked_crop_path"], row["cell_jaccard"], strict=True):
            crop = np.asarray(load_crop(root, ref))
            tile = overlay_mask(to_uint8(crop[0]), crop[1] > 0)
            tiles.append(np.kron(tile, np.ones((scale, scale, 1), dtype=np.uint8)))
            captions.append(f"Jaccard {jaccard:.2f}")
        tiles += [None] * (per_competitor - len(row))
        captions += [""] * (per_competitor - len(row))
        names.append(str(competitor))
    return captioned_montage_png(tiles, captions, per_competitor, row_labels=names)


def jaccard_chart(cells: pd.DataFrame) -> bytes:
    return histograms_by(
        cells,
        "cell_jaccard",
        "competitor",
        title="cell Jaccard per competitor",
        xlabel="Jaccard with the matched ground-truth cell",
        ylabel="cells",
        value_range=(0.0, 1.0),
    )


@dg.asset(group_name=GROUP, deps=[cell_crops], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def cell_level_dataframe(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """One row per cell crop: `cell_id, stacked_crop_path, original_image_key, competitor, cell_jaccard`, bbox, area,
    matched GT."""
    cells = store.read_table(CELLS_INDEX)
    manifest = store.write(CELL_TABLE, cells)
    ledger = account("cells", cells["cell_id"], store.read(CELL_TABLE)["cell_id"], [])
    by_competitor = (
        cells.groupby("competitor")["cell_jaccard"].agg(["count", "mean", "median", "min", "max"]).reset_index()
    )
    asset = context.asset_key.to_user_string()
    with remembered_charts(store.local_root()):  # the card shows the same chart and samples: drawn once
        crops_png = sample_montage(store, cells)
        jaccard_png = jaccard_chart(cells)
    return materialized(
        store,
        CELL_TABLE,
        manifest,
        metadata={
            "dagster/row_count": len(cells),
            "jaccard_by_competitor": table(by_competitor),
            **preview_metadata(crops_png, "crops per competitor (rows), low to high Jaccard"),
            **figure_metadata(store, asset, "jaccard_histogram", jaccard_png),
            **figure_metadata(store, asset, "sample_crops", crops_png),
            "sample_rows": table(
                cells[["cell_id", "stacked_crop_path", "original_image_key", "competitor", "cell_jaccard"]], 10
            ),
            **column_schema(cells, columns.CELLS),
            **ledgers_metadata(ledger),
        },
    )


@dg.asset(group_name=GROUP, deps=[cell_crops], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def competitor_seg_scores(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """Cell Tracking Challenge SEG per image and competitor (mean Jaccard over ground-truth cells)."""
    seg = store.read_table(SEG_INDEX)
    manifest = store.write(SEG_SCORES, seg)
    ledger = account("frame/competitor scores", _score_ids(seg), _score_ids(store.read(SEG_SCORES)), [])
    summary = (
        seg.groupby("competitor")
        .agg(images=("seg", "size"), mean_seg=("seg", "mean"), min_seg=("seg", "min"))
        .reset_index()
    )
    chart = grouped_bars(
        dict(zip(summary["competitor"], summary["mean_seg"], strict=True)),
        title="mean SEG per competitor",
        xlabel="competitor",
        ylabel="mean SEG (0-1)",
        value_format="{:.3f}",
    )
    return materialized(
        store,
        SEG_SCORES,
        manifest,
        metadata={
            "seg_by_competitor": table(summary),
            "dagster/row_count": len(seg),
            **figure_metadata(store, context.asset_key.to_user_string(), "seg_chart", chart),
            **column_schema(seg, columns.SEG),
            **ledgers_metadata(ledger),
        },
    )


def _score_ids(seg: pd.DataFrame) -> list[str]:
    """One id per SEG row (frame / competitor), for the accounting."""
    return (seg["frame_key"].astype(str) + "/" + seg["competitor"].astype(str)).tolist()


@dg.asset(group_name=GROUP, deps=[cell_level_dataframe], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def cell_level_dataframe_with_splits(
    context: dg.AssetExecutionContext, config: SplitConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """`split` per cell, assigned per `original_image_key` (seeded shuffle of the unique keys, 70/15/15 on the
    first build; afterwards existing keys stay put and only new keys are assigned, unless `resplit`)."""
    cells = store.read(CELL_TABLE)
    before, reference = reference_table(store, SPLITS.path, "original_image_key")
    previous = previous_assignment(before, "original_image_key")
    history = {} if config.resplit else previous
    split = assign_group_splits(cells, "original_image_key", config.fractions, config.seed, previous=history)
    ledger = account_split("cells", cells["cell_id"], split, "cell_id", SPLIT_ORDER)
    manifest = store.write(SPLITS, split, meta=version_meta(config.resplit, reference))
    summary = split_summary(split, "original_image_key", order=SPLIT_ORDER)
    per_comp = split.pivot_table(index="competitor", columns="split", values="cell_id", aggfunc="count", fill_value=0)
    return materialized(
        store,
        SPLITS,
        manifest,
        metadata={
            "per_split": table(summary),
            "dagster/row_count": len(split),
            "cells_per_competitor_and_split": counts_table(
                per_comp.reindex(columns=SPLIT_ORDER, fill_value=0), "competitor"
            ),
            "target_fractions": dg.MetadataValue.json(config.fractions),
            **continuity_metadata(
                previous, previous_assignment(split, "original_image_key"), config.resplit, SPLIT_ORDER
            ),
            **column_schema(split, columns.SPLITS),
            **ledgers_metadata(ledger),
            **run_info(seed=config.seed),
        },
    )


cell_qa_release = release_asset(RELEASE, group=GROUP, parts=[CROPS, SPLITS], group_col="original_image_key")


cell_qa_job = dg.define_asset_job(
    "cell_qa_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Build the whole cell_qa dataset: inventory, crops, dataframe, SEG scores, splits, release.",
)
