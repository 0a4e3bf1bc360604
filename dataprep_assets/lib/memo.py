"""Pure functions of data that are costly to redraw (charts), remembered by a hash of their arguments.

Inside `remembered(root)`, a call of a `@remembered_bytes` function whose arguments hash as in an earlier call
returns the bytes stored then instead of computing them again: a dataset card rebuilt over unchanged data
redraws nothing. The bytes are objects of the store (`lib.itemcache`), checked against their SHA-256 on every
read; a missing or altered object, or an argument the hash does not know how to read, means the function runs.
Outside the block the function simply runs. The key also holds the source of the function's module (and the library
versions it names), so a change to the drawing code draws afresh.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, overload

import numpy as np

from dataprep_assets.lib.itemcache import CACHE_DIR, ItemCache, fingerprint
from dataprep_assets.lib.storage import sha256_bytes
from dataprep_assets.lib.versions import object_relpath

_CACHE: ContextVar[ItemCache | None] = ContextVar("remembered_bytes_cache", default=None)
_OUTPUT = "output.bin"


@contextmanager
def remembered(root: str | os.PathLike, namespace: str = "charts", *versions: object) -> Iterator[None]:
    """Within the block, `@remembered_bytes` functions reuse what they returned for equal arguments; `versions`
    (e.g. the plotting library's) go into every key."""
    token = _CACHE.set(ItemCache(root, namespace, fingerprint("memo/1", *versions)))
    try:
        yield
    finally:
        _CACHE.reset(token)


@functools.cache
def _module_hash(module: str) -> str:
    """SHA-256 of a module's source file ('' when it has none)."""
    path = getattr(sys.modules.get(module), "__file__", None)
    try:
        return sha256_bytes(Path(path).read_bytes()) if path else ""
    except OSError:
        return ""


class _Unhashable(Exception):
    pass


def _feed(digest, value: object) -> None:
    """Hash a value by type and content; containers keep their order (it shows in a chart's legend)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        digest.update(f"{type(value).__name__}:{value!r}\0".encode())
    elif isinstance(value, np.generic):
        _feed(digest, value.item())
    elif isinstance(value, np.ndarray):
        if value.dtype == object:
            digest.update(b"objects\0")
            _feed(digest, value.tolist())
        else:
            digest.update(f"array:{value.dtype.str}:{value.shape}\0".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
    elif isinstance(value, Mapping):
        digest.update(f"mapping:{len(value)}\0".encode())
        for k, v in value.items():
            _feed(digest, k)
            _feed(digest, v)
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}:{len(value)}\0".encode())
        for v in value:
            _feed(digest, v)
    else:
        raise _Unhashable(type(value).__name__)


def arguments_digest(*args: object, **kwargs: object) -> str | None:
    """SHA-256 of the arguments' types and contents, or None when one is of a kind it does not read."""
    digest = hashlib.sha256()
    try:
        _feed(digest, [list(args), sorted(kwargs.items())])
    except _Unhashable:
        return None
    return digest.hexdigest()


@overload
def remembered_bytes(fn: Callable[..., bytes], *, versions: tuple = ()) -> Callable[..., bytes]: ...
@overload
def remembered_bytes(
    fn: None = None, *, versions: tuple = ()
) -> Callable[[Callable[..., bytes]], Callable[..., bytes]]: ...
def remembered_bytes(fn: Callable[..., bytes] | None = None, *, versions: tuple = ()) -> Any:
    """Decorate a pure function returning bytes so that it is remembered inside `remembered(...)`. The key holds
    the function's name, the source of its module and `versions` (e.g. the encoder library's), so a change to
    either computes afresh: `@remembered_bytes` or `@remembered_bytes(versions=(PIL.__version__,))`."""
    if fn is None:
        return functools.partial(remembered_bytes, versions=versions)
    code = _module_hash(fn.__module__)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> bytes:
        cache = _CACHE.get()
        digest = arguments_digest(*args, **kwargs) if cache is not None else None
        if cache is None or digest is None:
            return fn(*args, **kwargs)
        key = cache.key(f"{fn.__module__}.{fn.__qualname__}", code, *map(str, versions), digest)
        item = cache.get(key)
        if item is not None and _OUTPUT in item.files:
            try:
                data = (cache.root / object_relpath(item.files[_OUTPUT])).read_bytes()
            except OSError:
                data = None
            if data is not None and sha256_bytes(data) == item.files[_OUTPUT]:
                return data
        data = fn(*args, **kwargs)
        scratch = Path(cache.root, CACHE_DIR, cache.namespace, f".out-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        scratch.parent.mkdir(parents=True, exist_ok=True)
        try:
            scratch.write_bytes(data)
            cache.put(key, {_OUTPUT: scratch}, None)
        finally:
            scratch.unlink(missing_ok=True)
        return data

    return wrapper
