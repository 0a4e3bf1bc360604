"""quality_prediction assets: conversion results -> clean -> stratified grouped splits -> image features -> report."""

import json

import dagster as dg
import numpy as np
import pandas as pd

from dataprep_assets.common.automation import FOLLOW_UPSTREAM
from dataprep_assets.common.continuity import continuity_metadata, reference_table, version_meta
from dataprep_assets.common.metadata import (
    column_schema,
    counts_table,
    figure_metadata,
    latest_materialization_metadata,
    markdown_table,
    preview_metadata,
    rejects_metadata,
    run_info,
    table,
)
from dataprep_assets.common.progress import progress_logger
from dataprep_assets.common.publish import materialized
from dataprep_assets.common.store import DatasetStore, s3_source
from dataprep_assets.common.uploads import raw_inputs
from dataprep_assets.defs.quality_prediction import analysis, feature_budget, inspection, report
from dataprep_assets.defs.quality_prediction.cleaning import CleaningRules, clean_results, cleaning_ledger
from dataprep_assets.defs.quality_prediction.columns import COLUMNS, INSPECTION_COLUMNS
from dataprep_assets.defs.quality_prediction.config import (
    CleaningConfig,
    ConversionResultsConfig,
    FeatureReportConfig,
    ImageFeaturesConfig,
    InspectionConfig,
    SplitConfig,
)
from dataprep_assets.defs.quality_prediction.datasets import (
    CLEAN,
    EXAMPLES,
    FEATURES,
    GROUP,
    IMAGES,
    INSPECTION_GALLERY,
    INSPECTION_SHEET,
    RANDOM_RESNET_WEIGHTS,
    RAW_PREFIX,
    REPORT,
    RESULTS,
    S3_CACHE,
    SOURCE,
    SPLIT_TABLES,
    VECTOR_CACHE,
)
from dataprep_assets.defs.quality_prediction.extractors import build_extractor, resolve_extractor_name, torch_available
from dataprep_assets.defs.quality_prediction.featurize import extract_to_hdf5
from dataprep_assets.defs.quality_prediction.logos import ImageInfo, inspect_batch
from dataprep_assets.defs.quality_prediction.rebalance import examples_ledger, rebalance_train
from dataprep_assets.defs.quality_prediction.sources import scan_results_with_ledgers
from dataprep_assets.defs.quality_prediction.stratify import SPLITS, build_examples, split_unit, stratum_proportions
from dataprep_assets.defs.quality_prediction.uploads import quality_prediction_uploads
from dataprep_assets.lib.accounting import account, ledgers_metadata
from dataprep_assets.lib.charts import grouped_bars, histograms_by
from dataprep_assets.lib.images import captioned_montage, montage, png_bytes
from dataprep_assets.lib.parallel import batches, ordered_map, resolve_workers
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.rgb import load_rgb
from dataprep_assets.lib.s3uri import parse_s3_uri
from dataprep_assets.lib.splits import previous_assignment
from dataprep_assets.lib.storage import Manifest
from dataprep_assets.lib.vectors import VectorCache
from dataprep_assets.ml.featurestore import FeatureFile

IMAGES_PER_WORKER = 2000


def current_features(store: DatasetStore) -> tuple[str, Manifest]:
    """Store-relative path of the HDF5 feature file in the current version of the features, and its own manifest
    (its content hash is the file's version)."""
    manifest = store.manifest(FEATURES.path)
    files = [e for e in (manifest.entries if manifest else []) if e.path.endswith(".h5")]
    if len(files) != 1:
        raise FileNotFoundError(
            f"{FEATURES.path}: no current feature file ({len(files)} .h5 files in its current version); "
            f"materialize {FEATURES.asset} first"
        )
    return FEATURES.member(files[0].path), Manifest(files)


@dg.asset(group_name=GROUP, deps=[quality_prediction_uploads], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def conversion_results(
    context: dg.AssetExecutionContext, config: ConversionResultsConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """Every conversion result found under the results location: image, VTracer parameters, SSIM/MSE/PSNR, method, logo
    type, time."""
    uri = config.results_uri.strip().rstrip("/")
    if uri.startswith("s3://"):
        bucket, prefix = parse_s3_uri(uri)
        local_rel = "/".join(p for p in (S3_CACHE, bucket, prefix) if p)
        mirror_rejects = RejectLog()
        stats = s3_source(uri, store.path(local_rel), settings_from=store).mirror(rejects=mirror_rejects)
        context.log.info(f"mirrored {uri}: {stats}")
    else:
        local_rel = raw_inputs(store, GROUP, RAW_PREFIX, uri, pull=False)  # an undated view of dated uploads
        mirror_rejects = RejectLog()
    root = store.pull(local_rel)
    if not root.is_dir():
        raise dg.Failure(
            f"results_uri {uri!r}: no directory {root} in the dataset store; upload the experiments' results there "
            "first"
        )
    results, rejects, files, ledgers = scan_results_with_ledgers(root)
    rejects.extend(mirror_rejects)
    if results.empty:
        raise dg.Failure(
            f"no conversion results found under {uri!r} ({files}); see the rejects",
            metadata=rejects_metadata(store, store.write_rejects(RESULTS.asset, rejects), rejects),
        )
    store.write(SOURCE, {"results_uri": uri, "local_root": local_rel})
    manifest = store.write(RESULTS, results)
    context.log.info(f"{len(results)} results from {sum(files.values())} logs ({files}); {len(rejects)} rejects")
    per_method = results.groupby(["method_raw", "source_format"], dropna=False).size().rename("results").reset_index()
    quality = analysis.quality_distribution(results[np.isfinite(results["ssim"]) & results["ssim"].between(-1, 1)])
    return materialized(
        store,
        RESULTS,
        manifest,
        rejects=rejects,
        metadata={
            "source_images": int(results["image_path"].nunique()),
            "dagster/row_count": len(results),
            "quality_distribution": table(quality),
            "logo_type_distribution": table(analysis.logo_type_mix(results)),
            "results_per_method_and_format": table(per_method),
            "parameter_coverage": table(analysis.parameter_coverage(results)),
            "log_files": dg.MetadataValue.json(files),
            **figure_metadata(store, context.asset_key.to_user_string(), "ssim_histogram", ssim_chart(results)),
            **column_schema(results, COLUMNS),
            **ledgers_metadata(*ledgers),
        },
    )


def _inspect_images(root: str, paths: list[str], config: CleaningConfig, log) -> pd.DataFrame:
    workers = resolve_workers(config.max_workers, len(paths), IMAGES_PER_WORKER)
    tasks = [(root, chunk, tuple(config.allowed_formats), config.min_image_size) for chunk in batches(paths, 64)]
    progress = lambda done, total, s: log.info(f"images checked: {min(done * 64, len(paths))}/{len(paths)}, {s:.1f}s")  # noqa: E731
    infos = [
        info for batch in ordered_map(inspect_batch, tasks, max_workers=workers, progress=progress) for info in batch
    ]
    return pd.DataFrame([i.__dict__ for i in infos], columns=list(ImageInfo.__dataclass_fields__))


def ssim_chart(results: pd.DataFrame) -> bytes:
    valid = results[np.isfinite(results["ssim"])]
    return histograms_by(
        valid.assign(ssim=valid["ssim"].clip(0, 1)),
        "ssim",
        "logo_type",
        title="SSIM per logo type",
        xlabel="SSIM of the SVG render",
        ylabel="results",
        value_range=(0.0, 1.0),
    )


def logo_montage(root: str, clean: pd.DataFrame, per_type: int = 8) -> bytes:
    """One row per logo type (named on the left), logos spread over the type's mean SSIM, captioned with it."""
    tiles, captions, rows = [], [], []
    mean_ssim = clean.groupby("image_id")["ssim"].mean()
    for logo_type in ("simple", "text", "gradient", "complex"):
        ids = sorted(clean.loc[clean["logo_type"] == logo_type, "image_id"].unique(), key=lambda i: (mean_ssim[i], i))
        picks = (
            [ids[i] for i in np.unique(np.linspace(0, len(ids) - 1, min(per_type, len(ids))).round().astype(int))]
            if ids
            else []
        )
        tiles += [load_rgb(f"{root}/{image_id}", 96) for image_id in picks] + [None] * (per_type - len(picks))
        captions += [f"SSIM {mean_ssim[i]:.2f}" for i in picks] + [""] * (per_type - len(picks))
        rows.append(logo_type)
    return png_bytes(captioned_montage(tiles, captions, per_type, row_labels=rows))


@dg.asset(group_name=GROUP, deps=[conversion_results], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def clean_conversion_results(
    context: dg.AssetExecutionContext, config: CleaningConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """Results that pass every rule (complete, finite, in range, consistent, readable image, no duplicate, no extreme
    outlier)."""
    source = store.read(SOURCE)
    root = store.pull(source["local_root"])
    results = store.read(RESULTS)
    paths = sorted(results["image_path"].dropna().unique().tolist())
    images = _inspect_images(str(root), paths, config, context.log)
    try:
        marked_bad = inspection.bad_images(store.path(INSPECTION_SHEET.path))
    except ValueError as exc:
        raise dg.Failure(f"{INSPECTION_SHEET.path}: {exc}") from exc
    flagged = images["image_path"].isin(marked_bad) & (images["status"] == "ok")
    images.loc[flagged, "status"] = inspection.REJECT_REASON
    images.loc[flagged, "detail"] = "marked bad in the visual inspection: " + images.loc[flagged, "image_path"].map(
        marked_bad
    ).fillna("")
    rules = CleaningRules(
        config.outlier_rule, config.outlier_threshold, tuple(config.outlier_metrics), config.psnr_tolerance_db
    )
    clean, rejects = clean_results(results, images, rules)
    ledger = cleaning_ledger(results, clean, rejects)
    if clean.empty:
        rejects_path = store.write_rejects(CLEAN.asset, rejects)
        raise dg.Failure(
            f"every one of {len(results)} results was rejected; see {rejects_path}",
            metadata=rejects_metadata(store, rejects_path, rejects),
        )
    used = images[images["image_path"].isin(clean["image_id"])].rename(columns={"image_path": "image_id"})
    first_type = clean.drop_duplicates("image_id").set_index("image_id")["logo_type"]
    used = used.assign(
        image_group=used["content_hash"].str.slice(0, 16),
        logo_type=used["image_id"].map(first_type),
        results=used["image_id"].map(clean["image_id"].value_counts()).astype("int64"),
    )
    used = used[
        ["image_id", "image_group", "content_hash", "logo_type", "width", "height", "format", "mode", "results"]
    ].reset_index(drop=True)
    manifest = store.write(CLEAN, clean)
    images_manifest = store.write(IMAGES, used)
    pass_rate = len(clean) / max(len(results), 1)
    context.log.info(
        f"{len(clean)}/{len(results)} results pass ({pass_rate:.1%}); {used['image_id'].nunique()} images, "
        f"{used['image_group'].nunique()} distinct"
    )
    status = images["status"].value_counts().rename_axis("status").rename("images").reset_index()
    logos_png = logo_montage(str(root), clean)
    return materialized(
        store,
        CLEAN,
        manifest,
        rejects=rejects,
        version_of=[manifest, images_manifest],
        metadata={
            "pass_rate": float(round(pass_rate, 6)),
            "dagster/row_count": len(clean),
            "input_results": len(results),
            "images": int(used["image_id"].nunique()),
            "source_image_groups": int(used["image_group"].nunique()),
            "quality_distribution": table(analysis.quality_distribution(clean)),
            "results_per_logo_type_and_method": counts_table(
                clean.pivot_table(
                    index="logo_type", columns="method", values="result_id", aggfunc="count", fill_value=0
                ),
                "logo_type",
            ),
            "image_status": table(status),
            **preview_metadata(logos_png, "logos per type (rows), low to high SSIM"),
            **figure_metadata(store, context.asset_key.to_user_string(), "sample_logos", logos_png),
            "images_table": dg.MetadataValue.path(store.uri(IMAGES.path)),
            **column_schema(clean, COLUMNS),
            **ledgers_metadata(ledger),
            **run_info(
                outlier_rule=f"{config.outlier_rule} k={config.outlier_threshold} on "
                f"{', '.join(config.outlier_metrics)} per logo type"
            ),
        },
    )


@dg.asset(group_name=GROUP, deps=[clean_conversion_results], kinds={"parquet"}, automation_condition=FOLLOW_UPSTREAM)
def quality_dataset_splits(
    context: dg.AssetExecutionContext, config: SplitConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """80/15/5 train/validation/test, stratified by logo type and SSIM bin, grouped by source image; CV folds within
    train."""
    clean = store.read(CLEAN)
    unit = split_unit(config)
    before, reference = reference_table(store, SPLIT_TABLES.path, unit, "examples.parquet")
    previous = previous_assignment(before, unit)
    history = {} if config.resplit else previous
    folds = {} if config.resplit or before is None else dict(zip(before[unit], before["cv_fold"], strict=True))
    try:
        examples, edges = build_examples(clean, config, previous=history, previous_folds=folds)
    except ValueError as exc:
        raise dg.Failure(f"quality_dataset_splits: {exc}") from exc
    strata = stratum_proportions(examples, config.fractions, config.stratum_tolerance)
    summary = report.split_summary(examples, config, edges, strata)
    mix, built = None, examples
    if config.rebalance_logo_types:
        examples, mix = rebalance_train(examples, config.target_logo_mix, config.seed)
        summary["logo_type_rebalance"] = {
            "seed": config.seed,
            "per_type": mix.to_dict(orient="records"),
            "train_rows_after": int((examples["split"] == "train").sum()),
        }
    ledger = examples_ledger(clean, built, examples, SPLITS)
    with store.write_dir(SPLIT_TABLES.path, meta=version_meta(config.resplit, reference)) as staged:
        examples.to_parquet(staged.path / "examples.parquet", index=False, compression="zstd")
        for name in SPLITS:
            examples[examples["split"] == name].to_parquet(
                staged.path / f"{name}.parquet", index=False, compression="zstd"
            )
        (staged.path / "split_summary.json").write_text(json.dumps(summary, sort_keys=True, indent=2) + "\n")
    per_split = pd.DataFrame(summary["per_split"]).T.reindex(list(SPLITS)).rename_axis("split").reset_index()
    folds = (
        examples[examples["cv_fold"] >= 0]
        .groupby("cv_fold")
        .agg(rows=("result_id", "size"), source_images=("image_group", "nunique"))
        .reset_index()
    )
    chart = grouped_bars(
        {
            name: {"target": config.fractions[name], "achieved": summary["per_split"][name]["row_share"]}
            for name in SPLITS
        },
        title="row share per split: target vs achieved",
        xlabel="split",
        ylabel="share of rows",
        value_format="{:.1%}",
    )
    return materialized(
        store,
        SPLIT_TABLES,
        staged.committed,
        metadata={
            "per_split": table(per_split),
            "dagster/row_count": len(examples),
            "strata_target_vs_achieved": table(strata, max_rows=60),
            "cv_folds": table(folds),
            "target_fractions": dg.MetadataValue.json(config.fractions),
            "ssim_bin_edges": dg.MetadataValue.json(edges),
            "logo_type_rebalance": table(mix)
            if mix is not None
            else dg.MetadataValue.md("off (`rebalance_logo_types`)"),
            "train_logo_mix": dg.MetadataValue.json(
                examples[examples["split"] == "train"]["logo_type"]  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
                .value_counts(normalize=True)
                .round(4)
                .sort_index()
                .to_dict()
            ),
            **continuity_metadata(previous, previous_assignment(examples, unit), config.resplit, SPLITS),
            **ledgers_metadata(ledger),
            **figure_metadata(store, context.asset_key.to_user_string(), "split_chart", chart),
            **column_schema(examples, COLUMNS),
            **run_info(mode=config.mode, group_by=config.group_by, seed=config.seed, split_unit=unit),
        },
    )


@dg.asset(group_name=GROUP, deps=[quality_dataset_splits], kinds={"csv", "png"}, automation_condition=FOLLOW_UPSTREAM)
def inspection_sample(
    context: dg.AssetExecutionContext, config: InspectionConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """The seed's 10% visual inspection: a reproducible sample of source images per stratum as a gallery, and a CSV
    (`verdict`: ok / bad, `note`) a person fills in; images marked bad are rejects at the next cleaning run."""
    examples = store.read_table(EXAMPLES)
    source = store.read(SOURCE)
    root = store.pull(source["local_root"])
    sample = inspection.sample_per_stratum(examples, config.share, config.seed)
    try:
        previous = inspection.read_verdicts(store.path(INSPECTION_SHEET.path))
    except ValueError as exc:
        raise dg.Failure(f"{INSPECTION_SHEET.path}: {exc}") from exc
    sheet = inspection.merge_verdicts(sample, previous)
    with store.write_file(INSPECTION_SHEET.path) as tmp:
        sheet.to_csv(tmp, index=False, lineterminator="\n")
    tiles = [load_rgb(str(root / image_id), config.tile_size) for image_id in sample["image_id"]]
    gallery = png_bytes(montage(tiles, columns=10, scale=1))
    with store.write_file(INSPECTION_GALLERY.path) as tmp:
        tmp.write_bytes(gallery)
    manifest = store.written_manifest(INSPECTION_SHEET.path)
    written = pd.read_csv(store.path(INSPECTION_SHEET.path), dtype=str, keep_default_na=False)
    ledger = inspection.sample_ledger(examples, sample, written)
    per_stratum = (
        sample.groupby("stratum")
        .size()
        .rename("sampled")
        .to_frame()
        .join(examples.drop_duplicates("image_group").groupby("stratum").size().rename("source_images"))
    )
    verdicts = sheet["verdict"].replace("", "pending").value_counts()
    return materialized(
        store,
        INSPECTION_SHEET,
        manifest,
        metadata={
            "dagster/row_count": len(sample),
            "sampled_per_stratum": counts_table(per_stratum, "stratum"),
            "verdicts": dg.MetadataValue.json({k: int(v) for k, v in verdicts.items()}),
            "fill_in": dg.MetadataValue.path(store.uri(INSPECTION_SHEET.path)),
            "gallery": dg.MetadataValue.path(store.uri(INSPECTION_GALLERY.path)),
            **column_schema(sheet, INSPECTION_COLUMNS),
            **ledgers_metadata(ledger),
            **run_info(share=config.share, seed=config.seed),
        },
    )


@dg.asset(
    group_name=GROUP,
    deps=[clean_conversion_results, quality_dataset_splits],
    kinds={"hdf5"},
    automation_condition=FOLLOW_UPSTREAM,
)
def image_features(
    context: dg.AssetExecutionContext, config: ImageFeaturesConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """One feature vector per clean image in HDF5 (chunked, compressed, indexed by image id), cached by pixel hash,
    within the seed's storage budget: the full vectors, or PCA scores fitted on the train split (`feature_budget`)."""
    source = store.read(SOURCE)
    store.pull(source["local_root"])
    images = store.read(IMAGES)
    images["path"] = [str(store.path(source["local_root"], i)) for i in images["image_id"]]
    name = resolve_extractor_name(config.extractor)
    weights_path, weights_note = config.weights_path, "none (no weights)"
    if name == "resnet50":
        weights_note = config.weights_path
        if not config.weights_path.strip():
            from dataprep_assets.ml.resnet import save_random_weights

            weights_path = str(save_random_weights(store.path(RANDOM_RESNET_WEIGHTS)))
            weights_note = (
                f"random (seed 0, {RANDOM_RESNET_WEIGHTS}): "
                "set weights_path to ImageNet weights for meaningful features"
            )
            context.log.warning(f"image_features: ResNet-50 with {weights_note}")
    try:
        extractor = build_extractor(name, weights_path=weights_path, threads=config.torch_threads)
    except FileNotFoundError as exc:
        raise dg.Failure(f"weights_path: {exc}") from exc
    except ImportError as exc:
        raise dg.Failure(
            f"extractor {config.extractor!r} needs PyTorch (`make torch` or `pip install torch`): {exc}"
        ) from exc
    except RuntimeError as exc:
        raise dg.Failure(
            f"weights_path {config.weights_path!r} is not a torchvision resnet50 state dict: {exc}"
        ) from exc
    h5_name, index_name = f"{extractor.name}.h5", f"{extractor.name}_index.parquet"
    legacy = [FEATURES.member(n) for n in (h5_name, index_name) if store.manifest(FEATURES.member(n))]
    if legacy:  # a store written before the features folder became one dataset: one file, one dataset
        raise dg.Failure(
            f"{', '.join(legacy)} are versioned as datasets of their own (a store from before {FEATURES.path}/ "
            f"became one dataset): remove _manifests/{FEATURES.path}/ (their versions stay listed and checkable "
            "out) and materialize again"
        )

    progress = progress_logger(context, f"features [{extractor.name}]", unit="images")

    workers = resolve_workers(config.max_workers)
    cache = VectorCache(store.path(VECTOR_CACHE), extractor) if config.use_cache else None
    cache_rel = f"{VECTOR_CACHE}/{cache.directory.name}" if cache else ""
    if cache:
        store.pull(cache_rel)
    extracted = store.path(VECTOR_CACHE, f"{h5_name}.partial")  # the full vectors: moved into the dataset, or removed
    extracted.parent.mkdir(parents=True, exist_ok=True)
    with store.write_dir(FEATURES.path) as staged:
        try:
            outcome = extract_to_hdf5(
                images,
                extracted,
                extractor=extractor,
                cache=cache,
                batch_size=config.batch_size,
                workers=workers,
                compression=config.compression,
                storage_dtype=config.storage_dtype,
                progress=progress,
            )
            with FeatureFile(extracted) as ff:
                index = pd.DataFrame(
                    {
                        "image_id": ff.image_ids,
                        "row": np.arange(len(ff), dtype=np.int64),
                        "content_hash": ff.content_hashes(),
                    }
                )
            index.to_parquet(staged.path / index_name, index=False, compression="zstd")
            stored, fidelity = _store_within_budget(store, config, images, index, extracted, staged.path / h5_name)
        finally:
            extracted.unlink(missing_ok=True)
        with FeatureFile(staged.path / h5_name) as ff:
            stats = ff.stats()
            attrs = dict(ff.attrs)
    files = {e.path: Manifest([e]) for e in staged.committed.entries}  # each file's own version
    h5_manifest, index_manifest = files[h5_name], files[index_name]
    ledger = account(
        "images", images["image_id"].tolist(), index["image_id"].tolist(), [r.item for r in outcome.rejects]
    )
    context.log.info(
        f"{outcome.featurised}/{outcome.images} images featurised ({outcome.cached} from cache, {outcome.computed} "
        "computed, "
        f"{outcome.images_per_second:.1f} img/s, peak RSS {outcome.peak_rss_mb:.0f} MiB)"
    )
    dim_stats = report.dimension_stats(stats)
    if cache and outcome.computed:
        store.push(cache_rel)
    storage_fidelity = {  # over every stored row: cached vectors are float32, converted again
        "storage_max_abs_error_vs_float32": outcome.storage_max_abs_error,
        "storage_max_abs_value": outcome.storage_max_abs_value,
        "storage_clipped_values": outcome.storage_clipped_values,
    }
    if not stored.budget_met:
        context.log.warning(
            f"image_features: {stored.dataset_bytes:,} B of features for {stored.raw_image_bytes:,} B of images "
            f"exceed the budget ({config.max_storage_overhead:g} x): "
            + (
                "the full vectors were kept (feature_storage: full, or fewer than 2 train images to fit PCA on)"
                if stored.mode == "full"
                else "even one PCA component does not fit (the projection's fixed cost needs more images)"
            )
        )
    return materialized(
        store,
        FEATURES,
        staged.committed,
        rejects=outcome.rejects,
        version_of=[h5_manifest, index_manifest],
        metadata={
            "featurised_share": float(round(outcome.featurised / max(outcome.images, 1), 6)),
            "dagster/row_count": outcome.featurised,
            "extractor": f"{attrs['extractor']} v{attrs['extractor_version']}",
            "feature_dim": extractor.dim,
            "clean_images": outcome.images,
            **ledgers_metadata(ledger),
            "from_cache": outcome.cached,
            "computed": outcome.computed,
            "weights": weights_note,
            "storage_dtype": attrs["storage_dtype"],
            **storage_fidelity,
            "hdf5_bytes": h5_manifest.total_bytes,
            **stored.metadata(),
            **({"feature_fidelity": dg.MetadataValue.json(fidelity)} if fidelity else {}),
            "vector_cache": cache_rel or "off (use_cache: false)",
            "dimension_statistics": table(dim_stats),
            "index": dg.MetadataValue.path(store.uri(FEATURES.member(index_name))),
            **run_info(
                images_per_second=round(outcome.images_per_second, 1),
                extraction_seconds=round(outcome.seconds, 2),
                peak_rss_mib=round(outcome.peak_rss_mb, 1),
                peak_worker_rss_mib=round(outcome.peak_workers_rss_mb, 1),
                batch_size=config.batch_size,
                compression=config.compression,
                workers=workers,
                max_storage_overhead=config.max_storage_overhead,
            ),
        },
    )


def _store_within_budget(
    store: DatasetStore, config: ImageFeaturesConfig, images: pd.DataFrame, index: pd.DataFrame, full, out
) -> tuple[feature_budget.StorageOutcome, dict]:
    """The full vectors or PCA scores (projection fitted on the train split) at `out`, within the budget; with
    PCA, the ridge R2 of SSIM on validation with full vs stored features."""
    paths = images.set_index("image_id")["path"].reindex(index["image_id"]).tolist()
    examples = None
    if config.feature_storage != "full":
        if store.manifest(SPLIT_TABLES.path) is None:
            raise dg.Failure(
                f"feature_storage {config.feature_storage!r} fits PCA on the train split: materialize "
                f"{SPLIT_TABLES.asset} first (or set feature_storage: full)"
            )
        examples = store.read_table(EXAMPLES)
    try:
        stored = feature_budget.store_within_budget(
            full,
            out,
            train_ids=[] if examples is None else examples.loc[examples["split"] == "train", "image_id"].tolist(),
            raw_image_bytes=feature_budget.raw_image_bytes(paths),
            other_bytes=sum(p.stat().st_size for p in out.parent.iterdir() if p.is_file() and p != out),
            mode=config.feature_storage,
            max_overhead=config.max_storage_overhead,
            compression=config.compression,
            storage_dtype=config.storage_dtype,
        )
    except ValueError as exc:
        raise dg.Failure(str(exc)) from exc
    fidelity = (
        feature_budget.ridge_fidelity(full, out, examples) if stored.mode == "pca" and examples is not None else {}
    )
    return stored, fidelity


@dg.asset(
    group_name=GROUP,
    deps=[quality_dataset_splits, image_features],
    kinds={"json"},
    automation_condition=FOLLOW_UPSTREAM,
)
def feature_report(
    context: dg.AssetExecutionContext, config: FeatureReportConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """Dataset statistics and feature analysis: PCA, correlation with SSIM, clustering, a linear probe, coverage
    gaps."""
    examples = store.read_table(EXAMPLES)
    clean_rejects = store.read_rejects(CLEAN.asset)
    results = store.read(RESULTS)
    features_file, features_manifest = current_features(store)
    versions = report.input_versions(store, features_file, features_manifest.dataset_hash)
    with FeatureFile(store.pull(features_file)) as ff:
        payload, figures = report.build_report(examples, results, clean_rejects, ff, config, versions=versions)
    extraction = latest_materialization_metadata(context.instance, image_features.key)
    speed = extraction.get("run_info", {})
    manifest = store.write(REPORT, payload)
    estimate = analysis.processing_time_estimate(
        speed.get("extraction_seconds", 0.0) / max(extraction.get("computed", 0), 1)
        if extraction.get("computed")
        else float("nan")
    )
    loader = loader_figures(store, features_file)
    importance = payload["features"]["linear_probe"].get("permutation_importance", {}).get("features", [])
    pca = payload["features"]["pca"]
    probe = payload["features"]["linear_probe"]
    return materialized(
        store,
        REPORT,
        manifest,
        metadata={
            "dagster/row_count": payload["dataset"]["examples"],
            "extractor": payload["features"]["extractor"],
            "pca_components_for_variance": dg.MetadataValue.json(pca["components_for_variance"]),
            "pca_first_ratios": dg.MetadataValue.json(pca["explained_variance_ratio"][:10]),
            "top_correlations_with_ssim": table(pd.DataFrame(payload["features"]["correlation_with_ssim"]["top"])),
            "clusters": table(pd.DataFrame(payload["features"]["clustering"]["clusters"])),
            "cluster_purity": payload["features"]["clustering"]["purity_vs_logo_type"],
            "probe_validation_r2": dg.MetadataValue.json(probe),
            "permutation_importance": dg.MetadataValue.md(
                markdown_table(pd.DataFrame(importance), max_rows=20) if importance else "too few examples"
            ),
            "processing_time_estimate": dg.MetadataValue.md(
                f"From the last extraction's measured cost ({extraction.get('extractor', '?')}, "
                f"{speed.get('images_per_second', 0.0)} images/s); linear in N.\n\n" + markdown_table(estimate)
            ),
            "loader_figures": dg.MetadataValue.json(loader),
            "coverage_gaps": dg.MetadataValue.md("\n".join(f"- {g}" for g in payload["coverage"]["gaps"]) or "none"),
            "recommendations": dg.MetadataValue.md("\n".join(f"- {r}" for r in payload["recommendations"]) or "none"),
            **figure_metadata(store, context.asset_key.to_user_string(), "feature_charts", figures),
            **run_info(
                extraction_images_per_second=speed.get("images_per_second", 0.0),
                extraction_peak_rss_mib=speed.get("peak_rss_mib", 0.0),
            ),
        },
    )


def loader_figures(store: DatasetStore, features_file: str) -> dict:
    """The seed's loader targets measured on the materialized dataset (PyTorch `Dataset`), or why not."""
    if not torch_available():
        return {"skipped": "PyTorch is not installed (`make torch`)"}
    from dataprep_assets.ml.quality_prediction import LOADER_TARGETS, measure_loader

    return {**measure_loader(store.path(features_file), store.path(EXAMPLES)), "targets": LOADER_TARGETS}


quality_prediction_job = dg.define_asset_job(
    "quality_prediction_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Build the quality-prediction training set: results inventory, cleaning, stratified grouped splits, "
    "image features (HDF5), report.",
)
