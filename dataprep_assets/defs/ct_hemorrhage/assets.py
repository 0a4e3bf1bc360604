"""ct_hemorrhage assets, part 1: labelled sources, no-hemorrhage pool (CSV -> S3 DICOM -> PNG -> COCO),
patient-level splits and balancing. Part 2 (`publish.py`) builds the published datasets."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
from PIL import Image

from dataprep_assets.common.automation import FOLLOW_UPSTREAM
from dataprep_assets.common.continuity import continuity_metadata, reference_table, upstream_resplit, version_meta
from dataprep_assets.common.metadata import (
    column_schema,
    counts_table,
    data_version,
    dataset_metadata,
    figure_metadata,
    rejects_metadata,
    run_info,
    table,
)
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.ct_hemorrhage import layout as L
from dataprep_assets.defs.ct_hemorrhage.columns import COLUMNS
from dataprep_assets.defs.ct_hemorrhage.config import (
    BalanceConfig,
    CandidatesConfig,
    FetchConfig,
    LabelledCocoConfig,
    PatientSplitConfig,
    PngConfig,
)
from dataprep_assets.defs.ct_hemorrhage.convert import (
    BATCH,
    CACHED_NAME,
    CODE_VERSION,
    PngTask,
    batches,
    convert_batch_star,
    png_names,
)
from dataprep_assets.defs.ct_hemorrhage.feedback import (
    STAGE_CSV,
    STAGE_FETCH,
    FeedbackError,
    FetchSettings,
    fetch_slice,
    fetch_summary,
    read_feedback,
    select_for_fetch,
)
from dataprep_assets.defs.ct_hemorrhage.labelled import Source, load_source, merge_sources
from dataprep_assets.defs.ct_hemorrhage.patients import split_images
from dataprep_assets.defs.ct_hemorrhage.uploads import ct_hemorrhage_uploads
from dataprep_assets.lib.accounting import account, account_split, ledgers_metadata, with_split
from dataprep_assets.lib.balance import PoolItem, balance_table, fill_splits, shortfall
from dataprep_assets.lib.charts import grouped_bars
from dataprep_assets.lib.coco import CocoError, categories_block, coco_from_frames, frames_from_coco
from dataprep_assets.lib.compute import backend_for
from dataprep_assets.lib.images import captioned_montage, png_bytes
from dataprep_assets.lib.itemcache import InputHashes, ItemCache, fingerprint
from dataprep_assets.lib.parallel import ordered_map, resolve_workers
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.splits import previous_assignment
from dataprep_assets.lib.storage import atomic_write_json

GROUP = "ct_hemorrhage"
FEEDBACK_NAMES = {0: "FP", 1: "TN"}


MIN_TASKS_PER_WORKER = 256


def _workers(requested: int, tasks: int) -> int:
    """Worker processes: as asked, or (0) one per core but inline for small batches, since a spawned
    worker spends seconds importing its libraries before it converts anything."""
    if requested > 0:
        return requested
    return max(1, min(resolve_workers(0), tasks // MIN_TASKS_PER_WORKER))


def thumbnail(path: Path, size: int = 128) -> np.ndarray:
    """A fixed-size RGB tile for montages (source images may differ in size)."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))


def _progress(context, what: str):
    return lambda done, total, s: context.log.info(f"{what}: {done}/{total} in {s:.1f}s")


# -- labelled sources -------------------------------------------------------------------------------
@dg.asset(group_name=GROUP, deps=[ct_hemorrhage_uploads], kinds={"coco", "json"}, automation_condition=FOLLOW_UPSTREAM)
def labelled_coco(
    context: dg.AssetExecutionContext, config: LabelledCocoConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """The 4-class v3 and 8-category Roboflow sources remapped to EDH, HC, IPH, IVH, SAH, SDH and merged:
    boxes clipped first, degenerate ones removed, images missing on disk dropped; every refusal is a reject."""
    sources = [
        Source("v3", config.v3_annotations, dict(config.v3_category_map), config.unknown_categories),
        Source("roboflow", config.roboflow_annotations, dict(config.roboflow_category_map), config.unknown_categories),
    ]
    rejects = RejectLog()
    results = []
    for source in sources:
        store.pull(Path(source.annotations).parent.as_posix())
        try:
            results.append(
                load_source(
                    store.local_root(),
                    source,
                    config.file_name_pattern,
                    config.min_box_size,
                    config.verify_image_size,
                    rejects,
                )
            )
        except CocoError as exc:
            raise dg.Failure(f"labelled source {source.name!r} cannot be used: {exc}") from exc
    images, boxes = merge_sources(results)
    rejects_path = store.write_rejects(context.asset_key.to_user_string(), rejects)
    if images.empty:
        raise dg.Failure(
            "no usable labelled images in any source", metadata=rejects_metadata(store, rejects_path, rejects)
        )
    coco = coco_from_frames(
        images,
        boxes,
        L.CLASSES_6,
        extra_image_fields=["patient_id", "source", "source_path", "key"],
        info={"description": "labelled sources, 6 classes"},
    )
    manifest = store.write_json(L.LABELLED, coco)
    positive = images["id"].isin(boxes["image_id"])
    per_source = pd.DataFrame([{"source": s.name, **r.stats} for s, r in zip(sources, results, strict=True)]).fillna(0)
    per_class = (
        boxes.groupby("category_id")
        .agg(boxes=("id", "size"), images=("image_id", "nunique"))
        .reindex(range(len(L.CLASSES_6)), fill_value=0)
    )
    per_class.index = list(L.CLASSES_6)
    return dg.MaterializeResult(
        data_version=data_version(manifest.dataset_hash),
        metadata={
            "images": len(images),
            "annotations": len(boxes),
            "dagster/row_count": len(images),
            "patients": int(images["patient_id"].nunique()),
            "with_hemorrhage": int(positive.sum()),
            "no_hemorrhage": int((~positive).sum()),
            "no_hem_needed_for_50pct": int(positive.sum() - (~positive).sum()),
            "slices_in_both_sources": int(images.groupby("key")["source"].nunique().gt(1).sum()),
            "per_source": counts_table(per_source.set_index("source"), "source"),
            "per_class": counts_table(per_class, "class"),
            **ledgers_metadata(*(ledger for r in results for ledger in r.ledgers)),
            **dataset_metadata(store, L.LABELLED, manifest),
            **rejects_metadata(store, rejects_path, rejects),
        },
    )


# -- the no-hemorrhage pool -------------------------------------------------------------------------
@dg.asset(
    group_name=GROUP,
    deps=[ct_hemorrhage_uploads, labelled_coco],
    kinds={"parquet"},
    automation_condition=FOLLOW_UPSTREAM,
)
def no_hem_candidates(
    context: dg.AssetExecutionContext, config: CandidatesConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """Feedback CSV rows (false positives and true negatives) minus slices already in the labelled sets."""
    rejects = RejectLog()
    try:
        feedback = read_feedback(store.pull(config.feedback_csv), config.feedback_csv, rejects)
    except FeedbackError as exc:
        raise dg.Failure(str(exc)) from exc
    labelled_keys = {im["key"] for im in store.read_json(L.LABELLED)["images"]}
    already = feedback["key"].isin(labelled_keys)
    for row in feedback[already].itertuples(index=False):
        rejects.add(
            f"{config.feedback_csv}:{row.row}",
            STAGE_CSV,
            "already_labelled",
            f"slice {row.key} is already in the labelled sources",
        )
    candidates = feedback[~already].reset_index(drop=True)
    items = feedback.attrs["items"]
    ledger = account(
        "feedback rows", items, [f"{config.feedback_csv}:{r}" for r in candidates["row"]], [r.item for r in rejects]
    )
    manifest = store.write_table(L.CANDIDATES, candidates)
    rejects_path = store.write_rejects(context.asset_key.to_user_string(), rejects)
    by_feedback = (
        pd.DataFrame(
            {
                "in_csv": feedback["feedback"].value_counts(),
                "already_labelled": feedback[already]["feedback"].value_counts(),
                "candidates": candidates["feedback"].value_counts(),
            }
        )
        .reindex(["FP", "TN"])
        .fillna(0)
        .astype(int)
    )
    return dg.MaterializeResult(
        data_version=data_version(manifest.dataset_hash),
        metadata={
            "dagster/row_count": len(candidates),
            **column_schema(candidates, COLUMNS),
            "false_positives": int((candidates["tier"] == 0).sum()),
            "true_negatives": int((candidates["tier"] == 1).sum()),
            "already_labelled": int(already.sum()),
            "by_feedback": counts_table(by_feedback, "feedback"),
            **ledgers_metadata(ledger),
            **dataset_metadata(store, L.CANDIDATES, manifest),
            **rejects_metadata(store, rejects_path, rejects),
        },
    )


@dg.asset(
    group_name=GROUP, deps=[no_hem_candidates], kinds={"s3", "dicom", "parquet"}, automation_condition=FOLLOW_UPSTREAM
)
def no_hem_dicoms(context: dg.AssetExecutionContext, config: FetchConfig, store: DatasetStore) -> dg.MaterializeResult:
    """DICOM slices fetched from the store (S3): every false positive first, then true negatives up to
    `max_images`; header-only read keeps 5.0/5.5 mm slices. Failures are retried, then rejects."""
    candidates = store.read_table(L.CANDIDATES)
    chosen = select_for_fetch(candidates, config.max_images, config.fp_only, config.seed)
    settings = FetchSettings(
        tuple(config.allowed_thickness_mm), config.thickness_tolerance_mm, config.attempts, config.retry_backoff_s
    )
    prefix = config.dicom_prefix.strip("/")
    context.log.info(
        f"fetching {len(chosen)} of {len(candidates)} candidates ({int((chosen['tier'] == 0).sum())} FP) with "
        f"{config.fetch_workers} threads"
    )
    started = time.perf_counter()
    rows = chosen.to_dict("records")
    results = []
    with ThreadPoolExecutor(max_workers=config.fetch_workers) as pool:
        for done, result in enumerate(
            pool.map(lambda r: fetch_slice(r, f"{prefix}/{r['s3_key']}", store.pull, settings), rows), 1
        ):
            results.append(result)
            if done % 500 == 0:
                context.log.info(f"fetched {done}/{len(rows)} in {time.perf_counter() - started:.1f}s")
    elapsed = time.perf_counter() - started
    columns = [
        *chosen.columns,
        "dicom_path",
        "status",
        "reason",
        "detail",
        "slice_thickness",
        "header_patient_id",
        "attempts",
    ]
    fetched = pd.DataFrame(results) if results else pd.DataFrame(columns=columns)
    rejects = RejectLog()
    for r in fetched[fetched["status"] != "ok"].itertuples(index=False):
        rejects.add(r.dicom_path, STAGE_FETCH, r.reason, r.detail)  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    rejects_path = store.write_rejects(context.asset_key.to_user_string(), rejects)
    summary = fetch_summary(fetched)
    ledger = account(
        "chosen slices",
        [f"{prefix}/{k}" for k in chosen["s3_key"]],
        fetched.loc[fetched["status"] == "ok", "dicom_path"].tolist(),
        [r.item for r in rejects],
    )
    if (
        summary["attempted"] and not summary["successful"]
    ):  # credentials, endpoint or prefix wrong: keep the last good table
        top = fetched["reason"].value_counts().index[0]
        raise dg.Failure(
            f"none of {summary['attempted']} DICOM objects could be used (most common reason: {top}); see "
            f"{rejects_path}",
            metadata={**summary, **rejects_metadata(store, rejects_path, rejects)},
        )
    manifest = store.write_table(L.DICOMS, fetched)
    by_tier = (
        fetched.assign(feedback=fetched["tier"].map(FEEDBACK_NAMES)).pivot_table(
            index="feedback", columns="status", values="key", aggfunc="size", fill_value=0
        )
        if len(fetched)
        else pd.DataFrame()
    )
    meta = {
        **summary,
        "dagster/row_count": summary["successful"],
        "download_summary": table(pd.DataFrame([summary])),
        "by_feedback_and_status": counts_table(by_tier, "feedback")
        if len(by_tier)
        else table(pd.DataFrame(columns=["feedback"])),
        "thickness_mm": counts_table(
            fetched["slice_thickness"].fillna(-1).round(2).value_counts().sort_index().to_frame("slices"), "mm"
        )
        if len(fetched)
        else table(pd.DataFrame(columns=["mm"])),
        **ledgers_metadata(ledger),
        **column_schema(fetched, COLUMNS),
        **dataset_metadata(store, L.DICOMS, manifest),
        **rejects_metadata(store, rejects_path, rejects),
        **run_info(fetch_workers=config.fetch_workers, objects_per_second=round(len(fetched) / max(elapsed, 1e-9), 1)),
    }
    return dg.MaterializeResult(data_version=data_version(manifest.dataset_hash), metadata=meta)


@dg.asset(group_name=GROUP, deps=[no_hem_dicoms], kinds={"png"}, automation_condition=FOLLOW_UPSTREAM)
def no_hem_pngs(context: dg.AssetExecutionContext, config: PngConfig, store: DatasetStore) -> dg.MaterializeResult:
    """Each kept slice rescaled (slope/intercept) and brain-windowed (PS3.3 C.11.2.1.2 linear function) to
    an 8-bit PNG `<patient>_<slice>.png`, MONOCHROME1 inverted, in parallel across cores."""
    fetched = store.read_table(L.DICOMS)
    ok = fetched[fetched["status"] == "ok"].sort_values("sop_instance_uid").reset_index(drop=True)
    with ThreadPoolExecutor(max_workers=8) as pool:
        local = list(pool.map(store.pull, ok["dicom_path"]))
    names = png_names(ok)
    root = store.local_root()
    cache = ItemCache(
        root,
        "dicom_to_png",
        fingerprint(
            CODE_VERSION,
            config.window_center,
            config.window_width,
            config.use_header_window,
            config.header_window_index,
            config.png_compression,
        ),
    )
    hashes = InputHashes(root, "dicom_to_png")
    rejects, rows = RejectLog(), []
    started = time.perf_counter()
    with store.write_dir(L.NO_HEM_DIR) as staged:
        tasks, results = [], {}
        for src, name, rel in zip(local, names, ok["dicom_path"], strict=True):
            key = cache.key(hashes(rel))
            hit = cache.get(key)
            if hit is not None:  # the same DICOM bytes under the same settings: restore, don't recompute
                cache.restore(hit, staged.path, rename={CACHED_NAME: name})
                results[name] = hit.result
                continue
            tasks.append(
                PngTask(
                    str(src),
                    str(staged.path / name),
                    rel,
                    config.window_center,
                    config.window_width,
                    config.use_header_window,
                    config.header_window_index,
                    config.png_compression,
                    cache_key=key,
                )
            )
        hashes.save()
        workers = _workers(config.max_workers, len(tasks))
        backend = backend_for(workers, root)
        context.log.info(
            f"DICOM->PNG: {len(results)} of {len(ok)} slices reused, {len(tasks)} to convert on {backend.describe()}"
        )
        fresh = (
            r
            for batch in ordered_map(
                convert_batch_star,
                [(b, cache) for b in batches(tasks, BATCH)],
                backend=backend,
                progress=_progress(context, "DICOM->PNG batches"),
            )
            for r in batch
        )
        results |= {Path(task.dst).name: result for task, result in zip(tasks, fresh, strict=True)}
        for row, name in zip(ok.itertuples(index=False), names, strict=True):
            result = results[name]
            if not result["ok"]:
                rejects.add(row.dicom_path, "dicom_to_png", result["reason"], result["detail"])  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
                continue
            rows.append(
                {
                    "file_name": name,
                    "patient_id": row.patient_id,
                    "key": row.key,
                    "feedback": row.feedback,
                    "tier": int(row.tier),  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
                    "sop_instance_uid": row.sop_instance_uid,
                    "dicom_path": row.dicom_path,
                    **{
                        k: result[k]
                        for k in (
                            "width",
                            "height",
                            "window_center",
                            "window_width",
                            "window_source",
                            "photometric",
                            "transfer_syntax",
                        )
                    },
                }
            )
        if len(ok) and not rows:  # nothing converted: keep the previous PNGs, fail loudly
            rejects_path = store.write_rejects(context.asset_key.to_user_string(), rejects)
            raise dg.Failure(
                f"none of {len(ok)} slices could be converted; see {rejects_path}",
                metadata=rejects_metadata(store, rejects_path, rejects),
            )
    elapsed = time.perf_counter() - started
    index = pd.DataFrame(
        rows,
        columns=[
            "file_name",
            "patient_id",
            "key",
            "feedback",
            "tier",
            "sop_instance_uid",
            "dicom_path",
            "width",
            "height",
            "window_center",
            "window_width",
            "window_source",
            "photometric",
            "transfer_syntax",
        ],
    )
    ledger = account("slices", ok["dicom_path"].tolist(), index["dicom_path"].tolist(), [r.item for r in rejects])
    index_manifest = store.write_table(L.PNG_INDEX, index)
    rejects_path = store.write_rejects(context.asset_key.to_user_string(), rejects)
    shown = index.head(12)
    sample = [thumbnail(store.path(L.NO_HEM_DIR, n)) for n in shown["file_name"]]
    captions = [
        f"{n.removesuffix('.png')[:20]}\n{fb}" for n, fb in zip(shown["file_name"], shown["feedback"], strict=True)
    ]
    figures = (
        figure_metadata(
            store, context.asset_key.to_user_string(), "sample_pngs", png_bytes(captioned_montage(sample, captions, 6))
        )
        if sample
        else {}
    )
    return dg.MaterializeResult(
        data_version=data_version(staged.committed.dataset_hash, index_manifest.dataset_hash),
        metadata={
            "converted": len(index),
            "dagster/row_count": len(index),
            "slices_computed": len(tasks),
            "slices_reused": len(ok) - len(tasks),
            **ledgers_metadata(ledger),
            "window_sources": counts_table(index["window_source"].value_counts().to_frame("slices"), "window"),
            "transfer_syntaxes": counts_table(
                index["transfer_syntax"].value_counts().to_frame("slices"), "transfer syntax"
            ),
            **figures,
            **column_schema(index, COLUMNS),
            **dataset_metadata(store, L.NO_HEM_DIR, staged.manifest),
            **rejects_metadata(store, rejects_path, rejects),
            **run_info(workers=workers, images_per_second=round(len(tasks) / max(elapsed, 1e-9), 1)),
        },
    )


@dg.asset(group_name=GROUP, deps=[no_hem_pngs], kinds={"coco", "json"}, automation_condition=FOLLOW_UPSTREAM)
def no_hem_coco(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """`_annotations.coco.json` beside the PNGs: every image, no annotations, the 6 categories."""
    index = store.read_table(L.PNG_INDEX)
    images = [
        {
            "id": i,
            "file_name": r.file_name,
            "width": int(r.width),  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
            "height": int(r.height),  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
            "patient_id": str(r.patient_id),
            "feedback": r.feedback,
        }
        for i, r in enumerate(index.itertuples(index=False))
    ]
    coco = {
        "info": {"description": "no-hemorrhage downloads"},
        "images": images,
        "annotations": [],
        "categories": categories_block(L.CLASSES_6),
    }
    with store.write_file(L.NO_HEM_COCO) as tmp:
        atomic_write_json(tmp, coco)
    manifest = store.written_manifest(L.NO_HEM_COCO)
    return dg.MaterializeResult(
        data_version=data_version(manifest.dataset_hash),
        metadata={
            "dagster/row_count": len(images),
            "images": len(images),
            "annotations": 0,
            "categories": len(L.CLASSES_6),
            "by_feedback": counts_table(index["feedback"].value_counts().to_frame("images"), "feedback"),
            **dataset_metadata(store, L.NO_HEM_COCO, manifest),
        },
    )


BALANCE_COLUMNS = {
    "split": "train, valid or test",
    "negatives_before": "no-hemorrhage images from the labelled sources",
    "total_before": "images from the labelled sources",
    "share_before": "no-hemorrhage share before balancing",
    "shortfall": "no-hemorrhage images needed to reach the target share",
    "added": "pool images added",
    "added_FP": "of which model false positives",
    "added_TN": "of which true negatives",
    "negatives_after": "no-hemorrhage images after balancing",
    "total_after": "images after balancing",
    "share_after": "no-hemorrhage share after balancing (the target is in target_no_hem_share)",
}


def share_chart(balance: pd.DataFrame, target: float) -> bytes:
    """No-hemorrhage share per split before and after balancing, with the target as a line."""
    return grouped_bars(
        {r.split: {"before balancing": r.share_before, "after balancing": r.share_after} for r in balance.itertuples()},  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
        title=f"no-hemorrhage share per split (target {target:.0%})",
        xlabel="split",
        ylabel="share of images",
        value_format="{:.1%}",
        reference=(target, f"target {target:.0%}"),
    )


# -- splits and balance -----------------------------------------------------------------------------
def labelled_image_table(coco: dict) -> pd.DataFrame:
    images, boxes = frames_from_coco(coco)
    names = {c["id"]: c["name"] for c in coco["categories"]}
    classes = boxes.groupby("image_id")["category_id"].agg(lambda c: tuple(sorted({names[i] for i in c})))
    out = images[["id", "file_name", "source", "source_path", "patient_id", "key"]].rename(
        columns={"id": "labelled_id"}
    )
    out["classes"] = out["labelled_id"].map(classes).apply(lambda v: v if isinstance(v, tuple) else ())
    out["has_hemorrhage"] = out["classes"].apply(bool)
    out["feedback"] = ""
    return out


@dg.asset(group_name=GROUP, deps=[labelled_coco], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def patient_splits(
    context: dg.AssetExecutionContext, config: PatientSplitConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """Patient-level 80/15/5 split of the labelled images with a fixed seed; every class reaches every split where the
    data allows."""
    labelled = store.read_json(L.LABELLED)
    table = labelled_image_table(labelled)
    before, reference = reference_table(store, L.PATIENT_SPLITS, "patient_id")
    previous = previous_assignment(before, "patient_id")
    history = {} if config.resplit else previous
    split, uncovered = split_images(table, "classes", config.fractions, config.seed, previous=history)
    ledger = account_split("images", [im["id"] for im in labelled["images"]], split, "labelled_id", L.SPLITS)
    split["classes"] = split["classes"].apply(";".join)
    manifest = store.write_table(L.PATIENT_SPLITS, split, meta=version_meta(config.resplit, reference))
    per_split = (
        split.groupby("split")
        .agg(
            patients=("patient_id", "nunique"), images=("file_name", "size"), with_hemorrhage=("has_hemorrhage", "sum")
        )
        .reindex(list(L.SPLITS), fill_value=0)
    )
    classes = (
        split.assign(cls=split["classes"].str.split(";"))
        .explode("cls")
        .query("cls != ''")
        .pivot_table(index="cls", columns="split", values="file_name", aggfunc="size", fill_value=0)
    )
    return dg.MaterializeResult(
        data_version=data_version(manifest.dataset_hash),
        metadata={
            "per_split": counts_table(per_split, "split"),
            "dagster/row_count": len(split),
            "images_per_class_and_split": counts_table(classes.reindex(columns=list(L.SPLITS), fill_value=0), "class"),
            "classes_missing_from_splits": dg.MetadataValue.json([f"{c} not in {s}" for c, s in uncovered]),
            "target_fractions": dg.MetadataValue.json(config.fractions),
            **continuity_metadata(previous, previous_assignment(split, "patient_id"), config.resplit, L.SPLITS),
            **column_schema(split, COLUMNS),
            **ledgers_metadata(ledger),
            **dataset_metadata(store, L.PATIENT_SPLITS, manifest),
            **run_info(seed=config.seed),
        },
    )


def placed_pool_images(balanced: pd.DataFrame | None) -> dict[str, str]:
    """Pool image (file name in the no-hemorrhage set) -> split, as a previous balanced table placed it."""
    if balanced is None or balanced.empty:
        return {}
    pool_rows = balanced[balanced["source"] == "no_hem"]
    return dict(zip(pool_rows["file_name"].str.removeprefix("no_hem_"), pool_rows["split"].astype(str), strict=True))


def balance_ledgers(labelled: pd.DataFrame, pool: pd.DataFrame, assignment: dict, balanced: pd.DataFrame):
    """Every labelled image is in the balanced table with a split; every pool image is in it (placed by
    `assignment`) or set aside (not needed to reach the target share)."""
    from_pool = balanced["source"].eq("no_hem").to_numpy(bool)
    placed = balanced[from_pool].assign(file_name=lambda f: f["file_name"].str.removeprefix("no_hem_"))
    names = pool["file_name"].astype(str).tolist()
    return (
        account_split("labelled images", labelled["file_name"], balanced[~from_pool], "file_name", L.SPLITS),
        account(
            "pool images",
            names,
            with_split(placed, "file_name", L.SPLITS),
            [],
            set_aside=[n for n in names if n not in assignment],
        ),
    )


@dg.asset(group_name=GROUP, deps=[patient_splits, no_hem_coco], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def balanced_splits(
    context: dg.AssetExecutionContext, config: BalanceConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """Each split's shortfall to the target no-hemorrhage share, the pool spread in proportion to the
    shortfalls, false positives first; a pool patient already in a split can only join that split, and a pool
    image placed by the previous version stays in its split (unless this run or `patient_splits` re-split)."""
    labelled = store.read_table(L.PATIENT_SPLITS)
    pool = pd.DataFrame(store.read_json(L.NO_HEM_COCO)["images"])
    if pool.empty:
        pool = pd.DataFrame(columns=["file_name", "patient_id", "feedback"])
    pool["tier"] = pool["feedback"].map({"FP": 0, "TN": 1}).fillna(1).astype(int)
    before = {s: (int((~g["has_hemorrhage"]).sum()), len(g)) for s, g in labelled.groupby("split")}
    before = {s: before.get(s, (0, 0)) for s in L.SPLITS}
    needs = {s: shortfall(neg, total, config.target_no_hem_share) for s, (neg, total) in before.items()}
    fixed = dict(zip(labelled["patient_id"], labelled["split"], strict=True))
    items = [PoolItem(r.file_name, str(r.patient_id), int(r.tier)) for r in pool.itertuples(index=False)]  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    resplit = config.resplit or upstream_resplit(store, L.PATIENT_SPLITS, L.BALANCED)
    before_table, reference = reference_table(store, L.BALANCED, "file_name")
    placed = {} if resplit else placed_pool_images(before_table)
    assignment = fill_splits(items, needs, fixed, config.seed, placed=placed)  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    chosen = pool[pool["file_name"].isin(assignment)].copy()
    added = pd.DataFrame(
        {
            "labelled_id": -1,
            "file_name": "no_hem_" + chosen["file_name"],
            "source": "no_hem",
            "source_path": L.NO_HEM_DIR + "/" + chosen["file_name"],
            "patient_id": chosen["patient_id"].astype(str),
            "key": chosen["file_name"].str.removesuffix(".png"),
            "classes": "",
            "has_hemorrhage": False,
            "feedback": chosen["feedback"],
            "split": chosen["file_name"].map(assignment),
        }
    )
    balanced = (
        pd.concat([labelled, added], ignore_index=True).sort_values(["split", "file_name"]).reset_index(drop=True)
    )
    ledgers = balance_ledgers(labelled, pool, assignment, balanced)
    manifest = store.write_table(L.BALANCED, balanced, meta=version_meta(resplit, reference))
    tiers = dict(zip(pool["file_name"], pool["tier"], strict=True))
    balance = balance_table(before, assignment, tiers, needs, {0: "FP", 1: "TN"})
    chart = share_chart(balance, config.target_no_hem_share)
    return dg.MaterializeResult(
        data_version=data_version(manifest.dataset_hash),
        metadata={
            "share_after": dg.MetadataValue.json(
                {r.split: round(float(r.share_after), 4) for r in balance.itertuples()}  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
            ),
            "target_no_hem_share": config.target_no_hem_share,
            "balance": table(balance, descriptions=BALANCE_COLUMNS),
            "dagster/row_count": len(balanced),
            "overall_no_hem_share": round(float((~balanced["has_hemorrhage"]).mean()), 4),
            "total_shortfall": int(sum(needs.values())),
            "pool_available": len(pool),
            "pool_fp": int((pool["tier"] == 0).sum()),
            "pool_tn": int((pool["tier"] == 1).sum()),
            "pool_used": len(assignment),
            "pool_unused": len(pool) - len(assignment),
            **figure_metadata(store, context.asset_key.to_user_string(), "share_chart", chart),
            **continuity_metadata(
                previous_assignment(before_table, "file_name"),
                previous_assignment(balanced, "file_name"),
                resplit,
                L.SPLITS,
            ),
            **column_schema(balanced, COLUMNS),
            **ledgers_metadata(*ledgers),
            **dataset_metadata(store, L.BALANCED, manifest),
        },
    )
