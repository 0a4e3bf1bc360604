"""Immutable versions in the store: every write is a version that stays retrievable byte for byte,
files are stored once by content, GC keeps what the policy and releases keep, crashes leave the
previous version current, and corruption is a named error."""

import json
import multiprocessing as mp
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from dataprep_assets import versions
from dataprep_assets.__main__ import main as cli
from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.lib import versions as V
from dataprep_assets.lib.storage import build_manifest


def _write_set(store, files: dict[str, bytes], relpath="data/set"):
    with store.write_dir(relpath) as staged:
        for name, data in files.items():
            (staged.path / name).parent.mkdir(parents=True, exist_ok=True)
            (staged.path / name).write_bytes(data)
    return staged


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_write_is_a_version_that_checks_out_byte_identically_after_later_rebuilds(store, tmp_path):
    first = {f"img/{i:03d}.png": os.urandom(2000) for i in range(50)}
    _write_set(store, first)
    second = dict(first) | {"img/000.png": b"changed", "img/new.png": b"new"}
    del second["img/001.png"]
    _write_set(store, second)
    _write_set(store, {"only.txt": b"third"})

    history = store.versions("data/set")
    assert [r.file_count for r in history] == [50, 50, 1]
    out = store.checkout(history[0], tmp_path / "co")
    assert _tree(out) == first
    assert _tree(store.checkout(history[1], tmp_path / "co2")) == second
    assert _tree(store.path("data/set")) == {"only.txt": b"third"}  # the current view is the latest


def test_each_distinct_file_is_stored_once(store):
    files = {f"{i}.bin": os.urandom(10_000) for i in range(100)}
    _write_set(store, files)
    for step in range(5):  # five more versions, each changing 1 file of 100
        files[f"{step}.bin"] = os.urandom(10_000)
        _write_set(store, files)
    objects = list(store.path(V.OBJECTS_DIR).glob("??/*"))
    assert len(objects) == 105
    stored = sum(p.stat().st_size for p in objects)
    assert stored <= 1.06 * 100 * 10_000


def test_tables_record_rows_and_read_back_at_any_version(store):
    store.write_table("data/t.parquet", pd.DataFrame({"a": [1, 2, 3]}))
    store.write_table("data/t.parquet", pd.DataFrame({"a": [4]}))
    old, new = store.versions("data/t.parquet")
    assert old.meta["rows"] == 3 and new.meta["rows"] == 1
    assert store.read_table_at("data/t.parquet", old.version_id)["a"].tolist() == [1, 2, 3]
    assert store.manifest("data/t.parquet").version_id == new.version_id


def test_a_corrupted_object_is_a_named_error_never_served(store, tmp_path):
    _write_set(store, {"a.txt": b"alpha", "b.txt": b"beta"})
    _write_set(store, {"a.txt": b"other"})
    record = store.versions("data/set")[0]
    sha = next(e.sha256 for e in store.entries(record) if e.path == "b.txt")
    obj = store.object_path(sha)
    data = bytearray(obj.read_bytes())
    data[0] ^= 0xFF
    obj.write_bytes(bytes(data))  # (an in-place edit: exactly what must be caught)
    with pytest.raises(V.CorruptObjectError, match="b.txt"):
        store.checkout(record, tmp_path / "co")
    assert not (tmp_path / "co" / "data" / "set").exists()  # nothing half-restored that looks complete
    with pytest.raises(V.CorruptObjectError, match="b.txt"):
        versions.verify("data/set", version=record.version_id, store=store)


def test_unknown_or_collected_versions_are_clear_errors_listing_what_exists(store):
    _write_set(store, {"a": b"1"})
    with pytest.raises(V.VersionError, match="no version 'nope'.*Versions that exist"):
        store.version("data/set", "nope")
    with pytest.raises(V.VersionError, match="no run"):
        store.version("data/set", run_id="feedface")
    with pytest.raises(V.VersionError, match="neither a dataset nor an asset"):
        versions.select("no_such_asset", store=store)


def _age(store, record, days):
    """Backdate a version (as if written `days` ago)."""
    path = store.path(V.record_relpath(record.dataset, record.version_id))
    payload = json.loads(path.read_text())
    payload["created_at"] = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    path.write_text(json.dumps(payload))


def test_gc_keeps_the_last_n_young_and_pinned_versions_and_frees_the_rest(store, tmp_path):
    for i in range(6):
        _write_set(store, {"f.bin": bytes([i]) * 1000, "same.bin": b"s" * 1000})
    history = store.versions("data/set")
    for record in history:
        _age(store, record, days=100)
    store.write_json("data/release.json", {"v": 1}, meta={"pins": {"data/set": history[0].version_id}})
    # objects are young right after writing: a zero grace period lets GC consider them
    policy = V.RetentionPolicy(keep_last=2, keep_days=30, grace_seconds=0)
    dry = store.gc(policy, dry_run=True)
    assert len(dry.versions_dropped) == 3 and dry.objects_deleted == 3 and dry.bytes_freed == 3000
    assert len(store.versions("data/set")) == 6  # a dry run deletes nothing
    report = store.gc(policy, dry_run=False)
    assert report.objects_deleted == 3
    kept = [r.version_id for r in store.versions("data/set")]
    assert kept == [history[0].version_id, history[4].version_id, history[5].version_id]
    for record in store.versions("data/set"):  # everything kept still checks out byte for byte
        versions.verify("data/set", version=record.version_id, store=store)
    with pytest.raises(V.VersionError, match="removed by GC"):
        store.version("data/set", history[1].version_id)


def test_gc_grace_period_protects_young_unreferenced_objects(store):
    _write_set(store, {"a": b"1"})
    _write_set(store, {"a": b"2"})
    store.gc(V.RetentionPolicy(keep_last=1, keep_days=0, grace_seconds=0), dry_run=False)
    _write_set(store, {"a": b"3"})
    report = store.gc(V.RetentionPolicy(keep_last=1, keep_days=0, grace_seconds=3600), dry_run=False)
    assert report.objects_young == 1 and report.objects_deleted == 0


def _writer(root: str, rounds: int) -> None:
    store = LocalDatasetStore(root=root)
    for i in range(rounds):
        with store.write_dir("data/set") as staged:
            for j in range(20):
                (staged.path / f"{j}.bin").write_bytes(f"{i}-{j}".encode() * 50 if j % 2 else b"constant" * 50)


def test_concurrent_gc_and_writes_lose_nothing(store_root):
    ctx = mp.get_context("spawn")
    writer = ctx.Process(target=_writer, args=(str(store_root), 40))
    writer.start()
    store = LocalDatasetStore(root=str(store_root))
    policy = V.RetentionPolicy(keep_last=3, keep_days=0, grace_seconds=0)
    while writer.is_alive():
        store.gc(policy, dry_run=False)
    writer.join()
    assert writer.exitcode == 0
    store.gc(policy, dry_run=False)
    kept = store.versions("data/set")
    assert len(kept) == 3
    for record in kept:
        assert versions.verify("data/set", version=record.version_id, store=store) == 20


def _write_forever(root: str) -> None:
    store = LocalDatasetStore(root=root)
    i = 0
    while True:
        i += 1
        with store.write_dir("data/set") as staged:
            for j in range(200):
                (staged.path / f"{j:03d}.bin").write_bytes(f"{i}:{j}".encode() * 100)
        store.write_table("data/t.parquet", pd.DataFrame({"i": [i] * 10}))


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.35, 0.6, 0.9])
def test_a_killed_writer_leaves_the_previous_version_current_and_no_partial_version(store_root, tmp_path, delay):
    _writer(str(store_root), 1)
    ctx = mp.get_context("fork")
    proc = ctx.Process(target=_write_forever, args=(str(store_root),))
    proc.start()
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    store = LocalDatasetStore(root=str(store_root))
    # every listed version is whole: it checks out and matches its record
    for dataset in store.datasets():
        for record in store.versions(dataset):
            out = store.checkout(record, tmp_path / record.version_id)
            got = build_manifest(out) if record.kind == "dir" else None
            if got is not None:
                assert got.dataset_hash == record.dataset_hash
    # the next write repairs the view, clears the debris, and leaves view == latest version
    _writer(str(store_root), 1)
    latest = store.versions("data/set")[-1]
    assert build_manifest(store.path("data/set")).dataset_hash == latest.dataset_hash
    assert store.manifest("data/set").version_id == latest.version_id
    assert not [p for p in store.path("data").iterdir() if p.name.startswith(".set.")]


def test_a_crash_between_commit_and_swap_is_repaired_on_the_next_write(store):
    _write_set(store, {"a": b"old"})
    record = store.versions("data/set")[-1]
    # simulate: a newer version was recorded, but the process died before the view was swapped in
    (store.path("data/set") / "a").unlink()
    (store.path("data/set") / "stray").write_bytes(b"x")
    pointer = store.path("_manifests/data/set.json")
    payload = json.loads(pointer.read_text())
    payload["version_id"] = "older"
    pointer.write_text(json.dumps(payload))
    store._prepare("data/set")
    assert _tree(store.path("data/set")) == {"a": b"old"}
    assert store.manifest("data/set").version_id == record.version_id


def test_nested_datasets_survive_a_swap_of_their_parent_folder(store):
    _write_set(store, {"1.png": b"p1"}, "data/pngs")
    store.write_json("data/pngs/_annotations.coco.json", {"images": 1})
    _write_set(store, {"2.png": b"p2"}, "data/pngs")
    assert json.loads(store.path("data/pngs/_annotations.coco.json").read_text()) == {"images": 1}
    assert [e.path for e in store.manifest("data/pngs").entries] == [
        "2.png"
    ]  # the parent's manifest matches its own files


def test_cli_lists_checks_out_verifies_and_collects(store, store_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DATAPREP_STORE_ROOT", str(store_root))
    monkeypatch.delenv("DATAPREP_STORE_URL", raising=False)
    store.write_table("data/t.parquet", pd.DataFrame({"a": [1, 2]}))
    store.write_table("data/t.parquet", pd.DataFrame({"a": [3]}))
    first = store.versions("data/t.parquet")[0]
    assert cli(["list", "data/t.parquet"]) == 0
    out = capsys.readouterr().out
    assert first.version_id in out and " 2 " in out
    assert cli(["checkout", "data/t.parquet", "--version", first.version_id[:18], "--to", str(tmp_path / "co")]) == 0
    assert pd.read_parquet(tmp_path / "co" / "data" / "t.parquet")["a"].tolist() == [1, 2]
    assert cli(["verify", "data/t.parquet"]) == 0
    assert cli(["checkout", "data/t.parquet", "--version", "zzz", "--to", str(tmp_path / "x")]) == 2
    assert "Versions that exist" in capsys.readouterr().err
    assert cli(["gc", "--dry-run", "--keep-last", "1", "--keep-days", "0", "--grace-hours", "0"]) == 0
    assert "would free" in capsys.readouterr().out
    assert len(store.versions("data/t.parquet")) == 2


def test_the_gc_job_applies_the_policy_from_the_launchpad(store, instance):
    from dataprep_assets.defs.store_maintenance.gc import store_gc_job

    for i in range(4):
        _write_set(store, {"f": bytes([i]) * 100})
    config = {"ops": {"collect_store_garbage": {"config": {"keep_last": 1, "keep_days": 0, "grace_hours": 0}}}}
    result = store_gc_job.execute_in_process(instance=instance, resources={"store": store}, run_config=config)
    meta = next(e for e in result.all_events if e.event_type_value == "STEP_OUTPUT").event_specific_data.metadata
    assert meta["versions_dropped"].value == 3 and meta["objects_deleted"].value == 3
    assert len(store.versions("data/set")) == 1


def test_datasets_under_a_folder_lists_only_that_folder(tmp_path):
    store = LocalDatasetStore(root=str(tmp_path))
    for path in ("outputs/a/x.json", "outputs/ab.json", "outputs/a/b/y.json", "data/z.json"):
        store.write_json(path, {"p": path})
    assert store.datasets(under="outputs/a") == ["outputs/a/b/y.json", "outputs/a/x.json"]
    assert store.datasets(under="outputs/a/x.json") == ["outputs/a/x.json"]
    assert len(store.datasets()) == 4
