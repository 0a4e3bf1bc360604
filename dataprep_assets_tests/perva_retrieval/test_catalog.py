"""The catalog scan must accept both layouts, follow the seed's options, and turn every bad input
(empty concepts, non-images, corrupt files, duplicates, escaping symlinks) into a named reject."""

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from dataprep_assets.defs.perva_retrieval.catalog import CatalogOptions, build_catalog, inspect_chunk, scan


def _catalog(store_root: Path, **options):
    opts = CatalogOptions(**{"data_root": "raw/perva_retrieval/PerVA", **options})
    found, rejects, layout = scan(store_root, opts)
    inspected = {row[0]: row for row in inspect_chunk((str(store_root), [f.store_path for f in found]))}
    return build_catalog(found, inspected, rejects, opts, layout)


def _reasons(result) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in result.rejects:
        out.setdefault(r.reason, set()).add(r.item)
    return out


def test_explicit_layout_with_every_bad_input(perva_store_root):
    result = _catalog(perva_store_root, num_train=5)
    assert result.layout == "explicit"
    assert set(result.catalog) == {"bag", "book", "cup", "plant", "toy", "veg", "tumbler"}
    reasons = _reasons(result)
    base = "raw/perva_retrieval/PerVA"
    assert reasons["empty_concept"] == {f"{base}/train/toy/ghost"}
    assert {
        f"{base}/train/bag/ale/notes.txt",
        f"{base}/train/book/atlas/labels.json",
        f"{base}/test/cup/mug_a/.DS_Store",
    } <= reasons["not_an_image"]
    assert reasons["unreadable_image"] == {f"{base}/test/cup/mug_b/099.jpg", f"{base}/test/plant/fern/098.png"}
    assert reasons["symlink_outside_root"] == {f"{base}/train/bag/bo/077.jpg", f"{base}/train/veg/linked_outside"}
    assert reasons["not_in_concept_folder"] == {f"{base}/train/bag/README.md"}
    assert len(reasons["duplicate_content"]) == 1
    assert reasons["single_concept_category"] == {f"{base}/train/tumbler"}
    assert result.single_concept_categories == ["tumbler"]
    assert "ghost" not in result.catalog["toy"]
    for concepts in result.catalog.values():
        for lists in concepts.values():
            assert 1 <= len(lists["train"]) <= 5 and set(lists) == {"train", "test", "negative"}
            assert not set(lists["train"]) & set(lists["test"])
    every_path = [p for c in result.catalog.values() for lists in c.values() for p in lists["train"] + lists["test"]]
    assert all(
        p.startswith(base + "/")
        and (perva_store_root / p).resolve().is_relative_to((perva_store_root / base).resolve())
        for p in every_path
    )
    assert len(every_path) == len(set(every_path)) == len(result.images)


def test_same_file_names_in_different_concepts_stay_distinct(perva_store_root):
    result = _catalog(perva_store_root)
    names = result.images.assign(name=result.images["store_path"].str.rsplit("/", n=1).str[-1])
    shared = names.groupby("name")["concept"].nunique()
    assert shared.max() > 5
    assert result.images["store_path"].is_unique


def test_auto_split_layout_num_train_and_fraction(perva_store_root):
    root = "raw/perva_retrieval/PerVA_by_concept"
    by_num = _catalog(perva_store_root, data_root=root, num_train=3, seed=1)
    assert by_num.layout == "by_concept"
    for concepts in by_num.catalog.values():
        for lists in concepts.values():
            assert len(lists["train"]) == 3 and "negative" not in lists
    by_frac = _catalog(perva_store_root, data_root=root, train_fraction=0.5, seed=1)
    concept = by_frac.catalog["bag"]["ale"]
    total = len(concept["train"]) + len(concept["test"])
    assert len(concept["train"]) == max(1, round(0.5 * total))
    relative = _catalog(perva_store_root, data_root=root, num_train=3, seed=1, relative=True)
    assert relative.catalog["bag"]["ale"]["train"] == [
        p.removeprefix(root + "/") for p in by_num.catalog["bag"]["ale"]["train"]
    ]
    assert (perva_store_root / root / relative.catalog["bag"]["ale"]["train"][0]).is_file()


def test_split_is_seeded_per_concept(perva_store_root):
    root = "raw/perva_retrieval/PerVA_by_concept"
    first = _catalog(perva_store_root, data_root=root, num_train=2, seed=5)
    again = _catalog(perva_store_root, data_root=root, num_train=2, seed=5)
    assert json.dumps(first.catalog, sort_keys=True) == json.dumps(again.catalog, sort_keys=True)
    other_seed = _catalog(perva_store_root, data_root=root, num_train=2, seed=6)
    assert other_seed.catalog != first.catalog
    extra = perva_store_root / root / "bag" / "zz_new"
    extra.mkdir()
    for i in range(4):
        Image.new("RGB", (16, 16), (i * 40, 10, 10)).save(extra / f"{i:03d}.png")
    grown = _catalog(perva_store_root, data_root=root, num_train=2, seed=5)
    assert grown.catalog["bag"]["ale"] == first.catalog["bag"]["ale"]
    assert "zz_new" in grown.catalog["bag"]


def test_symlink_inside_root_is_allowed(perva_store_root):
    concept = perva_store_root / "raw/perva_retrieval/PerVA_by_concept/cup/mug_a"
    target = perva_store_root / "raw/perva_retrieval/PerVA_by_concept/other.png"
    Image.new("RGB", (16, 16), (1, 2, 3)).save(target)
    os.symlink(os.path.relpath(target, concept), concept / "linked.png")
    result = _catalog(perva_store_root, data_root="raw/perva_retrieval/PerVA_by_concept", train_fraction=1.0)
    assert any(p.endswith("mug_a/linked.png") for p in result.catalog["cup"]["mug_a"]["train"])
    assert "not_in_category_folder" in _reasons(result)  # other.png sits directly in the data root


def test_missing_or_escaping_data_root_fails_loudly(store_root):
    with pytest.raises(FileNotFoundError, match="data_root"):
        scan(store_root, CatalogOptions(data_root="raw/nothing_here"))
    with pytest.raises(ValueError, match="escapes"):
        scan(store_root, CatalogOptions(data_root="../outside"))
