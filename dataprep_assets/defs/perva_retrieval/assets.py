"""perva_retrieval assets: catalog -> concept splits -> hard negatives per category (one partition
each) -> combined records -> HuggingFace dataset. Thin wrappers over the domain modules."""

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
from dataprep_assets.common.progress import progress_logger
from dataprep_assets.common.publish import materialized
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.common.uploads import raw_inputs
from dataprep_assets.defs.perva_retrieval import columns
from dataprep_assets.defs.perva_retrieval.catalog import (
    CatalogOptions,
    build_catalog,
    catalog_ledger,
    inspect_chunk,
    scan,
)
from dataprep_assets.defs.perva_retrieval.concept_splits import concept_table, create_concept_splits, split_ledgers
from dataprep_assets.defs.perva_retrieval.config import (
    CombineConfig,
    ConceptSplitsConfig,
    HFDatasetConfig,
    ImageCatalogConfig,
    RetrievalConfig,
)
from dataprep_assets.defs.perva_retrieval.datasets import (
    CATALOG,
    CATALOG_IMAGES,
    CONCEPT_TABLE,
    GROUP,
    OUTPUTS_DIR,
    PARTITIONS_NAME,
    RAW_PREFIX,
    combined_name,
    combined_records,
    hf_dataset,
    images_table_path,
    retrieval_path,
    retrieval_records,
    split_files,
)
from dataprep_assets.defs.perva_retrieval.embeddings import CACHE_PREFIX, PARALLEL_MIN_IMAGES, embed_images
from dataprep_assets.defs.perva_retrieval.encoders import build_encoder
from dataprep_assets.defs.perva_retrieval.export import (
    build_hf_dataset,
    combine_ledger,
    combine_records,
    hf_ledger,
    shown_path,
)
from dataprep_assets.defs.perva_retrieval.locate import (
    NotMaterialized,
    catalog_source,
    current_combined,
    current_records,
    current_split_files,
)
from dataprep_assets.defs.perva_retrieval.pictures import catalog_montage, retrieval_montage
from dataprep_assets.defs.perva_retrieval.retrieval import build_records, category_images
from dataprep_assets.defs.perva_retrieval.search import hard_negatives
from dataprep_assets.defs.perva_retrieval.uploads import perva_retrieval_uploads
from dataprep_assets.lib.accounting import account, ledgers_metadata
from dataprep_assets.lib.parallel import batches, ordered_map, resolve_workers
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.splits import previous_assignment
from dataprep_assets.lib.storage import UnsafePathError
from dataprep_assets.lib.vectors import VectorCache

perva_categories = dg.DynamicPartitionsDefinition(name=PARTITIONS_NAME)


def _sync_partitions(instance: dg.DagsterInstance, wanted: list[str]) -> tuple[list[str], list[str]]:
    """Make the category partitions exactly `wanted`: new categories appear, vanished ones go."""
    existing = set(instance.get_dynamic_partitions(PARTITIONS_NAME))
    added = sorted(set(wanted) - existing)
    removed = sorted(existing - set(wanted))
    if added:
        instance.add_dynamic_partitions(PARTITIONS_NAME, added)
    for key in removed:
        instance.delete_dynamic_partition(PARTITIONS_NAME, key)
    return added, removed


@dg.asset(
    group_name=GROUP, deps=[perva_retrieval_uploads], kinds={"json", "parquet"}, automation_condition=FOLLOW_UPSTREAM
)
def image_catalog(
    context: dg.AssetExecutionContext, config: ImageCatalogConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """The seed's catalog JSON ({category: {concept: {train, test}}}); registers one partition per category."""
    data_root = raw_inputs(store, GROUP, RAW_PREFIX, config.data_root)  # an undated view of dated uploads
    root = store.local_root()
    opts = CatalogOptions(
        data_root=data_root,
        relative=config.relative,
        train_fraction=config.train_fraction,
        num_train=config.num_train,
        seed=config.seed,
        train_dirname=config.train_dirname,
        test_dirname=config.test_dirname,
        layout=config.layout,
        negatives_dirname=config.negatives_dirname,
    )
    try:
        found, rejects, layout = scan(root, opts)
    except (FileNotFoundError, UnsafePathError) as exc:
        raise dg.Failure(f"image_catalog: {exc}") from exc
    paths = sorted(f.store_path for f in found)
    chunks = [(str(root), chunk) for chunk in batches(paths, 64)]
    progress = progress_logger(context, "images decoded", unit="chunks")
    workers = resolve_workers(config.max_workers, len(paths), PARALLEL_MIN_IMAGES)
    inspected = {
        row[0]: row
        for chunk in ordered_map(inspect_chunk, chunks, max_workers=workers, progress=progress)
        for row in chunk
    }
    result = build_catalog(found, inspected, rejects, opts, layout)
    ledger = catalog_ledger(found, result)
    if not result.catalog:
        rejects_path = store.write_rejects(CATALOG.asset, result.rejects)
        raise dg.Failure(
            f"no usable image under {config.data_root}; see {rejects_path}",
            metadata=rejects_metadata(store, rejects_path, result.rejects),
        )
    source = {"data_root": opts.data_root, "path_prefix": opts.data_root + "/" if config.relative else ""}
    manifest = store.write(CATALOG, result.catalog, meta=source)
    table_manifest = store.write(CATALOG_IMAGES, result.images)
    exported = _export_copy(store, CATALOG.path, config.out, result.catalog)
    if exported:
        store.write_table(images_table_path(config.out), result.images)
    wanted = sorted(c for c, concepts in result.catalog.items() if len(concepts) >= 2)
    added, removed = _sync_partitions(context.instance, wanted)
    context.log.info(
        f"catalog: {len(result.images)} images, {len(result.catalog)} categories ({layout} layout); partitions "
        f"+{added} -{removed}"
    )
    per_category = result.images.pivot_table(
        index="category", columns="split", values="store_path", aggfunc="count", fill_value=0
    )
    per_category.insert(0, "concepts", result.images.groupby("category")["concept"].nunique())
    return materialized(
        store,
        CATALOG,
        manifest,
        rejects=result.rejects,
        version_of=[manifest, table_manifest],
        metadata={
            "images_per_category": counts_table(per_category, "category"),
            "dagster/row_count": len(result.images),
            "categories": len(result.catalog),
            "concepts": int(sum(len(c) for c in result.catalog.values())),
            "layout": layout,
            "catalog_file": CATALOG.path,
            **exported,
            "data_root": opts.data_root,
            "images_table": CATALOG_IMAGES.path,
            "path_prefix": source["path_prefix"],
            **ledgers_metadata(ledger),
            "partitions": dg.MetadataValue.json(wanted),
            "partitions_added": dg.MetadataValue.json(added),
            "partitions_removed": dg.MetadataValue.json(removed),
            **figure_metadata(store, CATALOG.asset, "sample_concepts", catalog_montage(root, result.images)),
            **column_schema(result.images, columns.IMAGES),
        },
    )


@dg.asset(group_name=GROUP, deps=[image_catalog], kinds={"json"}, automation_condition=FOLLOW_UPSTREAM)
def concept_splits(
    context: dg.AssetExecutionContext, config: ConceptSplitsConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """Concept-level train/validation: the seed's train combined subset, validation subset and metadata files, and
    `concept_splits.parquet` (one row per concept). Concepts of the previous version stay put unless `resplit`."""
    input_json = config.input_json or CATALOG.path
    catalog = store.read_json(input_json)
    before, reference = reference_table(store, CONCEPT_TABLE.path, "concept_key")
    previous = previous_assignment(before, "concept_key")
    train, validation, meta = create_concept_splits(
        catalog,
        concept_frac=config.concept_frac,
        min_concepts_threshold=config.min_concepts_threshold,
        test_sample_frac=config.test_sample_frac,
        max_test_images=config.max_test_images,
        seed=config.seed,
        previous={} if config.resplit else previous,
    )
    ledgers = split_ledgers(catalog, train, validation, meta)
    meta["catalog"] = input_json
    files = split_files(config.concept_frac, config.seed)
    version = version_meta(config.resplit, reference)
    payloads = (train, validation, meta)
    manifests = [store.write(f, payload, meta=version) for f, payload in zip(files, payloads, strict=True)]
    table = concept_table(train, validation)
    store.write(CONCEPT_TABLE, table, meta=version | {"concept_frac": config.concept_frac, "seed": config.seed})
    exported = {}
    for declared, copy, payload in zip(
        files, split_files(config.concept_frac, config.seed, config.out_dir), payloads, strict=True
    ):
        exported |= _export_copy(store, declared.path, copy.path, payload)
    summary = table.pivot_table(index="category", columns="split", values="concept", aggfunc="count", fill_value=0)
    images = table.pivot_table(
        index="category", columns="split", values="images", aggfunc="sum", fill_value=0
    ).add_suffix("_images")
    summary = summary.join(images).reindex(sorted(catalog)).fillna(0).astype(int)
    return materialized(
        store,
        files[0],
        manifests[0],
        version_of=manifests,
        metadata={
            "concepts_per_category": counts_table(summary, "category"),
            "dagster/row_count": len(table),
            "train_file": files[0].path,
            "validation_file": files[1].path,
            "metadata_file": files[2].path,
            **({"exported_to": config.out_dir} if exported else {}),
            "catalog": input_json,
            "seed": config.seed,
            "train_concepts": int((table["split"] == "train").sum()),
            "validation_concepts": int((table["split"] == "validation").sum()),
            "concept_table": CONCEPT_TABLE.path,
            **continuity_metadata(
                previous, previous_assignment(table, "concept_key"), config.resplit, ("train", "validation")
            ),
            **ledgers_metadata(*ledgers),
        },
    )


def _export_copy(store: DatasetStore, declared: str, copy: str, payload: object) -> dict:
    """The seed's output-location options: a copy of a declared JSON dataset where the config asks for it
    (downstream always reads the declared one). Returns `{"exported_to": copy}`, or {} when `copy` is the
    declared path."""
    if copy.strip("/") == declared:
        return {}
    store.write_json(copy.strip("/"), payload)
    return {"exported_to": copy.strip("/")}


def _listed_file(store: DatasetStore, path: str, source: str, rejects: RejectLog) -> bool:
    """True if a path from the source JSON is a file inside the store; otherwise a reject."""
    try:
        if store.path(path).is_file():
            return True
        rejects.add(path, "retrieval_per_category", "missing_image", f"listed in {source} but not in the store")
    except UnsafePathError as exc:
        rejects.add(path, "retrieval_per_category", "unsafe_path", str(exc))
    return False


@dg.asset(
    group_name=GROUP,
    deps=[concept_splits, image_catalog],
    partitions_def=perva_categories,
    kinds={"json", "numpy"},
    automation_condition=FOLLOW_UPSTREAM,
)
def retrieval_per_category(
    context: dg.AssetExecutionContext, config: RetrievalConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """For each query image of one category: its K hardest negatives (other concepts) and a positive, from
    embeddings."""
    category = context.partition_key
    try:
        source = config.catalog or current_split_files(store)[0].path
    except NotMaterialized as exc:
        raise dg.Failure(f"retrieval_per_category: set catalog or {exc}") from exc
    prefix = catalog_source(store).get("path_prefix", "")
    catalog = store.read_json(source)
    images, ambiguous = category_images(catalog, category, config.split, prefix)
    listed_images = images
    rejects = RejectLog()
    for path in ambiguous:
        rejects.add(
            path,
            "retrieval_per_category",
            "ambiguous_concept",
            f"listed under several concepts of {category} in {source}",
        )
    exists = np.array([_listed_file(store, p, source, rejects) for p in images["path"]], dtype=bool)
    images = images.loc[exists].reset_index(drop=True)  # a boolean array, never a (possibly empty) column list
    try:
        encoder_name, encoder_options = config.encoder_choice(store.local_root())
        encoder = build_encoder(encoder_name, encoder_options)
    except ValueError as exc:
        raise dg.Failure(f"retrieval_per_category config: {exc}") from exc
    cache = VectorCache(store.path(CACHE_PREFIX), encoder)
    cache_rel = f"{CACHE_PREFIX}/{cache.directory.name}"
    store.pull(cache_rel)
    started = time.perf_counter()
    progress = lambda done, total, s: context.log.info(f"{category}: encoded {done}/{total} batches, {s:.1f}s")  # noqa: E731
    embedded = embed_images(
        store.local_root(),
        images["path"].tolist(),
        encoder,
        cache=cache,
        max_workers=config.max_workers,
        progress=progress,
    )
    embed_s = time.perf_counter() - started
    if embedded.misses:
        store.push(cache_rel)
    rejects.extend(embedded.rejects)
    images = images.loc[np.asarray(embedded.kept, dtype=bool)].reset_index(drop=True)
    note = ""
    started = time.perf_counter()
    if images["concept"].nunique() >= 2:
        result = hard_negatives(
            embedded.vectors,
            images["concept"].to_numpy(),
            config.negatives_per_query(),
            one_per_concept=config.one_per_concept,
            positive=config.positive,
            block=config.search_block,
        )
        records = build_records(category, images, result, config.seed)
    else:
        records = []
        listed = "not in" if category not in catalog else f"{images['concept'].nunique()} concept(s) of {category} in"
        note = (
            f"{category}: {listed} {source} ({config.split}): no hard negatives possible; this partition has no records"
        )
        context.log.warning(note)
    search_s = time.perf_counter() - started
    listed = listed_images["path"].tolist() + ambiguous
    ledger = account("images", listed, images["path"].tolist(), [r.item for r in rejects if r.item in set(listed)])
    settings = retrieval_settings(config, category, prefix)
    records_ds = retrieval_records(category, config.seed, config.top_k)
    manifest = store.write(records_ds, records, meta=settings)
    store.write_table(images_table_path(records_ds.path), images)
    exported = _export_copy(
        store, records_ds.path, retrieval_path(config.out_dir, category, config.seed, config.top_k), records
    )
    if exported:
        store.write_table(images_table_path(exported["exported_to"]), images)
    closer = sum(1 for r in records if r["negatives"] and r["negatives"][0]["similarity"] > r["positive_similarity"])
    metadata = {
        "queries_with_negative_closer_than_positive": closer,
        "dagster/row_count": len(records),
        "images": len(images),
        "concepts": int(images["concept"].nunique()),
        "category": category,
        "relpath": records_ds.path,
        **exported,
        "images_table": images_table_path(records_ds.path),
        "source": source,
        "split": config.split,
        "path_prefix": prefix,
        "top_k": config.top_k,
        "top_k_counts": config.top_k_counts,
        "negatives_per_query": config.negatives_per_query(),
        "seed": config.seed,
        "out_dir": config.out_dir,
        "one_per_concept": config.one_per_concept,
        "encoder": encoder.fingerprint(),
        "encoder_choice": f"{encoder_name} (requested: {config.encoder})"
        + ("" if encoder_name == "clip" else ": the offline fallback"),
        "embedding_cache_hits": embedded.hits,
        "embedding_cache_misses": embedded.misses,
        **ledgers_metadata(ledger),
    }
    if note:
        metadata["note"] = note
    if records:
        picture = retrieval_montage(store.local_root(), records, config.negatives_per_query())
        metadata |= preview_metadata(picture, "per row: query, positive, hard negatives (most similar first)")
        metadata |= figure_metadata(store, f"retrieval_per_category/{category}", "query_positive_negatives", picture)
    timing = run_info(
        embed_seconds=round(embed_s, 3), search_queries_per_second=round(len(records) / max(search_s, 1e-9), 1)
    )
    return materialized(
        store,
        records_ds,
        manifest,
        rejects=rejects,
        rejects_as=f"{records_ds.asset}/{category}",
        metadata=metadata | timing,
    )


def retrieval_settings(config: RetrievalConfig, category: str, prefix: str) -> dict:
    """What a category's records were built with, recorded with their version (read by the checks and the
    combined step)."""
    return {
        "category": category,
        "seed": config.seed,
        "top_k": config.top_k,
        "negatives_per_query": config.negatives_per_query(),
        "one_per_concept": config.one_per_concept,
        "path_prefix": prefix,
    }


@dg.asset(group_name=GROUP, deps=[retrieval_per_category], kinds={"json"}, automation_condition=FOLLOW_UPSTREAM)
def retrieval_combined(
    context: dg.AssetExecutionContext, config: CombineConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """Every category's records in one file (the seed's step 4), optionally a seeded sample of `num_samples`."""
    if config.input_dir:
        return _combine_files(config, store)
    categories = config.categories or sorted(context.instance.get_dynamic_partitions(PARTITIONS_NAME))
    if not categories:
        raise dg.Failure(
            "retrieval_combined: no categories; materialize image_catalog to register the category partitions"
        )
    found = {c: current_records(store, c) for c in categories}
    missing = sorted(c for c, f in found.items() if f is None)
    if missing:
        raise dg.Failure(
            f"retrieval_per_category has no materialization for {missing}: backfill those partitions first"
        )
    current = {c: f for c, f in found.items() if f is not None}
    settings = {(meta["top_k"], meta["seed"]) for _, meta in current.values()}
    if len(settings) > 1:
        detail = ", ".join(
            f"{c}: top_k={meta['top_k']} seed={meta['seed']}" for c, (_, meta) in sorted(current.items())
        )
        raise dg.Failure(
            f"categories were built with different retrieval settings ({detail}); re-run them with the same config"
        )
    top_k, retrieval_seed = settings.pop()
    per_category = {c: store.read(records) for c, (records, _) in current.items()}
    return _write_combined(config, store, per_category, OUTPUTS_DIR, top_k, retrieval_seed)


def _combine_files(config: CombineConfig, store: DatasetStore) -> dg.MaterializeResult:
    """The seed's step 4 over files: <input_dir>/<category>/seed_<seed>/<input_filename> per category."""
    import re

    input_dir = config.input_dir.strip("/")
    if config.categories:
        categories = list(config.categories)
    elif config.catalog:
        categories = sorted(store.read_json(config.catalog))
    else:
        root = store.pull(input_dir)
        categories = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name != "all") if root.is_dir() else []
    if not categories:
        raise dg.Failure(f"retrieval_combined: no categories under {input_dir!r} (set categories or catalog)")
    per_category = {}
    for category in categories:
        rel = f"{input_dir}/{category}/seed_{config.seed}/{config.input_filename}"
        if not store.exists(rel):
            raise dg.Failure(
                f"retrieval_combined: {rel} not found (input_dir, input_filename and seed locate the per-category "
                "files)"
            )
        per_category[category] = store.read_json(rel)
    k = re.search(r"top(\d+)", config.input_filename)
    return _write_combined(config, store, per_category, input_dir, int(k[1]) if k else 0, config.seed)


def _write_combined(
    config: CombineConfig, store: DatasetStore, per_category: dict, out_dir: str, top_k: int, retrieval_seed: int
) -> dg.MaterializeResult:
    combined = combine_records(per_category, config.num_samples, config.seed)
    name = config.output_filename or combined_name(top_k, config.num_samples)
    declared = combined_records(config.seed, name)
    settings = {"top_k": top_k, "retrieval_seed": retrieval_seed, "seed": config.seed}
    manifest = store.write(declared, combined, meta=settings)
    ledger = combine_ledger(per_category, store.read(declared), config.num_samples is not None)
    folder = config.output_dir.rstrip("/") or f"{out_dir.rstrip('/')}/all/seed_{config.seed}"
    exported = _export_copy(store, declared.path, f"{folder}/{name}", combined)
    counts = (
        pd.DataFrame(
            {
                "available": pd.Series({c: len(r) for c, r in per_category.items()}),
                "kept": pd.Series([r["category"] for r in combined], dtype="string").value_counts(),
            }
        )
        .fillna(0)
        .astype(int)
    )
    return materialized(
        store,
        declared,
        manifest,
        metadata={
            "records_per_category": counts_table(counts, "category"),
            **ledgers_metadata(ledger),
            "dagster/row_count": len(combined),
            "relpath": declared.path,
            **exported,
            "top_k": top_k,
            "retrieval_seed": retrieval_seed,
            "seed": config.seed,
            "num_samples": config.num_samples if config.num_samples is not None else "all",
        },
    )


@dg.asset(group_name=GROUP, deps=[retrieval_combined], kinds={"huggingface"}, automation_condition=FOLLOW_UPSTREAM)
def hf_retrieval_dataset(
    context: dg.AssetExecutionContext, config: HFDatasetConfig, store: DatasetStore
) -> dg.MaterializeResult:
    """The training-ready HuggingFace DatasetDict (`train` split), saved with `save_to_disk`."""
    import datasets

    datasets.disable_progress_bars()
    current = current_combined(store)
    if current is None:
        raise dg.Failure("hf_retrieval_dataset: materialize retrieval_combined first")
    combined, combined_settings = current
    source = combined.path
    if config.ret_json:
        source = config.ret_json if "/" in config.ret_json else f"{combined.path.rsplit('/', 1)[0]}/{config.ret_json}"
        if not store.exists(source):
            raise dg.Failure(f"hf_retrieval_dataset: ret_json {config.ret_json!r} not found (looked for {source})")
    records = every_record = store.read_json(source)
    if config.category != "all":
        records = [r for r in records if r["category"] == config.category]
        if not records:
            raise dg.Failure(f"hf_retrieval_dataset: no records of category {config.category!r} in {source}")
    dataset = build_hf_dataset(
        records, store.local_root(), absolute_paths=config.absolute_paths, embed_retrieved=config.embed_retrieved
    )
    top_k = combined_settings["top_k"]
    declared = hf_dataset(config.dataset, config.category, config.seed, top_k)
    with store.write_dir(declared.path, meta={"source": source, "category": config.category}) as staged:
        dataset.save_to_disk(str(staged.path))
    exported = {}
    copy = hf_dataset(config.dataset, config.category, config.seed, top_k, root=config.root)
    if copy.path != declared.path:
        with store.write_dir(copy.path) as extra:
            dataset.save_to_disk(str(extra.path))
        exported = {"exported_to": copy.path}
    train = dataset["train"]
    saved = datasets.DatasetDict.load_from_disk(str(store.path(declared.path)))["train"]
    root = store.local_root()
    ledger = hf_ledger(every_record, config.category, saved, lambda rel: shown_path(root, rel, config.absolute_paths))
    preview = pd.DataFrame({c: train[c][:8] for c in ("query_path", "category", "concept", "names", "solution")})
    return materialized(
        store,
        declared,
        staged.committed,
        metadata={
            "rows_per_category": counts_table(
                pd.Series(train["category_key"]).value_counts().sort_index().to_frame("rows"), "category"
            ),
            "dagster/row_count": len(train),
            "relpath": declared.path,
            **exported,
            "source": source,
            "category": config.category,
            "columns": dg.MetadataValue.json(train.column_names),
            "sample_rows": table(preview.astype(str)),
            **ledgers_metadata(ledger),
        },
    )


perva_retrieval_catalog_job = dg.define_asset_job(
    "perva_retrieval_catalog_job",
    selection=dg.AssetSelection.assets(image_catalog, concept_splits),
    description="Steps 1-2: scan the image tree into the catalog (registering one partition per category) and split "
    "concepts.",
)

perva_retrieval_per_category_job = dg.define_asset_job(
    "perva_retrieval_per_category_job",
    selection=dg.AssetSelection.assets(retrieval_per_category),
    partitions_def=perva_categories,
    description="Step 3, one run per category partition: launch it as a backfill of all partitions to run categories "
    "in parallel.",
)

perva_retrieval_export_job = dg.define_asset_job(
    "perva_retrieval_export_job",
    selection=dg.AssetSelection.assets(retrieval_combined, hf_retrieval_dataset, "perva_retrieval_dataset_card"),
    description="Steps 4-5: combine every category's records and write the HuggingFace dataset (and its dataset card).",
)
