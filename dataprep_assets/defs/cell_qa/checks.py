"""cell_qa asset checks: leakage and split continuity (blocking), split fractions, Jaccard validity, crop
readability."""

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
    CELLS_INDEX,
    DATAFRAME_PATH,
    SPLITS_PATH,
    cell_crops,
    cell_level_dataframe,
    cell_level_dataframe_with_splits,
)
from dataprep_assets.defs.cell_qa.extract import load_crop

no_image_key_overlap = group_overlap_check(
    asset=cell_level_dataframe_with_splits,
    load=lambda store: store.read_table(SPLITS_PATH),
    group_col="original_image_key",
    name="no_original_image_key_overlap",
    blocking=True,
)

image_keys_stay_put = split_continuity_check(
    asset=cell_level_dataframe_with_splits,
    relpath=SPLITS_PATH,
    group_col="original_image_key",
    name="original_image_keys_stay_put",
)

split_fractions_near_target = split_fractions_check(
    asset=cell_level_dataframe_with_splits,
    load=lambda store: store.read_table(SPLITS_PATH),
    group_col="original_image_key",
    tolerance=0.1,
)

cell_jaccard_valid = expectations_check(
    asset=cell_level_dataframe,
    load=lambda store: store.read_table(DATAFRAME_PATH),
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
    size = int(latest_materialization_metadata(context.instance, cell_crops.key).get("crop_size", 64))
    cells = store.read_table(CELLS_INDEX)
    root, bad = store.local_root(), []
    for ref in cells["stacked_crop_path"]:
        try:
            shape = np.shape(load_crop(root, ref))
        except Exception as exc:
            bad.append(f"{ref}: {type(exc).__name__}")
            continue
        if shape != (2, size, size):
            bad.append(f"{ref}: shape {shape}")
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={
            "crops_checked": len(cells),
            "unreadable_or_wrong_shape": len(bad),
            "examples": dg.MetadataValue.json(bad[:10]),
        },
    )
