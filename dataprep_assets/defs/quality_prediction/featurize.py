"""Batch feature extraction into HDF5, reusing the vectors of images whose pixels did not change.

Images are taken in image-id order and cut into batches; for each batch the vectors of known pixels come from
the shared content-hash `VectorCache` (`lib/vectors.py`, keyed by pixel hash and extractor fingerprint) and only
the rest are decoded and run through the extractor (in worker processes for the numpy extractor, in-process with
torch threads for ResNet-50), then cached. Every vector is validated (dimension, finite values); an image that
fails is a reject, never a silent gap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dataprep_assets.defs.quality_prediction.extractors import FeatureExtractor, build_extractor
from dataprep_assets.lib.limits import ImageTooLargeError
from dataprep_assets.lib.memory import PeakMemory
from dataprep_assets.lib.parallel import ordered_map, resolve_workers
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.vectors import EncodedBatch, VectorCache, encode_batch
from dataprep_assets.ml.featurestore import FeatureWriter

STAGE = "extract_features"
MIN_IMAGES_PER_WORKER = 2000
"""A spawned worker costs ~2.5 s before its first image (imports): one is started per 2,000 images still to
compute (~7 s of image_stats work each), up to `workers`; below that everything runs in-process."""
ProgressFn = Callable[[int, int, float], None]
_WORKER_EXTRACTORS: dict[str, FeatureExtractor] = {}


def describe_failure(exc: Exception) -> tuple[str, str]:
    """(reason, detail) of a logo that cannot be decoded: a decompression limit's own reason, else
    `extraction_failed`."""
    if isinstance(exc, ImageTooLargeError):
        return exc.reason, str(exc)
    return "extraction_failed", f"cannot decode: {type(exc).__name__}: {exc}"


def compute_batch(extractor: FeatureExtractor, paths: list[str]) -> EncodedBatch:
    """Decode, extract and validate one batch; failures are per image."""
    return encode_batch(extractor, paths, describe_failure)


def _worker_batch(args: tuple[str, list[str]]) -> EncodedBatch:
    """Process-pool task: the extractor is built once per worker process."""
    name, paths = args
    if name not in _WORKER_EXTRACTORS:
        _WORKER_EXTRACTORS[name] = build_extractor(name)
    return compute_batch(_WORKER_EXTRACTORS[name], paths) if paths else EncodedBatch(np.zeros((0, 0), np.float32), [])


@dataclass
class ExtractionReport:
    images: int
    featurised: int
    cached: int
    computed: int
    seconds: float
    peak_rss_mb: float
    peak_workers_rss_mb: float
    rejects: RejectLog
    storage_max_abs_error: float = 0.0
    """Largest |stored - float32| over the values stored (cached vectors are float32: every row is converted)."""
    storage_max_abs_value: float = 0.0
    storage_clipped_values: int = 0

    @property
    def images_per_second(self) -> float:
        return self.computed / self.seconds if self.seconds > 0 else 0.0


def extract_to_hdf5(
    images: pd.DataFrame,
    out_path: Path,
    *,
    extractor: FeatureExtractor,
    cache: VectorCache | None,
    batch_size: int = 32,
    workers: int = 1,
    compression: str = "gzip",
    storage_dtype: str = "float32",
    progress: ProgressFn | None = None,
) -> ExtractionReport:
    """Write features for `images` (columns image_id, content_hash, path) to `out_path` (sorted by image id),
    taking the vectors of known pixels from `cache` and adding the computed ones to it."""
    images = images.sort_values("image_id", kind="stable").reset_index(drop=True)
    known = {h for h in images["content_hash"] if cache is not None and cache.path(h).is_file()}
    rejects = RejectLog()
    batches = [images.iloc[i : i + batch_size] for i in range(0, len(images), batch_size)]
    todo = [[p for p, h in zip(b["path"], b["content_hash"], strict=True) if h not in known] for b in batches]
    n_todo = sum(len(t) for t in todo)
    attrs = {
        "extractor": extractor.name,
        "extractor_version": extractor.version,
        "extractor_fingerprint": extractor.fingerprint(),
        "input_size": extractor.input_size,
    }
    cached = computed = featurised = 0
    started = time.perf_counter()
    with (
        PeakMemory() as peak,
        FeatureWriter(
            out_path,
            dim=extractor.dim,
            attrs=attrs,
            compression=compression,
            feature_names=extractor.feature_names,
            storage_dtype=storage_dtype,
        ) as writer,
    ):
        for batch, result in zip(batches, _results(extractor, todo, workers), strict=True):
            merged = _merge(batch, result, extractor, cache, known, rejects)
            writer.append(merged.ids, merged.hashes, merged.rows)
            cached += merged.hits
            computed += len(batch) - merged.hits
            featurised += len(merged.ids)
            if progress:
                progress(computed, n_todo, time.perf_counter() - started)
        storage = (writer.max_abs_error, writer.max_abs_value, writer.clipped_values)
    return ExtractionReport(
        len(images),
        featurised,
        cached,
        computed,
        time.perf_counter() - started,
        peak.self_mb,
        peak.children_mb,
        rejects,
        *storage,
    )


def _results(extractor: FeatureExtractor, todo: list[list[str]], workers: int) -> Iterator[EncodedBatch | None]:
    workers = min(workers, resolve_workers(None, sum(len(t) for t in todo), MIN_IMAGES_PER_WORKER))
    if workers > 1 and extractor.parallel_decode:
        yield from ordered_map(
            _worker_batch, [(extractor.name, t) for t in todo], max_workers=workers, in_flight_per_worker=2
        )
        return
    for paths in todo:
        yield compute_batch(extractor, paths) if paths else None


@dataclass
class _Merged:
    rows: np.ndarray
    ids: list[str]
    hashes: list[str]
    hits: int


def _merge(
    batch: pd.DataFrame,
    result: EncodedBatch | None,
    extractor: FeatureExtractor,
    cache: VectorCache | None,
    known: set[str],
    rejects: RejectLog,
) -> _Merged:
    """Cached and computed rows in the batch's (sorted) order, without rejects; computed rows go to the cache.
    A cache entry damaged since it was listed is computed here instead."""
    computed_rows: dict[str, np.ndarray] = {}
    failed: dict[str, tuple[str, str]] = {}
    pending = [i for i, h in zip(batch["image_id"], batch["content_hash"], strict=True) if h not in known]
    if result is not None:
        for pos, row in zip(result.ok, result.rows, strict=True):
            computed_rows[pending[pos]] = row
        for pos, reason, detail in result.errors:
            failed[pending[pos]] = (reason, detail)
    rows, ids, hashes, hits = [], [], [], 0
    for image_id, h, path in zip(batch["image_id"], batch["content_hash"], batch["path"], strict=True):
        row = cache.get(h) if cache is not None and h in known else None
        hits += row is not None
        if row is None and h in known:  # damaged since it was listed
            redo = compute_batch(extractor, [path])
            computed_rows.update({image_id: redo.rows[0]} if redo.ok else {})
            failed.update({image_id: redo.errors[0][1:]} if redo.errors else {})
        if row is None and image_id in computed_rows:
            row = computed_rows[image_id]
            if cache is not None:
                cache.put(h, row)
        if row is None:
            reason, detail = failed.get(image_id, ("extraction_failed", "no features returned"))
            rejects.add(image_id, STAGE, reason, detail)
            continue
        rows.append(row)
        ids.append(image_id)
        hashes.append(h)
    return _Merged(np.stack(rows) if rows else np.zeros((0, extractor.dim), np.float32), ids, hashes, hits)
