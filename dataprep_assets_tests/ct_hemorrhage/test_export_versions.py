"""The v4 CSV exports (and the 4-class set) are tied to the exact dataset version they were made from: their
versions pin it, their rows are that version's files, a 6-class rebuild does not change what they describe, GC
keeps the pinned version, checking out the CSV restores it, and a rebuild without re-export is detected by the
blocking `describes_current_source` checks (cleared by exporting again)."""

import dagster as dg
import pandas as pd

from dataprep_assets import versions
from dataprep_assets.defs.ct_hemorrhage import checks as C
from dataprep_assets.defs.ct_hemorrhage import datasets as D
from dataprep_assets.lib.versions import RetentionPolicy
from dataprep_assets_tests.ct_hemorrhage.conftest import materialize
from dataprep_assets_tests.harness import check_results


def _files(store, record) -> set[str]:
    return {e.path for e in store.entries(record)}


def test_csv_exports_pin_the_version_they_describe_across_a_rebuild(sample_store, instance, tmp_path):
    store = sample_store
    built = materialize(store, instance)
    assert built.success
    assert {k: e.passed for k, e in check_results(built).items() if k.endswith(C.DESCRIBES_CURRENT_SOURCE)} == {
        "coco_4class:describes_current_source": True,
        "v4_dataset_6class_csv:describes_current_source": True,
        "v4_dataset_4class_csv:describes_current_source": True,
    }
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
    rebuilt = store.versions(D.SIX_CLASS.path)[-1]
    assert rebuilt.dataset_hash != six.dataset_hash
    # detected: the 6-class CSV and the 4-class set describe a version the live folder no longer holds
    passed, found = _staleness(store, instance)
    assert not passed
    assert {k: e.passed for k, e in found.items()} == {
        "coco_4class:describes_current_source": False,
        "v4_dataset_6class_csv:describes_current_source": False,
        "v4_dataset_4class_csv:describes_current_source": True,  # still the 4-class version it describes
    }
    assert found["v4_dataset_6class_csv:describes_current_source"].metadata["stale"].value == [
        {
            "derived": f"{D.CSV_6CLASS.path}@{csv6.version_id}",
            "made_from": f"{D.SIX_CLASS.path}@{six.version_id}",
            "current": f"{D.SIX_CLASS.path}@{rebuilt.version_id}",
        }
    ]
    assert found["coco_4class:describes_current_source"].severity == dg.AssetCheckSeverity.ERROR
    store.gc(RetentionPolicy(keep_last=1, keep_days=0, grace_seconds=0), dry_run=False)
    assert six.version_id in {r.version_id for r in store.versions(D.SIX_CLASS.path)}  # pinned by the kept CSV

    out = tmp_path / "checkout"
    versions.checkout(D.CSV_6CLASS.path, out, store=store)
    restored = out / D.SIX_CLASS.path
    exported = pd.read_csv(out / D.CSV_6CLASS.path)
    assert all((restored / s / f).is_file() for s, f in zip(exported["split"], exported["file_name"], strict=True))
    assert len(exported) == sum(1 for p in restored.rglob("*") if p.is_file() and p.suffix in (".png", ".jpg"))

    # exported again from the rebuilt set: nothing is stale
    again = materialize(store, instance, selection=["coco_4class", "v4_dataset_6class_csv", "v4_dataset_4class_csv"])
    assert again.success
    passed, found = _staleness(store, instance)
    assert passed and len(found) == 3 and all(e.passed for e in found.values())


STALENESS_CHECKS = [C.four_class_describes_current, C.csv_6class_describes_current, C.csv_4class_describes_current]


def _staleness(store, instance) -> tuple[bool, dict[str, dg.AssetCheckEvaluation]]:
    """Only the staleness checks, evaluated on their own (nothing is materialized): whether the run passed (a
    failed blocking check fails it) and the evaluations."""
    run = materialize(store, instance, selection=dg.AssetSelection.checks(*STALENESS_CHECKS))
    return run.success, {k: v for k, v in check_results(run).items() if k.endswith(C.DESCRIBES_CURRENT_SOURCE)}
