"""lib.textio: BOM-tolerant JSON and CSV readers, duplicate JSON keys refused or marked, real CSV line numbers."""

import pytest

from dataprep_assets.lib.textio import Duplicated, DuplicateKeyError, load_json, read_csv_rows


def test_bom_json_duplicate_keys_and_csv_line_numbers(tmp_path):
    assert load_json(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}
    with pytest.raises(DuplicateKeyError, match="'a' appears twice"):
        load_json(b'{"a": 1, "a": 2}', duplicate_keys="error")
    marked = load_json(b'{"a": 1, "b": 0, "a": 2}', duplicate_keys="mark")
    assert isinstance(marked["a"], Duplicated) and marked["a"] == [1, 2]
    path = tmp_path / "x.csv"
    path.write_bytes(b'\xef\xbb\xbfimage_path,score\r\n\r\na.png,1\r\n\r\n"b\nc.png",2\r\nd.png\r\n')
    rows = read_csv_rows(path)
    assert rows.header == ["image_path", "score"]
    assert rows.lines == [3, 5, 7] and rows.rows[2] == {"image_path": "d.png", "score": ""}
