"""The shared image-to-vector interface: the registry resolves `auto` and refuses unknown names, a batch keeps
going past bad images (each a failure with its reason), and the content-hash cache is keyed by (hash, fingerprint),
serves repeats and recomputes damaged entries."""

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataprep_assets.lib.vectors import (
    AUTO,
    VectorCache,
    VectorizerRegistry,
    encode_batch,
    fingerprint_directory,
)


class MeanColour:
    """A real vectorizer: each image's mean RGB (optionally with a NaN or a wrong width to test validation)."""

    name = "mean_colour"
    dim = 3
    parallel_decode = True

    def __init__(self, version: str = "1", broken: str = ""):
        self.version, self.broken = version, broken

    def fingerprint(self) -> str:
        return f'{{"name": "{self.name}", "version": "{self.version}"}}'

    def load(self, path) -> np.ndarray:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.float32)

    def encode(self, images) -> np.ndarray:
        rows = np.stack([im.reshape(-1, 3).mean(axis=0) for im in images]).astype(np.float32)
        if self.broken == "nan":
            rows[0, 1] = np.nan
        if self.broken == "width":
            rows = rows[:, :2]
        return rows


@pytest.fixture
def pictures(tmp_path: Path) -> list[Path]:
    paths = []
    for i, colour in enumerate([(255, 0, 0), (0, 128, 0), (10, 20, 30)]):
        path = tmp_path / f"p{i}.png"
        Image.new("RGB", (8, 6), colour).save(path)
        paths.append(path)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not an image")
    return paths + [bad]


def test_registry_resolves_auto_by_its_rule_and_refuses_unknown_names():
    registry = VectorizerRegistry(
        "feature extractor",
        {"mean_colour": lambda **kw: MeanColour(**kw), "other": lambda **kw: MeanColour("2")},
        auto=lambda fast=True, **_: "mean_colour" if fast else "other",
    )
    assert registry.resolve(AUTO) == "mean_colour" and registry.resolve(AUTO, fast=False) == "other"
    assert registry.build("mean_colour", version="7").version == "7"
    with pytest.raises(ValueError, match=r"unknown feature extractor 'resnet'; choose auto or one of \['mean_colour'"):
        registry.build("resnet")
    registry.register("resnet", lambda **kw: MeanColour("r"))
    assert registry.build("resnet").version == "r"


def test_encode_batch_keeps_going_past_bad_images_and_validates_rows(pictures):
    batch = encode_batch(MeanColour(), pictures)
    assert batch.ok == [0, 1, 2] and batch.rows.shape == (3, 3) and batch.rows.dtype == np.float32
    np.testing.assert_allclose(batch.rows[1], [0, 128, 0])
    [(position, reason, detail)] = batch.errors
    assert (position, reason) == (3, "unreadable_image") and detail.startswith("UnidentifiedImageError")
    custom = encode_batch(MeanColour(), pictures, describe_failure=lambda exc: ("extraction_failed", "cannot decode"))
    assert custom.errors == [(3, "extraction_failed", "cannot decode")]
    nan = encode_batch(MeanColour(broken="nan"), pictures)
    assert nan.ok == [1, 2] and [e[:2] for e in nan.errors] == [(0, "non_finite_features"), (3, "unreadable_image")]
    width = encode_batch(MeanColour(broken="width"), pictures)
    assert width.ok == [] and width.rows.shape == (0, 3)
    assert [e[1] for e in width.errors] == ["dimension_mismatch"] * 3 + ["unreadable_image"]


def test_cache_is_keyed_by_content_hash_and_fingerprint(tmp_path):
    vectorizer = MeanColour()
    cache = VectorCache(tmp_path, vectorizer)
    folder = fingerprint_directory("mean_colour", vectorizer.fingerprint())
    assert cache.directory == tmp_path / folder and folder.startswith("mean_colour-") and len(folder) == 28
    assert fingerprint_directory("color_texture", "color_texture-v1-s64") == "color_texture-v1-s64"
    key = hashlib.sha256(b"pixels").hexdigest()
    assert cache.get(key) is None and cache.get_many([key]) == {}
    cache.put(key, np.array([1.0, 2.0, 3.0]))
    assert cache.path(key) == tmp_path / folder / key[:2] / f"{key}.npy"
    np.testing.assert_array_equal(cache.get_many([key, key])[key], np.array([1, 2, 3], np.float32))
    assert VectorCache(tmp_path, MeanColour(version="2")).get(key) is None, "another model never reuses a vector"
    with pytest.raises(ValueError, match="shape"):
        cache.put(key, np.zeros(4))
    with pytest.raises(ValueError, match="not a safe cache key"):
        cache.path("../../etc/passwd")
    cache.path(key).write_bytes(b"damaged")
    assert cache.get(key) is None and not cache.path(key).exists(), "a damaged entry is a miss, then recomputed"
    other = hashlib.sha256(b"other").hexdigest()
    cache.put_many([key, other], np.eye(3, dtype=np.float32)[:2])
    assert sorted(cache.get_many([other, key])) == sorted([key, other])
