"""Which objects in a listing are new or changed since the last look: a cursor that misses nothing.

An object is identified by key + ETag (a re-upload with new content has a new ETag and is a change;
the same key + ETag is never reported twice). Object stores give `LastModified` to the second, many
objects share a second, and a listing is not a snapshot (objects land while it runs), so a strict
`LastModified > watermark` filter loses objects. The cursor keeps:

- `watermark`: the newest whole second among the objects already reported;
- `seen`: digests of key + ETag of every reported object whose second lies in the window
  `[watermark - lookback_seconds, watermark]`, grouped by second.

An object is a change when its second is inside or after that window and its digest is not in `seen`
nor in `reported`, the digests of every object ever reported (kept outside the cursor: see
`ReportedLedger` in common/sensors.py). With `reported`, the same key + ETag is never a change, however
late it is re-uploaded, and `seen` can stay empty: the cursor is then a few dozen bytes whatever the
bucket holds (`ledger` names the generation of the ledger file that matches it).
Candidates are taken oldest first (then by key) and capped per tick; the rest wait for the next tick,
and the watermark never passes an object that was left over. Deleted objects stop appearing; `deleted_objects`
names them against what was reported and still there at the last look.
The cursor is compact JSON (16 hex characters per object in the window), so it fits in a Dagster
sensor cursor and survives restarts.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

CURSOR_VERSION = 1
DIGEST_CHARS = 16


class CursorError(ValueError):
    """The stored cursor cannot be read (hand-edited, truncated or from an unknown version)."""


@dataclass(frozen=True)
class ObjectInfo:
    """One listed object: a local file or an S3 object."""

    key: str
    etag: str
    last_modified: float
    """Seconds since the epoch (UTC)."""
    size: int = 0

    @property
    def second(self) -> int:
        return math.floor(self.last_modified)

    @property
    def digest(self) -> str:
        return object_digest(self.key, self.etag)


def object_digest(key: str, etag: str) -> str:
    return hashlib.blake2b(f"{key}\0{etag.strip(chr(34))}".encode(), digest_size=DIGEST_CHARS // 2).hexdigest()


@dataclass
class ChangeCursor:
    watermark: int | None = None
    seen: dict[int, set[str]] = field(default_factory=dict)
    ledger: int | None = None
    """Generation of the reported-digests ledger this cursor goes with (None: no ledger)."""

    def digests(self) -> set[str]:
        """Every key + ETag digest in the window, whatever second it was seen at."""
        return set().union(*self.seen.values()) if self.seen else set()

    @property
    def seen_count(self) -> int:
        return sum(len(v) for v in self.seen.values())

    def to_json(self) -> str:
        payload = {
            "v": CURSOR_VERSION,
            "watermark": self.watermark,
            "watermark_utc": None
            if self.watermark is None
            else datetime.fromtimestamp(self.watermark, UTC).isoformat(),
            "seen": {str(sec): sorted(digests) for sec, digests in sorted(self.seen.items())},
            **({} if self.ledger is None else {"ledger": self.ledger}),
        }
        return json.dumps(payload, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> ChangeCursor:
        """An empty or missing cursor is a fresh start; anything unreadable raises `CursorError`."""
        if not text:
            return cls()
        try:
            payload = json.loads(text)
            if payload.get("v") != CURSOR_VERSION:
                raise CursorError(f"cursor version {payload.get('v')!r} is not {CURSOR_VERSION}")
            watermark = payload["watermark"]
            seen = {int(sec): set(digests) for sec, digests in payload["seen"].items()}
            ledger = None if payload.get("ledger") is None else int(payload["ledger"])
        except CursorError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CursorError(f"unreadable change cursor ({type(exc).__name__}: {exc}): {text[:120]!r}") from exc
        return cls(None if watermark is None else int(watermark), seen, ledger)


@dataclass(frozen=True)
class ChangeBatch:
    changes: list[ObjectInfo]
    """New or changed objects for this tick, oldest first."""
    cursor: ChangeCursor
    pending: int
    """Changed objects left for later ticks because of the per-tick cap (or held back by `hold_until_quiet`)."""
    listed: int
    settling: bool = False
    """The changes are held back: files are still arriving (see `hold_until_quiet`)."""
    deleted: dict[str, str] = field(default_factory=dict)
    """Keys reported before that are gone from the listing now, with the ETag they had (see `deleted_objects`)."""


def detect_changes(
    objects: Iterable[ObjectInfo],
    cursor: ChangeCursor | None = None,
    *,
    max_changes: int = 1000,
    lookback_seconds: int = 0,
    reported: Container[str] = frozenset(),
) -> ChangeBatch:
    """New/changed objects (at most `max_changes`) and the cursor to store after reporting them.

    `reported`: digests of objects reported before (by any earlier tick); never changes again."""
    if max_changes < 1:
        raise ValueError(f"max_changes must be >= 1, got {max_changes}")
    if lookback_seconds < 0:
        raise ValueError(f"lookback_seconds must be >= 0, got {lookback_seconds}")
    cursor = cursor or ChangeCursor()
    floor = -math.inf if cursor.watermark is None else cursor.watermark - lookback_seconds
    listed, candidates, keys, known = 0, [], set(), cursor.digests()
    for obj in objects:
        listed += 1
        if obj.second >= floor and obj.digest not in known and obj.key not in keys and obj.digest not in reported:
            candidates.append(obj)
            keys.add(obj.key)
    candidates.sort(key=lambda o: (o.second, o.key))
    batch = candidates[:max_changes]
    seen = {sec: set(digests) for sec, digests in cursor.seen.items()}
    watermark = cursor.watermark
    for obj in batch:
        seen.setdefault(obj.second, set()).add(obj.digest)
        watermark = obj.second if watermark is None else max(watermark, obj.second)
    if watermark is not None:
        seen = {sec: d for sec, d in seen.items() if sec >= watermark - lookback_seconds}
    return ChangeBatch(batch, ChangeCursor(watermark, seen, cursor.ledger), len(candidates) - len(batch), listed)


def hold_until_quiet(
    batch: ChangeBatch, cursor: ChangeCursor, *, quiet_seconds: float, max_wait_seconds: float, now: float
) -> ChangeBatch:
    """`batch`, or nothing yet while an upload is still arriving: while its newest change is under
    `quiet_seconds` old, the tick reports nothing and keeps `cursor`, so one upload of many files becomes one
    batch rather than one per tick it straddles. Never held once its oldest change has waited
    `max_wait_seconds` (a source that never goes quiet still gets batches), nor when the per-tick cap left
    changes pending (a backlog is not an upload in progress)."""
    if quiet_seconds <= 0 or not batch.changes or batch.pending:
        return batch
    newest = max(o.last_modified for o in batch.changes)
    oldest = min(o.last_modified for o in batch.changes)
    if now - newest >= quiet_seconds or now - oldest >= max_wait_seconds:
        return batch
    return ChangeBatch([], cursor, len(batch.changes), batch.listed, settling=True)


def deleted_objects(
    present: Mapping[str, str], objects: Iterable[ObjectInfo], prefixes: Iterable[str]
) -> dict[str, str]:
    """Keys of `present` (key -> ETag of what was reported and still there at the last look) under one of the
    listed `prefixes` that the listing `objects` no longer has. Keys outside the prefixes listed now (a date
    folder that dropped out of the listing window) are never taken for deleted."""
    listed = {o.key for o in objects}
    under = tuple(prefixes)
    return {key: etag for key, etag in sorted(present.items()) if key.startswith(under) and key not in listed}


def listing_fingerprint(objects: Iterable[ObjectInfo]) -> str:
    """One hash over every key + ETag: equal listings give equal fingerprints (order-independent)."""
    digest = hashlib.sha256()
    for d in sorted(o.digest for o in objects):
        digest.update(d.encode())
    return digest.hexdigest()


def batch_key(changes: Iterable[ObjectInfo]) -> str:
    """A stable id for a set of changes (used as a run key): the same key + ETags give the same id."""
    return listing_fingerprint(changes)[:24]
