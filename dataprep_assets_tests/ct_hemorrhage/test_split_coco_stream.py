"""`SplitCocoWriter` streams a split's COCO: the same bytes as `atomic_write_json(split_coco(...))`, and the counts,
originals' ledger items and montage sample the asset used to compute from the whole COCO."""

from dataprep_assets.defs.ct_hemorrhage.augment import AugImage
from dataprep_assets.defs.ct_hemorrhage.export import SplitCocoWriter, split_coco
from dataprep_assets.defs.ct_hemorrhage.ledgers import published_originals
from dataprep_assets.lib.storage import atomic_write_json


def test_streamed_split_coco_matches_the_whole_one(tmp_path):
    images = []
    for n in range(30):
        name = f"p{n:03d}_{n % 7}.png"
        boxes = tuple((n % 6, 1.5 * k, 2.25, 10.0 + k, 7.125) for k in range(n % 3))
        images.append(AugImage(name, 512, 512, name, 0, boxes))
        images += [AugImage(f"p{n:03d}_aug{k}.jpg", 512, 500, name, k, boxes[:k]) for k in (1, 2)]
    extras = {im.original: {"patient_id": im.original[:4], "source": "v3"} for im in images}
    info = {"description": "v4 6-class train", "multiplier": 3}
    whole = split_coco(images, extras, info=info)
    atomic_write_json(tmp_path / "whole.json", whole)
    writer = SplitCocoWriter(tmp_path / "streamed.json", "train", extras, info=info, sample=5)
    for im in images:
        writer.add(im)
    writer.close()
    assert (tmp_path / "streamed.json").read_bytes() == (tmp_path / "whole.json").read_bytes()
    augmented = [i for i in whole["images"] if i["aug_index"] > 0]
    with_boxes = {a["image_id"] for a in whole["annotations"]}
    assert writer.counts == {
        "images": len(whole["images"]),
        "originals": len(whole["images"]) - len(augmented),
        "augmented": len(augmented),
        "annotations": len(whole["annotations"]),
        "no_hemorrhage": len(whole["images"]) - len(with_boxes),
    }
    assert writer.originals == published_originals({"train": whole})
    assert writer.sample["images"] == [i for i in augmented if i["id"] in with_boxes][:5]
    assert writer.sample["annotations"] == [
        a for a in whole["annotations"] if a["image_id"] in {i["id"] for i in writer.sample["images"]}
    ]
