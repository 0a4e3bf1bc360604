"""Date-prefixed uploads read as the seed's layout: dated and undated files, re-uploads, bad formats."""

import os

import pytest

from dataprep_assets.lib.dated import date_prefix_pattern, names_a_dated_folder, undated_view


def _put(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _tree(view):
    return {p.relative_to(view).as_posix(): p.read_text() for p in sorted(view.rglob("*")) if p.is_file()}


def test_dated_files_appear_at_their_seed_path_and_the_latest_upload_wins(tmp_path):
    src = tmp_path / "raw"
    _put(src, "DS/01/t000.tif", "undated")
    _put(src, "2026/11/27/DS/01/t001.tif", "day 27")
    _put(src, "2026/11/27/DS/01/t000.tif", "re-upload 27")
    _put(src, "2026/11/28/DS/01/t001.tif", "re-upload 28")
    _put(src, "2026/11/28/DS/01_GT/SEG/man_seg001.tif", "gt")
    _put(src, "2026/13/40/notes.txt", "a folder that only looks dated")
    _put(src, "2026/11/28/DS/.DS_Store", "hidden, an upload like any other")
    _put(src, "2026/11/28/DS/.t002.tif.tmp-123-0123abcd", "being written: skipped")
    (src / "2026/11/28/DS/02").mkdir()  # an empty folder: the reader sees it as in the seed's layout
    (src / "2026/11/29").mkdir()  # a day awaiting uploads: no folder of its own in the view
    report = undated_view(src, tmp_path / "view", "%Y/%m/%d/")
    assert _tree(tmp_path / "view") == {
        "DS/01/t000.tif": "re-upload 27",
        "DS/01/t001.tif": "re-upload 28",
        "DS/01_GT/SEG/man_seg001.tif": "gt",
        "DS/.DS_Store": "hidden, an upload like any other",
        "2026/13/40/notes.txt": "a folder that only looks dated",
    }
    assert (tmp_path / "view/DS/02").is_dir() and not (tmp_path / "view/2026/11/29").exists()
    assert report.files == 5 and report.dated == 4
    assert report.replaced == ["2026/11/27/DS/01/t001.tif", "DS/01/t000.tif"]
    view_file = tmp_path / "view" / "DS/01/t001.tif"  # a hard link: no bytes copied, same inode
    assert os.stat(view_file).st_ino == os.stat(src / "2026/11/28/DS/01/t001.tif").st_ino


def test_symlinks_stay_symlinks_with_their_target(tmp_path):
    src = tmp_path / "raw"
    _put(src, "outside/stray.jpg", "stray")
    (src / "2026/11/27/data").mkdir(parents=True)
    os.symlink("../outside/stray.jpg", src / "2026/11/27/data/linked.jpg")
    os.symlink("../outside", src / "2026/11/27/data/linked_dir")
    os.symlink("../gone.jpg", src / "2026/11/27/data/dangling.jpg")
    report = undated_view(src, tmp_path / "view", "%Y/%m/%d/")
    view = tmp_path / "view"
    assert report.files == 4
    assert os.readlink(view / "data/linked.jpg") == "../outside/stray.jpg"
    assert (view / "data/linked.jpg").read_text() == "stray"  # resolves in the view as in the seed's layout
    assert os.readlink(view / "data/linked_dir") == "../outside"
    assert (view / "data/dangling.jpg").is_symlink() and not (view / "data/dangling.jpg").exists()


def test_the_view_is_rebuilt_whole_so_a_deleted_upload_disappears(tmp_path):
    src = tmp_path / "raw"
    gone = _put(src, "2026/11/27/a.tif", "a")
    _put(src, "2026/11/27/b.tif", "b")
    undated_view(src, tmp_path / "view", "%Y/%m/%d/")
    gone.unlink()
    undated_view(src, tmp_path / "view", "%Y/%m/%d/")
    assert _tree(tmp_path / "view") == {"b.tif": "b"}
    assert set(os.listdir(tmp_path)) == {"raw", "view", ".view.listing", ".view.lock"}  # no staging debris


def test_the_view_is_rebuilt_only_when_the_listing_changed(tmp_path):
    src = tmp_path / "raw"
    _put(src, "2026/11/27/a.tif", "a")
    first = undated_view(src, tmp_path / "view", "%Y/%m/%d/")
    inode = os.stat(tmp_path / "view").st_ino
    again = undated_view(src, tmp_path / "view", "%Y/%m/%d/")  # a second asset of the same run
    assert not first.reused and again.reused and again.files == first.files == 1
    assert os.stat(tmp_path / "view").st_ino == inode  # the same directory: not rebuilt
    _put(src, "2026/11/28/a.tif", "a again")  # a new upload between two calls is seen by the next one
    assert not undated_view(src, tmp_path / "view", "%Y/%m/%d/").reused
    assert _tree(tmp_path / "view") == {"a.tif": "a again"}
    (src / "2026/11/28/a.tif").write_text("edited")  # changed in place (same inode): the listing differs
    assert not undated_view(src, tmp_path / "view", "%Y/%m/%d/").reused
    assert _tree(tmp_path / "view") == {"a.tif": "edited"}
    (tmp_path / ".view.listing").write_text("something else")  # a view without its record is never trusted
    assert not undated_view(src, tmp_path / "view", "%Y/%m/%d/").reused


def test_a_missing_source_gives_an_empty_view(tmp_path):
    assert undated_view(tmp_path / "nothing", tmp_path / "view", "%Y-%m-%d/").files == 0
    assert list((tmp_path / "view").iterdir()) == []


@pytest.mark.parametrize(
    ("fmt", "message"), [("%Y/%m/%d", "must end with '/'"), ("%Y/%b/", "%b is not one of"), ("", "must end with")]
)
def test_a_format_that_is_not_a_folder_per_date_is_refused_with_its_name(fmt, message):
    with pytest.raises(ValueError, match=message):
        date_prefix_pattern(fmt)


@pytest.mark.parametrize(
    ("rel", "dated"),
    [("2026/11/28", True), ("2026/11/28/DS/01", True), ("DS/01", False), ("2026/13/40/x", False), ("2026/11", False)],
)
def test_a_path_that_names_a_date_folder_is_recognised(rel, dated):
    assert names_a_dated_folder(rel, "%Y/%m/%d/") is dated


def test_pattern_splits_the_date_from_the_seed_path():
    match = date_prefix_pattern("dt=%Y-%m-%d/").match("dt=2026-11-28/DS/01/t000.tif")
    assert match is not None and match.groups() == ("dt=2026-11-28/", "DS/01/t000.tif")
