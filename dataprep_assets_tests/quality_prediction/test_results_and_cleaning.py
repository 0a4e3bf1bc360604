"""Reading what experiments leave (three log formats, field aliases, garbled files) and the cleaning
rules: each bad result must be refused with its own reason, and good ones must all survive. Also the
quality metrics the sample data is built from, since the model learns from them."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dataprep_assets.common.store import s3_source
from dataprep_assets.defs.quality_prediction.cleaning import CleaningRules, clean_results, outlier_mask
from dataprep_assets.defs.quality_prediction.logos import inspect_image
from dataprep_assets.defs.quality_prediction.metrics import PSNR_CAP, mse, psnr_from_mse, quality_metrics, ssim
from dataprep_assets.defs.quality_prediction.sources import scan_results
from dataprep_assets.ml.vectorizer_params import normalise_method
from dataprep_assets.sample_data.quality_prediction import simple_logo, simulate_vectorization
from dataprep_assets_tests.quality_prediction.conftest import PARAMS

GOOD_METRICS = {"ssim": 0.91, "mse": 100.0, "psnr": round(10 * math.log10(255**2 / 100.0), 4)}


def _logo(root, rel, size=64):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), (200, 30, 30)).save(path)


def _write_logs(root, records_json, jsonl_lines, csv_rows):
    (root / "results" / "method1").mkdir(parents=True)
    (root / "results" / "method2").mkdir()
    (root / "results" / "method3").mkdir()
    (root / "results" / "method1" / "a.json").write_text(json.dumps({"method": "method1", "results": records_json}))
    (root / "results" / "method2" / "b.jsonl").write_text("\n".join(jsonl_lines) + "\n")
    if csv_rows:
        pd.DataFrame(csv_rows).to_csv(root / "results" / "method3" / "c.csv", index=False)


def test_three_formats_and_their_aliases_read_into_one_table(tmp_path):
    _logo(tmp_path, "images/a.png")
    _write_logs(
        tmp_path,
        [
            {
                "image": "images/a.png",
                "logo_type": "simple_geometric",
                "parameters": PARAMS,
                "metrics": GOOD_METRICS,
                "timestamp": "2024-05-06T10:00:00Z",
            }
        ],
        [
            json.dumps(
                {
                    "image_path": "images/a.png",
                    "category": "text_based",
                    "params": PARAMS,
                    "quality": GOOD_METRICS,
                    "time": 1715000000,
                }
            )
        ],
        [
            {
                "image_path": "images/a.png",
                "logo_type": "gradient",
                "method": "method3",
                **PARAMS,
                **GOOD_METRICS,
                "timestamp": "2024-05-07 11:00:00",
            }
        ],
    )
    frame, rejects, files = scan_results(tmp_path)
    assert len(rejects) == 0 and files == {"json": 1, "jsonl": 1, "csv": 1}
    assert frame["method"].tolist() == [1, 2, 3], "method from the document, the folder name and the column"
    assert frame["logo_type"].tolist() == ["simple", "text", "gradient"]
    assert (frame["parse_issues"] == "").all() and frame["timestamp"].notna().all()
    assert frame["color_precision"].tolist() == [6.0] * 3 and frame["ssim"].tolist() == [0.91] * 3
    assert frame["result_id"].is_unique


def test_garbled_files_and_lines_are_rejects_not_crashes(tmp_path):
    _write_logs(tmp_path, [], ['{"image_path": "x.png", "params"', "[1, 2]"], [])
    (tmp_path / "results" / "method1" / "broken.json").write_text("{not json")
    (tmp_path / "results" / "odd.json").write_text(json.dumps({"hello": "world"}))
    (tmp_path / "results" / "readme.md").write_text("notes")
    (tmp_path / "results" / "method3" / "ragged.csv").write_text("image_path,ssim\na.png,0.9,extra\n")
    frame, rejects, _ = scan_results(tmp_path)
    reasons = dict(zip(rejects.to_frame()["item"], rejects.to_frame()["reason"], strict=True))
    assert reasons == {
        "results/method1/broken.json": "unreadable_log",
        "results/odd.json": "unrecognised_log",
        "results/readme.md": "unsupported_file",
        "results/method2/b.jsonl:1": "corrupt_record",
        "results/method2/b.jsonl:2": "corrupt_record",
        "results/method3/ragged.csv:2": "corrupt_record",
    }
    assert frame.empty


def _frame(rows):
    base = {
        "source_file": "r.json",
        "logo_type": "simple",
        "logo_type_raw": "simple",
        "method": 1,
        "method_raw": "1",
        "timestamp": pd.Timestamp("2024-05-06", tz="UTC"),
        **PARAMS,
        **GOOD_METRICS,
        "parse_issues": "",
        "image_path": "images/a.png",
    }
    out = pd.DataFrame(
        [
            {**base, "record": i, "result_id": f"id{i:03d}", "corner_threshold": float(i), **row}
            for i, row in enumerate(rows)
        ]
    )
    out["method"] = out["method"].astype("Int64")
    return out


def _images(*statuses):
    rows = [
        {
            "image_path": "images/a.png",
            "status": "ok",
            "detail": "",
            "content_hash": "h" * 64,
            "width": 64,
            "height": 64,
            "format": "PNG",
        }
    ]
    rows += [
        {"image_path": p, "status": s, "detail": s, "content_hash": "", "width": 0, "height": 0, "format": ""}
        for p, s in statuses
    ]
    return pd.DataFrame(rows)


def test_each_cleaning_rule_refuses_with_its_own_reason():
    rng = np.random.default_rng(0)
    good = [
        {"ssim": float(0.9 + rng.normal(0, 0.01)), "mse": 100.0, "color_precision": float(rng.integers(2, 9))}
        for _ in range(40)
    ]
    for row in good:
        row["psnr"] = round(10 * math.log10(255**2 / row["mse"]), 4)
    bad = [
        {"parse_issues": "missing: ssim", "ssim": math.nan},
        {"parse_issues": "not_numeric: mse='n/a'", "mse": math.nan},
        {"logo_type": None, "logo_type_raw": "abstract"},
        {"method": None, "method_raw": "method7"},
        {"ssim": math.inf},
        {"ssim": 1.2},
        {"mse": -1.0},
        {"color_precision": 12.0},
        {"max_iterations": 2.5},
        {"mode": "bezier"},
        {"psnr": 60.0},
        {"image_path": "images/gone.png"},
        {"image_path": "images/bad.png"},
        {"ssim": -0.5},
    ]
    frame = _frame(good + bad + [{**good[0], "corner_threshold": 0.0}])
    clean, rejects = clean_results(
        frame, _images(("images/gone.png", "image_missing"), ("images/bad.png", "image_unreadable")), CleaningRules()
    )
    reasons = rejects.to_frame().set_index("item")["reason"].to_dict()
    expected = [
        "incomplete",
        "corrupt_value",
        "unknown_logo_type",
        "unknown_method",
        "non_finite_metric",
        "metric_out_of_range",
        "metric_out_of_range",
        "parameter_out_of_range",
        "parameter_out_of_range",
        "parameter_out_of_range",
        "metrics_inconsistent",
        "image_missing",
        "image_unreadable",
        "extreme_outlier",
    ]
    assert [reasons[f"r.json#{40 + i}"] for i in range(len(bad))] == expected
    assert reasons["r.json#54"] == "duplicate_result"
    assert len(clean) == 40 and len(rejects) == len(bad) + 1
    assert clean["image_group"].str.len().eq(16).all() and set(clean["image_id"]) == {"images/a.png"}


def test_outlier_rules_flag_only_the_far_tail():
    values = pd.Series(list(np.linspace(0.85, 0.95, 50)) + [0.2])
    assert outlier_mask(values, "iqr", 3.0).tolist() == [False] * 50 + [True]
    assert outlier_mask(values, "robust_z", 5.0).tolist() == [False] * 50 + [True]
    assert not outlier_mask(values, "none", 3.0).any()
    with pytest.raises(ValueError, match="unknown outlier rule"):
        outlier_mask(values, "zscore", 3.0)


def test_image_inspection_catches_missing_truncated_disguised_and_tiny_images(tmp_path):
    _logo(tmp_path, "ok.png")
    _logo(tmp_path, "tiny.png", size=8)
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    Image.new("RGB", (64, 64)).save(tmp_path / "bmp.png", format="BMP")
    Image.new("RGB", (64, 64)).save(tmp_path / "gif.gif", format="GIF")
    status = {
        p: inspect_image(str(tmp_path), p, ("PNG", "JPEG"), 32)
        for p in ("ok.png", "tiny.png", "cut.png", "bmp.png", "gif.gif", "none.png", "../x.png")
    }
    assert {p: s.status for p, s in status.items()} == {
        "ok.png": "ok",
        "tiny.png": "image_format",
        "cut.png": "image_unreadable",
        "bmp.png": "image_format",
        "gif.gif": "image_format",
        "none.png": "image_missing",
        "../x.png": "unsafe_path",
    }
    assert "BMP" in status["bmp.png"].detail and status["ok.png"].width == 64


def test_the_same_pixels_under_two_names_and_encodings_share_a_content_hash(tmp_path):
    img = simple_logo(np.random.default_rng(1))
    img.save(tmp_path / "a.png", compress_level=1)
    img.save(tmp_path / "b.png", compress_level=9)
    a, b = (inspect_image(str(tmp_path), n, ("PNG",), 32) for n in ("a.png", "b.png"))
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "b.png").read_bytes()
    assert a.content_hash == b.content_hash


def test_ssim_mse_psnr_behave_as_defined():
    rng = np.random.default_rng(0)
    image = np.asarray(simple_logo(rng))
    assert ssim(image, image) == pytest.approx(1.0)
    noisy = np.clip(image + rng.normal(0, 40, image.shape), 0, 255)
    assert ssim(image, noisy) == pytest.approx(ssim(noisy, image)) and ssim(image, noisy) < 0.8
    assert mse(image, image) == 0 and psnr_from_mse(0.0) == PSNR_CAP
    assert psnr_from_mse(mse(image, noisy)) == pytest.approx(10 * np.log10(255**2 / mse(image, noisy)))


def test_simulated_vectorization_quality_depends_on_parameters():
    logo = simple_logo(np.random.default_rng(4))
    fine = quality_metrics(
        np.asarray(logo),
        simulate_vectorization(
            logo,
            {
                **PARAMS,
                "color_precision": 8,
                "layer_difference": 2,
                "length_threshold": 1.0,
                "corner_threshold": 5,
                "splice_threshold": 5,
            },
        ),
    )
    coarse = quality_metrics(
        np.asarray(logo),
        simulate_vectorization(
            logo,
            {
                **PARAMS,
                "color_precision": 1,
                "layer_difference": 128,
                "length_threshold": 16.0,
                "corner_threshold": 180,
                "filter_speckle": 60,
            },
        ),
    )
    assert fine["ssim"] > coarse["ssim"] + 0.1 and fine["psnr"] > coarse["psnr"]


def test_method_names_normalise():
    assert [normalise_method(v) for v in (1, "2", "method3", "method1_correlation_mapping", "method12", "x", None)] == [
        1,
        2,
        3,
        1,
        None,
        None,
        None,
    ]


def test_s3_results_are_mirrored_incrementally(tmp_path, s3_bucket, s3_env):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_env)
    for key, body in {
        "exp/results/a.json": b'{"results": []}',
        "exp/images/a.png": b"png",
        "other/x.json": b"{}",
    }.items():
        client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    local = tmp_path / "mirror"
    assert s3_source(f"s3://{s3_bucket}/exp", local).mirror() == {
        "objects": 2,
        "downloaded": 2,
        "unchanged": 0,
        "removed": 0,
        "name_collisions": 0,
    }
    assert (local / "results" / "a.json").read_bytes() == b'{"results": []}' and not (local / "x.json").exists()
    client.put_object(Bucket=s3_bucket, Key="exp/results/a.json", Body=b'{"results": [1]}')
    client.delete_object(Bucket=s3_bucket, Key="exp/images/a.png")
    assert s3_source(f"s3://{s3_bucket}/exp", local).mirror() == {
        "objects": 1,
        "downloaded": 1,
        "unchanged": 0,
        "removed": 1,
        "name_collisions": 0,
    }
    assert not (local / "images" / "a.png").exists()
    assert s3_source(f"s3://{s3_bucket}/exp", local).mirror()["downloaded"] == 0


def test_a_decompression_bomb_is_a_reject_not_a_crash(tmp_path):
    from dataprep_assets_tests.lib.test_limits import bomb_png

    _logo(tmp_path, "ok.png")
    (tmp_path / "bomb.png").write_bytes(bomb_png())
    status = {p: inspect_image(str(tmp_path), p, ("PNG", "JPEG"), 32) for p in ("ok.png", "bomb.png")}
    assert status["ok.png"].status == "ok"
    assert status["bomb.png"].status == "decompression_bomb" and "900000000 pixels" in status["bomb.png"].detail


def test_a_bom_in_a_csv_or_json_log_loses_nothing(tmp_path):
    _logo(tmp_path, "images/a.png")
    _write_logs(
        tmp_path,
        [{"image": "images/a.png", "logo_type": "simple_geometric", "parameters": PARAMS, "metrics": GOOD_METRICS}],
        [],
        [{"image_path": "images/a.png", "logo_type": "gradient", "method": "method3", **PARAMS, **GOOD_METRICS}],
    )
    for rel in ("results/method1/a.json", "results/method3/c.csv"):
        path = tmp_path / rel
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    frame, rejects, files = scan_results(tmp_path)
    assert len(rejects) == 0, rejects.to_frame()
    assert files == {"json": 1, "jsonl": 1, "csv": 1} and len(frame) == 2
    assert frame["image_path"].tolist() == ["images/a.png", "images/a.png"]


def test_s3_keys_differing_only_in_case_are_one_local_name_and_a_reject(tmp_path, s3_bucket, s3_env):
    import boto3

    from dataprep_assets.lib.rejects import RejectLog

    client = boto3.client("s3", endpoint_url=s3_env)
    client.put_object(Bucket=s3_bucket, Key="exp/images/A.png", Body=b"upper")
    client.put_object(Bucket=s3_bucket, Key="exp/images/a.png", Body=b"lower")
    rejects = RejectLog()
    stats = s3_source(f"s3://{s3_bucket}/exp", tmp_path / "mirror").mirror(rejects=rejects)
    assert stats["objects"] == 1 and stats["name_collisions"] == 1
    assert [(r.item, r.reason) for r in rejects] == [("images/a.png", "output_name_collision")]
    assert "images/A.png" in next(iter(rejects)).detail
    assert (tmp_path / "mirror" / "images" / "A.png").read_bytes() == b"upper"
