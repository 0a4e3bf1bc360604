"""The whole ct_hemorrhage graph on the sample inputs: every asset materialized, every check evaluated
and passing, outputs read back in the seed's layout (so training code keeps working), every bad input
recorded as a reject. (Byte-identical reruns whatever the worker count, injected patient leakage caught by the
blocking check before anything downstream is built, atomic writes: `test_guarantees.py`, for every pipeline.)"""

import json

import dagster as dg
import pandas as pd
import pytest
import yaml
from PIL import Image

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.ct_hemorrhage import datasets as D
from dataprep_assets_tests.ct_hemorrhage.conftest import materialize
from dataprep_assets_tests.harness import accounting_gaps, check_results

OUTPUTS = [
    D.LABELLED.path,
    D.CANDIDATES.path,
    D.DICOMS.path,
    D.NO_HEM_PNGS.path,
    D.NO_HEM_COCO.path,
    D.PATIENT_SPLITS.path,
    D.BALANCED.path,
    D.SIX_CLASS.path,
    D.FOUR_CLASS.path,
    D.ANALYSIS.path,
    D.CSV_6CLASS.path,
    D.CSV_4CLASS.path,
]


def _coco(store, dataset, split):
    return json.loads(store.path(dataset, split, D.ANNOTATIONS).read_text())


@pytest.fixture(scope="module")
def built(sample_template, tmp_path_factory):
    """The whole graph materialized once (inline workers) for the read-back tests of this module."""
    import shutil

    root = tmp_path_factory.mktemp("built")
    shutil.copytree(sample_template / D.RAW_PREFIX, root / D.RAW_PREFIX)
    store = LocalDatasetStore(root=str(root))
    with dg.instance_for_test() as instance:
        config = {
            "ops": {
                "no_hem_pngs": {"config": {"max_workers": 1}},
                "augmented_coco_6class": {"config": {"max_workers": 1}},
            }
        }
        yield store, materialize(store, instance, run_config=config, raise_on_error=True)


def test_every_record_consuming_asset_accounts_for_its_records(built):
    """Records in = out + rejects (+ set aside), shown by every asset of the group (found in the code location)
    but those listed as consuming no records."""
    _, result = built
    assert accounting_gaps("ct_hemorrhage", [result]) == {}


def test_whole_graph_builds_the_seeds_layout_with_every_check_passing(built):
    sample_store, result = built
    assert result.success
    checks = check_results(result)
    assert len(checks) == 21  # 16 + patients_stay_put + images_stay_put + 3 describes_current_source
    failed = {k: {m: v.value for m, v in e.metadata.items()} for k, e in checks.items() if not e.passed}
    assert not failed

    # the seed's layout: COCO per split with the images beside it, metadata.yaml, CSVs
    for dataset in (D.SIX_CLASS.path, D.FOUR_CLASS.path):
        assert yaml.safe_load(store_text(sample_store, f"{dataset}/metadata.yaml"))["dataset"].startswith(
            "ct_hemorrhage v4"
        )
        for split in D.SPLIT_ORDER:
            coco = _coco(sample_store, dataset, split)
            assert coco["images"] and all(
                sample_store.path(dataset, split, im["file_name"]).is_file() for im in coco["images"]
            )
    six = {s: _coco(sample_store, D.SIX_CLASS.path, s) for s in D.SPLIT_ORDER}
    assert [c["name"] for c in six["train"]["categories"]] == ["EDH", "HC", "IPH", "IVH", "SAH", "SDH"]
    names = {s: {im["file_name"] for im in six[s]["images"]} for s in D.SPLIT_ORDER}
    assert any(n.startswith("v3_") for n in names["train"]) and any(n.startswith("roboflow_") for n in names["train"])
    assert any(n.startswith("no_hem_") and n.endswith(".png") for n in names["train"]) and any(
        "_aug2.jpg" in n for n in names["train"]
    )
    assert not any("_aug" in n for n in names["valid"] | names["test"])
    originals = [im for im in six["train"]["images"] if im["aug_index"] == 0]
    assert len(six["train"]["images"]) == 3 * len(originals)

    # patients never cross splits; no-hemorrhage share ~50% per split
    patients = {s: {im["patient_id"] for im in six[s]["images"]} for s in D.SPLIT_ORDER}
    assert (
        not patients["train"] & patients["valid"]
        and not patients["train"] & patients["test"]
        and not patients["valid"] & patients["test"]
    )
    for split, coco in six.items():
        positives = {a["image_id"] for a in coco["annotations"]}
        assert 0.48 <= 1 - len(positives) / len(coco["images"]) <= 0.52, split

    # 4-class: same images, linked, no EDH/HC
    four_train = _coco(sample_store, D.FOUR_CLASS.path, "train")
    assert [c["name"] for c in four_train["categories"]] == ["IPH", "IVH", "SAH", "SDH"]
    first = sample_store.path(D.FOUR_CLASS.path, "train", four_train["images"][0]["file_name"])
    assert (
        first.is_symlink()
        and first.read_bytes() == sample_store.path(D.SIX_CLASS.path, "train", first.name).read_bytes()
    )
    assert "_objects" in first.resolve().parts  # a link to the stored object, never into the live 6-class folder

    # the no-hemorrhage downloads, as the seed leaves them
    no_hem = json.loads(sample_store.path(D.NO_HEM_COCO.path).read_text())
    assert no_hem["annotations"] == [] and len(no_hem["categories"]) == 6
    png = sample_store.path(D.NO_HEM_PNGS.path, no_hem["images"][0]["file_name"])
    assert Image.open(png).mode == "L" and Image.open(png).size == (512, 512)

    # CSV exports and analysis
    csv6 = pd.read_csv(sample_store.path(D.CSV_6CLASS.path))
    assert len(csv6) == sum(len(c["images"]) for c in six.values()) and set(csv6["split"]) == set(D.SPLIT_ORDER)
    analysis = json.loads(sample_store.path(D.ANALYSIS.path).read_text())
    assert all(v == [] for v in analysis["6class"]["patient_overlap"].values())
    assert analysis["6class"]["splits"]["train"]["augmented_images"] == 2 * len(originals)
    # the ORIGINAL IMAGES SUMMARY counts originals only: augmented copies would triple train's class counts
    summary = analysis["6class"]["original_images_summary"]["train"]
    assert summary["original_images"] == len(originals)
    positives = {a["image_id"] for a in six["train"]["annotations"]}
    assert summary["hemorrhage_images"] == sum(im["id"] in positives for im in originals)
    with_class = {
        c["id"]: {a["image_id"] for a in six["train"]["annotations"] if a["category_id"] == c["id"]}
        for c in six["train"]["categories"]
    }
    original_ids = {im["id"] for im in originals}
    assert summary["images_per_class"] == {
        c["name"]: len(with_class[c["id"]] & original_ids) for c in six["train"]["categories"]
    }
    assert summary["images_per_class"] != analysis["6class"]["splits"]["train"]["images_per_class"]

    # every bad input of the sample is a reject with its reason
    reasons = {
        name: set(sample_store.read_rejects(name).counts_by_reason())
        for name in ("labelled_coco", "no_hem_candidates", "no_hem_dicoms", "no_hem_pngs")
    }
    assert reasons["labelled_coco"] == {
        "degenerate_box",
        "duplicate_image_id",
        "invalid_box",
        "missing_image",
        "orphan_annotation",
        "undefined_category",
        "image_rejected",
        "dropped_by_category_mapping",
    }
    accounting = [
        v
        for k, v in result.asset_materializations_for_node("labelled_coco")[0].metadata.items()
        if k.startswith("accounting/")
    ]
    assert len(accounting) == 4 and all(
        a.value["records_unaccounted"] == 0 and a.value["records_in"] > 0 for a in accounting
    )
    assert reasons["no_hem_candidates"] == {"duplicate_row", "already_labelled"}
    assert reasons["no_hem_dicoms"] == {
        "missing_object",
        "missing_patient_id",
        "missing_pixel_data",
        "not_dicom",
        "slice_thickness",
    }
    assert reasons["no_hem_pngs"] == {"truncated_pixel_data"}

    # the seed's summaries are in the metadata
    meta = {
        e.asset_key.to_user_string(): {k: v.value for k, v in e.materialization.metadata.items()}
        for e in result.get_asset_materialization_events()
    }
    assert (
        meta["no_hem_dicoms"]["attempted"]
        == meta["no_hem_dicoms"]["successful"]
        + meta["no_hem_dicoms"]["skipped_thickness"]
        + meta["no_hem_dicoms"]["failed"]
    )
    assert {"shortfall", "added_FP"} <= {c.name for c in meta["balanced_splits"]["balance"].schema.columns}
    assert meta["labelled_coco"]["no_hem_needed_for_50pct"] > 0
    assert "original_images" in {c.name for c in meta["v4_analysis"]["original_images_summary"].schema.columns}


def store_text(store, rel):
    return store.path(rel).read_text()


def test_false_positives_first_then_true_negatives_up_to_the_limit(sample_store, instance):
    assert materialize(sample_store, instance, selection=["labelled_coco", "no_hem_candidates"]).success
    n_fp = int((sample_store.read(D.CANDIDATES)["tier"] == 0).sum())
    for config, fp, tn in (
        ({"max_images": n_fp + 10}, n_fp, 10),
        ({"fp_only": True}, n_fp, 0),
        ({"max_images": 5}, 5, 0),
    ):
        run = materialize(
            sample_store,
            instance,
            selection=["no_hem_dicoms"],
            run_config={"ops": {"no_hem_dicoms": {"config": config}}},
        )
        assert run.success
        fetched = sample_store.read(D.DICOMS)
        assert (int((fetched["tier"] == 0).sum()), int((fetched["tier"] == 1).sum())) == (fp, tn), config
