"""One image-to-vector interface, a registry that resolves `auto`, and one content-hash cache of vectors.

Every pipeline that turns images into vectors (quality_prediction's feature extractors, perva_retrieval's
retrieval encoders) plugs its models in here:

- an `ImageVectorizer` has a `name`, a `dim`, a `fingerprint()` naming the model, its version, weights and
  preprocessing, `load(path)` decoding one image into what `encode` takes (its own resizing and colour
  conversion), `encode(images)` turning a batch of those into a (B, dim) float32 matrix, and `parallel_decode`
  (whether it is cheap enough to run in worker processes, decoding included);
- a `VectorizerRegistry` maps names to factories and resolves `auto` to the best one this machine can run;
- `encode_batch` loads, encodes and validates one batch (dimension, finite values): an image that fails is a
  failure with a reason, never a silent gap or a crash;
- a `VectorCache` keeps one vector per (image content hash, vectorizer fingerprint), content-addressed:

      <root>/<fingerprint, or <name>-<its sha256[:16]> when not a plain file name>/<hash[:2]>/<hash>.npy

  so a renamed or copied image reuses its vector, while an edited image (a new hash) or another model (a new
  fingerprint) never does. Writes are atomic (renamed into place, not fsynced: it is a cache); a damaged entry
  reads as a miss and is recomputed.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

AUTO = "auto"


class ImageVectorizer(Protocol):
    """Images -> fixed-length float32 vectors."""

    name: str
    parallel_decode: bool
    """True when encoding is cheap enough to run in worker processes with the decoding (no model to load)."""

    @property
    def dim(self) -> int: ...

    def fingerprint(self) -> str: ...

    def load(self, path: str | os.PathLike) -> Any: ...

    def encode(self, images: Sequence[Any]) -> np.ndarray: ...


class VectorizerRegistry:
    """Vectorizer factories by name, and the rule that resolves `auto` (a function of the options)."""

    def __init__(self, what: str, factories: dict[str, Callable[..., Any]], auto: Callable[..., str]):
        self.what = what
        self.factories = factories
        self._auto = auto

    def names(self) -> list[str]:
        return sorted(self.factories)

    def register(self, name: str, factory: Callable[..., Any]) -> None:
        self.factories[name] = factory

    def resolve(self, name: str, **options: Any) -> str:
        """`auto` -> the name its rule picks from `options`; a registered name unchanged; anything else an error."""
        resolved = self._auto(**options) if name == AUTO else name
        if resolved not in self.factories:
            raise ValueError(f"unknown {self.what} {name!r}; choose {AUTO} or one of {self.names()}")
        return resolved

    def build(self, name: str, **options: Any) -> Any:
        return self.factories[self.resolve(name, **options)](**options)


def torch_available() -> bool:
    """Whether PyTorch can be imported (checked without importing it)."""
    import importlib.util

    return importlib.util.find_spec("torch") is not None


@dataclass
class EncodedBatch:
    rows: np.ndarray
    """(m, dim) float32 for the images that succeeded, in input order."""
    ok: list[int]
    """Positions (in the batch's input) of the images with a row."""
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    """(position, reason, detail) for the images that failed, sorted by position."""


def describe_unreadable(exc: Exception) -> tuple[str, str]:
    """The default (reason, detail) of an image that cannot be loaded."""
    return "unreadable_image", f"{type(exc).__name__}: {exc}"


def encode_batch(
    vectorizer: ImageVectorizer,
    sources: Sequence[str | os.PathLike],
    describe_failure: Callable[[Exception], tuple[str, str]] = describe_unreadable,
) -> EncodedBatch:
    """Load, encode and validate one batch; a failure (unreadable image, wrong dimension, NaN or infinite values)
    is per image, with `describe_failure(exc)` giving the (reason, detail) of an image that cannot be loaded."""
    dim = vectorizer.dim
    images, ok, errors = [], [], []
    for i, source in enumerate(sources):
        try:
            images.append(vectorizer.load(source))
            ok.append(i)
        except Exception as exc:  # an unreadable image is a failure of its own, never a crash of the batch
            errors.append((i, *describe_failure(exc)))
    if not images:
        return EncodedBatch(np.zeros((0, dim), np.float32), [], errors)
    rows = np.asarray(vectorizer.encode(images), dtype=np.float32)
    if rows.ndim != 2 or rows.shape != (len(images), dim):
        detail = f"{vectorizer.name} returned shape {rows.shape}, expected ({len(images)}, {dim})"
        return EncodedBatch(
            np.zeros((0, dim), np.float32), [], sorted(errors + [(i, "dimension_mismatch", detail) for i in ok])
        )
    finite = np.isfinite(rows).all(axis=1)
    for j in np.flatnonzero(~finite):
        bad = int((~np.isfinite(rows[j])).sum())
        errors.append((ok[j], "non_finite_features", f"{bad} of {dim} values are NaN or infinite"))
    return EncodedBatch(rows[finite], [ok[j] for j in np.flatnonzero(finite)], sorted(errors))


_SAFE_DIRECTORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_TEMP_NUMBERS = itertools.count()
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,127}")


def fingerprint_directory(name: str, fingerprint: str) -> str:
    """The cache folder of a fingerprint: itself when it is a short safe file name, else `<name>-<its digest>`."""
    if _SAFE_DIRECTORY.fullmatch(fingerprint):
        return fingerprint
    return f"{name}-{hashlib.sha256(fingerprint.encode()).hexdigest()[:16]}"


def npy_bytes(vector: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.asarray(vector, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


class VectorCache:
    """One float32 vector per (content hash, vectorizer fingerprint), one `.npy` file each, written atomically."""

    def __init__(self, root: str | os.PathLike, vectorizer: ImageVectorizer):
        self.directory = Path(root) / fingerprint_directory(vectorizer.name, vectorizer.fingerprint())
        self.dim = vectorizer.dim
        self._folders: set[Path] = set()
        self._header = npy_bytes(np.zeros(self.dim, np.float32))[: -4 * self.dim or None]

    def path(self, content_hash: str) -> Path:
        if not _SAFE_KEY.fullmatch(content_hash):
            raise ValueError(f"content hash {content_hash!r} is not a safe cache key (letters, digits, . _ -)")
        return self.directory / content_hash[:2] / f"{content_hash}.npy"

    def get(self, content_hash: str) -> np.ndarray | None:
        """The cached vector, or None (never cached, or a damaged entry, which is removed). Read as raw bytes behind
        the one `.npy` header a float32 vector of this dimension has (a quarter of `np.load`'s time)."""
        path = self.path(content_hash)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            data = b""
        if len(data) != len(self._header) + 4 * self.dim or not data.startswith(self._header):
            path.unlink(missing_ok=True)  # a damaged or foreign entry is recomputed
            return None
        return np.frombuffer(data, dtype=np.float32, offset=len(self._header)).copy()

    def get_many(self, content_hashes: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached vectors of the hashes that have one."""
        found = {}
        for h in content_hashes:
            if h not in found and (vector := self.get(h)) is not None:
                found[h] = vector
        return found

    def put(self, content_hash: str, vector: np.ndarray) -> None:
        vector = np.asarray(vector, dtype=np.float32)
        if vector.shape != (self.dim,):
            raise ValueError(f"vector of shape {vector.shape} for a cache of {self.dim}-d vectors")
        path = self.path(content_hash)
        if path.parent not in self._folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}-{next(_TEMP_NUMBERS)}.tmp")
        try:  # renamed into place, not fsynced: a torn entry reads as damaged and is recomputed
            tmp.write_bytes(npy_bytes(vector))
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_many(self, content_hashes: Sequence[str], rows: np.ndarray) -> None:
        for h, row in zip(content_hashes, rows, strict=True):
            self.put(h, row)
