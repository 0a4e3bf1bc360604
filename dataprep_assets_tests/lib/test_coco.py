"""COCO handling: pycocotools silently loads duplicate ids, undefined categories, orphan annotations and
boxes outside the image, so `validate_coco` must name each; the declarative category mapping refuses
unknown names and targets; boxes are clipped; the 4-class derivative drops EDH/HC and renumbers."""

import json

import pytest

from dataprep_assets.defs.ct_hemorrhage.export import four_class_coco
from dataprep_assets.lib.coco import (
    DROP,
    CocoError,
    box_problem,
    category_map,
    clip_box,
    load_coco,
    problem_counts,
    pycocotools_load,
    round2,
    validate_coco,
)

CLASSES = ["EDH", "HC", "IPH", "IVH", "SAH", "SDH"]


def _broken() -> dict:
    return {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 100, "height": 80},
            {"id": 1, "file_name": "b.png", "width": 100, "height": 80},
            {"id": 2, "file_name": "c.png", "width": 100, "height": 80},
        ],
        "annotations": [
            {"id": 10, "image_id": 2, "category_id": 0, "bbox": [10, 10, 20, 20]},
            {"id": 10, "image_id": 2, "category_id": 0, "bbox": [1, 1, 2, 2]},
            {"id": 11, "image_id": 2, "category_id": 9, "bbox": [1, 1, 2, 2]},
            {"id": 12, "image_id": 77, "category_id": 0, "bbox": [1, 1, 2, 2]},
            {"id": 13, "image_id": 2, "category_id": 0, "bbox": [90, 10, 20, 20]},
            {"id": 14, "image_id": 2, "category_id": 0, "bbox": [5, 5, float("nan"), 3]},
        ],
        "categories": [{"id": 0, "name": "IPH"}],
    }


def test_pycocotools_loads_broken_coco_silently_but_validate_names_every_problem(tmp_path):
    coco = _broken()
    api = pycocotools_load(coco)  # no error: this is why our own validation exists
    assert len(api.getImgIds()) == 2
    (tmp_path / "a.png").write_bytes(b"x")
    counts = problem_counts(validate_coco(coco, tmp_path))
    assert counts == {
        "box_outside_image": 1,
        "duplicate_annotation_id": 1,
        "duplicate_image_id": 1,
        "invalid_box": 1,
        "missing_image_file": 2,
        "orphan_annotation": 1,
        "undefined_category": 1,
    }


def test_a_clean_coco_has_no_problems(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x")
    coco = {
        "images": [{"id": 0, "file_name": "a.png", "width": 10, "height": 10}],
        "annotations": [{"id": 0, "image_id": 0, "category_id": 0, "bbox": [0, 0, 10, 10]}],
        "categories": [{"id": 0, "name": "IPH"}],
    }
    assert validate_coco(coco, tmp_path) == []


@pytest.mark.parametrize(
    "bbox, fragment",
    [
        ([1, 2, 3], "4 numbers"),
        ([1, "a", 3, 4], "non-numeric"),
        ([1, 2, float("nan"), 4], "NaN"),
        ([1, 2, -3, 4], "non-positive"),
        ([1, 2, 3, 0], "non-positive"),
        ("oops", "4 numbers"),
    ],
)
def test_box_problems_are_named(bbox, fragment):
    assert fragment in box_problem(bbox)
    assert box_problem([0, 0, 1, 1]) is None


def test_clip_box_to_the_image():
    assert clip_box(-12, 10, 40, 20, 512, 512) == (0, 10, 28, 20)
    assert clip_box(500, 500, 40, 40, 512, 512) == (500, 500, 12, 12)
    assert clip_box(530, 40, 20, 20, 512, 512)[2] == 0  # entirely outside: empty


def test_round2_is_pythons_round_bit_for_bit():
    """numpy's `rint(v * 100) / 100` differs from `round(v, 2)` where `v * 100` rounds across a half (1.005,
    2.675, ...): `round2` must agree with `round` everywhere, signs of zero and non-finite values included."""
    import random
    import struct

    import numpy as np

    rnd = random.Random(7)
    halves = [(2 * k + 1) / 200 for k in range(-3000, 60000)]
    values = [
        *halves,
        *(float(np.nextafter(v, d)) for v in halves for d in (-np.inf, np.inf)),
        *(rnd.uniform(-600, 600) for _ in range(50000)),
        *(struct.unpack("d", struct.pack("Q", rnd.getrandbits(64)))[0] for _ in range(20000)),
        *(0.0, -0.0, -0.001, 1.005, 2.675, 0.125, 1e13, 4.5e15 + 0.5, 1e300, float("inf"), float("-inf"), 5e-324),
    ]
    got = round2(np.array(values))
    assert [repr(v) for v in got] == [repr(round(v, 2)) for v in values]
    assert np.isnan(round2(np.array([float("nan")]))[0])


def test_category_mapping_is_declarative_and_strict():
    cats = [{"id": 0, "name": "hemorrhage-ct"}, {"id": 1, "name": "Contusion"}, {"id": 2, "name": "SDH"}]
    mapped = category_map(cats, {"hemorrhage-ct": DROP, "Contusion": "HC", "SDH": "SDH"}, CLASSES, "roboflow")
    assert mapped == {0: None, 1: 1, 2: 5}
    with pytest.raises(CocoError, match=r"roboflow.*\['Contusion'\].*not in the category mapping"):
        category_map(cats, {"hemorrhage-ct": DROP, "SDH": "SDH"}, CLASSES, "roboflow")
    with pytest.raises(CocoError, match=r"\['Bleed'\] are not among"):
        category_map(cats, {"hemorrhage-ct": DROP, "Contusion": "Bleed", "SDH": "SDH"}, CLASSES, "roboflow")


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{not json", "malformed COCO JSON"),
        ("[]", "must be an object"),
        ('{"images": {}, "annotations": [], "categories": []}', "list `images`"),
        ('{"images": [{"id": 1}], "annotations": [], "categories": []}', "images[0] lacks file_name"),
    ],
)
def test_load_coco_names_the_file_and_the_problem(tmp_path, text, fragment):
    path = tmp_path / "_annotations.coco.json"
    path.write_text(text)
    with pytest.raises(CocoError) as info:
        load_coco(path)
    assert fragment in str(info.value) and str(path) in str(info.value)
    with pytest.raises(CocoError, match="not found"):
        load_coco(tmp_path / "missing.json")


def test_four_class_derivative_drops_edh_and_hc_and_renumbers():
    coco6 = {
        "images": [{"id": 0, "file_name": "a.jpg", "width": 10, "height": 10}],
        "annotations": [
            {"id": i, "image_id": 0, "category_id": c, "bbox": [0, 0, 1, 1]} for i, c in enumerate([0, 1, 2, 3, 4, 5])
        ],
        "categories": [{"id": i, "name": n} for i, n in enumerate(CLASSES)],
    }
    coco4 = four_class_coco(coco6, ["EDH", "HC"])
    assert [c["name"] for c in coco4["categories"]] == ["IPH", "IVH", "SAH", "SDH"]
    assert [a["category_id"] for a in coco4["annotations"]] == [0, 1, 2, 3]
    assert [a["id"] for a in coco4["annotations"]] == [0, 1, 2, 3]
    assert coco4["images"] == coco6["images"] and json.dumps(coco4)
