"""The item cache's one-file index: a rebuild reads it instead of one entry per item, and what it cannot vouch
for (a cut-short or altered index, a malformed entry, a gone object, a cut-short entry file) is a miss or falls
back to the per-item entries, never a wrong result."""

import hashlib
import json
from pathlib import Path

import numpy as np

from dataprep_assets.lib.itemcache import ItemCache, fingerprint
from dataprep_assets.lib.rowblocks import concat_rows


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


def _rows(i: int) -> dict[str, np.ndarray]:
    return {
        "cell_id": np.array([f"item{i}_{j}" for j in range(i + 1)], dtype=object),
        "jaccard": np.linspace(0, 1, i + 1),
        "label": np.arange(i + 1, dtype=np.uint16),
    }


def _put_with_rows(root: Path, items: range) -> list[str]:
    worker, keys = _cache(root), []
    for i in items:
        out = root / "work" / f"rows{i}.bin"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(f"rows {i}".encode())
        key = worker.key("rows", str(i))
        worker.put(key, {f"rows{i}.bin": out}, {"i": i}, rows=_rows(i))
        keys.append(key)
    return keys


def _same_rows(item, i: int) -> bool:
    got, want = item.rows.columns(), _rows(i)
    return list(got) == list(want) and all(got[k].dtype == want[k].dtype and (got[k] == want[k]).all() for k in want)


def test_rows_come_back_exactly_from_the_entries_and_from_the_index_and_an_altered_block_is_not_trusted(tmp_path):
    keys = _put_with_rows(tmp_path, range(4))
    fresh = _cache(tmp_path)
    assert all(_same_rows(fresh.get(k), i) for i, k in enumerate(keys))  # from the per-item entries
    fresh.save_index(keys)
    more = keys + _put_with_rows(tmp_path, range(4, 6))  # a rebuild: four items from the index, two new
    rebuild = _cache(tmp_path)
    assert all(rebuild.get(k) is not None for k in more)
    rebuild.save_index(more)
    entries = {p: p.read_bytes() for p in _entry_files(tmp_path)}
    for path in entries:
        path.unlink()  # only the index is left to answer
    indexed = _cache(tmp_path)
    items = [indexed.get(k) for k in more]
    assert all(item is not None and _same_rows(item, i) for i, item in enumerate(items))
    rows = [item.rows for item in items if item is not None and item.rows is not None]
    assert len(rows) == len(more) and len({id(r.block) for r in rows}) == 1  # one block: joined by slices
    joined = concat_rows(rows)
    assert list(joined["cell_id"]) == [f"item{i}_{j}" for i in range(6) for j in range(i + 1)]

    index = _index(tmp_path)
    data = index.read_bytes()
    index.write_bytes(data[:-8] + bytes(8))  # a block's bytes altered: the checksum fails
    assert all(_cache(tmp_path).get(k) is None for k in more)  # no entries left either: all recomputed
    for path, content in entries.items():
        path.write_bytes(content)
    back = _cache(tmp_path)
    assert all(_same_rows(back.get(k), i) for i, k in enumerate(more))  # the per-item entries answer
