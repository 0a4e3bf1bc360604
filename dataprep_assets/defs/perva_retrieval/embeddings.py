"""Image embeddings through the shared content-hash vector cache (`lib/vectors.py`).

    cache/perva_retrieval/embeddings/<encoder fingerprint>/<sha[:2]>/<sha256 of the file>.npy

A file is hashed (cheap), its vector loaded if cached, otherwise decoded and encoded with the
other misses in batches (in worker processes for encoders that allow it) and written atomically.
A renamed or copied image reuses its vector; an edited one gets a new one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dataprep_assets.defs.perva_retrieval.encoders import ImageEncoder, build_encoder
from dataprep_assets.lib.compute import backend_for
from dataprep_assets.lib.parallel import batches, ordered_map
from dataprep_assets.lib.rejects import Reject
from dataprep_assets.lib.storage import safe_join
from dataprep_assets.lib.vectors import EncodedBatch, VectorCache, encode_batch

CACHE_PREFIX = "cache/perva_retrieval/embeddings"
PARALLEL_MIN_IMAGES = 1500
"""Below this many images, starting worker processes costs more than it saves."""


@dataclass
class EmbedResult:
    vectors: np.ndarray
    """(kept images, dim) float32 rows, in input order of the images that are kept."""
    kept: np.ndarray
    """Boolean mask over the input paths: False where the image could not be read."""
    hits: int = 0
    misses: int = 0
    rejects: list[Reject] = field(default_factory=list)


def encode_chunk(args: tuple[tuple[str, dict], str, list[str]]) -> EncodedBatch:
    """Worker process entry point: rebuild the encoder from its spec and encode one chunk of store-relative paths."""
    (name, options), root, rels = args
    return encode_batch(build_encoder(name, options), [safe_join(root, rel) for rel in rels])


def embed_images(
    store_root: Path,
    paths: list[str],
    encoder: ImageEncoder,
    *,
    cache: VectorCache,
    max_workers: int = 0,
    stage: str = "embed",
    progress: Callable[[int, int, float], None] | None = None,
) -> EmbedResult:
    """Vectors for store-relative image `paths`, from the cache (keyed by the file's sha256) where possible."""
    n = len(paths)
    result = EmbedResult(vectors=np.zeros((0, 0), dtype=np.float32), kept=np.ones(n, dtype=bool))
    shas: list[str] = [""] * n
    vectors: list[np.ndarray | None] = [None] * n
    misses: list[int] = []
    for i, rel in enumerate(paths):
        try:
            shas[i] = hashlib.sha256(safe_join(store_root, rel).read_bytes()).hexdigest()
        except OSError as exc:
            result.kept[i] = False
            result.rejects.append(Reject(rel, stage, "unreadable_image", f"{type(exc).__name__}: {exc}"))
            continue
        vectors[i] = cache.get(shas[i])
        if vectors[i] is None:
            misses.append(i)
    result.hits, result.misses = n - len(misses) - int((~result.kept).sum()), len(misses)
    chunks = batches(misses, max(1, encoder.batch_size))
    tasks = [(encoder.spec(), str(store_root), [paths[i] for i in chunk]) for chunk in chunks]
    if encoder.parallel_decode and len(misses) >= PARALLEL_MIN_IMAGES:
        backend = backend_for(max_workers, store_root)  # workers read the images themselves
        outputs = ordered_map(encode_chunk, tasks, progress=progress, backend=backend)
    else:
        outputs = (encode_batch(encoder, [safe_join(store_root, rel) for rel in task[2]]) for task in tasks)
    for chunk, output in zip(chunks, outputs, strict=True):
        for position, reason, detail in output.errors:
            result.kept[chunk[position]] = False
            result.rejects.append(Reject(paths[chunk[position]], stage, reason, detail))
        for position, vector in zip(output.ok, output.rows, strict=True):
            vectors[chunk[position]] = vector
            cache.put(shas[chunk[position]], vector)
    kept = [v for v, ok in zip(vectors, result.kept, strict=True) if ok]
    result.vectors = np.stack(kept).astype(np.float32) if kept else np.zeros((0, 0), dtype=np.float32)  # pyright: ignore[reportArgumentType, reportCallIssue]  # every kept vector was set above (kept is False otherwise)
    return result
