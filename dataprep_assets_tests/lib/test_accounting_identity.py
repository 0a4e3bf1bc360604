"""The accounting identity of the split, augmentation, 4-class, export, dataframe and results assets: each
ledger holds on what the asset writes, and fails naming the item when one is silently dropped."""

import json
from pathlib import Path

import pandas as pd
import pytest

from dataprep_assets.defs.ct_hemorrhage.export import four_class_coco
from dataprep_assets.defs.ct_hemorrhage.ledgers import (
    augmentation_ledgers,
    balance_ledgers,
    export_ledger,
    four_class_ledgers,
    published_originals,
)
from dataprep_assets.defs.ct_hemorrhage.published import CocoDict
from dataprep_assets.defs.perva_retrieval.concept_splits import create_concept_splits, split_ledgers
from dataprep_assets.defs.quality_prediction import sources
from dataprep_assets.defs.quality_prediction.rebalance import examples_ledger
from dataprep_assets.lib.accounting import AccountingError, account_split

SPLITS = ("train", "valid", "test")


def test_a_split_table_missing_a_row_or_with_an_unknown_split_fails_naming_it():
    cells = pd.DataFrame({"cell_id": ["a", "b", "c"], "split": ["train", "validation", "test"]})
    ledger = account_split("cells", ["a", "b", "c"], cells, "cell_id", ["train", "validation", "test"])
    assert ledger.metadata()["records_unaccounted"] == 0
    with pytest.raises(AccountingError, match=r"neither written nor rejected: \['c'\]"):
        account_split("cells", ["a", "b", "c"], cells.iloc[:2], "cell_id", ["train", "validation", "test"])
    unassigned = cells.assign(split=["train", None, "test"])
    with pytest.raises(AccountingError, match=r"\['b'\]"):
        account_split("cells", ["a", "b", "c"], unassigned, "cell_id", ["train", "validation", "test"])


def _coco(images, annotations, classes=("EDH", "HC", "IPH", "IVH", "SAH", "SDH")):
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i, "name": n} for i, n in enumerate(classes)],
    }


def _augmented():
    balanced = pd.DataFrame(
        {
            "split": ["train", "train", "valid", "test"],
            "file_name": ["a.png", "b.png", "c.png", "no_hem_d.png"],
            "labelled_id": [0, 1, 2, -1],
        }
    )
    boxes = {0: ((2, 1.0, 1.0, 5.0, 5.0),), 1: ((0, 2.0, 2.0, 3.0, 3.0), (5, 1.0, 1.0, 2.0, 2.0)), 2: ()}

    def im(i, name, original, k):
        return {"id": i, "file_name": name, "original": original, "aug_index": k, "width": 9, "height": 9}

    cocos = {
        "train": _coco(
            [im(0, "a.png", "a.png", 0), im(1, "a_aug1.jpg", "a.png", 1), im(2, "b.png", "b.png", 0)],
            [
                {"id": 0, "image_id": 0, "category_id": 2, "bbox": [1.0, 1.0, 5.0, 5.0]},
                {"id": 1, "image_id": 1, "category_id": 2, "bbox": [0.5, 1.0, 5.0, 5.0]},
                {"id": 2, "image_id": 2, "category_id": 0, "bbox": [2.0, 2.0, 3.0, 3.0]},
                {"id": 3, "image_id": 2, "category_id": 5, "bbox": [1.0, 1.0, 2.0, 2.0]},
            ],
        ),
        "valid": _coco([im(0, "c.png", "c.png", 0)], []),
        "test": _coco([im(0, "no_hem_d.png", "no_hem_d.png", 0)], []),
    }
    return balanced, boxes, cocos


def test_augmentation_accounts_for_every_image_and_original_box():
    balanced, boxes, cocos = _augmented()
    images, annotations = augmentation_ledgers(balanced, boxes, published_originals(cocos), [])
    assert images.metadata() == {"records_in": 4, "records_out": 4, "records_rejected": 0, "records_unaccounted": 0}
    assert annotations.records_in == 3 and annotations.records_out == 3

    refused = {**cocos, "valid": _coco([], [])}  # c.png does not decode: a reject, not a drop
    assert augmentation_ledgers(balanced, boxes, published_originals(refused), ["valid/c.png"])[0].rejected == 1
    with pytest.raises(AccountingError, match="valid/c.png"):
        augmentation_ledgers(balanced, boxes, published_originals(refused), [])
    lost_box = json.loads(json.dumps(cocos))
    lost_box["train"]["annotations"].pop(3)  # an original's box silently lost
    with pytest.raises(AccountingError, match="original annotations"):
        augmentation_ledgers(balanced, boxes, published_originals(lost_box), [])


def _records(cocos):
    return {s: CocoDict(c) for s, c in cocos.items()}


def test_four_class_sets_aside_dropped_classes_and_fails_on_a_missing_link_or_annotation():
    _, _, plain6 = _augmented()
    plain4 = {s: four_class_coco(c, ["EDH", "HC"]) for s, c in plain6.items()}
    cocos6, cocos4 = _records(plain6), _records(plain4)
    linked = [f"{s}/{im['file_name']}" for s, c in plain4.items() for im in c["images"]]
    images, annotations = four_class_ledgers(cocos6, cocos4, linked, ["EDH", "HC"])
    assert images.records_out == images.records_in == 5
    assert annotations.metadata() == {
        "records_in": 4,
        "records_out": 3,
        "records_rejected": 0,
        "records_set_aside": 1,
        "records_unaccounted": 0,
    }
    with pytest.raises(AccountingError, match="train/b.png"):
        four_class_ledgers(cocos6, cocos4, [f for f in linked if f != "train/b.png"], ["EDH", "HC"])
    plain4["train"]["annotations"].pop()
    with pytest.raises(AccountingError, match="annotations"):
        four_class_ledgers(cocos6, cocos4, linked, ["EDH", "HC"])


def test_the_csv_export_has_one_row_per_image_of_its_version():
    _, _, plain = _augmented()
    cocos = _records(plain)
    rows = [f"{s}/{im['file_name']}" for s, c in plain.items() for im in c["images"]]
    assert export_ledger(cocos, rows).records_out == 5
    with pytest.raises(AccountingError, match="test/no_hem_d.png"):
        export_ledger(cocos, [r for r in rows if not r.startswith("test/")])


def test_balancing_places_or_sets_aside_every_pool_image():
    labelled = pd.DataFrame({"file_name": ["a.png", "b.png"], "split": ["train", "test"], "source": "labelled"})
    pool = pd.DataFrame({"file_name": ["p1.png", "p2.png", "p3.png"]})
    placed = pd.DataFrame({"file_name": ["no_hem_p1.png", "no_hem_p3.png"], "split": ["train", "test"]})
    balanced = pd.concat([labelled, placed.assign(source="no_hem")], ignore_index=True)
    rows, pool_ledger = balance_ledgers(labelled, pool, {"p1.png": "train", "p3.png": "test"}, balanced)
    assert rows.records_out == 2 and pool_ledger.metadata()["records_set_aside"] == 1
    with pytest.raises(AccountingError, match="p3.png"):  # assigned, but missing from the table
        balance_ledgers(labelled, pool, {"p1.png": "train", "p3.png": "test"}, balanced.iloc[:-1])
    with pytest.raises(AccountingError, match="b.png"):
        balance_ledgers(labelled, pool, {"p1.png": "train", "p3.png": "test"}, balanced.drop(index=1))


def test_quality_examples_are_split_or_set_aside_by_rebalancing():
    clean = pd.DataFrame({"result_id": ["r1", "r2", "r3", "r4"]})
    built = clean.assign(split=["train", "train", "validation", "test"], image_group=["g1", "g2", "g3", "g4"])
    rebalanced = built[built["image_group"] != "g2"]  # rebalancing dropped the source image g2 from train
    ledger = examples_ledger(clean, built, rebalanced, ("train", "validation", "test"))
    assert ledger.metadata()["records_set_aside"] == 1 and ledger.metadata()["records_unaccounted"] == 0
    with pytest.raises(AccountingError, match="r4"):
        examples_ledger(clean, built, rebalanced[rebalanced["result_id"] != "r4"], ("train", "validation", "test"))


def test_concept_splits_account_for_every_concept_and_image():
    catalog = {
        "cars": {
            f"c{i}": {"train": [f"c{i}/t{j}.png" for j in range(3)], "test": [f"c{i}/q{j}.png" for j in range(4)]}
            for i in range(5)
        },
        "dogs": {"d0": {"train": ["d0/t.png"], "test": ["d0/q.png"]}},
    }
    train, validation, meta = create_concept_splits(
        catalog, concept_frac=0.4, min_concepts_threshold=3, test_sample_frac=0.5, max_test_images=1, seed=3
    )
    concepts, images = split_ledgers(catalog, train, validation, meta)
    assert concepts.records_out == 6 and images.metadata()["records_unaccounted"] == 0
    assert images.set_aside == 2 * 3  # two train concepts: 4 test images, 1 sampled into train
    first = sorted(validation["cars"])[0]
    del validation["cars"][first]
    with pytest.raises(AccountingError, match=f"cars/{first}"):
        split_ledgers(catalog, train, validation, meta)


def _logs(root: Path) -> None:
    (root / "a.json").write_text(json.dumps({"results": [{"image_path": "x.png"}, 5, {"image_path": "y.png"}]}))
    (root / "b.jsonl").write_text('{"image_path": "x.png"}\n\nnot json\n{"image_path": "z.png"}\n')
    (root / "c.csv").write_text("image_path,ssim\nx.png,0.9\ny.png\n")
    (root / "x.png").write_bytes(b"png")
    (root / "notes.txt").write_text("n")
    (root / "d.json").write_text("{")


def test_conversion_results_account_for_every_file_and_record(tmp_path, monkeypatch):
    _logs(tmp_path)
    frame, rejects, _, (files, records) = sources.scan_results_with_ledgers(tmp_path)
    assert len(frame) == 5
    assert files.metadata() == {"records_in": 6, "records_out": 4, "records_rejected": 2, "records_unaccounted": 0}
    assert records.metadata() == {"records_in": 8, "records_out": 5, "records_rejected": 3, "records_unaccounted": 0}

    real = sources.to_schema
    monkeypatch.setattr(sources, "to_schema", lambda f: real(f).iloc[:-1])  # a row silently lost
    with pytest.raises(AccountingError, match="records"):
        sources.scan_results_with_ledgers(tmp_path)
