"""Image embeddings with a per-image cache keyed by content hash and encoder fingerprint.

    cache/perva_retrieval/embeddings/<encoder fingerprint>/<sha[:2]>/<sha256 of the file>.npy

A file is hashed (cheap), its vector loaded if cached, otherwise decoded and encoded with the
other misses in batches (in worker processes for encoders that allow it) and written atomically.
A renamed or copied image reuses its vector; an edited one gets a new one.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from dataprep_assets.defs.perva_retrieval.encoders import ImageEncoder, build_encoder
from dataprep_assets.lib.compute import backend_for
from dataprep_assets.lib.limits import open_image
from dataprep_assets.lib.parallel import batches, ordered_map
from dataprep_assets.lib.rejects import Reject
from dataprep_assets.lib.storage import atomic_write_bytes, safe_join

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


def cache_file(cache_dir: Path, sha: str) -> Path:
    return cache_dir / sha[:2] / f"{sha}.npy"


def _npy_bytes(vector: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(vector, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def _decode(path: Path) -> Image.Image:
    with open_image(path) as img:
        img.load()
        return img.convert("RGB")


def encode_paths(encoder: ImageEncoder, root: str | Path, rels: list[str]) -> list[tuple[np.ndarray | None, str]]:
    """Decode and encode store-relative paths; (vector, "") per readable image, (None, error) otherwise."""
    images, errors = [], []
    for rel in rels:
        try:
            images.append(_decode(safe_join(root, rel)))
            errors.append("")
        except Exception as exc:  # an unreadable image is a reject, never a crash
            images.append(None)
            errors.append(f"{type(exc).__name__}: {exc}")
    good = [im for im in images if im is not None]
    vectors = iter(encoder.encode(good)) if good else iter(())
    return [(next(vectors) if im is not None else None, err) for im, err in zip(images, errors, strict=True)]


def encode_chunk(args: tuple[tuple[str, dict], str, list[str]]) -> list[tuple[np.ndarray | None, str]]:
    """Worker process entry point: rebuild the encoder from its spec and encode one chunk."""
    (name, options), root, rels = args
    return encode_paths(build_encoder(name, options), root, rels)


def embed_images(
    store_root: Path,
    paths: list[str],
    encoder: ImageEncoder,
    *,
    cache_dir: Path,
    max_workers: int = 0,
    stage: str = "embed",
    progress: Callable[[int, int, float], None] | None = None,
) -> EmbedResult:
    """Vectors for store-relative image `paths`, from the cache where possible."""
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
        cached = cache_file(cache_dir, shas[i])
        if cached.is_file():
            try:
                vectors[i] = np.load(cached, allow_pickle=False)
                continue
            except (OSError, ValueError):
                cached.unlink(missing_ok=True)  # a damaged cache entry is recomputed
        misses.append(i)
    result.hits, result.misses = n - len(misses) - int((~result.kept).sum()), len(misses)
    step = max(1, encoder.batch_size)
    chunks = batches(misses, step)
    spec = encoder.spec()
    tasks = [(spec, str(store_root), [paths[i] for i in chunk]) for chunk in chunks]
    if encoder.parallel_decode and len(misses) >= PARALLEL_MIN_IMAGES:
        backend = backend_for(max_workers, store_root)  # workers read the images themselves
        outputs = ordered_map(encode_chunk, tasks, progress=progress, backend=backend)
    else:
        outputs = (encode_paths(encoder, store_root, task[2]) for task in tasks)
    for chunk, output in zip(chunks, outputs, strict=True):
        for i, (vector, error) in zip(chunk, output, strict=True):
            if vector is None:
                result.kept[i] = False
                result.rejects.append(Reject(paths[i], stage, "unreadable_image", error))
                continue
            vectors[i] = vector
            atomic_write_bytes(cache_file(cache_dir, shas[i]), _npy_bytes(vector))
    kept = [v for v, ok in zip(vectors, result.kept, strict=True) if ok]
    dims = {v.shape for v in kept}  # pyright: ignore[reportOptionalMemberAccess]  # every kept vector was set above (kept is False otherwise)
    if len(dims) > 1:
        raise ValueError(f"embeddings of different shapes {sorted(dims)} under {cache_dir}: the cache is inconsistent")
    result.vectors = np.stack(kept).astype(np.float32) if kept else np.zeros((0, 0), dtype=np.float32)  # pyright: ignore[reportArgumentType, reportCallIssue]  # every kept vector was set above (kept is False otherwise)
    return result
