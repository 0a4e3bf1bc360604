"""The feature storage budget (seed 002: "<= 50% overhead for feature storage vs raw images"): PCA scores with the
largest number of components whose files fit, the projection fitted on train only and stored beside the scores,
byte-identical reruns, the full vectors kept when they fit (`auto`), and a bad budget refused naming the field."""

import dagster as dg
import h5py
import numpy as np
import pandas as pd
import pytest

from dataprep_assets.defs.quality_prediction.config import ImageFeaturesConfig
from dataprep_assets.defs.quality_prediction.feature_budget import ridge_fidelity, store_within_budget
from dataprep_assets.ml.feature_pca import fit_projection, largest_fitting, write_reduced
from dataprep_assets.ml.featurestore import FeatureFile, FeatureWriter

N, DIM = 120, 512
IDS = [f"images/logo_{i:03d}.png" for i in range(N)]
TRAIN = IDS[: int(0.8 * N)]


def features(seed: int = 0) -> np.ndarray:
    """Non-negative, low-rank-ish vectors like pooled CNN activations."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(N, 24)) * np.linspace(3, 0.2, 24)
    return np.maximum(latent @ rng.normal(size=(24, DIM)) + rng.normal(0, 0.05, (N, DIM)) + 1.0, 0).astype(np.float32)


def write_full(path, rows: np.ndarray) -> None:
    with FeatureWriter(
        path, dim=DIM, attrs={"extractor": "resnet50", "extractor_fingerprint": "fp"}, storage_dtype="float16"
    ) as writer:
        writer.append(IDS, [f"{i:064x}" for i in range(N)], rows)


def store(tmp_path, rows, *, name="out", mode="pca", raw=N * 2000, max_overhead=0.5, other=1000):
    full, out = tmp_path / f"{name}_full.h5", tmp_path / f"{name}.h5"
    write_full(full, rows)
    outcome = store_within_budget(
        full,
        out,
        train_ids=TRAIN,
        raw_image_bytes=raw,
        other_bytes=other,
        mode=mode,
        max_overhead=max_overhead,
        compression="gzip",
        storage_dtype="float16",
    )
    return outcome, full, out


def test_pca_storage_fits_the_budget_with_the_most_components_that_fit(tmp_path):
    outcome, _, out = store(tmp_path, features())
    assert outcome.mode == "pca" and outcome.budget_met
    assert out.stat().st_size + 1000 == outcome.dataset_bytes <= outcome.budget_bytes == N * 2000 // 2
    k = outcome.components
    assert 1 < k < DIM and outcome.probes[k] <= outcome.budget_bytes < outcome.probes[k + 1]
    with h5py.File(out) as h5:
        assert h5["features"].shape == (N, k) and h5["features"].dtype == np.float16
        assert h5["projection/components"].shape == (k, DIM) and h5["projection/mean"].shape == (DIM,)
        assert h5.attrs["feature_storage"] == "pca" and h5.attrs["source_feature_dim"] == DIM
        assert h5.attrs["extractor_fingerprint"] == "fp"
    meta = outcome.metadata()
    assert meta["feature_storage_overhead"] == pytest.approx(outcome.dataset_bytes / (N * 2000), abs=1e-4)
    assert meta["feature_storage_overhead"] <= 0.5
    assert meta["feature_storage_overhead_matrix_only"] < meta["feature_storage_overhead"]
    assert 0.5 < meta["pca_explained_variance_train"] <= 1.0 and meta["pca_train_images"] == len(TRAIN)


def test_a_larger_budget_keeps_more_components_and_reconstructs_better(tmp_path):
    small, _, _ = store(tmp_path, features(), name="small", max_overhead=0.3)
    large, _, _ = store(tmp_path, features(), name="large", max_overhead=0.9)
    assert small.components < large.components and small.budget_met and large.budget_met
    assert large.explained_variance_train > small.explained_variance_train
    assert large.rms_reconstruction_error < small.rms_reconstruction_error


def test_reconstruction_error_is_what_the_metadata_says(tmp_path):
    rows = features()
    outcome, full, out = store(tmp_path, rows)
    with FeatureFile(full) as f, FeatureFile(out) as r:
        error = np.abs(r.reconstruct(np.arange(N)) - f.read_rows(np.arange(N)))
        assert r.feature_storage == "pca" and f.feature_storage == "full" and f.projection() is None
        assert r.read_rows([0]).shape == (1, outcome.components)  # what the loader reads: the stored scores
    assert error.max() == pytest.approx(outcome.max_abs_reconstruction_error, rel=1e-3, abs=1e-4)


def test_reruns_are_byte_identical(tmp_path):
    _, _, first = store(tmp_path, features(), name="a")
    _, _, second = store(tmp_path, features(), name="b")
    assert first.read_bytes() == second.read_bytes()


def test_the_projection_is_fitted_on_train_only(tmp_path):
    rows = features()
    changed = rows.copy()
    held_out = [IDS.index(i) for i in IDS if i not in TRAIN]
    changed[held_out] = features(seed=7)[held_out] * 3  # other validation/test images
    a, _, first = store(tmp_path, rows, name="a")
    b, _, second = store(tmp_path, changed, name="b")
    assert a.components == b.components
    with h5py.File(first) as x, h5py.File(second) as y:
        for name in ("projection/mean", "projection/components", "projection/explained_variance_ratio"):
            np.testing.assert_array_equal(x[name][:], y[name][:])
        train_rows = np.arange(len(TRAIN))
        np.testing.assert_array_equal(x["features"][train_rows], y["features"][train_rows])
        assert not np.array_equal(x["features"][held_out], y["features"][held_out])
    with FeatureFile(tmp_path / "a_full.h5") as ff:
        everything = fit_projection(ff, np.arange(N))
        train_only = fit_projection(ff, np.arange(len(TRAIN)))
    assert not np.allclose(everything.mean, train_only.mean)


def test_auto_keeps_the_full_vectors_when_they_fit_and_reduces_them_when_not(tmp_path):
    fits, _, out = store(tmp_path, features(), name="fits", mode="auto", raw=10**9)
    assert fits.mode == "full" and fits.components == DIM and fits.budget_met
    with FeatureFile(out) as ff:
        assert ff.dim == DIM and ff.projection() is None
    reduced, _, _ = store(tmp_path, features(), name="reduced", mode="auto", raw=N * 500)
    assert reduced.mode == "pca" and reduced.budget_met
    full, _, _ = store(tmp_path, features(), name="full", mode="full", raw=N * 500)
    assert full.mode == "full" and not full.budget_met and full.metadata()["feature_storage_overhead"] > 0.5


def test_when_even_one_component_does_not_fit_it_says_so(tmp_path):
    outcome, _, _ = store(tmp_path, features(), raw=2000)
    assert outcome.mode == "pca" and outcome.components == 1 and not outcome.budget_met


def test_without_two_training_images_auto_keeps_the_full_vectors_and_pca_fails_naming_the_field(tmp_path):
    full, out = tmp_path / "full.h5", tmp_path / "out.h5"
    args = {"raw_image_bytes": 1000, "other_bytes": 0, "max_overhead": 0.5, "compression": "gzip"}
    write_full(full, features())
    with pytest.raises(ValueError, match="feature_storage pca .* 1 have features"):
        store_within_budget(full, out, train_ids=IDS[:1], mode="pca", storage_dtype="float16", **args)
    kept = store_within_budget(full, out, train_ids=IDS[:1], mode="auto", storage_dtype="float16", **args)
    assert kept.mode == "full" and not kept.budget_met


def test_largest_fitting_walks_to_the_boundary_of_any_monotone_size():
    for base, step, budget in ((100, 7, 1000), (900, 1, 1000), (10, 300, 1000), (10, 1, 10**6)):
        choice = largest_fitting(lambda k, b=base, s=step: b + s * k + (k * k) // 50, budget, 400)
        k = choice.components
        size = base + step * k + (k * k) // 50
        nxt = base + step * (k + 1) + ((k + 1) ** 2) // 50
        assert choice.fits and size <= budget and (k == 400 or nxt > budget)


def test_ridge_comparison_reports_full_and_reduced_features(tmp_path):
    rows = features()
    _, full, out = store(tmp_path, rows)
    rng = np.random.default_rng(0)
    examples = pd.DataFrame(
        {
            "image_id": np.repeat(IDS, 3),
            "split": np.repeat(["train" if i in TRAIN else "validation" for i in IDS], 3),
            "mode": "spline",
            **{p: rng.uniform(1, 10, 3 * N) for p in _param_names()},
        }
    )
    examples["ssim"] = 0.5 + 0.01 * np.repeat(rows[:, :4].sum(axis=1), 3) + rng.normal(0, 0.01, 3 * N)
    fidelity = ridge_fidelity(full, out, examples)
    assert set(fidelity) >= {
        "validation_r2_params_only",
        "validation_r2_params_and_full_features",
        "validation_r2_params_and_stored",
    }
    assert fidelity["validation_r2_params_and_stored"] > fidelity["validation_r2_params_only"]


def _param_names():
    from dataprep_assets.ml.vectorizer_params import PARAM_NAMES

    return PARAM_NAMES


@pytest.mark.parametrize("bad", [0, -0.5])
def test_a_budget_of_zero_or_less_is_refused_in_one_line_naming_the_field(bad):
    with pytest.raises(dg.Failure) as raised:
        ImageFeaturesConfig(max_storage_overhead=bad)
    assert (
        raised.value.description == f"invalid ImageFeaturesConfig config: max_storage_overhead: must be > 0, got {bad}"
    )


def test_write_reduced_never_keeps_more_components_than_the_rank(tmp_path):
    write_full(tmp_path / "full.h5", features())
    with FeatureFile(tmp_path / "full.h5") as ff:
        projection = fit_projection(ff, np.arange(5))
        written = write_reduced(ff, tmp_path / "r.h5", projection, 10_000, attrs={})
    assert written.components == projection.max_components <= 4
