"""Feature extraction and the HDF5 feature store: one vector per image that does not depend on its
batch, a compressed chunked file indexed by image id, unchanged images served from the cache,
deterministic bytes, and every failure (undecodable image, NaN vector) a reject."""

import hashlib

import h5py
import numpy as np
import pandas as pd
import pytest

from dataprep_assets.defs.quality_prediction.extractors import ImageStatsExtractor, build_extractor
from dataprep_assets.defs.quality_prediction.featurize import extract_to_hdf5
from dataprep_assets.defs.quality_prediction.logos import inspect_image
from dataprep_assets.lib.vectors import VectorCache
from dataprep_assets.ml.featurestore import FeatureFile, FeatureWriter
from dataprep_assets.sample_data.quality_prediction import DRAW


@pytest.fixture
def logos(tmp_path):
    """12 logos (3 of each type), one truncated file, as the images table the asset passes on."""
    rng = np.random.default_rng(0)
    rows = []
    for logo_type, draw in DRAW.items():
        for i in range(3):
            path = tmp_path / "images" / f"{logo_type}_{i}.png"
            path.parent.mkdir(exist_ok=True)
            draw(rng).save(path)
    (tmp_path / "images" / "zz_cut.png").write_bytes((tmp_path / "images" / "simple_0.png").read_bytes()[:100])
    for path in sorted((tmp_path / "images").glob("*.png")):
        info = inspect_image(str(tmp_path), f"images/{path.name}", ("PNG",), 32)
        rows.append(
            {"image_id": f"images/{path.name}", "content_hash": info.content_hash or path.name, "path": str(path)}
        )
    return pd.DataFrame(rows)


def test_image_stats_features_do_not_depend_on_the_batch():
    rng = np.random.default_rng(1)
    batch = np.stack([np.asarray(DRAW[t](rng)) for t in ("simple", "text", "gradient", "complex")])
    extractor = ImageStatsExtractor()
    together = extractor.encode(batch)
    alone = np.concatenate([extractor.encode(batch[i : i + 1]) for i in range(4)])
    assert together.shape == (4, 128) and together.dtype == np.float32 and np.isfinite(together).all()
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert len(extractor.feature_names) == 128 and len(set(extractor.feature_names)) == 128
    names = extractor.feature_names
    assert together[:, names.index("white_share")].min() > 0.05, "logos sit on white"
    assert together[0, names.index("distinct_colours_log")] < together[3, names.index("distinct_colours_log")], (
        "a complex logo has more colours"
    )


def test_unknown_extractor_is_refused():
    with pytest.raises(ValueError, match="unknown feature extractor"):
        build_extractor("vgg16")


def test_feature_file_is_chunked_compressed_sorted_and_reads_any_order(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1000, 64)).astype(np.float32)
    ids = [f"img{i:04d}" for i in range(1000)]
    with FeatureWriter(tmp_path / "f.h5", dim=64, attrs={"extractor": "t", "extractor_version": "1"}) as writer:
        for start in range(0, 1000, 300):
            writer.append(
                ids[start : start + 300],
                [f"h{i}" for i in range(start, min(start + 300, 1000))],
                x[start : start + 300],
            )
    with h5py.File(tmp_path / "f.h5") as h5:
        assert h5["features"].chunks == (1024, 64) and h5["features"].compression == "gzip" and h5["features"].shuffle
    with FeatureFile(tmp_path / "f.h5") as ff:
        assert len(ff) == 1000 and ff.dim == 64 and ff.attrs["extractor"] == "t" and ff.attrs["feature_dim"] == 64
        rows = np.array([999, 3, 500, 3, 0])
        np.testing.assert_array_equal(ff.read_rows(rows), x[rows])
        assert ff.row_of("img0500") == 500 and ff.rows_of(["img0002", "img0001"]).tolist() == [2, 1]
        np.testing.assert_allclose(ff.stats()["mean"], x.mean(axis=0), atol=1e-5)
        np.testing.assert_allclose(ff.stats()["std"], x.std(axis=0), atol=1e-4)
        with pytest.raises(KeyError, match="img9999"):
            ff.row_of("img9999")


def test_writer_refuses_unsorted_ids_and_wrong_shapes(tmp_path):
    with FeatureWriter(tmp_path / "f.h5", dim=4, attrs={}) as writer:
        with pytest.raises(ValueError, match="increasing"):
            writer.append(["b", "a"], ["1", "2"], np.zeros((2, 4)))
        with pytest.raises(ValueError, match="shape"):
            writer.append(["a"], ["1"], np.zeros((1, 3)))


def test_extraction_caches_by_pixels_rejects_failures_and_is_deterministic(logos, tmp_path):
    extractor = ImageStatsExtractor()
    seen = []
    first = extract_to_hdf5(
        logos,
        tmp_path / "a.h5",
        extractor=extractor,
        cache=(cache := VectorCache(tmp_path / "vectors", extractor)),
        batch_size=5,
        progress=lambda d, t, s: seen.append((d, t)),
    )
    assert (first.images, first.featurised, first.cached, first.computed) == (13, 12, 0, 13)
    assert [r.reason for r in first.rejects] == ["extraction_failed"] and "zz_cut" in next(iter(first.rejects)).item
    assert seen[-1] == (13, 13) and len(seen) == 3, "progress after every batch"
    with FeatureFile(tmp_path / "a.h5") as a:
        assert len(list(cache.directory.rglob("*.npy"))) == len(set(a.content_hashes())) > 0

    renamed = logos.copy()
    renamed.loc[0, "image_id"] = "images/aaa_renamed.png"  # same pixels, new name: still a cache hit
    second = extract_to_hdf5(renamed, tmp_path / "b.h5", extractor=extractor, cache=cache, batch_size=4)
    assert (second.cached, second.featurised) == (12, 12)
    with FeatureFile(tmp_path / "a.h5") as a, FeatureFile(tmp_path / "b.h5") as b:
        np.testing.assert_array_equal(
            b.read_rows([b.row_of("images/aaa_renamed.png")]), a.read_rows([a.row_of(logos.loc[0, "image_id"])])
        )

    extract_to_hdf5(logos, tmp_path / "c.h5", extractor=extractor, cache=cache, batch_size=7)
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(tmp_path / "c.h5") == digest(tmp_path / "a.h5"), "cached or computed, batch 5 or 7: the same bytes"

    cache.path(logos.loc[1, "content_hash"]).write_bytes(b"torn")  # a damaged entry is recomputed
    fourth = extract_to_hdf5(logos, tmp_path / "d.h5", extractor=extractor, cache=cache, batch_size=7)
    assert (fourth.cached, fourth.computed, fourth.featurised) == (11, 2, 12)
    with FeatureFile(tmp_path / "a.h5") as a, FeatureFile(tmp_path / "d.h5") as d:
        np.testing.assert_allclose(d.read_rows(range(12)), a.read_rows(range(12)), atol=1e-5)
    assert cache.get(logos.loc[1, "content_hash"]) is not None


class _Flaky(ImageStatsExtractor):
    """A real extractor whose vectors for mostly white images come out NaN (as a broken model might)."""

    version = "flaky"

    def encode(self, batch):
        out = super().encode(batch)
        out[out[:, self.feature_names.index("white_share")] > 0.8] = np.nan
        return out


def test_non_finite_vectors_are_rejects_and_a_new_extractor_version_skips_the_cache(logos, tmp_path):
    extract_to_hdf5(
        logos, tmp_path / "a.h5", extractor=ImageStatsExtractor(), cache=VectorCache(tmp_path, ImageStatsExtractor())
    )
    report = extract_to_hdf5(logos, tmp_path / "b.h5", extractor=_Flaky(), cache=VectorCache(tmp_path, _Flaky()))
    assert report.cached == 0, "another extractor version never reuses vectors"
    reasons = {r.reason for r in report.rejects}
    assert "non_finite_features" in reasons and report.featurised == 12 - sum(
        r.reason == "non_finite_features" for r in report.rejects
    )
    with FeatureFile(tmp_path / "b.h5") as ff:
        assert np.isfinite(ff.read_rows(np.arange(len(ff)))).all()


def test_pca_through_the_gram_matrix_equals_the_covariance_pca_when_rows_are_few(tmp_path):
    from dataprep_assets.defs.quality_prediction import analysis
    from dataprep_assets.ml.featurestore import FeatureFile, FeatureWriter

    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(size=(40, 300))).astype(np.float32) @ rng.normal(size=(300, 300)).astype(np.float32)
    with FeatureWriter(tmp_path / "f.h5", dim=300, attrs={}) as writer:
        writer.append([f"i{k:03d}" for k in range(40)], ["h"] * 40, x)
    with FeatureFile(tmp_path / "f.h5") as ff:
        rows = np.arange(40)
        m = analysis.moments(ff, rows)
        ratios, vectors, _ = analysis.pca(m["cov"])
        gram_ratios, gram_vectors, _ = analysis.pca_of_rows(ff, rows, m)
    np.testing.assert_allclose(gram_ratios[:39], ratios[:39], atol=1e-9)
    np.testing.assert_allclose(gram_vectors[:, :10], vectors[:, :10], atol=1e-8)


def test_float16_storage_halves_the_matrix_and_reports_its_error(tmp_path):
    from dataprep_assets.ml.featurestore import FeatureFile, FeatureWriter

    rows = np.random.default_rng(1).normal(0, 50, (64, 256)).astype(np.float32)
    rows[0, 0] = 1e6  # beyond float16: clipped and counted
    writers = {}
    for dtype in ("float32", "float16"):
        with FeatureWriter(
            tmp_path / f"{dtype}.h5", dim=256, attrs={}, compression="none", storage_dtype=dtype
        ) as writer:
            writer.append([f"i{k:03d}" for k in range(64)], ["h"] * 64, rows)
        writers[dtype] = writer
    with FeatureFile(tmp_path / "float16.h5") as half, FeatureFile(tmp_path / "float32.h5") as full:
        assert half.features.dtype == np.float16 and full.features.dtype == np.float32
        assert half.features.id.get_storage_size() * 2 == full.features.id.get_storage_size()
        got, exact = half.read_rows(np.arange(64)), full.read_rows(np.arange(64))
        assert got.dtype == np.float32
        error = np.abs(got - exact)
        error[0, 0] = 0
        assert writers["float16"].clipped_values == 1 and got[0, 0] == np.finfo(np.float16).max
        assert 0 < error.max() <= writers["float16"].max_abs_error and writers["float16"].max_abs_error >= 1e6 - 65504
        assert (
            writers["float32"].max_abs_error == 0
            and full.attrs["storage_dtype"] == "float32"
            and half.attrs["storage_dtype"] == "float16"
        )
