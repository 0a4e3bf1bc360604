"""ct_hemorrhage DICOM -> PNG is incremental: a rebuild after more slices arrive converts only the new
ones, reuses the rest by content, and gives the same bytes as a from-scratch build; a setting that
changes the PNGs recomputes every slice."""

import shutil

import dagster as dg
import pandas as pd

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.ct_hemorrhage import datasets as D
from dataprep_assets.lib.storage import build_manifest
from dataprep_assets_tests.ct_hemorrhage.conftest import materialize

SELECTION = ["labelled_coco", "no_hem_candidates", "no_hem_dicoms", "no_hem_pngs"]


def _pngs(store, instance, max_images, **png):
    config = {
        "ops": {
            "no_hem_dicoms": {"config": {"max_images": max_images}},
            "no_hem_pngs": {"config": {"max_workers": 1, **png}},
        }
    }
    assert materialize(store, instance, selection=SELECTION, run_config=config).success
    meta = instance.get_latest_materialization_event(dg.AssetKey("no_hem_pngs")).asset_materialization.metadata
    return meta["slices_computed"].value, meta["slices_reused"].value


def test_more_slices_convert_only_the_new_ones_and_match_a_from_scratch_build(sample_template, tmp_path):
    inc, full = tmp_path / "inc", tmp_path / "full"
    for root in (inc, full):
        shutil.copytree(sample_template / D.RAW_PREFIX, root / D.RAW_PREFIX)
    store = LocalDatasetStore(root=str(inc))
    with dg.instance_for_test() as instance:
        computed, reused = _pngs(store, instance, 12)
        assert reused == 0
        before = set(pd.read_parquet(store.path(D.DICOMS.path)).query("status == 'ok'")["dicom_path"])
        computed, reused = _pngs(store, instance, 16)
        after = set(pd.read_parquet(store.path(D.DICOMS.path)).query("status == 'ok'")["dicom_path"])
        assert computed == len(after - before) and reused == len(after & before) and computed > 0
        assert _pngs(store, instance, 16) == (0, len(after))  # nothing new: nothing converted
        computed, reused = _pngs(store, instance, 16, png_compression=6)  # a setting that changes the bytes
        assert (computed, reused) == (len(after), 0)
        _pngs(store, instance, 16)
    with dg.instance_for_test() as instance:
        _pngs(LocalDatasetStore(root=str(full)), instance, 16)
    for rel in (D.NO_HEM_PNGS.path, D.PNG_INDEX.path):
        assert build_manifest(inc / rel).dataset_hash == build_manifest(full / rel).dataset_hash, rel
    assert (inc / "rejects" / "no_hem_pngs.csv").read_bytes() == (full / "rejects" / "no_hem_pngs.csv").read_bytes()


def test_a_rebuild_with_nothing_new_reuses_every_slice_and_augmentation_with_the_same_bytes(
    sample_store, instance, tmp_path
):
    assert materialize(sample_store, instance).success
    first = {
        rel: sample_store.manifest(rel).dataset_hash
        for rel in (D.NO_HEM_PNGS.path, D.SIX_CLASS.path, D.FOUR_CLASS.path)
    }
    result = materialize(sample_store, instance)
    assert result.success
    (readable,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "every_image_readable"]
    assert readable.passed and readable.metadata["images_checked"].value > 0
    assert readable.metadata["images_decoded"].value == 0, "images whose bytes decoded before are not decoded again"
    meta = instance.get_latest_materialization_event(
        dg.AssetKey("augmented_coco_6class")
    ).asset_materialization.metadata
    assert meta["images_computed"].value == 0 and meta["images_reused"].value > 0
    pngs = instance.get_latest_materialization_event(dg.AssetKey("no_hem_pngs")).asset_materialization.metadata
    assert pngs["slices_computed"].value == 0
    assert {rel: sample_store.manifest(rel).dataset_hash for rel in first} == first
    # the 4-class links point at stored objects: they still resolve after the 6-class view is rebuilt
    links = [p for p in sample_store.path(D.FOUR_CLASS.path).rglob("*") if p.is_symlink()]
    assert links and all(p.resolve().exists() and "_objects" in p.resolve().parts for p in links)
