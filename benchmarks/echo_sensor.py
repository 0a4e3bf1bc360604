"""The "new or changed files" sensor cursor at bucket scale: ours against the two usual cursors.

A bucket starts with 100,000 objects (already reported) and, for 20 ticks, 1,200 objects land per
tick, 1,000 of them in one second, half of those only showing up in the next listing (they land
while the listing runs), plus 20 re-uploads with new content and 50 deletions. Afterwards ticks run
until nothing is pending. Every tick lists the whole bucket (in memory: the same list for every
cursor, so only the cursor logic differs), loads the previous cursor from JSON and stores the new one.

- ours (`lib/changes.py`): watermark second + key/ETag digests inside a 120 s window, 1,000 per tick;
- NAIVE seen-set (the fair baseline: the simplest correct cursor, same changes reported): every key ->
  ETag ever seen (JSON), diffed against each listing; its cursor grows with the bucket;
- naive strict watermark: `LastModified > cursor` (what `get_objects(since_last_modified=...)` does): the
  simplest cursor of all, but it misses objects landing in the watermark's second (printed as missed).

Each side runs in fresh child processes (benchmarks/_harness.py): the warm-up call builds the bucket's
listing for every tick and the initial cursor and runs the cursor once, then the timed call is the
cursor logic over every tick (load the cursor from JSON, detect, store it; the listings prebuilt, so
only the cursor logic is timed). Printed: listed objects per second (median and spread of `--runs`),
per CPU-second, time per tick, peak PSS of the child (the listings included: the same for every side),
and, from a separate run under `tracemalloc` (never around the timed runs), the cursor logic's own
working memory; the final cursor size, and how many changes each approach missed or reported twice.

Usage: python -m benchmarks.echo_sensor [--objects 100000] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import tracemalloc
from collections import Counter

from benchmarks._harness import header, measure, ratio
from dataprep_assets.lib.changes import ChangeCursor, ObjectInfo, detect_changes

T0 = 1_760_000_000
MODULE = "benchmarks.echo_sensor"


class Bucket:
    """A bucket's listing per tick, with the truth of which (key, etag) versions ever existed."""

    def __init__(self, initial: int, ticks: int, seed_second: int = T0):
        self.objects = {
            f"base/{i:07d}.json": ObjectInfo(f"base/{i:07d}.json", f"e{i}", seed_second + i // 500)
            for i in range(initial)
        }
        self.clock = seed_second + initial // 500 + 10
        self.ticks, self.delayed, self.tick_no = ticks, [], 0
        self.initial = {(o.key, o.etag) for o in self.objects.values()}
        self.visible: set[tuple[str, str]] = set()

    @property
    def changes(self) -> set[tuple[str, str]]:
        """Every new or changed version that at least one listing showed."""
        return self.visible - self.initial

    def listing(self) -> list[ObjectInfo]:
        """Advance one tick and return what a listing sees."""
        self.tick_no += 1
        self.clock += 60
        for o in self.delayed:  # landed during the previous listing
            self.objects[o.key] = o
        self.delayed = []
        if self.tick_no <= self.ticks:
            t = self.tick_no
            burst = [ObjectInfo(f"new/{t:03d}/{i:05d}.json", f"n{t}-{i}", self.clock) for i in range(1000)]
            spread = [
                ObjectInfo(f"new/{t:03d}/s{i:05d}.json", f"s{t}-{i}", self.clock - 30 + i % 30) for i in range(200)
            ]
            base = sorted(k for k in self.objects if k.startswith("base/"))
            reuploads = [ObjectInfo(k, f"r{t}", self.clock) for k in base[t * 37 : t * 37 + 20]]
            for k in base[-50:]:  # old objects go away
                del self.objects[k]
            for o in burst[1::2] + spread + reuploads:
                self.objects[o.key] = o
            self.delayed = burst[0::2]  # same second, not yet visible to this listing
        listing = list(self.objects.values())
        self.visible |= {(o.key, o.etag) for o in listing}
        return listing


def ours(listing, cursor_text):
    batch = detect_changes(listing, ChangeCursor.from_json(cursor_text), max_changes=1000, lookback_seconds=120)
    return [(o.key, o.etag) for o in batch.changes], batch.cursor.to_json(), batch.pending


def naive_seen_set(listing, cursor_text):
    """The fair baseline (see the module docstring)."""
    seen = json.loads(cursor_text) if cursor_text else {}
    changes = [(o.key, o.etag) for o in listing if seen.get(o.key) != o.etag]
    seen = {o.key: o.etag for o in listing}
    return changes, json.dumps(seen), 0


def naive_strict_watermark(listing, cursor_text):
    """The simplest cursor; misses same-second arrivals (see the module docstring)."""
    watermark = float(cursor_text) if cursor_text else float("-inf")
    changes = [o for o in listing if o.second > watermark]
    new_mark = max([watermark] + [o.second for o in changes])
    return [(o.key, o.etag) for o in changes], str(new_mark), 0


def initial_cursor(name: str, listing: list[ObjectInfo]) -> str:
    """Every approach starts having reported the initial objects (`listing`: the bucket before the first tick)."""
    if name == "ours":
        return detect_changes(listing, None, max_changes=len(listing) + 1, lookback_seconds=120).cursor.to_json()
    if name == "naive seen-set":
        return json.dumps({o.key: o.etag for o in listing})
    return str(max(o.second for o in listing))


APPROACHES = {"ours": ours, "naive seen-set": naive_seen_set, "naive strict watermark": naive_strict_watermark}
_PREP: dict = {}


def _listings(objects: int, ticks: int) -> tuple[Bucket, list[list[ObjectInfo]]]:
    """The bucket and its listing per tick until nothing changes any more (after that every listing is the
    last one): built once per child, in the warm-up call."""
    key = (objects, ticks)
    if key not in _PREP:
        bucket = Bucket(objects, ticks)
        start = list(bucket.objects.values())
        _PREP[key] = (bucket, start, [bucket.listing() for _ in range(ticks + 2)])
    return _PREP[key][0], _PREP[key][2]


def run_ticks(name: str, objects: int, ticks: int) -> tuple[int, int, str, Counter]:
    """Every tick's cursor logic until nothing is pending, on the prebuilt listings: (ticks, listed objects, the
    final cursor, how often each change was reported)."""
    _, listings = _listings(objects, ticks)
    fn = APPROACHES[name]
    cursor = _PREP[(name, objects, ticks)]
    reported: Counter = Counter()
    listed, n = 0, 0
    while True:
        listing = listings[min(n, len(listings) - 1)]
        changes, cursor, pending = fn(listing, cursor)
        listed += len(listing)
        n += 1
        reported.update(changes)
        if n > ticks + 1 and not changes and not pending:
            return n, listed, cursor, reported


def cursor_job(warmup: bool, name: str, objects: int, ticks: int) -> dict:
    if warmup:
        _, listings = _listings(objects, ticks)
        cursor = _PREP[(name, objects, ticks)] = initial_cursor(name, _PREP[(objects, ticks)][1])
        APPROACHES[name](listings[0], cursor)
        return {}
    n, listed, cursor, reported = run_ticks(name, objects, ticks)
    truth = _PREP[(objects, ticks)][0].changes
    return {
        "items": listed,
        "ticks": n,
        "cursor_kb": len(cursor) / 1e3,
        "missed": len(truth - set(reported)),
        "twice": sum(1 for c in reported.values() if c > 1),
        "changes": len(truth),
    }


def working_memory_mb(name: str, objects: int, ticks: int) -> float:
    """Peak traced memory of the cursor logic (listings built before tracing starts): a separate, untimed run."""
    _listings(objects, ticks)
    _PREP[(name, objects, ticks)] = initial_cursor(name, _PREP[(objects, ticks)][1])
    tracemalloc.start()
    try:
        run_ticks(name, objects, ticks)
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]  # the module has a docstring
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10,000 objects, 5 ticks, 1 run")
    args = parser.parse_args()
    objects, ticks, runs = (10_000, 5, 1) if args.quick else (args.objects, args.ticks, args.runs)
    header(
        f"change-detection cursor: {objects:,} objects, {ticks} ticks of uploads; listed objects/s "
        "(+ 1 traced run each for working memory)"
    )
    rows = {
        name: measure(MODULE, "cursor_job", name, runs, unit="obj", name=name, objects=objects, ticks=ticks)
        for name in APPROACHES
    }
    traced = {name: working_memory_mb(name, objects, ticks) for name in APPROACHES}
    for name, m in rows.items():
        e = m.extra
        per_tick = [s / e["ticks"] * 1e3 for s in m.seconds]
        print(
            f"   {name:<23} {e['ticks']} ticks: {m.median_s / e['ticks'] * 1e3:7.1f} ms/tick "
            f"({min(per_tick):.1f}-{max(per_tick):.1f}, {len(m.seconds)} runs), working memory (traced) "
            f"{traced[name]:6.1f} MB, cursor {e['cursor_kb']:8.1f} kB, missed {e['missed']}/{e['changes']}, "
            f"reported twice {e['twice']}"
        )
    o = rows["ours"]
    for name in ("naive seen-set", "naive strict watermark"):
        ratio(o, rows[name], f"same listings; cursor size {o.extra['cursor_kb'] / rows[name].extra['cursor_kb']:.3f}x")
        print(f"   working memory (traced) ours / {name}: {traced['ours'] / max(traced[name], 1e-9):.2f}x")


if __name__ == "__main__":
    main()
