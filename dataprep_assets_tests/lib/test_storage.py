"""Atomic writes, path safety and manifests: the guarantees every pipeline's outputs rest on."""

import os
import shutil

import pytest

from dataprep_assets.lib.storage import (
    UnsafePathError,
    atomic_path,
    atomic_write_json,
    build_manifest,
    child_path,
    safe_join,
    staged_directory,
    symlink_keeping,
)


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", "a/\x00b", "..\\..\\x"])
def test_safe_join_refuses_paths_that_escape(tmp_path, bad):
    with pytest.raises(UnsafePathError):
        safe_join(tmp_path, bad)


def test_safe_join_refuses_symlink_escape(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    with pytest.raises(UnsafePathError, match="via a link"):
        safe_join(root, "link/file.txt")
    assert safe_join(root, "a/b.txt") == root / "a" / "b.txt"


def test_atomic_path_leaves_old_file_and_no_temp_on_failure(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash mid-write")
    assert target.read_text().strip().endswith("}")
    assert '"v": 1' in target.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_staged_directory_swaps_whole_or_not_at_all(tmp_path):
    final = tmp_path / "dataset"
    with staged_directory(final) as stage:
        (stage / "a.txt").write_text("one")
    with pytest.raises(ValueError), staged_directory(final) as stage:
        (stage / "b.txt").write_text("two")
        raise ValueError("crash")
    assert sorted(p.name for p in final.iterdir()) == ["a.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dataset"]
    with staged_directory(final) as stage:
        (stage / "c.txt").write_text("three")
    assert sorted(p.name for p in final.iterdir()) == ["c.txt"]


def test_manifest_hash_depends_on_content_and_names_only(tmp_path):
    for name in ("x", "y"):
        d = tmp_path / name
        (d / "sub").mkdir(parents=True)
        (d / "sub" / "f.bin").write_bytes(b"abc")
        (d / "g.txt").write_text("hello")
    a, b = build_manifest(tmp_path / "x"), build_manifest(tmp_path / "y")
    assert a.dataset_hash == b.dataset_hash
    assert [e.path for e in a.entries] == ["g.txt", "sub/f.bin"]
    (tmp_path / "y" / "g.txt").write_text("hello!")
    assert build_manifest(tmp_path / "y").dataset_hash != a.dataset_hash


def test_directories_are_exchanged_in_one_step_on_linux(tmp_path):
    """The swap uses renameat2(RENAME_EXCHANGE): both paths exist before and after, contents traded."""
    from dataprep_assets.lib.storage import _exchange

    old, new = tmp_path / "dataset", tmp_path / ".staging"
    for path, text in ((old, "old"), (new, "new")):
        path.mkdir()
        (path / "v").write_text(text)
    assert _exchange(new, old)
    assert (old / "v").read_text() == "new" and (new / "v").read_text() == "old"


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd", "a/\x00b", "..\\..\\x"])
def test_safe_files_refuses_what_safe_join_refuses(tmp_path, bad):
    from dataprep_assets.lib.storage import SafeFiles

    with pytest.raises(UnsafePathError):
        SafeFiles(tmp_path).file("images", bad)


def test_safe_files_answers_from_one_listing_per_directory_and_keeps_the_link_checks(tmp_path):
    from dataprep_assets.lib.storage import SafeFiles

    outside = tmp_path / "outside"
    (outside / "d").mkdir(parents=True)
    (outside / "secret.png").write_bytes(b"x")
    root = tmp_path / "root"
    (root / "images" / "sub").mkdir(parents=True)
    (root / "images" / "a.png").write_bytes(b"x")
    (root / "images" / "inside.png").symlink_to(root / "images" / "a.png")
    (root / "images" / "escape.png").symlink_to(outside / "secret.png")
    (root / "linked_dir").symlink_to(outside / "d")
    files = SafeFiles(root)
    assert files.file("images", "a.png") == root / "images" / "a.png"
    assert files.file("images/inside.png") == root / "images" / "inside.png"
    assert files.file("images", "missing.png") is None
    assert files.file("images", "sub") is None  # a directory is not a file
    assert files.file("nowhere", "a.png") is None
    with pytest.raises(UnsafePathError, match="via a link"):
        files.file("images", "escape.png")
    with pytest.raises(UnsafePathError, match="via a link"):
        files.file("linked_dir", "x.png")
    # `is_file` answers the same from the listing of a directory already checked, and refuses the same names
    assert files.is_file("images", "a.png") and files.is_file("images", "inside.png")
    assert not files.is_file("images", "sub") and not files.is_file("images", "missing.png")
    for bad in ("../x", "..", "a/\x00b", "..\\x", "sub/../../x"):
        with pytest.raises(UnsafePathError):
            files.is_file("images", bad)
    with pytest.raises(UnsafePathError, match="via a link"):
        files.is_file("images", "escape.png")
    (root / "images" / "late.png").write_bytes(b"x")
    assert files.file("images", "late.png") is None  # listed once: a new object sees it
    assert SafeFiles(root).file("images", "late.png") == root / "images" / "late.png"


def test_a_hash_index_reads_only_files_it_has_not_seen_and_gives_the_same_manifest(tmp_path):
    from dataprep_assets.lib.itemcache import VerifiedObjects
    from dataprep_assets.lib.storage import StatHashIndex

    data = tmp_path / "data"
    data.mkdir()
    for i in range(5):
        (data / f"{i}.bin").write_bytes(bytes([i]) * 100)
    plain = build_manifest(data)
    first = StatHashIndex(tmp_path / "index.json")
    assert build_manifest(data, index=first) == plain and first.hashed == 5
    first.save()
    linked = tmp_path / "linked"  # a rebuild made of hard links to the same files: nothing read again
    linked.mkdir()
    for path in data.iterdir():
        os.link(path, linked / path.name)
    (data / "4.bin").unlink()
    (linked / "4.bin").unlink()
    (linked / "4.bin").write_bytes(b"new content")  # a new file under an old name is hashed
    second = StatHashIndex(tmp_path / "index.json")
    manifest = build_manifest(linked, index=second)
    assert second.hashed == 1 and manifest == build_manifest(linked)
    second.save()
    assert len(StatHashIndex(tmp_path / "index.json")._known) == 5, "only the stamps still in use are kept"

    verified = VerifiedObjects(tmp_path, "decodes", "fp1")
    verified.add("a" * 64)
    verified.save(keep={"a" * 64})
    assert "a" * 64 in VerifiedObjects(tmp_path, "decodes", "fp1")
    assert "a" * 64 not in VerifiedObjects(tmp_path, "decodes", "fp2"), "another check version starts afresh"


@pytest.mark.parametrize(
    "name", ["", ".", "..", "a/../b.tif", "/etc/passwd", "a//b.tif", "a/", "..\\x.tif", "a\x00.tif", "a/./b"]
)
def test_child_path_refuses_anything_but_plain_relative_names(tmp_path, name):
    with pytest.raises(UnsafePathError, match="not a plain relative file name"):
        child_path(tmp_path, name)


def test_child_path_is_the_name_in_the_folder(tmp_path):
    assert child_path(tmp_path, "DS_01_t000_A_00001.tif") == tmp_path / "DS_01_t000_A_00001.tif"
    assert child_path(tmp_path, "stacks/0001.npy") == tmp_path / "stacks" / "0001.npy"


def test_symlink_keeping_reuses_an_unchanged_link_and_remakes_a_changed_one(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir(), new.mkdir()
    target = "../objects/" + "a" * 64  # long enough to live in a disk block of its own
    os.symlink(target, old / "same.png")
    os.symlink("../objects/" + "b" * 64, old / "changed.png")
    symlink_keeping(new / "same.png", target, old / "same.png")
    symlink_keeping(new / "changed.png", target, old / "changed.png")
    symlink_keeping(new / "fresh.png", target, old / "absent.png")
    assert all(os.readlink(new / n) == target for n in ("same.png", "changed.png", "fresh.png"))
    assert os.lstat(new / "same.png").st_ino == os.lstat(old / "same.png").st_ino, "the unchanged link is reused"
    assert os.lstat(new / "changed.png").st_ino != os.lstat(old / "changed.png").st_ino
    shutil.rmtree(old)
    assert os.readlink(new / "same.png") == target, "deleting the replaced folder leaves the new links intact"
