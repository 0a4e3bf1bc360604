"""lib.rejects: the rejects table names items relative to the store root, never by absolute path."""

from dataprep_assets.lib.rejects import RejectLog


def test_rejects_are_written_store_relative(tmp_path):
    log = RejectLog()
    log.add(
        f"{tmp_path}/raw/a.tif", "read", "unsafe_path", f"path 'a' resolves outside the root '{tmp_path}' (via a link)"
    )
    frame = log.store_relative(tmp_path).to_frame()
    assert frame["item"].tolist() == ["raw/a.tif"] and str(tmp_path) not in frame.to_csv()
