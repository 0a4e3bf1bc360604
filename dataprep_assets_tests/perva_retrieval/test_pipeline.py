"""End to end on a real Dagster instance: catalog -> splits -> one partition per category ->
combined -> HF dataset, every check evaluated, outputs read back, reruns byte-identical, the
partition set following the catalog, and bad data stopped by the blocking checks. (A concept leaked between train
and validation: `test_guarantees.py`, for every pipeline.)"""

import json
import shutil

import datasets
import pytest
from PIL import Image

from dataprep_assets.defs.perva_retrieval import assets as A
from dataprep_assets.defs.perva_retrieval import checks as C
from dataprep_assets.defs.perva_retrieval.datasets import PARTITIONS_NAME
from dataprep_assets.defs.perva_retrieval.export import HF_COLUMNS
from dataprep_assets_tests.harness import accounting_gaps, data_versions
from dataprep_assets_tests.perva_retrieval.conftest import materialize

CATEGORIES = ["bag", "book", "cup", "plant", "toy", "veg"]
CATALOG_CONFIG = {"image_catalog": {"config": {"num_train": 5}}}


def checks_of(result) -> dict[str, bool]:
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def build_all(instance, store, retrieval_ops=None, export_ops=None):
    out = {"catalog": materialize(store, instance, selection=[A.image_catalog, A.concept_splits], ops=CATALOG_CONFIG)}
    for category in sorted(instance.get_dynamic_partitions(PARTITIONS_NAME)):
        out[category] = materialize(
            store, instance, selection=[A.retrieval_per_category], partition_key=category, ops=retrieval_ops
        )
    out["export"] = materialize(
        store, instance, selection=[A.retrieval_combined, A.hf_retrieval_dataset], ops=export_ops
    )
    return out


def test_whole_pipeline_reads_back_and_reruns_identically(perva_store_root, store, instance):
    results = build_all(instance, store, export_ops={"retrieval_combined": {"config": {"num_samples": 50, "seed": 23}}})
    assert checks_of(results["catalog"]) == {
        C.CATALOG_PATHS_SAFE: True,
        C.NO_CONCEPT_OVERLAP: True,
        "concepts_stay_put": True,  # the continuity check: a first version keeps every concept in place
    }
    assert sorted(instance.get_dynamic_partitions(PARTITIONS_NAME)) == CATEGORIES
    for category in CATEGORIES:
        assert checks_of(results[category]) == {C.NEGATIVES_VALID: True, C.K_PER_QUERY: True}
    assert checks_of(results["export"]) == {C.HF_ROUND_TRIP: True}
    # Records in = out + rejects, shown by every asset that consumes records (found in the code location).
    assert accounting_gaps("perva_retrieval", results.values()) == {}

    catalog = json.loads((perva_store_root / "manifests/PerVA/catalog.json").read_text())
    assert set(catalog) == set(CATEGORIES) | {"tumbler"}
    rejects = (perva_store_root / "rejects/image_catalog.csv").read_text()
    for reason in (
        "empty_concept",
        "not_an_image",
        "unreadable_image",
        "symlink_outside_root",
        "duplicate_content",
        "single_concept_category",
    ):
        assert reason in rejects
    split_dir = perva_store_root / "manifests/PerVA"
    train = json.loads((split_dir / "train_combined_concepts_subset_65_seed_23.json").read_text())
    validation = json.loads((split_dir / "validation_combined_concepts_subset_65_seed_23.json").read_text())
    assert (split_dir / "train_val_combined_metadata_seed_23.json").is_file()
    for category in catalog:
        assert not set(train[category]) & set(validation[category])

    records = json.loads((perva_store_root / "outputs/PerVA/plant/seed_23/retrieval_top3.json").read_text())
    n_plant = sum(len(v["train"]) for v in train["plant"].values())
    assert len(records) == n_plant
    for rec in records:
        assert len(rec["negatives"]) == 2 and len(rec["ret_paths"]) == 3, (
            "the seed's retrieval_top3.json: 3 candidates per query"
        )
        assert rec["ret_paths"][rec["label"]] == rec["positive_path"] != rec["query_path"]
        assert all(n["concept"] != rec["concept"] and "/plant/" in n["path"] for n in rec["negatives"])

    combined_path = perva_store_root / "outputs/PerVA/all/seed_23/retrieval_top3_combined_50.json"
    combined = json.loads(combined_path.read_text())
    assert len(combined) == 50
    loaded = datasets.load_from_disk(str(perva_store_root / "share_data/PerVA_all_test_subset_seed_23_K_3"))
    train_ds = loaded["train"]
    assert len(train_ds) == 50 and train_ds.column_names == HF_COLUMNS
    row = train_ds[0]
    assert row["query_path"] == combined[0]["query_path"] and row["names"][row["label"]] == row["solution"]
    assert row["image"].size == Image.open(perva_store_root / row["query_path"]).size
    assert all((perva_store_root / p).is_file() for p in row["ret_paths"])

    again = build_all(instance, store, export_ops={"retrieval_combined": {"config": {"num_samples": 50, "seed": 23}}})
    for key in results:
        assert data_versions(again[key]) == data_versions(results[key]), key
    meta = again["plant"].asset_materializations_for_node("retrieval_per_category")[0].metadata
    assert meta["embedding_cache_misses"].value == 0 and meta["embedding_cache_hits"].value == n_plant


def test_partitions_follow_the_catalog(perva_store_root, store, instance):
    materialize(store, instance, selection=[A.image_catalog], ops=CATALOG_CONFIG)
    lamp = perva_store_root / "raw/perva_retrieval/PerVA/train/lamp"
    for concept, colour in (("desk", (250, 200, 40)), ("floor", (40, 90, 200))):
        (lamp / concept).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), tuple(min(255, c + 20 * i) for c in colour)).save(
                lamp / concept / f"{i:03d}.png"
            )
    result = materialize(store, instance, selection=[A.image_catalog], ops=CATALOG_CONFIG)
    assert sorted(instance.get_dynamic_partitions(PARTITIONS_NAME)) == sorted(CATEGORIES + ["lamp"])
    assert result.asset_materializations_for_node("image_catalog")[0].metadata["partitions_added"].value == ["lamp"]
    shutil.rmtree(lamp)
    materialize(store, instance, selection=[A.image_catalog], ops=CATALOG_CONFIG)
    assert sorted(instance.get_dynamic_partitions(PARTITIONS_NAME)) == CATEGORIES


def test_clip_encoder_runs_inside_the_asset(perva_store_root, store, instance, tiny_clip_dir):
    materialize(store, instance, selection=[A.image_catalog, A.concept_splits], ops=CATALOG_CONFIG)
    ops = {
        "retrieval_per_category": {"config": {"encoder": "clip", "clip_model_dir": str(tiny_clip_dir), "batch_size": 4}}
    }
    result = materialize(store, instance, selection=[A.retrieval_per_category], partition_key="cup", ops=ops)
    meta = result.asset_materializations_for_node("retrieval_per_category")[0].metadata
    assert (
        meta["encoder"].value.startswith("clip-") and meta["embedding_cache_misses"].value == meta["images"].value > 0
    )
    assert checks_of(result) == {C.NEGATIVES_VALID: True, C.K_PER_QUERY: True}
    assert list((perva_store_root / "cache/perva_retrieval/embeddings").glob("clip-*"))


def test_mislabelled_source_fails_blocking_check_and_stops_downstream(perva_store_root, store, instance):
    materialize(store, instance, selection=[A.image_catalog, A.concept_splits], ops=CATALOG_CONFIG)
    train_file = "manifests/PerVA/train_combined_concepts_subset_65_seed_23.json"
    source = json.loads((perva_store_root / train_file).read_text())
    intruder = next(iter(source["cup"].values()))["train"][0]
    next(iter(source["bag"].values()))["train"].append(intruder)  # a cup photo filed under a bag
    (perva_store_root / "manifests/bad_source.json").write_text(json.dumps(source))
    ops = {
        "retrieval_per_category": {"config": {"catalog": "manifests/bad_source.json"}},
        "retrieval_combined": {"config": {"categories": ["bag"]}},
    }
    result = materialize(
        store,
        instance,
        selection=[A.retrieval_per_category, A.retrieval_combined],
        partition_key="bag",
        ops=ops,
        raise_on_error=False,
    )
    assert checks_of(result)[C.NEGATIVES_VALID] is False
    assert not result.success
    assert [e.asset_key.to_user_string() for e in result.get_asset_materialization_events()] == [
        "retrieval_per_category"
    ]
    assert not (perva_store_root / "outputs/PerVA/all").exists()


def test_bad_inputs_fail_loudly(store, instance, perva_store_root):
    result = materialize(
        store,
        instance,
        selection=[A.image_catalog],
        ops={"image_catalog": {"config": {"data_root": "raw/nowhere"}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "raw/nowhere" in failure.event_specific_data.error.message
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["bag"])
    with pytest.raises(Exception, match="top_k must be >= 2"):
        materialize(
            store,
            instance,
            selection=[A.retrieval_per_category],
            partition_key="bag",
            ops={"retrieval_per_category": {"config": {"top_k": 1}}},
        )
    (perva_store_root / "manifests").mkdir(exist_ok=True)
    (perva_store_root / "manifests/one.json").write_text(
        json.dumps({"bag": {"ale": {"train": []}, "cin": {"train": []}}})
    )
    with pytest.raises(Exception, match="clip_model_dir"):  # asked for CLIP, none saved where the pipeline looks
        materialize(
            store,
            instance,
            selection=[A.retrieval_per_category],
            partition_key="bag",
            ops={"retrieval_per_category": {"config": {"encoder": "clip", "catalog": "manifests/one.json"}}},
        )
    assert instance.get_latest_materialization_event(A.retrieval_per_category.key) is None


def test_unsafe_and_missing_paths_in_a_source_are_rejects(perva_store_root, store, instance):
    folder = "raw/perva_retrieval/PerVA/train/bag"
    good = {
        c: sorted(f"{folder}/{c}/{p.name}" for p in (perva_store_root / folder / c).glob("00[0-2].jpg"))
        for c in ("ale", "cin")
    }
    source = {
        "bag": {
            "ale": {"train": good["ale"] + ["../../etc/passwd"]},
            "cin": {"train": good["cin"] + ["raw/perva_retrieval/gone.jpg"]},
        }
    }
    (perva_store_root / "manifests").mkdir()
    (perva_store_root / "manifests/hand_made.json").write_text(json.dumps(source))
    instance.add_dynamic_partitions(PARTITIONS_NAME, ["bag"])
    result = materialize(
        store,
        instance,
        selection=[A.retrieval_per_category],
        partition_key="bag",
        ops={"retrieval_per_category": {"config": {"catalog": "manifests/hand_made.json"}}},
    )
    assert checks_of(result) == {C.NEGATIVES_VALID: True, C.K_PER_QUERY: True}
    rejects = (perva_store_root / "rejects/retrieval_per_category/bag.csv").read_text()
    assert "../../etc/passwd,retrieval_per_category,unsafe_path" in rejects
    assert "raw/perva_retrieval/gone.jpg,retrieval_per_category,missing_image" in rejects
    records = json.loads((perva_store_root / "outputs/PerVA/bag/seed_23/retrieval_top3.json").read_text())
    assert len(records) == 6 and all(len(r["negatives"]) == 1 for r in records)


def test_clip_is_the_encoder_when_a_local_model_is_present_end_to_end(perva_store_root, store, instance, tiny_clip_dir):
    """A tiny randomly initialised CLIP saved where the pipeline looks for it: the default config (encoder auto)
    runs CLIP through every step, every blocking check passing; `top_k_counts: negatives` gives K negatives."""
    shutil.copytree(tiny_clip_dir, perva_store_root / "models/perva_retrieval/clip")
    results = build_all(instance, store)
    for category in CATEGORIES:
        meta = results[category].asset_materializations_for_node("retrieval_per_category")[0].metadata
        assert meta["encoder"].value.startswith("clip-") and meta["encoder_choice"].value == "clip (requested: auto)"
        assert checks_of(results[category]) == {C.NEGATIVES_VALID: True, C.K_PER_QUERY: True}
    assert checks_of(results["export"]) == {C.HF_ROUND_TRIP: True}
    records = json.loads((perva_store_root / "outputs/PerVA/cup/seed_23/retrieval_top3.json").read_text())
    assert records and all(len(r["ret_paths"]) == 3 for r in records)
    assert any(p.name.startswith("clip-") for p in (perva_store_root / "cache/perva_retrieval/embeddings").iterdir())

    materialize(
        store,
        instance,
        selection=[A.retrieval_per_category],
        partition_key="cup",
        ops={"retrieval_per_category": {"config": {"top_k_counts": "negatives"}}},
    )
    records = json.loads((perva_store_root / "outputs/PerVA/cup/seed_23/retrieval_top3.json").read_text())
    assert all(len(r["ret_paths"]) == 1 + len(r["negatives"]) and len(r["negatives"]) <= 3 for r in records)
    assert any(len(r["negatives"]) == 3 for r in records)

    # the seed's step 4 and 5 options: combine per-category files found by input_dir / input_filename / seed, then
    # export only one category of a chosen combined file
    default_combined = json.loads(
        (perva_store_root / "outputs/PerVA/all/seed_42/retrieval_top3_combined_all.json").read_text()
    )
    materialize(store, instance, selection=[A.retrieval_per_category], partition_key="cup")
    ops = {
        "retrieval_combined": {
            "config": {
                "input_dir": "outputs/PerVA",
                "input_filename": "retrieval_top3.json",
                "seed": 23,
                "output_filename": "from_files.json",
            }
        },
        "hf_retrieval_dataset": {"config": {"ret_json": "from_files.json", "category": "cup"}},
    }
    exported = materialize(store, instance, selection=[A.retrieval_combined, A.hf_retrieval_dataset], ops=ops)
    from_files = json.loads((perva_store_root / "outputs/PerVA/all/seed_23/from_files.json").read_text())
    assert from_files == default_combined
    cup = datasets.load_from_disk(str(perva_store_root / "share_data/PerVA_cup_test_subset_seed_23_K_3"))["train"]
    assert set(cup["category_key"]) == {"cup"} and len(cup) == sum(r["category"] == "cup" for r in from_files)
    assert checks_of(exported) == {C.HF_ROUND_TRIP: True}

    fallback = materialize(
        store,
        instance,
        selection=[A.retrieval_per_category],
        partition_key="cup",
        ops={"retrieval_per_category": {"config": {"encoder": "color_texture"}}},
    )
    meta = fallback.asset_materializations_for_node("retrieval_per_category")[0].metadata
    assert meta["encoder_choice"].value == "color_texture (requested: color_texture): the offline fallback"
