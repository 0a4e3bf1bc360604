"""ct_hemorrhage assets, seed steps 1.2 and 2: the no-hemorrhage pool. Feedback CSV rows not yet labelled ->
DICOM slices fetched from the store (S3), kept by thickness -> windowed PNGs -> a COCO file with no annotations."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import pandas as pd

from dataprep_assets.common.automation import FOLLOW_UPSTREAM
from dataprep_assets.common.metadata import (
    column_schema,
    counts_table,
    figure_metadata,
    rejects_metadata,
    run_info,
    table,
)
from dataprep_assets.common.progress import progress_logger
from dataprep_assets.common.publish import materialized
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.common.uploads import raw_inputs
from dataprep_assets.defs.ct_hemorrhage.columns import COLUMNS
from dataprep_assets.defs.ct_hemorrhage.config import MIN_TASKS_PER_WORKER, CandidatesConfig, FetchConfig, PngConfig
from dataprep_assets.defs.ct_hemorrhage.convert import (
    BATCH,
    CACHED_NAME,
    CODE_VERSION,
    PngTask,
    convert_batch_star,
    png_names,
)
from dataprep_assets.defs.ct_hemorrhage.datasets import (
    CANDIDATES,
    CLASSES_6,
    DICOMS,
    GROUP,
    LABELLED,
    NO_HEM_COCO,
    NO_HEM_PNGS,
    PNG_INDEX,
    RAW_PREFIX,
)
from dataprep_assets.defs.ct_hemorrhage.feedback import (
    FEEDBACK_NAMES,
    STAGE_CSV,
    STAGE_FETCH,
    FeedbackError,
    FetchSettings,
    fetch_slice,
    fetch_summary,
    header_facts_name,
    read_feedback,
    select_for_fetch,
)
from dataprep_assets.defs.ct_hemorrhage.labelled_sources import labelled_coco
from dataprep_assets.defs.ct_hemorrhage.uploads import ct_hemorrhage_uploads
from dataprep_assets.lib.accounting import account, ledgers_metadata
from dataprep_assets.lib.coco import categories_block
from dataprep_assets.lib.compute import backend_for
from dataprep_assets.lib.images import captioned_montage, png_bytes, thumbnail_file
from dataprep_assets.lib.itemcache import InputHashes, ItemCache, StampedResults, fingerprint
from dataprep_assets.lib.parallel import batches, ordered_map, resolve_workers
from dataprep_assets.lib.rejects import RejectLog

SLICE_COLUMNS = ("file_name", "patient_id", "key", "feedback", "tier", "sop_instance_uid", "dicom_path")
"""Columns of the PNG index that come from the slice's feedback row."""
CONVERSION_COLUMNS = (
    "width",
    "height",
    "window_center",
    "window_width",
    "window_source",
    "photometric",
    "transfer_syntax",
)
"""Columns of the PNG index that the DICOM -> PNG conversion reports per slice."""


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
        feedback_csv = store.path(raw_inputs(store, GROUP, RAW_PREFIX, config.feedback_csv))
        feedback = read_feedback(feedback_csv, config.feedback_csv, rejects)
    except FeedbackError as exc:
        raise dg.Failure(str(exc)) from exc
    labelled_keys = {im["key"] for im in store.read(LABELLED)["images"]}
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
    manifest = store.write(CANDIDATES, candidates)
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
    return materialized(
        store,
        CANDIDATES,
        manifest,
        rejects=rejects,
        metadata={
            "dagster/row_count": len(candidates),
            **column_schema(candidates, COLUMNS),
            "false_positives": int((candidates["tier"] == 0).sum()),
            "true_negatives": int((candidates["tier"] == 1).sum()),
            "already_labelled": int(already.sum()),
            "by_feedback": counts_table(by_feedback, "feedback"),
            **ledgers_metadata(ledger),
        },
    )


@dg.asset(
    group_name=GROUP, deps=[no_hem_candidates], kinds={"s3", "dicom", "parquet"}, automation_condition=FOLLOW_UPSTREAM
)
def no_hem_dicoms(context: dg.AssetExecutionContext, config: FetchConfig, store: DatasetStore) -> dg.MaterializeResult:
    """DICOM slices fetched from the store (S3): every false positive first, then true negatives up to
    `max_images`; header-only read keeps 5.0/5.5 mm slices. Failures are retried, then rejects."""
    candidates = store.read(CANDIDATES)
    chosen = select_for_fetch(candidates, config.max_images, config.fp_only, config.seed)
    settings = FetchSettings(
        tuple(config.allowed_thickness_mm), config.thickness_tolerance_mm, config.attempts, config.retry_backoff_s
    )
    prefix = raw_inputs(store, GROUP, RAW_PREFIX, config.dicom_prefix, pull=False)  # objects are pulled one by one
    context.log.info(
        f"fetching {len(chosen)} of {len(candidates)} candidates ({int((chosen['tier'] == 0).sum())} FP) with "
        f"{config.fetch_workers} threads"
    )
    started = time.perf_counter()
    rows = chosen.to_dict("records")
    results = []
    headers = StampedResults(store.local_root(), "dicom_headers", header_facts_name())
    with ThreadPoolExecutor(max_workers=config.fetch_workers) as pool:
        for done, result in enumerate(
            pool.map(lambda r: fetch_slice(r, f"{prefix}/{r['s3_key']}", store.pull, settings, headers), rows), 1
        ):
            results.append(result)
            if done % 500 == 0:
                context.log.info(f"fetched {done}/{len(rows)} in {time.perf_counter() - started:.1f}s")
    headers.save()
    context.log.info(f"headers read: {headers.computed} new or changed objects, {len(rows) - headers.computed} known")
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
        rejects_path = store.write_rejects(DICOMS.asset, rejects)
        raise dg.Failure(
            f"none of {summary['attempted']} DICOM objects could be used (most common reason: {top}); see "
            f"{rejects_path}",
            metadata={**summary, **rejects_metadata(store, rejects_path, rejects)},
        )
    manifest = store.write(DICOMS, fetched)
    by_tier = (
        fetched.assign(feedback=fetched["tier"].map(FEEDBACK_NAMES)).pivot_table(
            index="feedback", columns="status", values="key", aggfunc="size", fill_value=0
        )
        if len(fetched)
        else pd.DataFrame()
    )
    metadata = {
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
        **run_info(fetch_workers=config.fetch_workers, objects_per_second=round(len(fetched) / max(elapsed, 1e-9), 1)),
    }
    return materialized(store, DICOMS, manifest, rejects=rejects, metadata=metadata)


@dg.asset(group_name=GROUP, deps=[no_hem_dicoms], kinds={"png"}, automation_condition=FOLLOW_UPSTREAM)
def no_hem_pngs(context: dg.AssetExecutionContext, config: PngConfig, store: DatasetStore) -> dg.MaterializeResult:
    """Each kept slice rescaled (slope/intercept) and brain-windowed (PS3.3 C.11.2.1.2 linear function) to
    an 8-bit PNG `<patient>_<slice>.png`, MONOCHROME1 inverted, in parallel across cores."""
    fetched = store.read(DICOMS)
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
    with store.write_dir(NO_HEM_PNGS.path) as staged:
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
        workers = resolve_workers(config.max_workers, len(tasks), MIN_TASKS_PER_WORKER)
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
                progress=progress_logger(context, "DICOM->PNG", "batches"),
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
                    **{k: result[k] for k in CONVERSION_COLUMNS},
                }
            )
        if len(ok) and not rows:  # nothing converted: keep the previous PNGs, fail loudly
            rejects_path = store.write_rejects(NO_HEM_PNGS.asset, rejects)
            raise dg.Failure(
                f"none of {len(ok)} slices could be converted; see {rejects_path}",
                metadata=rejects_metadata(store, rejects_path, rejects),
            )
    elapsed = time.perf_counter() - started
    index = pd.DataFrame(rows, columns=[*SLICE_COLUMNS, *CONVERSION_COLUMNS])
    ledger = account("slices", ok["dicom_path"].tolist(), index["dicom_path"].tolist(), [r.item for r in rejects])
    index_manifest = store.write(PNG_INDEX, index)
    shown = index.head(12)
    sample = [thumbnail_file(store.path(NO_HEM_PNGS.path, n), 128) for n in shown["file_name"]]
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
    return materialized(
        store,
        NO_HEM_PNGS,
        staged.committed,
        rejects=rejects,
        version_of=[staged.committed, index_manifest],
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
            **run_info(workers=workers, images_per_second=round(len(tasks) / max(elapsed, 1e-9), 1)),
        },
    )


@dg.asset(group_name=GROUP, deps=[no_hem_pngs], kinds={"coco", "json"}, automation_condition=FOLLOW_UPSTREAM)
def no_hem_coco(context: dg.AssetExecutionContext, store: DatasetStore) -> dg.MaterializeResult:
    """`_annotations.coco.json` beside the PNGs: every image, no annotations, the 6 categories."""
    index = store.read(PNG_INDEX)
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
        "categories": categories_block(CLASSES_6),
    }
    manifest = store.write(NO_HEM_COCO, coco)
    written = store.read(NO_HEM_COCO)["images"]
    ledger = account("images", index["file_name"].astype(str), [str(im["file_name"]) for im in written], [])
    return materialized(
        store,
        NO_HEM_COCO,
        manifest,
        metadata={
            **ledgers_metadata(ledger),
            "dagster/row_count": len(images),
            "images": len(images),
            "annotations": 0,
            "categories": len(CLASSES_6),
            "by_feedback": counts_table(index["feedback"].value_counts().to_frame("images"), "feedback"),
        },
    )
