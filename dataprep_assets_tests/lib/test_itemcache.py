"""The item cache's one-file index: a rebuild reads it instead of one entry per item, and what it cannot vouch
for (a cut-short or altered index, a malformed entry, a gone object, a cut-short entry file) is a miss or falls
back to the per-item entries, never a wrong result."""

import hashlib
import json
from pathlib import Path

from dataprep_assets.lib.itemcache import ItemCache, fingerprint


def _cache(root: Path) -> ItemCache:
    return ItemCache(root, "unit", fingerprint("unit/1", 7))


def _computed(root: Path, n: int = 3) -> list[str]:
    """`n` items put by one cache (as a worker would), indexed by another (as the asset does)."""
    worker, keys = _cache(root), []
    for i in range(n):
        out = root / "work" / f"out{i}.bin"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(f"output {i}".encode())
        key = worker.key(hashlib.sha256(str(i).encode()).hexdigest())
        worker.put(key, {f"out{i}.bin": out}, {"rows": [i, i + 1], "name": f"item {i}"})
        keys.append(key)
    _cache(root).save_index(keys)
    return keys


def _entry_files(root: Path) -> list[Path]:
    return [p for p in (root / "_cache" / "unit").rglob("*.json") if not p.name.startswith("_index")]


def _index(root: Path) -> Path:
    (path,) = (root / "_cache" / "unit").glob("_index-*.json")
    return path


def test_a_rebuild_reads_every_item_from_the_index_and_restores_the_same_bytes(tmp_path):
    keys = _computed(tmp_path)
    for entry in _entry_files(tmp_path):
        entry.unlink()  # only the index is left to answer
    cache = _cache(tmp_path)
    for i, key in enumerate(keys):
        item = cache.get(key)
        assert item is not None and item.result == {"rows": [i, i + 1], "name": f"item {i}"}
        cache.restore(item, tmp_path / "restored")
        assert (tmp_path / "restored" / f"out{i}.bin").read_bytes() == f"output {i}".encode()
    assert cache.get(cache.key("never computed")) is None


def test_an_index_cut_short_or_altered_is_ignored_and_the_entries_answer(tmp_path):
    keys = _computed(tmp_path)
    index = _index(tmp_path)
    data = index.read_bytes()
    altered = data.replace(b'"item 1"', b'"item 9"')
    assert altered != data
    for broken in (data[: len(data) // 2], altered, b"", b"not json\n{}"):
        index.write_bytes(broken)
        item = _cache(tmp_path).get(keys[1])
        assert item is not None and item.result["name"] == "item 1"  # from the per-item entry, not the index
    for entry in _entry_files(tmp_path):
        entry.unlink()
    index.write_bytes(altered)
    assert all(_cache(tmp_path).get(k) is None for k in keys)  # nothing left it can trust: recomputed


def test_a_malformed_entry_in_a_valid_index_is_a_miss(tmp_path):
    keys = _computed(tmp_path)
    for entry in _entry_files(tmp_path):
        entry.unlink()
    index = _index(tmp_path)
    header, _, body = index.read_bytes().partition(b"\n")
    entries = json.loads(body)
    entries[keys[0]]["files"] = {"out0.bin": "../../etc/passwd"}  # not a SHA-256: never a path
    entries[keys[1]] = {"result": 1}  # no files
    body = json.dumps(entries).encode()
    head = json.loads(header) | {"sha256": hashlib.sha256(body).hexdigest()}
    index.write_bytes(json.dumps(head).encode() + b"\n" + body)
    cache = _cache(tmp_path)
    assert cache.get(keys[0]) is None and cache.get(keys[1]) is None
    assert cache.get(keys[2]) is not None


def test_an_item_whose_object_is_gone_or_whose_entry_is_cut_short_is_a_miss(tmp_path):
    keys = _computed(tmp_path)
    item = _cache(tmp_path).get(keys[0])
    assert item is not None
    (sha,) = item.files.values()
    (tmp_path / "_objects" / sha[:2] / sha).unlink()  # garbage-collected
    assert _cache(tmp_path).get(keys[0]) is None
    _index(tmp_path).unlink()
    entry = next(p for p in _entry_files(tmp_path) if p.stem == keys[1])
    entry.write_bytes(entry.read_bytes()[:40])
    assert _cache(tmp_path).get(keys[1]) is None
    assert _cache(tmp_path).get(keys[2]) is not None


def test_an_index_is_rewritten_only_when_the_items_changed(tmp_path):
    keys = _computed(tmp_path)
    index = _index(tmp_path)
    cache = _cache(tmp_path)
    for key in keys:
        assert cache.get(key) is not None
    before = index.stat().st_mtime_ns, index.stat().st_ino
    cache.save_index(keys)
    assert (index.stat().st_mtime_ns, index.stat().st_ino) == before  # the same items: left as it is
    cache.save_index(keys[:2])
    fresh = _cache(tmp_path)
    assert fresh.get(keys[0]) is not None and set(fresh._load_index()) == set(keys[:2])
