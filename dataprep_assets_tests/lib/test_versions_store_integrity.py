"""Whole-store verification and repair, the crash-point hook, and pins kept by GC through a chain of pins."""

import multiprocessing as mp
import os
import signal
from datetime import UTC, datetime, timedelta

from dataprep_assets import versions
from dataprep_assets.__main__ import main
from dataprep_assets.lib import crashpoints
from dataprep_assets.lib.versions import RetentionPolicy, VersionRecord, plan_retention


def _write_set(store, files, relpath="data/set"):
    with store.write_dir(relpath) as staged:
        for name, data in files.items():
            (staged.path / name).write_bytes(data)


def test_verify_names_every_way_a_view_can_disagree_and_repair_fixes_them(store, monkeypatch, capsys):
    _write_set(store, {"a": b"1", "b": b"2"})
    store.write_table("data/t.csv", __import__("pandas").DataFrame({"x": [1]}))
    assert versions.check_store(store) == []
    changed = store.path("data/set") / "a"
    changed.unlink()  # replaced, not edited in place: the view is a hard link to the stored object
    changed.write_bytes(b"changed")  # a view that claims to be complete but is not
    (store.path("data/set") / "extra").write_bytes(b"x")
    store.path("data/t.csv").unlink()
    (store.path("data") / ".set.staging-999999999-x").mkdir()  # a dead writer's staging folder
    problems = versions.check_store(store)
    assert any("changed in the current view: ['a']" in p for p in problems)
    assert any("not in the manifest in the current view: ['extra']" in p for p in problems)
    assert any(p.startswith("data/t.csv: the current view is missing") for p in problems)
    assert any("debris .set.staging-999999999-x" in p for p in problems)
    monkeypatch.setenv("DATAPREP_STORE_ROOT", str(store.local_root()))
    monkeypatch.delenv("DATAPREP_STORE_URL", raising=False)
    assert main(["verify"]) == 1
    assert set(versions.repair(store)) == {"data/set", "data/t.csv"}
    assert versions.check_store(store) == []
    assert main(["verify"]) == 0 and "ok:" in capsys.readouterr().out


def _hit_twice() -> None:
    os.environ[crashpoints.ENV] = "record:2"
    crashpoints.crash_point("record")
    crashpoints.crash_point("swap")
    crashpoints.crash_point("record")
    os._exit(0)


def test_a_crash_point_kills_the_process_at_its_nth_hit_and_costs_nothing_unset(monkeypatch):
    monkeypatch.delenv(crashpoints.ENV, raising=False)
    crashpoints.crash_point("record")  # unset: nothing happens
    child = mp.get_context("fork").Process(target=_hit_twice)
    child.start()
    child.join(timeout=60)
    assert child.exitcode == -signal.SIGKILL


def _record(dataset, version_id, days_old, pins=None):
    created = (datetime.now(UTC) - timedelta(days=days_old)).isoformat()
    return VersionRecord(version_id, dataset, "h" * 64, created, "dir", 1, 1, meta={"pins": pins or {}})


def test_gc_keeps_what_pinned_versions_pin_in_turn():
    six = [_record("six", "s1", 90), _record("six", "s2", 80)]
    four = [_record("four", "f1", 90, {"six": "s1"}), _record("four", "f2", 80, {"six": "s2"})]
    csv = [_record("csv", "c1", 90, {"four": "f1"})]
    kept, dropped = plan_retention(
        {"six": six, "four": four, "csv": csv}, RetentionPolicy(keep_last=1, keep_days=0, grace_seconds=0)
    )
    assert {(r.dataset, r.version_id) for r in kept} == {
        ("csv", "c1"),
        ("four", "f1"),
        ("four", "f2"),
        ("six", "s1"),
        ("six", "s2"),
    }
    assert dropped == []


def test_gc_clears_a_dead_writers_half_stored_object(store):
    _write_set(store, {"a": b"1"})
    sha = next(iter(store.entries(store.versions("data/set")[-1]))).sha256
    debris = store.object_path(sha).parent / f".{'f' * 64}.tmp-999999999-abcd1234"
    debris.write_bytes(b"half")
    store.gc(RetentionPolicy(keep_last=1, keep_days=0, grace_seconds=0), dry_run=True)
    assert debris.exists()
    store.gc(RetentionPolicy(keep_last=1, keep_days=0, grace_seconds=0), dry_run=False)
    assert not debris.exists() and store.object_path(sha).exists()
