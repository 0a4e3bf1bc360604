"""`array_items` / `small_members` read what `json.load` reads, item by item, whatever the file's layout and
wherever the buffer's chunks cut it; a truncated or non-object file raises."""

import json

import pytest

from dataprep_assets.lib import jsonstream
from dataprep_assets.lib.jsonstream import array_items, small_members
from dataprep_assets.lib.storage import atomic_write_json

PAYLOAD = {
    "info": {"description": "v4 6-class train", "multiplier": 3, "nested": [1, [2, 3], {"x": None}]},
    "images": [
        {"id": i, "file_name": f"P{i:04d}_{i % 7:03d}.png", "width": 512, "height": 512, "note": 'é,]}"['}
        for i in range(300)
    ],
    "annotations": [
        {"id": i, "image_id": i // 2, "bbox": [1.5, 2.25e-3, 10, 123456789], "iscrowd": 0, "flag": i % 3 == 0}
        for i in range(500)
    ],
    "categories": [{"id": 0, "name": "EDH"}, {"id": 1, "name": "HC"}],
    "empty": [],
    "number": -12.5e10,
}


def layouts(tmp_path):
    canonical = tmp_path / "canonical.json"
    atomic_write_json(canonical, PAYLOAD)
    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(PAYLOAD, separators=(",", ":"), ensure_ascii=False), encoding="utf-8")
    spaced = tmp_path / "spaced.json"
    spaced.write_text(json.dumps(PAYLOAD, indent="\t\r\n ", ensure_ascii=True), encoding="utf-8")
    return [canonical, compact, spaced]


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_same_values_as_json_load(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(jsonstream, "CHUNK", chunk)  # every cut: inside strings, numbers, literals, between items
    for path in layouts(tmp_path):
        whole = json.loads(path.read_text(encoding="utf-8"))
        assert list(array_items(path, "images")) == whole["images"]
        assert list(array_items(path, "annotations")) == whole["annotations"]
        assert list(array_items(path, "empty")) == []
        assert list(array_items(path, "absent")) == []
        small = small_members(path, ["images", "annotations"])
        assert small == {k: v for k, v in whole.items() if k not in ("images", "annotations")}


def test_truncated_array_raises(tmp_path):
    path = tmp_path / "cut.json"
    atomic_write_json(path, PAYLOAD)
    path.write_text(path.read_text()[:-2000])
    with pytest.raises(json.JSONDecodeError):
        list(array_items(path, "images"))


def test_stopping_early_and_non_arrays(tmp_path):
    path = layouts(tmp_path)[0]
    first = next(iter(array_items(path, "annotations")))
    assert first == PAYLOAD["annotations"][0]
    with pytest.raises(TypeError, match="not an array"):
        list(array_items(path, "info"))
    assert small_members(path, ["number"])["number"] == PAYLOAD["number"]  # a skipped key that is no array


@pytest.mark.parametrize(
    "text", ['{"images": [{"id": 1}, {"id": 2', '[{"id": 1}]', '{"images": [1 2]}', '{"images": [1], }', ""]
)
def test_broken_files_raise(tmp_path, text):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(json.JSONDecodeError):
        small_members(path, ["images"])  # reads the whole file (array_items stops after its array)
