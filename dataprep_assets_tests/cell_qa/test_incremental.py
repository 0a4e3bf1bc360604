"""cell_qa rebuilds after an upload do only the new work, and old versions stay retrievable.

A new frame (and a changed mask) are computed; every other (frame, competitor) pair is restored from
the store; the result is byte-identical to a from-scratch build of the same inputs. An earlier
version of the dataset checks out byte for byte after later rebuilds.
"""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from dataprep_assets import versions
from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.lib.storage import build_manifest
from dataprep_assets_tests.cell_qa.conftest import crops_config, materialize, small_sample

OUTPUTS = ["data/cell_crops", "data/cell_level_dataframe.parquet", "data/competitor_seg_scores.parquet"]
HELD_BACK = "t000"  # one frame of one sequence, uploaded later


def _held_back_files(raw: Path) -> list[Path]:
    seq = sorted(p for p in raw.rglob("01") if p.is_dir() and p.parent.parent == raw)[0]
    dataset = seq.parent
    picks = [seq / f"{HELD_BACK}.tif", dataset / "01_GT" / "SEG" / f"man_seg{HELD_BACK[1:]}.tif"]
    picks += list((raw / "competitors").glob(f"*/{dataset.name}/01_RES/mask{HELD_BACK[1:]}.tif"))
    return [p for p in picks if p.exists()]


def _materialize(store, instance, layout):
    result = materialize(store, instance, ops=crops_config(layout=layout))
    assert result.success
    return instance.get_latest_materialization_event(dg.AssetKey("cell_crops")).asset_materialization.metadata


@pytest.mark.parametrize("layout", ["stacked", "tiff_per_cell"])
def test_an_upload_recomputes_only_new_pairs_and_matches_a_from_scratch_build(tmp_path, layout):
    full, inc = tmp_path / "full", tmp_path / "inc"
    small_sample(full)
    shutil.copytree(full, inc)
    held = _held_back_files(inc / "raw" / "cell_qa")
    assert len(held) >= 3
    stash = tmp_path / "stash"
    for path in held:
        target = stash / path.relative_to(inc)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)

    store = LocalDatasetStore(root=str(inc))
    with dg.instance_for_test() as instance:
        first = _materialize(store, instance, layout)
        assert first["pairs_reused"].value == 0
        for path in stash.rglob("*.tif"):  # the upload
            target = inc / path.relative_to(stash)
            shutil.move(path, target)
        second = _materialize(store, instance, layout)
        new_pairs = len([p for p in held if "competitors" in p.parts])
        assert second["pairs_computed"].value == new_pairs
        assert second["pairs_reused"].value == first["pairs_computed"].value
        third = _materialize(store, instance, layout)  # nothing changed: nothing computed
        assert third["pairs_computed"].value == 0
    with dg.instance_for_test() as instance:
        _materialize(LocalDatasetStore(root=str(full)), instance, layout)
    for rel in OUTPUTS:
        assert build_manifest(inc / rel).dataset_hash == build_manifest(full / rel).dataset_hash, rel

    # the first version (before the upload) is still there, byte for byte, after two rebuilds
    history = store.versions("data/cell_level_dataframe.parquet")
    assert len(history) == 3
    out = tmp_path / "checkout"
    versions.checkout("cell_crops", out, version=store.versions("data/cell_crops")[0].version_id, store=store)
    assert build_manifest(out / "data/cell_crops").dataset_hash == store.versions("data/cell_crops")[0].dataset_hash
    assert (out / "rejects" / "cell_crops.csv").exists()  # an asset's checkout brings every dataset its run wrote
