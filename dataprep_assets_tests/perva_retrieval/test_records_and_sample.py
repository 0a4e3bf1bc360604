"""Records keep the seed's training format (label points at the positive), the verifier catches
every kind of wrong negative, and the sample tree is deterministic and holds both layouts."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from dataprep_assets.defs.perva_retrieval.export import combine_records
from dataprep_assets.defs.perva_retrieval.retrieval import (
    build_records,
    category_images,
    expected_negatives,
    verify_records,
)
from dataprep_assets.defs.perva_retrieval.search import hard_negatives
from dataprep_assets.sample_data.perva_retrieval import generate


def _category():
    source = {
        "cup": {
            c: {"train": [f"cup/{c}/{i}.jpg" for i in range(n)], "test": []}
            for c, n in (("a", 3), ("b", 2), ("c", 1), ("d", 4))
        }
    }
    images, ambiguous = category_images(source, "cup", "train")
    emb = np.random.default_rng(0).normal(size=(len(images), 8)).astype(np.float32)
    return images, ambiguous, hard_negatives(emb, images["concept"].to_numpy(), 2)


def test_records_follow_the_seed_format():
    images, ambiguous, result = _category()
    assert ambiguous == [] and len(images) == 10
    records = build_records("cup", images, result, seed=23)
    assert records == build_records("cup", images, result, seed=23)
    for rec in records:
        assert rec["ret_paths"][rec["label"]] == rec["positive_path"]
        assert len(rec["ret_paths"]) == 1 + len(rec["negatives"]) == 3
    single = next(r for r in records if r["concept"] == "c")
    assert single["positive_is_query"] and single["positive_path"] == single["query_path"]
    assert verify_records(records, images, "cup", 2, True) == {"wrong_negative": [], "too_few": [], "bad_label": []}


def test_verifier_catches_wrong_negatives():
    images, _, result = _category()
    records = build_records("cup", images, result, seed=1)
    records[0]["negatives"][0] = {"path": records[0]["query_path"], "concept": "x", "similarity": 1.0}
    records[1]["negatives"][0]["path"] = next(
        p
        for p, c in zip(images["path"], images["concept"], strict=True)
        if c == records[1]["concept"] and p != records[1]["query_path"]
    )
    records[2]["negatives"] = records[2]["negatives"][:1]
    records[3]["label"] = (records[3]["label"] + 1) % 3
    truth = pd.DataFrame({"store_path": [records[4]["negatives"][0]["path"]], "category": ["bag"], "concept": ["z"]})
    problems = verify_records(records, images, "cup", 2, True, truth)
    wrong = "\n".join(problems["wrong_negative"])
    assert f"{records[0]['query_path']}: the query itself is a negative" in wrong
    assert f"{records[1]['query_path']}: negative" in wrong and f"query is {records[1]['concept']}" in wrong
    assert f"{records[4]['query_path']}: negative {records[4]['negatives'][0]['path']} is in category bag" in wrong
    assert problems["too_few"] == [f"{records[2]['query_path']}: 1 negatives, 2 possible"]
    assert [p.split(":")[0] for p in problems["bad_label"]] == [records[3]["query_path"]]
    clean = build_records("cup", images, result, seed=1)
    assert verify_records(clean, images, "cup", 2, True, truth.iloc[:0]) == {
        "wrong_negative": [],
        "too_few": [],
        "bad_label": [],
    }


def test_expected_negatives_and_ambiguous_paths():
    concepts = pd.Series(["a", "a", "b", "c"])
    assert expected_negatives(concepts, 3, True).tolist() == [2, 2, 2, 2]
    assert expected_negatives(concepts, 3, False).tolist() == [2, 2, 3, 3]
    images, ambiguous = category_images(
        {"cup": {"a": {"train": ["x.jpg", "y.jpg"]}, "b": {"train": ["x.jpg", "z.jpg"]}}}, "cup", "train"
    )
    assert ambiguous == ["x.jpg"] and images["path"].tolist() == ["y.jpg", "z.jpg"]


def test_combine_samples_with_the_seed():
    per = {"b": [{"i": i} for i in range(5)], "a": [{"i": 10 + i} for i in range(5)]}
    assert [r["i"] for r in combine_records(per, None, 1)] == [10, 11, 12, 13, 14, 0, 1, 2, 3, 4]
    sample = combine_records(per, 4, 7)
    assert len(sample) == 4 and sample == combine_records(per, 4, 7) and sample != combine_records(per, 4, 8)


def test_sample_data_is_deterministic_with_both_layouts(tmp_path):
    def digest(root):
        files = sorted(p for p in (root / "raw/perva_retrieval").rglob("*") if p.is_file() and not p.is_symlink())
        return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}

    a, b = tmp_path / "a", tmp_path / "b"
    generate(a, seed=3, scale=0.3)
    generate(b, seed=3, scale=0.3)
    assert digest(a) == digest(b)
    base = a / "raw/perva_retrieval"
    assert (
        (base / "PerVA/train").is_dir() and (base / "PerVA/test").is_dir() and (base / "PerVA_by_concept/bag").is_dir()
    )
    assert (base / "PerVA/train/bag/bo/077.jpg").is_symlink()


def test_hf_dataset_can_embed_candidates_and_use_absolute_paths(perva_store_root, tmp_path):
    import datasets

    from dataprep_assets.defs.perva_retrieval.export import build_hf_dataset

    folder = "raw/perva_retrieval/PerVA/train/cup"
    paths = {
        c: sorted(f"{folder}/{c}/{p.name}" for p in (perva_store_root / folder / c).glob("00[0-2].jpg"))
        for c in ("mug_a", "mug_b")
    }
    rec = {
        "query_path": paths["mug_a"][0],
        "category": "cup",
        "concept": "mug_a",
        "positive_path": paths["mug_a"][1],
        "positive_similarity": 0.5,
        "negatives": [{"path": paths["mug_b"][0], "concept": "mug_b", "similarity": 0.7}],
        "ret_paths": [paths["mug_b"][0], paths["mug_a"][1]],
        "label": 1,
    }
    build_hf_dataset([rec], perva_store_root, absolute_paths=True, embed_retrieved=True).save_to_disk(
        str(tmp_path / "ds")
    )
    row = datasets.load_from_disk(str(tmp_path / "ds"))["train"][0]
    assert row["solution"] == "B" and row["ret_concepts"] == ["mug_b", "mug_a"]
    assert [im.size for im in row["ret_images"]] == [Image.open(perva_store_root / p).size for p in rec["ret_paths"]]
    assert all(p.startswith("/") and Path(p).is_file() for p in row["ret_paths"] + [row["query_path"]])
