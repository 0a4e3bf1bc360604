"""The published COCO files read item by item give what reading them whole gave: `streamed_problems` names the
problems `load_coco` + `pycocotools_load` + `validate_coco` name (same order, same counts), the CSV rows come out
the same whatever the chunk size, and a chunked CSV has the bytes of the whole table's."""

import json
import math
import re

import pandas as pd
import pytest

from dataprep_assets.defs.ct_hemorrhage import validation
from dataprep_assets.defs.ct_hemorrhage.export import (
    dataset_row_chunks,
    dataset_rows,
    four_class_coco,
    write_four_class,
)
from dataprep_assets.defs.ct_hemorrhage.published import CocoDict, CocoFile
from dataprep_assets.defs.ct_hemorrhage.validation import coco_report, streamed_problems
from dataprep_assets.lib.coco import CocoError, load_coco, pycocotools_load, validate_coco
from dataprep_assets.lib.storage import atomic_write_json


def _broken() -> dict:
    return {
        "info": {"description": "broken"},
        "images": [
            {"id": 1, "file_name": "a.png", "width": 100, "height": 80},
            {"id": 3, "file_name": "d.png", "width": 0, "height": 80},
            {"id": 1, "file_name": "b.png", "width": 100, "height": 80},
            {"id": 2, "file_name": "c.png", "width": 100, "height": 80},
            {"id": 4, "file_name": "c.png", "width": 100, "height": 80},
            {"id": 3, "file_name": "e.png", "width": 100, "height": 80},
        ],
        "annotations": [
            {"id": 10, "image_id": 2, "category_id": 0, "bbox": [10, 10, 20, 20]},
            {"id": 15, "image_id": 2, "category_id": 0, "bbox": [1, 1, 2, 2]},
            {"id": 10, "image_id": 2, "category_id": 0, "bbox": [1, 1, 2, 2]},
            {"id": 11, "image_id": 2, "category_id": 9, "bbox": [1, 1, 2, 2]},
            {"id": 12, "image_id": 77, "category_id": 0, "bbox": [1, 1, 2, 2]},
            {"id": 13, "image_id": 2, "category_id": 0, "bbox": [90, 10, 20, 20]},
            {"id": 14, "image_id": 2, "category_id": 0, "bbox": [5, 5, float("nan"), 3]},
            {"id": 15, "image_id": 1, "category_id": 0, "bbox": [5, 5, 3]},
        ],
        "categories": [{"id": 0, "name": "IPH"}],
    }


@pytest.mark.parametrize("batch", [1, 3, 2048])
def test_streamed_problems_are_validate_cocos(tmp_path, monkeypatch, batch):
    monkeypatch.setattr(validation, "PYCOCOTOOLS_BATCH", batch)
    coco = _broken()
    atomic_write_json(tmp_path / "coco.json", coco)
    (tmp_path / "a.png").write_bytes(b"x")
    counts, problems = streamed_problems(tmp_path / "coco.json", tmp_path)
    assert problems == validate_coco(load_coco(tmp_path / "coco.json"), tmp_path)
    api = pycocotools_load(coco)
    assert counts == {"images": len(api.getImgIds()), "annotations": len(api.getAnnIds())}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"images": [], "annotations": []}', "needs a list `categories`"),
        ('{"images": {}, "annotations": [], "categories": []}', "needs a list `images`"),
        ('{"images": [{"id": 1}], "annotations": [], "categories": []}', r"images\[0\] lacks file_name"),
        ('{"images": [], "annotations": [], "categories": [{"id": 1}]}', r"categories\[0\] lacks name"),
        ('{"images": [], "annotations": [{"id": 1, "image_id": 1}], "categories": []}', "lacks category_id, bbox"),
        ('{"images": [{"id": 1, "file_name": "a.png"}', "malformed COCO JSON"),
    ],
)
def test_a_file_that_cannot_be_used_is_named_as_load_coco_names_it(tmp_path, text, message):
    split = tmp_path / "train"
    split.mkdir()
    (split / "_annotations.coco.json").write_text(text)
    table, examples = coco_report(tmp_path, ["train", "valid"])
    assert list(table["pycocotools"]) == ["not loaded", "not loaded"]
    assert examples[0].startswith(str(split / "_annotations.coco.json")) and re.search(message, examples[0])
    assert "COCO file not found" in examples[1]
    with pytest.raises(CocoError, match=message):  # the message reading the file whole gives
        load_coco(split / "_annotations.coco.json")


def _published() -> dict:
    def im(i, name, k):
        return {
            "id": i,
            "file_name": name,
            "width": 512,
            "height": 512,
            "patient_id": f"P{i % 3}",
            "source": "v3",
            "original": name.split("_aug")[0],
            "aug_index": k,
        }

    images = [
        im(i, f"img{i:03d}.png" if i % 3 == 0 else f"img{i - i % 3:03d}_aug{i % 3}.jpg", i % 3) for i in range(40)
    ]
    annotations = [
        {
            "id": n,
            "image_id": i,
            "category_id": n % 6,
            "bbox": [1.0, 2.0, 30.0, 40.0],
            "area": 1200.0,
            "iscrowd": 0,
            "segmentation": [],
        }
        for n, i in enumerate(i for i in range(40) for _ in range(i % 4))
    ]
    categories = [
        {"id": i, "name": n, "supercategory": "none"} for i, n in enumerate(["EDH", "HC", "IPH", "IVH", "SAH", "SDH"])
    ]
    return {"info": {"description": "v4"}, "images": images, "annotations": annotations, "categories": categories}


def test_rows_come_out_the_same_in_any_chunk_size_and_the_csv_has_the_same_bytes(tmp_path):
    coco = _published()
    whole = dataset_rows(coco, "train")
    for size in (1, 7, 40, 4096):
        chunks = list(dataset_row_chunks(CocoDict(coco), "train", size))
        assert all(len(c) <= size for c in chunks)
        pd.testing.assert_frame_equal(pd.concat(chunks, ignore_index=True), whole)
        path = tmp_path / f"rows-{size}.csv"
        with open(path, "w", encoding="utf-8", newline="") as fh:
            for i, chunk in enumerate(chunks):
                chunk.to_csv(fh, index=False, header=i == 0)
        whole.to_csv(tmp_path / "whole.csv", index=False)
        assert path.read_bytes() == (tmp_path / "whole.csv").read_bytes()
    assert whole["annotations"].sum() == len(coco["annotations"])
    names = {c["id"]: c["name"] for c in coco["categories"]}
    expected = [
        ";".join(sorted({names[a["category_id"]] for a in coco["annotations"] if a["image_id"] == i}))
        for i in range(40)
    ]
    assert list(whole["classes"]) == expected  # sorted, distinct


def test_four_class_written_item_by_item_has_the_bytes_of_the_whole_dict(tmp_path):
    coco = _published()
    atomic_write_json(tmp_path / "six.json", coco)
    placed = []
    kept, images, annotations, removed = write_four_class(
        CocoFile(tmp_path / "six.json"), ["EDH", "HC"], tmp_path / "four.json", placed.append
    )
    atomic_write_json(tmp_path / "whole.json", four_class_coco(coco, ["EDH", "HC"]))
    assert (tmp_path / "four.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    assert kept == ["IPH", "IVH", "SAH", "SDH"] and images == len(placed) == 40
    assert annotations + removed == len(coco["annotations"]) and removed > 0
    assert not math.isnan(json.loads((tmp_path / "four.json").read_text())["annotations"][0]["area"])
