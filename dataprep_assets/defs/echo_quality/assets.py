"""echo_quality assets: inference results -> training selection -> training data -> leak-free split -> release."""

import time

import dagster as dg
import pandas as pd

from dataprep_assets.common.automation import FOLLOW_UPSTREAM, follow_upstream
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
from dataprep_assets.common.progress import progress_logger
from dataprep_assets.common.publish import materialized
from dataprep_assets.common.release import release_asset
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.common.uploads import raw_inputs
from dataprep_assets.defs.echo_quality.columns import COLUMNS
from dataprep_assets.defs.echo_quality.config import (
    EchoSplitConfig,
    InferenceResultsConfig,
    SelectionConfig,
    TrainingDataConfig,
)
from dataprep_assets.defs.echo_quality.datasets import (
    ANNOTATIONS,
    DICOM_PREFIX,
    GROUP,
    RELEASE,
    RESULTS,
    RESULTS_PREFIX,
    SELECTION,
    SELECTION_INFO,
    SPLIT_ORDER,
    SPLITS,
    TRAINING_DATA,
    VIDEOS_SUBDIR,
)
from dataprep_assets.defs.echo_quality.dicoms import (
    CACHED_VIDEO,
    COPY_CODE_VERSION,
    copy_and_verify_cached,
    first_frame_gray,
)
from dataprep_assets.defs.echo_quality.grouping import group_strata, leak_groups, patient_keys, study_keys
from dataprep_assets.defs.echo_quality.inventory import STAGE as MATCH_STAGE
from dataprep_assets.defs.echo_quality.inventory import attach_dicoms
from dataprep_assets.defs.echo_quality.results import ResultFile, parse_result_files
from dataprep_assets.defs.echo_quality.results_location import results_source
from dataprep_assets.defs.echo_quality.selection import (
    CLASS_NAMES,
    HIGH,
    LOW,
    availability_table,
    select_training_rows,
    selection_ledger,
)
from dataprep_assets.defs.echo_quality.training_layout import (
    ANNOTATION_COLUMNS,
    STRING_COLUMNS,
    analyze_summary,
    dataset_analysis,
    training_plan,
)
from dataprep_assets.defs.echo_quality.uploads import echo_quality_uploads
from dataprep_assets.lib.accounting import account, account_split, ledgers_metadata
from dataprep_assets.lib.changes import listing_fingerprint
from dataprep_assets.lib.charts import grouped_bars, histograms_by
from dataprep_assets.lib.compute import backend_for
from dataprep_assets.lib.images import captioned_montage, png_bytes
from dataprep_assets.lib.itemcache import InputHashes, ItemCache, fingerprint
from dataprep_assets.lib.parallel import batches, ordered_map, resolve_workers
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.splits import inherit_group_splits, previous_assignment, split_summary, stratified_split_keys
from dataprep_assets.lib.storage import atomic_write_json

COPY_INLINE_BELOW = 300

echo_inference_output = dg.AssetSpec(
    "echo_inference_output",
    group_name=GROUP,
    description=f"Inference result files (per-folder JSON, summary JSON, CSV summaries) under `{RESULTS_PREFIX}/` or "
    "`$ECHO_RESULTS_URI` (local or S3). Written by the inference runs; watched by `echo_inference_results_sensor`.",
    kinds={"json", "csv"},
)


def score_chart(results: pd.DataFrame) -> bytes:
    return histograms_by(
        results,
        "score",
        "machine_type",
        title="inference quality score per machine type",
        xlabel="quality score",
        ylabel="videos",
        value_range=(0.0, 1.0),
    )


def read_annotations(store: DatasetStore, relpath: str = ANNOTATIONS) -> pd.DataFrame:
    """The annotations CSV with text columns kept as text (a numeric-looking file id stays a string)."""
    path = store.pull(relpath)
    if not path.exists():
        raise FileNotFoundError(f"{relpath} does not exist in the dataset store; materialize its asset first")
    return pd.read_csv(path, dtype=dict.fromkeys(STRING_COLUMNS, str), keep_default_na=False)


@dg.asset(
    group_name=GROUP,
    deps=[echo_inference_output, echo_quality_uploads],
    kinds={"parquet"},
    automation_condition=follow_upstream(ignore=[echo_inference_output]),
)
def echo_inference_results(
    context: dg.AssetExecutionContext, config: InferenceResultsConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """Every inference result with its video: score, status, assessment, machine type, folder, file id, DICOM header
    fields."""
    dicom_root = store.path(raw_inputs(store, GROUP, DICOM_PREFIX, config.dicom_dir))  # undated view of dated uploads
    source = results_source(store, config.results_uri, config.s3_endpoint_url)
    listing = sorted(source.list_objects(), key=lambda o: o.key)
    if not listing:
        raise dg.Failure(
            f"no inference results (*.json, *.csv) under {source.describe()}: the directory/prefix is empty or "
            "missing. "
            "Run the inference first or point `results_uri` / $ECHO_RESULTS_URI at its output; the previous results "
            "stay as they are."
        )
    files = [ResultFile(o.key, source.read_bytes(o.key)) for o in listing]
    parsed, rejects = parse_result_files(files)
    context.log.info(
        f"{len(files)} result file(s) from {source.describe()}: {len(parsed)} valid rows, {len(rejects)} rejects so far"
    )
    table = attach_dicoms(
        parsed,
        dicom_root,
        store.local_root(),
        rejects,
        aliases=config.machine_aliases,
        modalities=config.allowed_modalities,
        min_frames=config.min_frames,
        max_workers=config.max_workers,
        progress=progress_logger(context, "DICOM headers", unit="chunks"),
    )
    parsed_items = (parsed["folder"] + "/" + parsed["file_id"]).tolist()
    wanted = set(parsed_items)
    ledger = account(
        "parsed results",
        parsed_items,
        (table["folder"] + "/" + table["file_id"]).tolist(),
        [r.item for r in rejects if r.item in wanted and r.stage == MATCH_STAGE],
    )
    if table.empty:
        rejects_path = store.write_rejects(RESULTS.asset, rejects)
        raise dg.Failure(
            f"none of the {len(parsed)} parsed results under {source.describe()} has a usable DICOM video; see "
            f"{rejects_path}",
            metadata=rejects_metadata(store, rejects_path, rejects),
        )
    manifest = store.write(RESULTS, table)
    by_machine = table.pivot_table(
        index="machine_type", columns="status", values="file_id", aggfunc="count", fill_value=0
    )
    return materialized(
        store,
        RESULTS,
        manifest,
        rejects=rejects,
        metadata={
            "results_per_machine_and_status": counts_table(by_machine, "machine_type"),
            "dagster/row_count": len(table),
            "results_location": source.describe(),
            "result_files": len(files),
            "results_fingerprint": listing_fingerprint(listing),
            "folders": int(table["folder"].nunique()),
            "machine_types": dg.MetadataValue.json(sorted(table["machine_type"].unique().tolist())),
            **ledgers_metadata(ledger),
            **figure_metadata(store, context.asset_key.to_user_string(), "score_histogram", score_chart(table)),
            **column_schema(table, COLUMNS),
        },
    )


@dg.asset(group_name=GROUP, deps=[echo_inference_results], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def echo_training_selection(
    context: dg.AssetExecutionContext, config: SelectionConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """High/low quality candidates by the configured thresholds and phrases, capped per class across machine types."""
    results = store.read(RESULTS)
    selection = select_training_rows(
        results,
        config.criteria,
        config.max_high_quality,
        config.max_low_quality,
        config.seed,
        config.machine_allocation,
        config.target_high_share,
    )
    ledger = selection_ledger(results, selection, config.criteria)
    info = {
        "criteria": config.criteria.as_dict(),
        "max_high_quality": config.max_high_quality,
        "max_low_quality": config.max_low_quality,
        "machine_allocation": config.machine_allocation,
        "target_high_share": config.target_high_share,
        "seed": config.seed,
        "machine_types_with_candidates": sorted(selection["machine_type"].unique().tolist()),
    }
    manifest = store.write(SELECTION, selection)
    info_manifest = store.write(SELECTION_INFO, info)
    chosen = selection[selection["selected"]]
    counts = {CLASS_NAMES[c]: int((chosen["quality_label"] == c).sum()) for c in (HIGH, LOW)}
    for cls, n in counts.items():
        if n == 0:
            context.log.warning(
                f"no {cls} candidates match the criteria {info['criteria']}; echo_training_data will refuse to build"
            )
    per_machine = {
        m: {CLASS_NAMES[c]: float((g["quality_label"] == c).sum()) for c in (HIGH, LOW)}
        for m, g in chosen.groupby("machine_type")
    }
    chart = grouped_bars(per_machine, title="selected videos per machine type", xlabel="machine type", ylabel="videos")  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
    return materialized(
        store,
        SELECTION,
        manifest,
        version_of=[manifest, info_manifest],
        metadata={
            "selected": len(chosen),
            "dagster/row_count": len(selection),
            **{f"selected_{k}": v for k, v in counts.items()},
            "target_high_share": config.target_high_share
            if config.target_high_share is not None
            else "off (caps only)",
            "achieved_high_share": round(counts[CLASS_NAMES[HIGH]] / max(len(chosen), 1), 4),
            "unused_results": len(results) - len(selection),
            "criteria": dg.MetadataValue.json(info["criteria"]),
            "candidates_and_selected_per_machine": table(availability_table(selection)),
            **figure_metadata(store, context.asset_key.to_user_string(), "selected_per_machine", chart),
            **column_schema(selection, COLUMNS),
            **ledgers_metadata(ledger),
            **run_info(
                seed=config.seed,
                max_high_quality=config.max_high_quality,
                max_low_quality=config.max_low_quality,
                machine_allocation=config.machine_allocation,
            ),
        },
    )


def first_frames_montage(paths: list, captions: list[str]) -> bytes:
    """First frames of the videos, each captioned (class, machine type, score)."""
    return png_bytes(captioned_montage([first_frame_gray(p) for p in paths], captions, 6))


@dg.asset(
    group_name=GROUP, deps=[echo_training_selection], kinds={"dicom", "csv"}, automation_condition=FOLLOW_UPSTREAM
)
def echo_training_data(
    context: dg.AssetExecutionContext, config: TrainingDataConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """`training_data/`: the selected videos as `echo_videos/hq_|lq_<machine>_<n>_<id>.dcm`, `echo_annotations.csv`
    (the seed's columns) and `dataset_analysis.json`, swapped in whole only once complete.

    Incremental: a video whose bytes were copied and verified before (same content, same verification) is
    restored from the store by hard link, not copied or decoded again; the output is identical."""
    selection = store.read(SELECTION)
    info = store.read(SELECTION_INFO)
    plan = training_plan(selection[selection["selected"]])
    missing = [CLASS_NAMES[c] for c in (HIGH, LOW) if not (plan["quality_label"] == c).any()]
    if missing:
        raise dg.Failure(
            f"no {' and no '.join(missing)} videos were selected (criteria {info['criteria']}); the previous "
            "training_data/ is kept. "
            "Loosen the thresholds/phrases in echo_training_selection's config or add inference results."
        )
    rejects, started = RejectLog(), time.perf_counter()
    with store.write_dir(TRAINING_DATA.path) as staged:
        videos = staged.path / VIDEOS_SUBDIR
        videos.mkdir()
        root = store.local_root()
        cache = ItemCache(root, "echo_videos", fingerprint(COPY_CODE_VERSION, config.decode_first_frame))
        hashes = InputHashes(root, "echo_videos")
        known, todo = {}, []
        for i, (src, name) in enumerate(zip(plan["dicom_path"], plan["filename"], strict=True)):
            source_hash = hashes(src)
            key = cache.key(source_hash)
            hit = cache.get(key) if source_hash else None
            if hit is not None:
                cache.restore(hit, videos, rename={CACHED_VIDEO: name})
                known[i] = hit.result
            else:
                todo.append((str(store.path(src)), str(videos / name), config.decode_first_frame, key))
        hashes.save()
        workers = resolve_workers(config.max_workers, len(todo), COPY_INLINE_BELOW)
        backend = backend_for(workers, root)
        context.log.info(
            f"videos: {len(known)} of {len(plan)} reused, {len(todo)} to copy + verify on {backend.describe()}"
        )
        chunks = ordered_map(
            copy_and_verify_cached,
            [(chunk, cache) for chunk in batches(todo, 16)],
            progress=progress_logger(context, "copy + verify", unit="chunks"),
            backend=backend,
        )
        fresh = (e for chunk in chunks for e in chunk)
        errors = [known[i] if i in known else next(fresh) for i in range(len(plan))]
        for row, error in zip(plan.itertuples(), errors, strict=True):
            if error:
                rejects.add(
                    f"{row.folder}/{row.file_id}", "copy_video", "unreadable_video", f"{row.dicom_path}: {error}"
                )
        kept = plan[[not e for e in errors]]
        items = (plan["folder"] + "/" + plan["file_id"]).tolist()
        ledger = account(
            "selected videos", items, (kept["folder"] + "/" + kept["file_id"]).tolist(), [r.item for r in rejects]
        )
        still_missing = [CLASS_NAMES[c] for c in (HIGH, LOW) if not (kept["quality_label"] == c).any()]
        if still_missing:
            raise dg.Failure(
                f"every selected {' and '.join(still_missing)} video failed to copy/verify; the previous "
                "training_data/ is kept"
            )
        annotations = kept[ANNOTATION_COLUMNS].reset_index(drop=True)
        annotations.to_csv(staged.path / "echo_annotations.csv", index=False)
        analysis = dataset_analysis(annotations, selection, info, len(rejects))
        atomic_write_json(staged.path / "dataset_analysis.json", analysis)
        shown = annotations.groupby("quality_score").head(6).sort_values("video_path")
        captions = [
            f"{'high' if q == HIGH else 'low'} quality\n{m[:14]}\nscore {sc:.2f}"
            for q, m, sc in zip(shown["quality_score"], shown["machine_type"], shown["score"], strict=True)
        ]
        picture = first_frames_montage([videos / f for f in shown["filename"]], captions)
    elapsed = time.perf_counter() - started
    per_machine = annotations.pivot_table(
        index="machine_type", columns="quality_score", values="filename", aggfunc="count", fill_value=0
    )
    per_machine = per_machine.rename(columns={HIGH: "high_quality", LOW: "low_quality"})
    return materialized(
        store,
        TRAINING_DATA,
        staged.committed,
        rejects=rejects,
        metadata={
            "high_quality": analysis["high_quality_count"],
            "low_quality": analysis["low_quality_count"],
            "dagster/row_count": len(annotations),
            "videos_per_machine": counts_table(per_machine, "machine_type"),
            **ledgers_metadata(ledger),
            "analyze_data_summary": table(analyze_summary(annotations)),
            **preview_metadata(picture, "first frames: high quality, then low quality"),
            **figure_metadata(store, context.asset_key.to_user_string(), "first_frames", picture),
            "sample_rows": table(annotations, 10),
            **column_schema(annotations, COLUMNS),
            "videos_reused": len(known),
            **run_info(compute=backend.describe(), videos_per_second=round(len(annotations) / max(elapsed, 1e-9), 1)),
        },
    )


def annotations_with_groups(store: DatasetStore, config: EchoSplitConfig) -> pd.DataFrame:
    """Annotations joined with the header ids of their videos, and the leak group of each."""
    annotations = read_annotations(store)
    ids = store.read(SELECTION)[["folder", "file_id", "patient_id", "study_uid"]]
    frame = annotations.merge(ids, on=["folder", "file_id"], how="left", validate="one_to_one")
    frame[["patient_id", "study_uid"]] = frame[["patient_id", "study_uid"]].fillna("")
    frame["study_key"] = study_keys(frame).astype("string")
    frame["patient_key"] = patient_keys(frame, config.placeholder_patient_ids).astype("string")
    frame["group_id"] = leak_groups(frame, config.group_by, config.placeholder_patient_ids)
    return frame


def annotation_ids(annotations: pd.DataFrame) -> pd.Series:
    """One id per annotation row (study folder / file name), for the accounting."""
    return annotations["folder"].astype(str) + "/" + annotations["filename"].astype(str)


def folder_splits(splits: pd.DataFrame | None) -> dict[str, str]:
    """Study folder -> split of a split table (the unit whose split must stay put across versions)."""
    if splits is None:
        return {}
    return previous_assignment(splits.assign(folder=splits["folder"].astype(str)), "folder")


@dg.asset(group_name=GROUP, deps=[echo_training_data], kinds={"csv"}, automation_condition=FOLLOW_UPSTREAM)
def echo_training_splits(
    context: dg.AssetExecutionContext, config: EchoSplitConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """`split` per annotation, assigned per leak group (patient/study/folder links), stratified by the classes a group
    holds.

    Study folders of the previous version keep their split (a group inherits it from its known folders); only new
    groups are assigned, unless `resplit`."""
    frame = annotations_with_groups(store, config)
    before, reference = reference_table(store, SPLITS.path, "folder")
    previous = folder_splits(before)
    history = (
        {}
        if config.resplit
        else inherit_group_splits(previous, dict(zip(frame["folder"].astype(str), frame["group_id"], strict=True)))
    )
    assignment = stratified_split_keys(
        group_strata(frame, "group_id", "quality_score"),  # pyright: ignore[reportArgumentType]  # Mapping keys are invariant
        config.fractions,
        config.seed,
        previous=history,
    )
    frame["split"] = frame["group_id"].map(assignment).astype("string")
    ledger = account_split(
        "videos", annotation_ids(read_annotations(store)), frame.assign(video=annotation_ids), "video", SPLIT_ORDER
    )
    manifest = store.write(SPLITS, frame, meta=version_meta(config.resplit, reference))
    per_class = frame.pivot_table(
        index="split", columns="quality_score", values="filename", aggfunc="count", fill_value=0
    )
    per_class = per_class.rename(columns={HIGH: "high_quality", LOW: "low_quality"}).reindex(SPLIT_ORDER, fill_value=0)
    return materialized(
        store,
        SPLITS,
        manifest,
        metadata={
            "per_split": table(split_summary(frame, "group_id", order=SPLIT_ORDER)),
            "videos_per_split_and_class": counts_table(per_class, "split"),
            "dagster/row_count": len(frame),
            "groups": int(frame["group_id"].nunique()),
            "target_fractions": dg.MetadataValue.json(config.fractions),
            **continuity_metadata(previous, folder_splits(frame), config.resplit, SPLIT_ORDER),
            **ledgers_metadata(ledger),
            **column_schema(frame, COLUMNS),
            **run_info(group_by=config.group_by, seed=config.seed),
        },
    )


echo_dataset_release = release_asset(RELEASE, group=GROUP, parts=[TRAINING_DATA, SPLITS], group_col="group_id")


echo_quality_job = dg.define_asset_job(
    "echo_quality_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Build the echo dataset: inference results, selection, training data, split, release.",
)
