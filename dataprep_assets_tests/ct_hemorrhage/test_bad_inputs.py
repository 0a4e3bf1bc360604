"""Bad input, each with a clear, named error or a reject with its reason, and nothing already written
lost or half-written: malformed COCO, unmapped categories, a CSV without its columns, an archive where
nothing can be fetched, bad config, unusable labelled images; plus real DICOM that no one here wrote
(pydicom's and pydicom-data's CT slices, raw, JPEG 2000 and JPEG Lossless) through the conversion."""

import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dataprep_assets.defs.ct_hemorrhage import datasets as D
from dataprep_assets.defs.ct_hemorrhage.config import ROBOFLOW_MAP
from dataprep_assets.defs.ct_hemorrhage.labelled import Source, image_facts_name, load_source
from dataprep_assets.defs.ct_hemorrhage.patients import DEFAULT_NAME_PATTERN
from dataprep_assets.lib.dicom import load_slice_uint8
from dataprep_assets.lib.itemcache import StampedResults
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets_tests.ct_hemorrhage.conftest import materialize, real_dicom
from dataprep_assets_tests.harness import check_results, config_refusal, failure_text


def test_malformed_coco_fails_naming_the_file_and_keeps_the_previous_output(sample_store, instance):
    assert materialize(sample_store, instance, selection=["labelled_coco"]).success
    before = sample_store.path(D.LABELLED.path).read_bytes()
    manifest = sample_store.manifest(D.LABELLED.path).dataset_hash
    sample_store.path(D.V3_COCO).write_text('{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [')
    result = materialize(sample_store, instance, selection=["labelled_coco"])
    assert not result.success
    assert "malformed COCO JSON" in failure_text(
        result
    ) and "filtered_4class/coco/train/_annotations.coco.json" in failure_text(result)
    assert (
        sample_store.path(D.LABELLED.path).read_bytes() == before
        and sample_store.manifest(D.LABELLED.path).dataset_hash == manifest
    )
    assert not [p for p in sample_store.path(D.WORK).iterdir() if p.name.startswith(".")]  # no temp files left behind


def test_a_category_missing_from_the_mapping_fails_naming_it_when_configured_to(sample_store, instance):
    mapping = {k: v for k, v in ROBOFLOW_MAP.items() if k != "calcification"}
    config = {"roboflow_category_map": mapping, "unknown_categories": "fail"}
    result = materialize(
        sample_store, instance, selection=["labelled_coco"], run_config={"ops": {"labelled_coco": {"config": config}}}
    )
    assert not result.success and "['calcification'] are not in the category mapping" in failure_text(result)


def test_a_category_missing_from_the_mapping_is_a_reject_row_per_annotation_by_default(sample_store, instance):
    mapping = {k: v for k, v in ROBOFLOW_MAP.items() if k != "calcification"}
    coco = json.loads(sample_store.path(D.ROBOFLOW_COCO).read_text())
    calc = {c["id"] for c in coco["categories"] if c["name"] == "calcification"}
    expected = {f"{D.ROBOFLOW_COCO}#annotation={a['id']}" for a in coco["annotations"] if a["category_id"] in calc}
    assert expected
    result = materialize(
        sample_store,
        instance,
        selection=["labelled_coco"],
        run_config={"ops": {"labelled_coco": {"config": {"roboflow_category_map": mapping}}}},
    )
    assert result.success
    reasons = {r.item: r.reason for r in sample_store.read_rejects("labelled_coco")}
    assert expected <= set(reasons)  # none silently dropped: on a usable image each is `unknown_category`
    assert {reasons[i] for i in expected} <= {"unknown_category", "image_rejected", "orphan_annotation"}
    assert sum(reasons[i] == "unknown_category" for i in expected) >= 1


def test_feedback_csv_without_its_columns_fails_naming_them(sample_store, instance):
    csv = sample_store.path(D.FEEDBACK_CSV)
    pd.read_csv(csv).drop(columns=["feedback", "patient_id"]).to_csv(csv, index=False)
    result = materialize(sample_store, instance, selection=["labelled_coco", "no_hem_candidates"])
    assert not result.success and "missing columns ['patient_id', 'feedback']" in failure_text(result)


def test_nothing_fetchable_fails_loudly_with_the_reason_and_keeps_the_last_good_table(sample_store, instance):
    assert materialize(
        sample_store, instance, selection=["labelled_coco", "no_hem_candidates", "no_hem_dicoms"]
    ).success
    good = sample_store.path(D.DICOMS.path).read_bytes()
    config = {"ops": {"no_hem_dicoms": {"config": {"dicom_prefix": "raw/ct_hemorrhage/wrong-prefix"}}}}
    result = materialize(sample_store, instance, selection=["no_hem_dicoms"], run_config=config)
    assert not result.success and "could be used (most common reason: missing_object)" in failure_text(result)
    assert set(sample_store.read_rejects("no_hem_dicoms").counts_by_reason()) == {"missing_object"}
    assert sample_store.path(D.DICOMS.path).read_bytes() == good


@pytest.mark.parametrize(
    "op, config, message",
    [
        ("no_hem_pngs", {"window_width": 0.5}, "invalid PngConfig config: window_width: must be >= 1, got 0.5"),
        ("no_hem_pngs", {"png_compression": 10}, "png_compression: must be in [0, 9], got 10"),
        (
            "patient_splits",
            {"train_fraction": 0.9, "valid_fraction": 0.15, "test_fraction": 0.05},
            "train_fraction + valid_fraction + test_fraction: fractions must sum to 1.0",
        ),
        ("labelled_coco", {"v3_category_map": {"IPH": "Bleed"}}, "v3_category_map: targets ['Bleed'] are not among"),
        ("labelled_coco", {"file_name_pattern": "^(?P<patient>.+)"}, "file_name_pattern: needs named groups"),
        ("labelled_coco", {"unknown_categories": "ignore"}, "unknown_categories"),  # outside the Literal: at launch
        ("augmented_coco_6class", {"multiplier": 0}, "multiplier: must be >= 1, got 0"),
        ("coco_4class", {"drop_classes": ["EDH", "XYZ"]}, "drop_classes: ['XYZ'] are not among"),
        ("no_hem_dicoms", {"max_images": -1}, "max_images: must be >= 0, got -1"),
        ("no_hem_dicoms", {"allowed_thickness_mm": []}, "allowed_thickness_mm: must not be empty"),
        ("balanced_splits", {"target_no_hem_share": 1.0}, "target_no_hem_share: must be in [0, 1), got 1.0"),
    ],
)
def test_bad_config_fails_at_once_naming_the_field(sample_store, instance, op, config, message):
    refusal = config_refusal(
        lambda: materialize(
            sample_store, instance, selection=[op], run_config={"ops": {op: {"config": config}}}, raise_on_error=False
        )
    )
    assert message in refusal
    assert instance.get_latest_materialization_event(dg.AssetKey(op)) is None


def test_unusable_labelled_images_and_boxes_are_rejects_with_reasons(tmp_path):
    folder = tmp_path / "src"
    folder.mkdir()
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(folder / "p1_1.jpg")
    Image.fromarray(np.zeros((32, 64), np.uint8)).save(folder / "p1_2.jpg")
    (folder / "p1_3.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(folder / "noname.jpg")
    coco = {
        "images": [
            {"id": i, "file_name": n, "width": 64, "height": 64}
            for i, n in enumerate(["p1_1.jpg", "p1_2.jpg", "p1_3.jpg", "noname.jpg", "p1_4.jpg", "../../p1_5.jpg"])
        ],
        "annotations": [
            {"id": 0, "image_id": 0, "category_id": 1, "bbox": [-5, 10, 20, 20]},
            {"id": 1, "image_id": 0, "category_id": 1, "bbox": [63, 10, 20, 20]},
            {"id": 2, "image_id": 0, "category_id": 0, "bbox": [1, 1, 5, 5]},
        ],
        "categories": [{"id": 0, "name": "hemorrhage-ct"}, {"id": 1, "name": "SDH"}],
    }
    (folder / "_annotations.coco.json").write_text(json.dumps(coco))
    runs = []
    for _ in range(2):  # the second run answers the size checks from the facts the first remembered
        facts = StampedResults(tmp_path, "labelled_images", image_facts_name())
        rejects = RejectLog()
        result = load_source(
            tmp_path,
            Source("roboflow", "src/_annotations.coco.json", ROBOFLOW_MAP),
            DEFAULT_NAME_PATTERN,
            2.0,
            True,
            rejects,
            facts,
        )
        facts.save()
        runs.append((facts.computed, result.images.to_dict("list"), [(r.item, r.reason, r.detail) for r in rejects]))
    assert [computed for computed, _, _ in runs] == [3, 0]  # three images opened once: p1_1, p1_2, p1_3
    assert runs[0][1:] == runs[1][1:]  # the same images kept, the same rejects with the same details
    assert result.images["file_name"].tolist() == ["roboflow_p1_1.jpg"]
    assert result.boxes[["x", "y", "w", "h"]].values.tolist() == [
        [0.0, 10.0, 15.0, 20.0]
    ]  # clipped before anything else
    assert result.stats["clipped_boxes"] == 1 and result.stats["dropped_by_mapping"] == 1
    assert {(Path(r.item).name, r.reason) for r in rejects} == {
        ("p1_2.jpg", "size_mismatch"),
        ("p1_3.jpg", "unreadable_image"),
        ("noname.jpg", "no_patient_id"),
        ("p1_4.jpg", "missing_image"),
        ("p1_5.jpg", "unsafe_path"),
        ("_annotations.coco.json#annotation=1", "degenerate_box"),
        ("_annotations.coco.json#annotation=2", "dropped_by_category_mapping"),
    }


def test_real_dicom_through_fetch_and_conversion(sample_store, instance):
    """CQ500 head CT (raw and JPEG 2000), pydicom's CT_small, a JPEG Lossless slice with multi-valued windows."""
    archive = sample_store.path(D.DICOM_PREFIX)
    shutil.rmtree(archive)
    files = {
        "693_UNCR.dcm": "FP",
        "693_J2KR.dcm": "TN",
        "CT_small.dcm": "TN",
        "bad_sequence.dcm": "TN",
        "SC_rgb.dcm": "TN",
    }
    rows = []
    for i, (name, feedback) in enumerate(files.items()):
        target = archive / "real" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real_dicom(name), target)
        rows.append(
            {
                "study_instance_uid": "1.2",
                "series_instance_uid": f"1.2.{i}",
                "sop_instance_uid": f"1.2.{i}.1",
                "instance_number": 100 + i,
                "patient_id": f"real{i}",
                "s3_key": f"real/{name}",
                "feedback": feedback,
            }
        )
    pd.DataFrame(rows).to_csv(sample_store.path(D.FEEDBACK_CSV), index=False)
    config = {"ops": {"no_hem_dicoms": {"config": {"allowed_thickness_mm": [1.0, 5.0]}}}}
    result = materialize(
        sample_store,
        instance,
        selection=["labelled_coco", "no_hem_candidates", "no_hem_dicoms", "no_hem_pngs", "no_hem_coco"],
        run_config=config,
    )
    assert result.success
    index = sample_store.read(D.PNG_INDEX).set_index("dicom_path")
    raw, j2k = index.loc[f"{D.DICOM_PREFIX}/real/693_UNCR.dcm"], index.loc[f"{D.DICOM_PREFIX}/real/693_J2KR.dcm"]
    assert raw["patient_id"] == j2k["patient_id"] == "CQ500-CT-310"  # the header's PatientID wins over the CSV's
    assert raw["file_name"] != j2k["file_name"]  # same patient and slice number: the second name is made unique
    assert (raw["window_center"], raw["window_width"], raw["window_source"]) == (40.0, 100.0, "header")
    png = lambda name: np.asarray(Image.open(sample_store.path(D.NO_HEM_PNGS.path, name)))  # noqa: E731
    assert np.array_equal(png(raw["file_name"]), png(j2k["file_name"]))
    assert np.array_equal(png(raw["file_name"]), load_slice_uint8(real_dicom("693_UNCR.dcm")).image)
    multi = index.loc[f"{D.DICOM_PREFIX}/real/bad_sequence.dcm"]
    assert (multi["window_center"], multi["window_width"]) == (40.0, 350.0)
    small = index.loc[f"{D.DICOM_PREFIX}/real/CT_small.dcm"]
    assert (small["width"], small["height"], small["window_source"]) == (128, 128, "config")
    assert {(Path(r.item).name, r.reason) for r in sample_store.read_rejects("no_hem_dicoms")} == {
        ("SC_rgb.dcm", "slice_thickness")
    }  # no SliceThickness
    assert len(sample_store.read_rejects("no_hem_pngs")) == 0
    assert len(json.loads(sample_store.path(D.NO_HEM_COCO.path).read_text())["images"]) == 4


def test_a_truncated_labelled_image_is_left_out_of_the_dataset_as_a_reject(sample_store, instance):
    """Its header still reads (so the size check passes) but the data stops short: OpenCV would decode it
    into a grey-filled image without complaint."""
    assert materialize(sample_store, instance, selection=["labelled_coco", "patient_splits"]).success
    splits = sample_store.read(D.PATIENT_SPLITS)
    victim = splits[(splits["split"] == "train") & (splits["source"] == "v3")].iloc[0]
    path = sample_store.path(victim["source_path"])
    path.write_bytes(path.read_bytes()[:2000])
    chain = [
        "no_hem_candidates",
        "no_hem_dicoms",
        "no_hem_pngs",
        "no_hem_coco",
        "balanced_splits",
        "augmented_coco_6class",
    ]
    result = materialize(sample_store, instance, selection=chain)
    assert result.success
    assert {(r.item, r.reason) for r in sample_store.read_rejects("augmented_coco_6class")} == {
        (victim["source_path"], "unreadable_image")
    }
    train = json.loads(sample_store.path(D.SIX_CLASS.path, "train", D.ANNOTATIONS).read_text())
    names = {im["file_name"] for im in train["images"]}
    assert victim["file_name"] not in names and not any(
        n.startswith(Path(victim["file_name"]).stem + "_aug") for n in names
    )
    assert all(
        e.passed
        for e in result.get_asset_check_evaluations()
        if e.check_name in ("every_image_readable", "coco_valid", "augmentation_multiplier_exact")
    )


def test_the_readability_check_catches_truncated_files(tmp_path):
    from dataprep_assets.defs.ct_hemorrhage.validation import unreadable_images

    good = tmp_path / "good.jpg"
    Image.fromarray(np.full((64, 64), 90, np.uint8)).save(good)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:-40])
    png = tmp_path / "a.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(png)
    cut_png = tmp_path / "b.png"
    cut_png.write_bytes(png.read_bytes()[:-12])
    assert unreadable_images([str(good), str(cut), str(png), str(cut_png)]) == [str(cut), str(cut_png)]


def test_header_only_feedback_csv_stops_at_the_blocking_balance_check(sample_store, instance):
    """No negatives to add: the set would publish with ~0% no-hemorrhage images; the blocking 48-52% check
    on `balanced_splits` fails and nothing is published."""
    csv = sample_store.path(D.FEEDBACK_CSV)
    csv.write_text(csv.read_text().splitlines()[0] + "\n")
    result = materialize(sample_store, instance)
    assert not result.success
    check = check_results(result)["balanced_splits:no_hem_share_48_to_52_pct"]
    assert not check.passed and set(check.metadata["splits_outside"].value) == set(D.SPLIT_ORDER)
    built = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"no_hem_candidates", "no_hem_coco", "balanced_splits"} <= built
    assert not built & {"augmented_coco_6class", "coco_4class", "v4_analysis", "v4_dataset_6class_csv"}
    assert not sample_store.path(D.SIX_CLASS.path).exists()


def test_the_seeds_pass_fail_checks_are_blocking():
    from dataprep_assets.defs.ct_hemorrhage import checks as C

    blocking = {
        (spec.asset_key.to_user_string(), spec.name): spec.blocking
        for check in (v for v in vars(C).values() if isinstance(v, dg.AssetChecksDefinition))
        for spec in check.check_specs
    }
    seed_lines = [
        ("balanced_splits", C.NO_HEM_SHARE),
        ("augmented_coco_6class", C.NO_HEM_SHARE),
        ("augmented_coco_6class", C.ALL_CLASSES_PRESENT),
        ("augmented_coco_6class", C.IMAGES_READABLE),
        ("augmented_coco_6class", C.BOXES_INSIDE),
        ("augmented_coco_6class", C.AUGMENTATION_MULTIPLIER),
        ("augmented_coco_6class", C.COCO_VALID),
        ("augmented_coco_6class", C.NO_PATIENT_OVERLAP),
        ("patient_splits", C.NO_PATIENT_OVERLAP),
    ]
    assert all(blocking[line] for line in seed_lines), {line: blocking[line] for line in seed_lines}
