"""Encoders must load only from local directories and batch correctly (a tiny random CLIP saved to a
temp dir runs the real transformers code), and the per-image cache must serve repeats."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dataprep_assets.defs.perva_retrieval.embeddings import embed_images
from dataprep_assets.defs.perva_retrieval.encoders import ClipEncoder, ColorTextureEncoder, build_encoder
from dataprep_assets.lib.vectors import VectorCache


def _images(sample: Path, concept: str, n: int) -> list[Path]:
    """The first n good photos of a cup concept (the sample's corrupt files are numbered 09x)."""
    return sorted(p for p in (sample / "raw/perva_retrieval/PerVA/test/cup" / concept).glob("0[0-8]*.jpg"))[:n]


def test_clip_from_local_dir_batches_like_one_by_one(tiny_clip_dir, perva_sample):
    encoder = build_encoder("clip", {"model_dir": str(tiny_clip_dir), "batch_size": 3})
    images = [
        Image.open(p)
        for p in _images(perva_sample, "mug_a", 3)
        + _images(perva_sample, "mug_c", 3)
        + _images(perva_sample, "mug_b", 1)
    ]
    batched = encoder.encode(images)
    assert batched.shape == (7, 12) and batched.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    single = np.concatenate([encoder.encode([im]) for im in images])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    assert encoder.fingerprint() == ClipEncoder(str(tiny_clip_dir)).fingerprint()


def test_clip_fingerprint_follows_the_weights(tiny_clip_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_clip_dir, copy)
    config = (copy / "config.json").read_text().replace('"projection_dim": 12', '"projection_dim": 12 ')
    (copy / "config.json").write_text(config)
    assert ClipEncoder(str(copy)).fingerprint() != ClipEncoder(str(tiny_clip_dir)).fingerprint()


def test_clip_needs_a_local_model_directory(tmp_path):
    with pytest.raises(ValueError, match="clip_model_dir"):
        ClipEncoder(str(tmp_path / "openai/clip-vit-large-patch14-336"))
    with pytest.raises(ValueError, match="unknown encoder"):
        build_encoder("resnet", {})


def test_default_encoder_groups_views_of_one_object(perva_sample):
    encoder = ColorTextureEncoder()
    concepts = ["mug_a", "mug_b", "mug_c", "teacup"]
    paths = {c: _images(perva_sample, c, 3) for c in concepts}
    vectors = {c: encoder.encode([Image.open(p) for p in ps]) for c, ps in paths.items()}
    within = np.mean([(v @ v.T)[np.triu_indices(len(v), 1)].mean() for v in vectors.values()])
    across = np.mean([(vectors[a] @ vectors[b].T).mean() for a in concepts for b in concepts if a < b])
    assert within > across + 0.1
    again = encoder.encode([Image.open(paths["mug_a"][0])])
    np.testing.assert_array_equal(again[0], vectors["mug_a"][0])


def test_cache_serves_repeats_and_renamed_files_and_rejects_unreadable(perva_store_root, tmp_path):
    encoder = ColorTextureEncoder(batch_size=4)
    folder = "raw/perva_retrieval/PerVA/test/cup/mug_a"
    rels = sorted(f"{folder}/{p.name}" for p in (perva_store_root / folder).glob("0[0-8]*.jpg"))[:6]
    (perva_store_root / folder / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    cache = VectorCache(tmp_path / "cache", encoder)
    first = embed_images(perva_store_root, rels + [f"{folder}/bad.jpg"], encoder, cache=cache, max_workers=1)
    assert (first.hits, first.misses) == (0, 7)
    assert first.kept.tolist() == [True] * 6 + [False]
    assert [r.reason for r in first.rejects] == ["unreadable_image"] and first.rejects[0].item.endswith("bad.jpg")
    assert cache.directory == tmp_path / "cache" / "color_texture-v1-s64"
    assert len(list(cache.directory.rglob("*.npy"))) == 6
    shutil.copyfile(perva_store_root / rels[0], perva_store_root / folder / "renamed.jpg")
    second = embed_images(perva_store_root, rels + [f"{folder}/renamed.jpg"], encoder, cache=cache, max_workers=1)
    assert (second.hits, second.misses) == (7, 0)
    np.testing.assert_array_equal(second.vectors[:6], first.vectors)
    np.testing.assert_array_equal(second.vectors[6], first.vectors[0])
    sha = next(cache.directory.rglob("*.npy")).stem
    cache.path(sha).write_bytes(b"damaged")
    third = embed_images(perva_store_root, rels, encoder, cache=cache, max_workers=1)
    assert third.misses == 1
    np.testing.assert_allclose(third.vectors, first.vectors, atol=1e-6)


def test_parallel_workers_give_the_same_vectors(perva_store_root, tmp_path, monkeypatch):
    import dataprep_assets.defs.perva_retrieval.embeddings as embeddings

    monkeypatch.setattr(embeddings, "PARALLEL_MIN_IMAGES", 1)
    folder = "raw/perva_retrieval/PerVA/test/plant"
    rels = sorted(p.relative_to(perva_store_root).as_posix() for p in (perva_store_root / folder).rglob("0[0-8]*.jpg"))[
        :40
    ]
    encoder = ColorTextureEncoder(batch_size=8)
    inline = embed_images(perva_store_root, rels, encoder, cache=VectorCache(tmp_path / "a", encoder), max_workers=1)
    parallel = embed_images(perva_store_root, rels, encoder, cache=VectorCache(tmp_path / "b", encoder), max_workers=2)
    np.testing.assert_array_equal(inline.vectors, parallel.vectors)
