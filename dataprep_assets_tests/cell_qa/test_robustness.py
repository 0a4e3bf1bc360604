"""Issue 13 cases for cell_qa: one frame under two names, case-insensitive names, masks without raw frames,
competitor folders whose names collide after sanitising, symlink escapes, and every file accounted for."""

import os

import numpy as np
import pandas as pd
import tifffile

from dataprep_assets.defs.cell_qa.datasets import CELL_TABLE, RAW_PREFIX
from dataprep_assets.defs.cell_qa.inventory import build_inventory, build_inventory_with_ledger
from dataprep_assets_tests.cell_qa.conftest import crops_config, materialize


def _labels(seed: int, size: int = 48) -> np.ndarray:
    out = np.zeros((size, size), np.uint16)
    rng = np.random.default_rng(seed)
    for label in range(1, 5):
        y, x = rng.integers(4, size - 12, 2)
        out[y : y + 8, x : x + 8] = label
    return out


def _put(root, rel: str, array: np.ndarray) -> None:
    path = root / RAW_PREFIX / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array)


def _frame(root, dataset="DS", seq="01", number=0, raw_name=None, gt_name=None, competitors=("A",), mask_name=None):
    _put(
        root,
        f"{dataset}/{seq}/{raw_name or f't{number:03d}.tif'}",
        (np.arange(48 * 48).reshape(48, 48) % 997).astype(np.uint16),
    )
    _put(root, f"{dataset}/{seq}_GT/SEG/{gt_name or f'man_seg{number:03d}.tif'}", _labels(number))
    for competitor in competitors:
        _put(
            root,
            f"competitors/{competitor}/{dataset}/{seq}_RES/{mask_name or f'mask{number:03d}.tif'}",
            _labels(number + 1),
        )


def _reasons(rejects) -> dict[str, str]:
    return {r.item.removeprefix(RAW_PREFIX + "/"): r.reason for r in rejects}


def test_one_frame_under_two_names_is_two_rejects_naming_each_other(tmp_path):
    _frame(tmp_path, number=0)
    _put(tmp_path, "DS/01/t0.tif", np.zeros((48, 48), np.uint16))
    inventory, rejects = build_inventory(tmp_path)
    duplicates = [r for r in rejects if r.reason == "duplicate_frame"]
    assert sorted(r.item.rsplit("/", 1)[-1] for r in duplicates) == ["t0.tif", "t000.tif"]
    assert all(("t0.tif" in r.detail) != ("t0.tif" in r.item) for r in duplicates)  # each names the other
    assert inventory.empty


def test_names_match_case_insensitively(tmp_path):
    _frame(tmp_path, number=2, raw_name="t002.TIF", gt_name="man_seg002.TIF", mask_name="mask002.TIF")
    _frame(tmp_path, number=3, raw_name="T003.tiff", gt_name="MAN_SEG003.Tif", mask_name="Mask003.TIFF")
    inventory, rejects = build_inventory(tmp_path)
    assert sorted(inventory["frame"]) == [2, 3] and not len(rejects)


def test_masks_under_a_dataset_or_sequence_without_raw_frames_are_no_raw_frame_rejects(tmp_path):
    _frame(tmp_path, number=0)
    _put(tmp_path, "competitors/A/DS/07_RES/mask000.tif", _labels(1))  # sequence with no raw frames
    _put(tmp_path, "competitors/A/Other/01_RES/mask000.tif", _labels(1))  # dataset with no raw frames
    _put(tmp_path, "DS/09_GT/SEG/man_seg000.tif", _labels(1))  # ground truth of a missing sequence
    inventory, rejects, ledger = build_inventory_with_ledger(tmp_path)
    assert len(inventory) == 1
    assert _reasons(rejects) == {
        "competitors/A/DS/07_RES/mask000.tif": "no_raw_frame",
        "competitors/A/Other/01_RES/mask000.tif": "no_raw_frame",
        "DS/09_GT/SEG/man_seg000.tif": "no_raw_frame",
    }
    assert ledger.metadata() == {"records_in": 6, "records_out": 3, "records_rejected": 3, "records_unaccounted": 0}


def test_a_link_out_of_the_store_is_an_unsafe_path_reject(tmp_path):
    root = tmp_path / "store"
    _frame(root, number=0)
    outside = tmp_path / "secret.tif"
    tifffile.imwrite(outside, np.zeros((48, 48), np.uint16))
    os.symlink(outside, root / RAW_PREFIX / "DS/01/t001.tif")
    _put(root, "DS/01_GT/SEG/man_seg001.tif", _labels(1))
    _inventory, rejects = build_inventory(root)
    reasons = _reasons(rejects)
    assert reasons["DS/01/t001.tif"] == "unsafe_path"
    assert all(str(tmp_path) not in r.detail for r in rejects)  # store-relative only


def test_competitor_folders_colliding_after_sanitising_keep_every_crop(store, store_root, instance):
    for number in (0, 1):
        _frame(store_root, number=number, competitors=("competitor A", "competitor_A"))
    result = materialize(store, instance, ops=crops_config(layout="tiff_per_cell"))
    assert result.success
    cells = pd.read_parquet(store_root / CELL_TABLE.path)
    assert set(cells["competitor"]) == {"competitor A", "competitor_A"}
    assert cells["cell_id"].is_unique and cells["stacked_crop_path"].is_unique
    files = list((store_root / "data" / "cell_crops").glob("*.tif"))
    assert len(files) == len(cells)  # nothing overwritten
    meta = result.asset_materializations_for_node("cell_crops")[0].metadata["accounting/frame/competitor pairs"].value
    assert meta == {"records_in": 4, "records_out": 4, "records_rejected": 0, "records_unaccounted": 0}


def test_a_sequence_folder_linking_out_of_the_store_makes_its_frames_unsafe_path_rejects(tmp_path):
    root = tmp_path / "store"
    _frame(root, number=0)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tifffile.imwrite(elsewhere / "t000.tif", np.zeros((48, 48), np.uint16))
    os.symlink(elsewhere, root / RAW_PREFIX / "DS" / "02")
    _put(root, "DS/02_GT/SEG/man_seg000.tif", _labels(1))
    inventory, rejects = build_inventory(root)
    reasons = _reasons(rejects)
    assert reasons["DS/02/t000.tif"] == "unsafe_path" and reasons["DS/02_GT/SEG/man_seg000.tif"] == "no_raw_frame"
    assert len(inventory) == 1
