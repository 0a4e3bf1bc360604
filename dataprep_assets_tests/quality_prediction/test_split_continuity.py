"""quality_prediction splits stay put across refreshes (real Dagster instance): results for new logos are
assigned and no source image (nor its CV fold) moves; an explicit re-split is accepted and recorded; a moved
source image fails the blocking check and stops the feature report."""

import csv
from datetime import timedelta

import dagster as dg
import numpy as np
import pandas as pd

from dataprep_assets.common.continuity import RESPLIT
from dataprep_assets.defs.quality_prediction import assets as qp_assets
from dataprep_assets.defs.quality_prediction import checks as qp_checks
from dataprep_assets.defs.quality_prediction.datasets import EXAMPLES, SPLIT_TABLES
from dataprep_assets.defs.quality_prediction.metrics import quality_metrics
from dataprep_assets.sample_data.quality_prediction import (
    CSV_COLUMNS,
    DRAW,
    LOG_TYPE_NAMES,
    PREFIX,
    START,
    _round_metrics,
    sample_params,
    simulate_vectorization,
)

ASSETS = [qp_assets.conversion_results, qp_assets.clean_conversion_results, qp_assets.quality_dataset_splits]
CHECKS = [qp_checks.no_source_image_in_two_splits, qp_checks.source_images_stay_put]
SPLIT_ONLY = ["quality_dataset_splits"]


def _run(store, instance, selection=None, split_config=None):
    config = {"ops": {"quality_dataset_splits": {"config": split_config}}} if split_config else {}
    return dg.materialize(
        ASSETS + CHECKS,
        instance=instance,
        resources={"store": store},
        run_config=config,
        selection=selection,
        raise_on_error=False,
    )


def _assignment(store) -> pd.DataFrame:
    return store.read_table(EXAMPLES).drop_duplicates("image_id").set_index("image_id")[["split", "cv_fold"]]


def _check(result):
    [evaluation] = [e for e in result.get_asset_check_evaluations() if e.check_name == qp_checks.STAY_PUT_CHECK]
    return evaluation


def _add_logos(store_root, n: int, seed: int = 99) -> list[str]:
    """New logos and their method-3 results, as a later experiment batch would write them."""
    rng = np.random.default_rng(seed)
    base = store_root / PREFIX
    rows, names = [], []
    for i in range(n):
        logo_type = ("simple", "text", "gradient", "complex")[i % 4]
        image = DRAW[logo_type](rng)
        rel = f"images/{logo_type}/{logo_type}_new_{i:03d}.png"
        image.save(base / rel, format="PNG")
        names.append(rel)
        for _ in range(3):
            params = sample_params(rng, 3)
            m = _round_metrics(quality_metrics(np.asarray(image), simulate_vectorization(image, params)))
            ts = (START + timedelta(days=30, hours=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            rows.append(
                [
                    rel,
                    LOG_TYPE_NAMES[logo_type],
                    "method3",
                    *[params[c] for c in CSV_COLUMNS[3:12]],
                    *[m.get(k, "") for k in ("ssim", "mse", "psnr")],
                    ts,
                ]
            )
    with open(base / "results" / "method3" / "adaptive_results_new_batch.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    return names


def test_new_logos_are_assigned_and_no_source_image_or_fold_moves(sample_store, store_root, instance):
    assert _run(sample_store, instance).success
    before = _assignment(sample_store)

    new = _add_logos(store_root, 4)
    refresh = _run(sample_store, instance)
    assert refresh.success
    after = _assignment(sample_store)
    assert set(new) <= set(after.index)
    pd.testing.assert_frame_equal(after.loc[before.index], before)
    assert ((after.loc[new, "split"] == "train") == (after.loc[new, "cv_fold"] >= 0)).all()
    evaluation = _check(refresh)
    assert evaluation.passed and evaluation.metadata["groups_moved"].value == 0
    assert evaluation.metadata["groups_added"].value == len(new)

    resplit = _run(sample_store, instance, SPLIT_ONLY, {"resplit": True, "seed": 5})
    assert resplit.success and _check(resplit).passed and _check(resplit).metadata[RESPLIT].value is True
    assert sample_store.versions(SPLIT_TABLES.path)[-1].meta[RESPLIT] is True


def test_a_moved_source_image_fails_the_blocking_check_and_stops_the_report(sample_store, instance, monkeypatch):
    assert _run(sample_store, instance).success
    real = qp_assets.build_examples

    def moving(clean, config, previous=None, previous_folds=None):
        examples, edges = real(clean, config, previous=previous, previous_folds=previous_folds)
        rows = examples["image_group"] == sorted(examples["image_group"])[0]
        examples.loc[rows, "split"] = "test" if examples.loc[rows, "split"].iloc[0] != "test" else "validation"
        examples.loc[rows, "cv_fold"] = -1
        return examples, edges

    monkeypatch.setattr(qp_assets, "build_examples", moving)
    result = dg.materialize(
        ASSETS + CHECKS + [qp_assets.image_features, qp_assets.feature_report],
        instance=instance,
        resources={"store": sample_store},
        selection=["quality_dataset_splits", "feature_report"],
        raise_on_error=False,
    )
    assert not result.success
    evaluation = _check(result)
    assert not evaluation.passed and evaluation.metadata["groups_moved"].value >= 1
    started = {e.step_key for e in result.all_events if e.event_type_value == "STEP_START"}
    assert "quality_dataset_splits" in started and "feature_report" not in started  # blocked, not failed
