"""The "new or changed files" sensor cursor at bucket scale: ours against the two usual cursors.

A bucket starts with 100,000 objects (already reported) and, for 20 ticks, 1,200 objects land per
tick, 1,000 of them in one second, half of those only showing up in the next listing (they land
while the listing runs), plus 20 re-uploads with new content and 50 deletions. Afterwards ticks run
until nothing is pending. Every tick lists the whole bucket (in memory: the same list for every
cursor, so only the cursor logic differs), loads the previous cursor from JSON and stores the new one.

- ours (`lib/changes.py`): watermark second + key/ETag digests inside a 120 s window, 1,000 per tick;
- naive seen-set: the cursor is every key -> ETag ever seen (JSON), diffed against each listing;
- naive strict watermark: `LastModified > cursor` (what `get_objects(since_last_modified=...)` does).

Prints time per tick (median of `--runs` untraced runs, with their spread), listed objects per second,
the peak memory traced by `tracemalloc` in a separate run (never around the timed runs: it measures the
cursor logic's working memory, the listing being shared), the final cursor size, and how many changes
each approach missed or reported twice. In-process timing: the cursor logic is pure Python over the
same in-memory listing, so a child process per side would only add noise (benchmarks/_harness.py
prints the header).

Usage: python -m benchmarks.echo_sensor [--objects 100000] [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tracemalloc
from collections import Counter

from benchmarks._harness import header
from dataprep_assets.lib.changes import ChangeCursor, ObjectInfo, detect_changes

T0 = 1_760_000_000


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
    seen = json.loads(cursor_text) if cursor_text else {}
    changes = [(o.key, o.etag) for o in listing if seen.get(o.key) != o.etag]
    seen = {o.key: o.etag for o in listing}
    return changes, json.dumps(seen), 0


def naive_strict_watermark(listing, cursor_text):
    watermark = float(cursor_text) if cursor_text else float("-inf")
    changes = [o for o in listing if o.second > watermark]
    new_mark = max([watermark] + [o.second for o in changes])
    return [(o.key, o.etag) for o in changes], str(new_mark), 0


def initial_cursor(name: str, bucket: Bucket) -> str:
    """Every approach starts having reported the initial 100,000 objects."""
    listing = list(bucket.objects.values())
    if name == "ours":
        return detect_changes(listing, None, max_changes=len(listing) + 1, lookback_seconds=120).cursor.to_json()
    if name == "naive seen-set":
        return json.dumps({o.key: o.etag for o in listing})
    return str(max(o.second for o in listing))


def simulate(name: str, fn, objects: int, ticks: int, trace: bool) -> dict:
    bucket = Bucket(objects, ticks)
    cursor = initial_cursor(name, bucket)
    reported: Counter = Counter()
    seconds, listed, n = 0.0, 0, 0
    if trace:
        tracemalloc.start()
    while True:
        listing = bucket.listing()
        started = time.perf_counter()
        changes, cursor, pending = fn(listing, cursor)
        seconds += time.perf_counter() - started
        listed += len(listing)
        n += 1
        reported.update(changes)
        if n > ticks + 1 and not changes and not pending and not bucket.delayed:
            break
    peak = tracemalloc.get_traced_memory()[1] / 1e6 if trace else 0.0
    if trace:
        tracemalloc.stop()
    truth = bucket.changes
    return {
        "ticks": n,
        "seconds": seconds,
        "listed_per_s": listed / seconds,
        "peak_mb": peak,
        "cursor_kb": len(cursor) / 1e3,
        "missed": len(truth - set(reported)),
        "twice": sum(1 for k, c in reported.items() if c > 1),
        "changes": len(truth),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])  # pyright: ignore[reportOptionalMemberAccess]  # the module has a docstring
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10,000 objects, 5 ticks, 1 run")
    args = parser.parse_args()
    objects, ticks, runs = (10_000, 5, 1) if args.quick else (args.objects, args.ticks, args.runs)
    header(
        f"change-detection cursor: {objects:,} objects, {ticks} ticks of uploads; {runs} untraced runs + 1 traced run "
        "each",
        columns=False,
    )
    approaches = {"ours": ours, "naive seen-set": naive_seen_set, "naive strict watermark": naive_strict_watermark}
    rows = {}
    for name, fn in approaches.items():
        timed = [simulate(name, fn, objects, ticks, trace=False) for _ in range(runs)]
        r = dict(timed[0])
        r["seconds"] = statistics.median(t["seconds"] for t in timed)
        r["listed_per_s"] = statistics.median(t["listed_per_s"] for t in timed)
        spread = [t["seconds"] / t["ticks"] * 1e3 for t in timed]
        r["peak_mb"] = simulate(name, fn, objects, ticks, trace=True)["peak_mb"]
        rows[name] = r
        print(
            f"{name:<23} {objects} objects, {r['ticks']} ticks: {r['seconds'] / r['ticks'] * 1e3:7.1f} ms/tick "
            f"({min(spread):.1f}-{max(spread):.1f}, {runs} runs), "
            f"{r['listed_per_s'] / 1e6:5.2f} M listed objects/s, peak {r['peak_mb']:6.1f} MB, cursor "
            f"{r['cursor_kb']:8.1f} kB, "
            f"missed {r['missed']}/{r['changes']}, reported twice {r['twice']}"
        )
    o = rows["ours"]
    for name in ("naive seen-set", "naive strict watermark"):
        b = rows[name]
        print(
            f"ours / {name}: {o['listed_per_s'] / b['listed_per_s']:.2f}x throughput (median listed objects/s), "
            f"{o['peak_mb'] / max(b['peak_mb'], 1e-9):.2f}x peak memory, "
            f"{o['cursor_kb'] / b['cursor_kb']:.3f}x cursor size"
        )


if __name__ == "__main__":
    main()
