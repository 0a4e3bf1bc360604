"""ct_hemorrhage splits stay put across refreshes (real Dagster instance): after new labelled patients and new
no-hemorrhage slices arrive, no patient changes split and every pool image placed by balancing stays in its split;
a re-split of the patients is accepted (balancing follows it) and recorded; a moved patient fails the blocking
check and stops balancing."""

import csv
import json
import shutil

import dagster as dg

from dataprep_assets.common.continuity import RESPLIT
from dataprep_assets.defs.ct_hemorrhage import datasets as D
from dataprep_assets.defs.ct_hemorrhage import splits as S
from dataprep_assets.defs.ct_hemorrhage.feedback import FEEDBACK_COLUMNS
from dataprep_assets.sample_data.ct_hemorrhage import _row, render_slice_hu, write_dicom
from dataprep_assets_tests.ct_hemorrhage.conftest import materialize
from dataprep_assets_tests.harness import check_results

UP_TO_BALANCE = [
    "labelled_coco",
    "no_hem_candidates",
    "no_hem_dicoms",
    "no_hem_pngs",
    "no_hem_coco",
    "patient_splits",
    "balanced_splits",
]
PATIENTS_CHECK = "patient_splits:patients_stay_put"
IMAGES_CHECK = "balanced_splits:images_stay_put"


def _pairs(store, relpath, col):
    table = store.read_table(relpath)
    return dict(zip(table[col], table["split"], strict=True))


def _add_labelled_patients(store_root, new_ids, template_patient=None):
    """New patients in the v3 source: a copy of one patient's slices (pixels and boxes) under each new id."""
    path = store_root / D.V3_COCO
    coco = json.loads(path.read_text())
    template_patient = template_patient or coco["images"][10]["file_name"].split("_")[0]
    images = [i for i in coco["images"] if i["file_name"].split("_")[0] == template_patient]
    next_image, next_ann = max(i["id"] for i in coco["images"]) + 1, max(a["id"] for a in coco["annotations"]) + 1
    for pid in new_ids:
        for image in images:
            name = pid + image["file_name"].removeprefix(template_patient)
            shutil.copy(path.parent / image["file_name"], path.parent / name)
            coco["images"].append(dict(image, id=next_image, file_name=name))
            for ann in [a for a in coco["annotations"] if a["image_id"] == image["id"]]:
                coco["annotations"].append(dict(ann, id=next_ann, image_id=next_image))
                next_ann += 1
            next_image += 1
    path.write_text(json.dumps(coco))


def _add_pool_patient(store_root, pid, slices=(41, 43, 45)):
    """New no-hemorrhage feedback slices (real DICOM files) for a new patient."""
    import numpy as np

    rng = np.random.default_rng(int(pid) % 1000)
    rows = []
    for slice_no in slices:
        row = _row(pid, slice_no, "FP", f"{pid}/study/{slice_no}.dcm")
        write_dicom(
            store_root / D.DICOM_PREFIX / row["s3_key"],
            render_slice_hu(rng, 0.4),
            patient_id=pid,
            study_uid=row["study_instance_uid"],
            series_uid=row["series_instance_uid"],
            sop_uid=row["sop_instance_uid"],
            instance=slice_no,
            thickness=5.0,
        )
        rows.append(row)
    with open(store_root / D.FEEDBACK_CSV, "a", newline="") as fh:
        csv.DictWriter(fh, fieldnames=list(FEEDBACK_COLUMNS)).writerows(rows)


def test_refresh_keeps_patients_and_placed_pool_images_and_a_resplit_is_recorded(sample_store, store_root, instance):
    assert materialize(sample_store, instance, selection=UP_TO_BALANCE).success
    patients, images = (
        _pairs(sample_store, D.PATIENT_SPLITS.path, "patient_id"),
        _pairs(sample_store, D.BALANCED.path, "file_name"),
    )
    pool_before = {f for f in images if f.startswith("no_hem_")}

    _add_labelled_patients(store_root, ["987654321", "987654322"])
    _add_pool_patient(store_root, "987654323")
    refresh = materialize(sample_store, instance, selection=UP_TO_BALANCE)
    checks = check_results(refresh)
    # Known gap (see the notes): pool images that stay put in the tiny test split can leave its 48-52% band after a
    # refresh; the blocking share check then stops the refresh, as it should. Everything else must pass.
    assert refresh.success or {k for k, e in checks.items() if not e.passed} == {
        "balanced_splits:no_hem_share_48_to_52_pct"
    }
    assert checks[PATIENTS_CHECK].passed and checks[IMAGES_CHECK].passed
    assert checks[PATIENTS_CHECK].metadata["groups_moved"].value == 0
    assert checks[PATIENTS_CHECK].metadata["groups_added"].value == 2
    after, images_after = (
        _pairs(sample_store, D.PATIENT_SPLITS.path, "patient_id"),
        _pairs(sample_store, D.BALANCED.path, "file_name"),
    )
    assert {p: after[p] for p in patients} == patients
    assert {after["987654321"], after["987654322"]} <= set(D.SPLIT_ORDER)
    assert {f: images_after[f] for f in images if f in images_after} == images
    assert pool_before <= set(images_after)  # a larger need never evicts a placed image
    meta = refresh.asset_materializations_for_node("balanced_splits")[0].metadata
    assert meta["groups_moved"].value == 0 and meta["groups_added"].value == len(set(images_after) - set(images))

    resplit = materialize(
        sample_store,
        instance,
        selection=["patient_splits", "balanced_splits"],
        run_config={"ops": {"patient_splits": {"config": {"resplit": True, "seed": 7}}}},
    )
    assert resplit.success
    checks = check_results(resplit)
    assert checks[PATIENTS_CHECK].passed and checks[PATIENTS_CHECK].metadata["groups_moved"].value > 0
    assert checks[IMAGES_CHECK].passed and checks[IMAGES_CHECK].metadata[RESPLIT].value is True
    assert sample_store.versions(D.PATIENT_SPLITS.path)[-1].meta[RESPLIT] is True
    assert sample_store.versions(D.BALANCED.path)[-1].meta[RESPLIT] is True  # balancing followed the re-split

    again = materialize(sample_store, instance, selection=["patient_splits", "balanced_splits"])
    assert again.success and check_results(again)[IMAGES_CHECK].metadata["groups_moved"].value == 0
    assert sample_store.versions(D.BALANCED.path)[-1].meta[RESPLIT] is False


def test_a_moved_patient_fails_the_blocking_check_and_stops_balancing(sample_store, instance, monkeypatch):
    assert materialize(sample_store, instance, selection=UP_TO_BALANCE).success
    balanced = instance.get_latest_materialization_event(dg.AssetKey("balanced_splits")).run_id
    real = S.split_images

    def moving(images, classes_col, fractions, seed, previous=None):
        out, uncovered = real(images, classes_col, fractions, seed, previous=previous)
        patient = sorted(out["patient_id"])[0]
        rows = out["patient_id"] == patient
        out.loc[rows, "split"] = "test" if out.loc[rows, "split"].iloc[0] != "test" else "train"
        return out, uncovered

    monkeypatch.setattr(S, "split_images", moving)
    result = materialize(sample_store, instance, selection=["patient_splits", "balanced_splits"])
    assert not result.success
    checks = check_results(result)
    assert not checks[PATIENTS_CHECK].passed and checks[PATIENTS_CHECK].metadata["groups_moved"].value == 1
    assert checks["patient_splits:no_patient_overlap"].passed
    assert instance.get_latest_materialization_event(dg.AssetKey("balanced_splits")).run_id == balanced
