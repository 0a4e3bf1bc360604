"""Issue 13 cases for ct_hemorrhage: absurd boxes, clipped-box counts, every image and annotation accounted for,
colliding PNG names, feedback line numbers after blank lines, BOMs, already-labelled rows as rejects."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dataprep_assets.defs.ct_hemorrhage import datasets as D
from dataprep_assets.defs.ct_hemorrhage.config import ROBOFLOW_MAP
from dataprep_assets.defs.ct_hemorrhage.convert import png_names
from dataprep_assets.defs.ct_hemorrhage.feedback import read_feedback
from dataprep_assets.defs.ct_hemorrhage.labelled import Source, load_source
from dataprep_assets.defs.ct_hemorrhage.patients import DEFAULT_NAME_PATTERN
from dataprep_assets.lib.accounting import AccountingError
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets_tests.ct_hemorrhage.conftest import materialize

W = H = 64


def _source(tmp_path: Path, boxes: list[list[float]], categories=None, extra_images=()) -> Path:
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    names = ["p1_1.jpg", "p1_2.jpg", *extra_images]
    for name in names[:2]:
        Image.fromarray(np.zeros((H, W), np.uint8)).save(folder / name)
    coco = {
        "images": [{"id": i, "file_name": n, "width": W, "height": H} for i, n in enumerate(names)],
        "annotations": [{"id": i, "image_id": i % 2, "category_id": 1, "bbox": b} for i, b in enumerate(boxes)],
        "categories": categories or [{"id": 0, "name": "hemorrhage-ct"}, {"id": 1, "name": "SDH"}],
    }
    (folder / "_annotations.coco.json").write_text(json.dumps(coco))
    return folder / "_annotations.coco.json"


def _load(tmp_path, rejects, mapping=ROBOFLOW_MAP, on_unknown="reject"):
    return load_source(
        tmp_path,
        Source("rf", "src/_annotations.coco.json", mapping, on_unknown),
        DEFAULT_NAME_PATTERN,
        2.0,
        True,
        rejects,
    )


def test_clipped_boxes_counts_only_boxes_that_reach_outside_their_image(tmp_path):
    # fractional boxes where (x + w) - x != w in floating point; exactly 3 reach outside the 64x64 image
    inside = [
        [10.1, 12.7, 20.3, 7.9],
        [0.3, 0.7, 33.1, 21.9],
        [17.7, 3.3, 11.1, 44.4],
        [40.2, 40.6, 23.7, 23.3],
        [1.1, 2.2, 3.3, 4.4],
    ]
    assert any((x + w) - x != w for x, _, w, _ in inside)
    outside = [[-3.5, 10.0, 20.0, 20.0], [50.5, 10.2, 20.3, 10.0], [10.0, 60.1, 5.5, 9.9]]
    _source(tmp_path, inside + outside)
    rejects = RejectLog()
    result = _load(tmp_path, rejects)
    assert len(result.boxes) == 8 and not len(rejects)
    assert result.stats["clipped_boxes"] == 3


@pytest.mark.parametrize("bbox", [[10, 10, 1e12, 1e12], [10, 10, 30, 1e6], [-5e5, 10, 20, 20], [1, 1, 200, 20]])
def test_absurd_boxes_are_rejects_with_a_named_reason_not_full_image_boxes(tmp_path, bbox):
    _source(tmp_path, [[5, 5, 10, 10], bbox])
    rejects = RejectLog()
    result = _load(tmp_path, rejects)
    assert len(result.boxes) == 1
    assert [(r.item, r.reason) for r in rejects] == [("src/_annotations.coco.json#annotation=1", "absurd_box")]


def test_every_image_and_annotation_is_kept_or_rejected_once(tmp_path):
    categories = [{"id": 0, "name": "hemorrhage-ct"}, {"id": 1, "name": "SDH"}, {"id": 2, "name": "never-heard-of-it"}]
    coco_path = _source(tmp_path, [[5, 5, 10, 10]] * 4, categories, extra_images=["p1_3.jpg"])  # p1_3 missing on disk
    coco = json.loads(coco_path.read_text())
    coco["annotations"] += [
        {"id": 10, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]},  # on a rejected image
        {"id": 11, "image_id": 0, "category_id": 0, "bbox": [1, 1, 5, 5]},  # mapped to drop
        {"id": 12, "image_id": 1, "category_id": 2, "bbox": [1, 1, 5, 5]},  # unknown to the mapping
    ]
    coco_path.write_text(json.dumps(coco))
    rejects = RejectLog()
    result = _load(tmp_path, rejects)
    reasons = {r.item.rsplit("=", 1)[-1] if "#" in r.item else Path(r.item).name: r.reason for r in rejects}
    assert reasons == {
        "p1_3.jpg": "missing_image",
        "10": "image_rejected",
        "11": "dropped_by_category_mapping",
        "12": "unknown_category",
    }
    images, annotations = (ledger.metadata() for ledger in result.ledgers)
    assert images == {"records_in": 3, "records_out": 2, "records_rejected": 1, "records_unaccounted": 0}
    assert annotations == {"records_in": 7, "records_out": 4, "records_rejected": 3, "records_unaccounted": 0}
    with pytest.raises(Exception, match="never-heard-of-it"):
        _load(tmp_path, RejectLog(), on_unknown="fail")


def test_accounting_error_lists_what_is_missing():
    from dataprep_assets.lib.accounting import account

    assert account("rows", ["a", "b", "b"], ["a", "b"], ["b"]).metadata()["records_unaccounted"] == 0
    with pytest.raises(AccountingError, match=r"1 neither written nor rejected: \['c'\]"):
        account("rows", ["a", "b", "c"], ["a"], ["b"])
    with pytest.raises(AccountingError, match="never read"):
        account("rows", ["a"], ["a"], ["a"])


def test_png_names_of_slices_sharing_patient_and_instance_are_unique_and_stable():
    slices = pd.DataFrame(
        {
            "sop_instance_uid": ["1.2.3", "1.2.4", "1.2.5", "1.2.6", "1.2.7"],
            "patient_id": ["P 1", "P-1", "P1", "p1", "Q"],
            "instance_number": [7, 7, 7, 7, 8],
        }
    )
    names = png_names(slices)
    assert len({n.casefold() for n in names}) == 5
    assert names[4] == "Q_8.png"
    assert names[2].startswith("P1_7__") and names[2].endswith(".png")
    assert (
        png_names(slices.iloc[::-1].reset_index(drop=True)) == names[::-1]
    )  # a name depends on its slice, not on order


def test_feedback_line_numbers_count_blank_lines_and_a_bom_is_accepted(tmp_path):
    header = "study_instance_uid,series_instance_uid,sop_instance_uid,instance_number,patient_id,s3_key,feedback"
    lines = [
        header,
        "1,1.1,1.1.1,3,p1,a.dcm,FP",
        "",
        "",
        "1,1.1,1.1.2,4,p1,b.dcm,MAYBE",
        "",
        "1,1.1,1.1.3,x,p1,c.dcm,TN",
    ]
    path = tmp_path / "feedback.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode())
    rejects = RejectLog()
    frame = read_feedback(path, "feedback.csv", rejects)
    assert frame["row"].tolist() == [2]
    assert sorted((r.item, r.reason) for r in rejects) == [
        ("feedback.csv:5", "unknown_feedback"),
        ("feedback.csv:7", "bad_instance_number"),
    ]


def test_feedback_rows_already_labelled_are_reject_rows_and_accounted(sample_store, instance):
    csv = sample_store.path(D.FEEDBACK_CSV)
    assert materialize(sample_store, instance, selection=["labelled_coco"]).success
    labelled = json.loads(sample_store.path(D.LABELLED.path).read_text())["images"][0]
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    patient, instance_no = labelled["patient_id"], labelled["key"].rsplit("_", 1)[-1]
    frame.loc[0, ["patient_id", "instance_number"]] = [patient, str(int(instance_no))]
    frame.to_csv(csv, index=False)
    result = materialize(sample_store, instance, selection=["no_hem_candidates"])
    assert result.success
    rows = {r.item: r.reason for r in sample_store.read_rejects("no_hem_candidates")}
    assert rows.get(f"{D.FEEDBACK_CSV}:2") == "already_labelled"
    meta = result.asset_materializations_for_node("no_hem_candidates")[0].metadata["accounting/feedback rows"].value
    assert meta["records_in"] == len(frame) and meta["records_unaccounted"] == 0
    assert meta["records_out"] + meta["records_rejected"] == len(frame)
