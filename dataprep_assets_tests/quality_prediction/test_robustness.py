"""Issue 13 cases for quality_prediction on a real Dagster instance: a decompression bomb referenced by one result
is a `decompression_bomb` reject (the pipeline goes on), and every result is accounted for."""

import json
import math

from dataprep_assets_tests.lib.test_limits import bomb_png
from dataprep_assets_tests.quality_prediction.conftest import PARAMS, materialize


def test_a_decompression_bomb_referenced_by_one_result_is_a_reject_and_the_run_goes_on(
    sample_store, store_root, instance
):
    base = store_root / "raw" / "quality_prediction"
    (base / "images" / "simple" / "bomb.png").write_bytes(bomb_png())
    metrics = {"ssim": 0.91, "mse": 40.0, "psnr": round(10 * math.log10(255**2 / 40.0), 4)}
    record = {
        "image_path": "images/simple/bomb.png",
        "category": "simple_geometric",
        "params": PARAMS,
        "quality": metrics,
        "method": 2,
    }
    (base / "results" / "method2" / "bomb.jsonl").write_text(json.dumps(record) + "\n")
    result = materialize(sample_store, instance, selection=["conversion_results", "clean_conversion_results"])
    assert result.success
    rejects = {r.item: r.reason for r in sample_store.read_rejects("clean_conversion_results")}
    assert rejects["results/method2/bomb.jsonl#1"] == "decompression_bomb"
    meta = result.asset_materializations_for_node("clean_conversion_results")[0].metadata["accounting/results"].value
    assert meta["records_unaccounted"] == 0 and meta["records_in"] == meta["records_out"] + meta["records_rejected"]
