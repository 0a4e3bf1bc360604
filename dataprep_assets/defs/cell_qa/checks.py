"""cell_qa asset checks: leakage and split continuity (blocking), split fractions, Jaccard validity, crop
readability."""

import hashlib

import dagster as dg
import numpy as np

from dataprep_assets.common.checks import (
    expectations_check,
    group_overlap_check,
    split_continuity_check,
    split_fractions_check,
)
from dataprep_assets.common.metadata import latest_materialization_metadata
from dataprep_assets.common.store import DatasetStore
from dataprep_assets.defs.cell_qa.assets import (
    cell_crops,
    cell_level_dataframe,
    cell_level_dataframe_with_splits,
)
from dataprep_assets.defs.cell_qa.datasets import CELL_TABLE, CELLS_INDEX, CROPS, SPLITS
from dataprep_assets.defs.cell_qa.extract import load_crop, mask_stack_path
from dataprep_assets.lib.itemcache import VerifiedObjects, fingerprint
from dataprep_assets.lib.storage import safe_join

no_image_key_overlap = group_overlap_check(
    asset=cell_level_dataframe_with_splits,
    load=SPLITS,
    group_col="original_image_key",
    name="no_original_image_key_overlap",
    blocking=True,
)

image_keys_stay_put = split_continuity_check(
    asset=cell_level_dataframe_with_splits,
    relpath=SPLITS.path,
    group_col="original_image_key",
    name="original_image_keys_stay_put",
)

split_fractions_near_target = split_fractions_check(
    asset=cell_level_dataframe_with_splits, load=SPLITS, group_col="original_image_key", tolerance=0.1
)

cell_jaccard_valid = expectations_check(
    asset=cell_level_dataframe,
    load=CELL_TABLE,
    name="cell_jaccard_valid",
    description="Great Expectations: cell_jaccard is never null and lies in [0, 1]; cell_id is unique.",
    blocking=True,
    expectations=[
        ("expect_column_values_to_not_be_null", {"column": "cell_jaccard"}),
        ("expect_column_values_to_be_between", {"column": "cell_jaccard", "min_value": 0.0, "max_value": 1.0}),
        ("expect_column_values_to_be_unique", {"column": "cell_id"}),
    ],
)


@dg.asset_check(
    asset=cell_crops, name="crops_readable", blocking=True, description="Every crop reads back as a (2, S, S) array."
)
def crops_readable(context: dg.AssetCheckExecutionContext, store: DatasetStore) -> dg.AssetCheckResult:
    """One read per crop file, not per cell; a crop file that is still the very file written (size, mtime, inode)
    whose bytes (SHA-256) and referenced rows passed before under the same crop size is not read again, so a
    rebuild checks what is new and a file replaced since is always read."""
    size = int(latest_materialization_metadata(context.instance, cell_crops.key).get("crop_size", 64))
    cells = store.read_table(CELLS_INDEX)
    root = store.local_root()
    written = store.hash_index(CROPS.path)  # a file still the one written: its hash without reading it
    verified = VerifiedObjects(root, "cell_crops_readable", fingerprint(READABLE_CHECK_VERSION, size))
    rows_of: dict[str, list[str]] = {}  # crop file -> the rows referring to it (`<stack>.npy#<row>`), in table order
    for ref in cells["stacked_crop_path"].astype(str).tolist():
        path, _, index = ref.partition("#")
        rows_of.setdefault(path, []).append(index)
    bad, decoded, current = [], 0, set()
    for path in sorted(rows_of):
        indices = rows_of[path]
        sha = verified_key(written, root, str(path), indices)
        current.add(sha)
        if sha and sha in verified:
            continue
        problems = crop_file_problems(root, str(path), indices, size)
        decoded += 1
        bad += problems
        if not problems and sha:
            verified.add(sha)
    verified.save(keep=current)
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "crops_checked": len(cells),
            "crop_files_read": decoded,
            "unreadable_or_wrong_shape": len(bad),
            "examples": dg.MetadataValue.json(bad[:10]),
        },
    )


READABLE_CHECK_VERSION = 3


def verified_key(written, root, path: str, indices: list[str]) -> str:
    """What a passed check vouches for: a per-cell TIFF's SHA-256, or for a stack the SHA-256 of its raw and mask
    files with the rows referenced. '' when a file is not the very one written (it must be read)."""
    if not path.endswith(".npy"):
        return written.known(root / path)
    stack, mask = written.known(root / path), written.known(mask_stack_path(root / path))
    if not (stack and mask):
        return ""
    return hashlib.sha256(f"{stack}\n{mask}\n{','.join(indices)}".encode()).hexdigest()


def crop_file_problems(root, path: str, indices: list[str], size: int) -> list[str]:
    """What is wrong with one crop file and the rows that refer to it: a per-cell TIFF must read back as
    (2, S, S); a stack (`<stack>.npy` + its bit-packed `.mask.npy`) must hold every referenced row as S x S."""
    try:
        if not path.endswith(".npy"):
            shape = np.shape(load_crop(root, path))
            return [] if shape == (2, size, size) else [f"{path}: shape {shape}"]
        target = safe_join(root, path)
        raw = np.load(target, mmap_mode="r")  # a truncated file fails here (header vs file size)
        bits = np.load(mask_stack_path(target), mmap_mode="r")
    except Exception as exc:
        return [f"{path}{'#' + i if i else ''}: {type(exc).__name__}" for i in indices]
    if raw.ndim != 3 or raw.shape[1:] != (size, size) or bits.shape != (len(raw), size, (size + 7) // 8):
        return [f"{path}: stack shapes {raw.shape} / mask {bits.shape}"]
    return [f"{path}#{i}: no such row" for i in indices if not i.isdigit() or int(i) >= len(raw)]
