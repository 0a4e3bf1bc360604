"""The labelled-source box checks run over whole columns; these tests hold them to the per-box rules.

`load_source` decides each annotation's fate with vectorised checks (`usable_boxes`, `beyond_box_limits`,
`clip_boxes`). The reference here is the plain per-annotation loop over the scalar rules (`box_problem`,
`box_limit_problem`, `clip_box`): the same reject rows in the same order, the same kept boxes to the bit.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataprep_assets.defs.ct_hemorrhage.labelled import Source, load_source
from dataprep_assets.lib.coco import box_problem, clip_box, clip_boxes, usable_boxes
from dataprep_assets.lib.limits import beyond_box_limits, box_limit_problem
from dataprep_assets.lib.rejects import RejectLog

ODD_BOXES = [
    [1, 2, 3],
    "abcd",
    [1, "x", 3, 4],
    [float("nan"), 1, 2, 3],
    [1, 2, float("inf"), 3],
    [1, 2, -3, 4],
    [1, 2, 0, 4],
    [1e12, 1e12, 1, 1],
    [-5, -5, 20, 20],
    [10, 10, 1e12, 1e12],
    [1, 2, 3, [4]],
    None,
    ["1.5", "2", 3, 4],
    [True, 1, 5, 5],
    [10**400, 1, 2, 3],
    [-0.0, -0.0, 5, 5],
    [0, 0, 300, 300],
    [250, 250, 20, 20],
    [1, 1, 1.5, 1.5],
    {"a": 1, "b": 2, "c": 3, "d": 4},
    (1, 2, 3, 4),
    [1e308, 1e308, 1e308, 1e308],
]
PATTERN = r"(?P<patient>\d+)_(?P<slice>\d+)\.png"


def _random_boxes(rng: random.Random, n: int) -> list:
    return [
        rng.choice(ODD_BOXES)
        if rng.random() < 0.3
        else [rng.uniform(-50, 300), rng.uniform(-50, 300), rng.uniform(0.5, 100), rng.uniform(0.5, 100)]
        for _ in range(n)
    ]


def test_the_column_checks_agree_with_the_per_box_rules_bit_for_bit():
    boxes = _random_boxes(random.Random(3), 2000) + ODD_BOXES
    width = np.array([random.Random(i).choice([256, 512]) for i in range(len(boxes))], dtype=float)
    height = np.full(len(boxes), 256.0)
    xywh, usable = usable_boxes(boxes)
    assert usable.tolist() == [box_problem(b) is None for b in boxes]
    beyond = beyond_box_limits(xywh[usable], width[usable], height[usable])
    rows = np.flatnonzero(usable)
    assert beyond.tolist() == [box_limit_problem(*map(float, boxes[i]), width[i], height[i]) is not None for i in rows]
    clipped = clip_boxes(xywh[usable], width[usable], height[usable])
    expected = [clip_box(*map(float, boxes[i]), width[i], height[i]) for i in rows]
    assert [tuple(map(float, r)) for r in clipped] == expected  # exact: same operations, same order
    assert [str(v) for r in clipped for v in r] == [str(v) for r in expected for v in r]  # signs of zero too


def _reference(root: Path, source: Source, min_box: float) -> tuple[list, list]:
    """The per-annotation loop the column checks replaced (reject rows and kept boxes, in order)."""
    coco = json.loads((root / source.annotations).read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    images = {im["id"]: im for im in coco["images"]}
    rejects, kept = [], []
    for ann in sorted(coco["annotations"], key=lambda a: (str(a["image_id"]), str(a["id"]))):
        item = f"{source.annotations}#annotation={ann['id']}"
        name = names.get(ann["category_id"])
        target = source.mapping.get(name) if name else None
        problem = box_problem(ann["bbox"])
        if ann["image_id"] not in images:
            rejects.append((item, "orphan_annotation"))
        elif name is None:
            rejects.append((item, "undefined_category"))
        elif name not in source.mapping:
            rejects.append((item, "unknown_category"))
        elif target == "drop":
            rejects.append((item, "dropped_by_category_mapping"))
        elif problem:
            rejects.append((item, "invalid_box"))
        else:
            im = images[ann["image_id"]]
            x, y, w, h = map(float, ann["bbox"])
            cx, cy, cw, ch = clip_box(x, y, w, h, im["width"], im["height"])
            if box_limit_problem(x, y, w, h, im["width"], im["height"]):
                rejects.append((item, "absurd_box"))
            elif cw < min_box or ch < min_box:
                rejects.append((item, "degenerate_box"))
            else:
                kept.append((ann["id"], target, cx, cy, cw, ch))
    return rejects, kept


@pytest.mark.parametrize("seed", range(6))
def test_load_source_keeps_and_rejects_each_annotation_as_the_per_annotation_loop_does(tmp_path, seed):
    rng = random.Random(seed)
    folder = tmp_path / "v3" / "train"
    folder.mkdir(parents=True)
    images = []
    for i in range(25):
        name = f"{100 + i}_{rng.randint(1, 9)}.png"
        width = rng.choice([256, 512])
        Image.new("L", (width, 256)).save(folder / name)
        images.append({"id": i, "file_name": name, "width": width, "height": 256})
    categories = [{"id": i, "name": n} for i, n in enumerate(["IPH", "IVH", "noise", "weird"])]
    annotations = [
        {"id": j, "image_id": rng.choice([*range(25), 99]), "category_id": rng.choice([0, 1, 2, 3, 7]), "bbox": box}
        for j, box in enumerate(_random_boxes(rng, 300))
    ]
    coco = {"images": images, "annotations": annotations, "categories": categories}
    (folder / "_annotations.coco.json").write_text(json.dumps(coco))
    source = Source("v3", "v3/train/_annotations.coco.json", {"IPH": "IPH", "IVH": "IVH", "noise": "drop"})
    log = RejectLog()
    result = load_source(tmp_path, source, PATTERN, 2.0, False, log)
    expected_rejects, expected_kept = _reference(tmp_path, source, 2.0)
    assert [(r.item, r.reason) for r in log] == expected_rejects
    assert all(r.detail for r in log)
    got = [
        (int(i), ["EDH", "HC", "IPH", "IVH", "SAH", "SDH"][c], x, y, w, h)
        for i, c, x, y, w, h in result.boxes[["source_ann_id", "category_id", "x", "y", "w", "h"]].itertuples(
            index=False
        )
    ]
    assert got == expected_kept
    assert {ledger.metadata()["records_unaccounted"] for ledger in result.ledgers} == {0}
