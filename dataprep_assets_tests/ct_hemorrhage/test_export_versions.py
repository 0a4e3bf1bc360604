"""The v4 CSV exports (and the 4-class set) are tied to the exact dataset version they were made from: their
versions pin it, their rows are that version's files, a 6-class rebuild does not change what they describe, GC
keeps the pinned version, and checking out the CSV restores it."""

import dagster as dg
import pandas as pd

from dataprep_assets import versions
from dataprep_assets.defs.ct_hemorrhage import datasets as D
from dataprep_assets.lib.versions import RetentionPolicy
from dataprep_assets_tests.ct_hemorrhage.conftest import materialize


def _files(store, record) -> set[str]:
    return {e.path for e in store.entries(record)}


def test_csv_exports_pin_the_version_they_describe_across_a_rebuild(sample_store, instance, tmp_path):
    store = sample_store
    assert materialize(store, instance).success
    six = store.versions(D.SIX_CLASS.path)[-1]
    csv6, csv4, four = (store.versions(p)[-1] for p in (D.CSV_6CLASS.path, D.CSV_4CLASS.path, D.FOUR_CLASS.path))
    assert csv6.meta["pins"] == {D.SIX_CLASS.path: six.version_id}
    assert four.meta["pins"] == {D.SIX_CLASS.path: six.version_id}
    assert csv4.meta["pins"] == {D.FOUR_CLASS.path: four.version_id}
    rows = pd.read_csv(store.path(D.CSV_6CLASS.path))
    assert set(rows["split"] + "/" + rows["file_name"]) == {p for p in _files(store, six) if "/" in p} - {
        f"{s}/{D.ANNOTATIONS}" for s in D.SPLIT_ORDER
    }
    meta = instance.get_latest_materialization_event(dg.AssetKey("v4_dataset_6class_csv")).asset_materialization
    assert meta.metadata["source_version"].value == f"{D.SIX_CLASS.path}@{six.version_id}"
    assert meta.metadata["accounting/images"].value["records_unaccounted"] == 0

    # the 6-class set is rebuilt with other augmentations; the exports are not rebuilt
    config = {"ops": {"augmented_coco_6class": {"config": {"seed": 7}}}}
    assert materialize(store, instance, selection=["augmented_coco_6class"], run_config=config).success
    assert store.versions(D.SIX_CLASS.path)[-1].dataset_hash != six.dataset_hash
    store.gc(RetentionPolicy(keep_last=1, keep_days=0, grace_seconds=0), dry_run=False)
    assert six.version_id in {r.version_id for r in store.versions(D.SIX_CLASS.path)}  # pinned by the kept CSV

    out = tmp_path / "checkout"
    versions.checkout(D.CSV_6CLASS.path, out, store=store)
    restored = out / D.SIX_CLASS.path
    exported = pd.read_csv(out / D.CSV_6CLASS.path)
    assert all((restored / s / f).is_file() for s, f in zip(exported["split"], exported["file_name"], strict=True))
    assert len(exported) == sum(1 for p in restored.rglob("*") if p.is_file() and p.suffix in (".png", ".jpg"))
