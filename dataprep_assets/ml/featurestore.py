"""Image features in HDF5: chunked, compressed, indexed by image id, with each row's pixel hash.

Layout of one file (one per extractor, e.g. `features/image_stats.h5`):
- `features`: float16 (default: half the bytes; the writer reports the max abs error vs float32 of the rows it
  converted) or float32 (n, dim), chunked by rows, gzip + shuffle (or lzf, or none); always read as float32;
- `image_ids`: UTF-8 strings (n,), sorted, so `image_ids[row]` is the image of `features[row]` and a binary search
  is the index from image id to row (string columns are fixed-length and compressed like the features);
- `content_hash`: UTF-8 strings (n,), hash of the decoded pixels (the key of the shared `lib.vectors` cache);
- `feature_names`: UTF-8 strings (dim,), what each column means;
- `stats/mean`, `stats/std`, `stats/min`, `stats/max`: per-dimension statistics over all rows;
- attributes: `extractor`, `extractor_version`, `extractor_fingerprint`, `feature_dim`, `input_size`,
  `format_version`, `storage_dtype`, `feature_storage` (the file depends only on the stored rows, so cached reruns
  are byte-identical);
- with `feature_storage = "pca"` (PCA-reduced vectors, see `feature_pca.py`), `projection/mean` ((d,)) and
  `projection/components` ((k, d), orthonormal rows), both in the storage dtype, and
  `projection/explained_variance_ratio` ((k,), on the rows it was fitted on): `features` then holds the k scores
  `(x - mean) @ components.T` and `FeatureFile.reconstruct` maps them back to d dimensions.

Writing is streaming (rows go to disk a chunk at a time; only ids and hashes stay in memory), and
h5py's `track_times=False` plus chunk-aligned writes keep equal rows byte-identical whatever the batching.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

FORMAT_VERSION = 2
"""2: string columns are fixed-length UTF-8, chunked and compressed (variable-length strings cost a 4 KiB heap
each, which small files feel), and the optional `projection` group."""
CHUNK_BYTES = 1 << 18
STORAGE_DTYPES = ("float16", "float32")
FLOAT16_MAX = float(np.finfo(np.float16).max)


def chunk_rows(dim: int) -> int:
    return max(1, CHUNK_BYTES // (4 * max(dim, 1)))


def _write_strings(group: h5py.Group, name: str, values: Sequence[str], compression: str) -> None:
    """Fixed-length UTF-8 strings (as long as the longest), chunked and compressed when there are any."""
    encoded = np.array([v.encode("utf-8") for v in values], dtype=bytes)
    length = max(int(encoded.dtype.itemsize), 1) if len(encoded) else 1
    dtype = h5py.string_dtype("utf-8", length=length)
    extra = {"chunks": (min(len(encoded), max(CHUNK_BYTES // length, 1)),), **_compression(compression)}
    group.create_dataset(name, data=encoded.astype(dtype), track_times=False, **(extra if len(encoded) else {}))


def _compression(name: str) -> dict:
    if name == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    if name == "lzf":
        return {"compression": "lzf", "shuffle": True}
    if name == "none":
        return {}
    raise ValueError(f"unknown compression {name!r}; choose gzip, lzf or none")


@dataclass
class _RunningStats:
    dim: int
    n: int = 0
    total: np.ndarray = field(init=False)
    total_sq: np.ndarray = field(init=False)
    low: np.ndarray = field(init=False)
    high: np.ndarray = field(init=False)

    def __post_init__(self):
        self.total = np.zeros(self.dim)
        self.total_sq = np.zeros(self.dim)
        self.low = np.full(self.dim, np.inf)
        self.high = np.full(self.dim, -np.inf)

    def add(self, rows: np.ndarray) -> None:
        rows = rows.astype(np.float64)
        self.n += len(rows)
        self.total += rows.sum(axis=0)
        self.total_sq += (rows * rows).sum(axis=0)
        self.low = np.minimum(self.low, rows.min(axis=0))
        self.high = np.maximum(self.high, rows.max(axis=0))

    def finish(self) -> dict[str, np.ndarray]:
        n = max(self.n, 1)
        mean = self.total / n
        std = np.sqrt(np.maximum(self.total_sq / n - mean**2, 0.0))
        empty = self.n == 0
        return {
            "mean": mean.astype(np.float32),
            "std": std.astype(np.float32),
            "min": (np.zeros(self.dim) if empty else self.low).astype(np.float32),
            "max": (np.zeros(self.dim) if empty else self.high).astype(np.float32),
        }


class FeatureWriter:
    """Append rows in image-id order; `close()` writes the ids, hashes and per-dimension statistics.

    Rows are buffered and written one whole chunk at a time, so the file's bytes depend only on the
    rows, never on how they were batched (a batch size change keeps the data version).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        dim: int,
        attrs: dict,
        compression: str = "gzip",
        feature_names: Sequence[str] = (),
        storage_dtype: str = "float32",
        projection: Mapping[str, np.ndarray] | None = None,
        expected_rows: int = 0,
    ):
        """`projection` (keys `mean`, `components`, `explained_variance_ratio`): the rows are PCA scores of it.
        `expected_rows` (when known) caps the chunk at the whole matrix, so a small file is one small chunk."""
        if storage_dtype not in STORAGE_DTYPES:
            raise ValueError(f"unknown storage_dtype {storage_dtype!r}; choose one of {STORAGE_DTYPES}")
        self.dim = dim
        self.storage_dtype = storage_dtype
        self._compression = compression
        self.max_abs_error = 0.0
        self.max_abs_value = 0.0
        self.clipped_values = 0
        self._file = h5py.File(path, "w", libver=("v110", "v110"), track_order=False)
        self._chunk = min(chunk_rows(dim), max(expected_rows, 1)) if expected_rows else chunk_rows(dim)
        self._features = self._file.create_dataset(
            "features",
            shape=(0, dim),
            maxshape=(None, dim),
            dtype=storage_dtype,
            chunks=(self._chunk, dim),
            track_times=False,
            **_compression(compression),
        )
        names = list(feature_names) or [f"f{i}" for i in range(dim)]
        if len(names) != dim:
            raise ValueError(f"{len(names)} feature names for {dim} dimensions")
        _write_strings(self._file, "feature_names", names, compression)
        storage = "pca" if projection is not None else "full"
        for key, value in {
            **attrs,
            "feature_dim": dim,
            "format_version": FORMAT_VERSION,
            "feature_storage": storage,
        }.items():
            self._file.attrs[key] = value
        if projection is not None:
            self._write_projection(projection, storage_dtype, compression)
        self._stats = _RunningStats(dim)
        self._ids: list[str] = []
        self._hashes: list[str] = []
        self._pending: list[np.ndarray] = []
        self._pending_rows = 0

    def _write_projection(self, projection: Mapping[str, np.ndarray], storage_dtype: str, compression: str) -> None:
        components = np.asarray(projection["components"], dtype=np.float32)
        if components.shape[0] != self.dim:
            raise ValueError(f"{components.shape[0]} projection components for {self.dim} stored dimensions")
        group = self._file.create_group("projection", track_order=False)
        mean = np.asarray(projection["mean"], np.float32).astype(storage_dtype)
        group.create_dataset("mean", data=mean, chunks=mean.shape, track_times=False, **_compression(compression))
        group.create_dataset(
            "components",
            data=components.astype(storage_dtype),
            chunks=(1, components.shape[1]),
            track_times=False,
            **_compression(compression),
        )
        ratios = np.asarray(projection["explained_variance_ratio"], np.float32)
        group.create_dataset("explained_variance_ratio", data=ratios, track_times=False)

    def append(self, image_ids: Sequence[str], hashes: Sequence[str], rows: np.ndarray) -> None:
        if len(image_ids) == 0:
            return
        rows = np.asarray(rows, dtype=np.float32)
        if rows.shape != (len(image_ids), self.dim):
            raise ValueError(f"rows have shape {rows.shape}, expected ({len(image_ids)}, {self.dim})")
        if (self._ids and image_ids[0] <= self._ids[-1]) or list(image_ids) != sorted(set(image_ids)):
            raise ValueError("image ids must be appended in strictly increasing order")
        self._ids.extend(image_ids)
        self._hashes.extend(hashes)
        stored = self._to_storage(rows)
        self._stats.add(stored)  # statistics of what is stored, so a rerun from the cache writes the same bytes
        self._pending.append(stored)
        self._pending_rows += len(rows)
        if self._pending_rows >= self._chunk:
            self._flush(final=False)

    def _to_storage(self, rows: np.ndarray) -> np.ndarray:
        """Rows in the storage dtype; float16 clips at +-65504 (counted) and tracks the rounding error."""
        if len(rows):
            self.max_abs_value = max(self.max_abs_value, float(np.abs(rows).max()))
        if self.storage_dtype == "float32":
            return rows
        self.clipped_values += int((np.abs(rows) > FLOAT16_MAX).sum())
        stored = np.clip(rows, -FLOAT16_MAX, FLOAT16_MAX).astype(np.float16)
        if len(rows):
            self.max_abs_error = max(self.max_abs_error, float(np.abs(stored.astype(np.float32) - rows).max()))
        return stored

    def _flush(self, final: bool) -> None:
        if not self._pending_rows:
            return
        block = np.concatenate(self._pending)
        cut = len(block) if final else len(block) - len(block) % self._chunk
        n = self._features.shape[0]
        self._features.resize(n + cut, axis=0)
        self._features[n:] = block[:cut]
        rest = block[cut:]
        self._pending, self._pending_rows = ([rest] if len(rest) else []), len(rest)

    def close(self) -> None:
        self._flush(final=True)
        self._file.attrs["storage_dtype"] = self.storage_dtype
        for name, values in (("image_ids", self._ids), ("content_hash", self._hashes)):
            _write_strings(self._file, name, values, self._compression)
        group = self._file.create_group("stats", track_order=False)
        for key, value in self._stats.finish().items():
            group.create_dataset(key, data=value, track_times=False)
        self._file.close()

    def __enter__(self) -> FeatureWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._file.close()


class FeatureFile:
    """Read-only access: attributes, id -> row lookup, row reads in any order (sorted internally)."""

    def __init__(self, path: str | os.PathLike, cache_bytes: int = 64 << 20):
        self.path = Path(path)
        self._file = h5py.File(self.path, "r", rdcc_nbytes=cache_bytes, rdcc_nslots=10007)
        self.features = self._file["features"]
        self.image_ids: list[str] = [
            s.decode() if isinstance(s, bytes) else s
            for s in self._file["image_ids"].asstr()[:]  # pyright: ignore[reportAttributeAccessIssue]  # h5py types File[...] as Group | Dataset | Datatype
        ]
        self.attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in self._file.attrs.items()}

    @property
    def dim(self) -> int:
        return int(self.features.shape[1])  # pyright: ignore[reportAttributeAccessIssue]  # h5py types File[...] as Group | Dataset | Datatype

    def __len__(self) -> int:
        return int(self.features.shape[0])  # pyright: ignore[reportAttributeAccessIssue]  # h5py types File[...] as Group | Dataset | Datatype

    def feature_names(self) -> list[str]:
        return list(self._file["feature_names"].asstr()[:])  # pyright: ignore[reportAttributeAccessIssue]  # h5py types File[...] as Group | Dataset | Datatype

    def content_hashes(self) -> list[str]:
        return list(self._file["content_hash"].asstr()[:])  # pyright: ignore[reportAttributeAccessIssue]  # h5py types File[...] as Group | Dataset | Datatype

    def stats(self) -> dict[str, np.ndarray]:
        return {k: self._file["stats"][k][:] for k in self._file["stats"]}  # pyright: ignore[reportGeneralTypeIssues, reportIndexIssue, reportReturnType]  # h5py types File[...] as Group | Dataset | Datatype

    @property
    def feature_storage(self) -> str:
        """`full` (the extractor's vectors) or `pca` (scores of the stored projection)."""
        return str(self.attrs.get("feature_storage", "full"))

    def projection(self) -> dict[str, np.ndarray] | None:
        """`mean`, `components` (k, d) and `explained_variance_ratio` as float32, or None for full vectors."""
        if "projection" not in self._file:
            return None
        group = self._file["projection"]
        keys = ("mean", "components", "explained_variance_ratio")
        return {k: np.asarray(group[k][:], dtype=np.float32) for k in keys}  # pyright: ignore[reportIndexIssue]  # h5py types File[...] as Group | Dataset | Datatype

    def reconstruct(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """The rows mapped back to the extractor's dimensions (`scores @ components + mean`; full vectors as
        stored)."""
        stored = self.read_rows(rows)
        projection = self.projection()
        if projection is None:
            return stored
        return (stored @ projection["components"] + projection["mean"]).astype(np.float32)

    def row_of(self, image_id: str) -> int:
        i = bisect.bisect_left(self.image_ids, image_id)
        if i == len(self.image_ids) or self.image_ids[i] != image_id:
            raise KeyError(f"{image_id!r} has no features in {self.path}")
        return i

    def rows_of(self, image_ids: Sequence[str]) -> np.ndarray:
        return np.array([self.row_of(i) for i in image_ids], dtype=np.int64)

    def read_rows(self, rows: Sequence[int] | np.ndarray) -> np.ndarray:
        """Rows in the order asked (duplicates allowed), read chunk by chunk so each chunk is decoded once."""
        rows = np.asarray(rows, dtype=np.int64)
        unique, inverse = np.unique(rows, return_inverse=True)
        out = np.empty((unique.size, self.dim), dtype=np.float32)
        step = self.features.chunks[0] if self.features.chunks else max(len(self), 1)  # pyright: ignore[reportAttributeAccessIssue]  # h5py types File[...] as Group | Dataset | Datatype
        chunk_ids = unique // step
        for c in np.unique(chunk_ids):
            sel = chunk_ids == c
            start = int(c) * step
            slab = self.features[start : min(start + step, len(self))]  # pyright: ignore[reportIndexIssue]  # h5py types File[...] as Group | Dataset | Datatype
            out[sel] = slab[unique[sel] - start]  # pyright: ignore[reportArgumentType, reportCallIssue, reportIndexIssue]  # h5py types File[...] as Group | Dataset | Datatype
        return out[inverse]

    def iter_blocks(self, block_rows: int | None = None):
        """(start, rows) blocks of the feature matrix, one chunk-aligned slab at a time."""
        step = block_rows or max(chunk_rows(self.dim) * 8, 1)
        for start in range(0, len(self), step):
            yield start, self.features[start : start + step].astype(np.float32, copy=False)  # pyright: ignore[reportAttributeAccessIssue, reportCallIssue, reportIndexIssue]  # h5py types File[...] as Group | Dataset | Datatype

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> FeatureFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
