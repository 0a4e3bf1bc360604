"""Run by the interop virtualenv's Python (Datumaro / FiftyOne live there, not in the project venv): open the
splits of a published COCO dataset (`<root>/<split>/_annotations.coco.json`, the Roboflow layout) in a tool and
print, per split, its image, annotation and category counts and its annotations per label name, as JSON.

    python coco_probe.py roboflow_coco|coco_instances|fiftyone <root> <split>...

`coco_instances` opens the same files through a symlinked COCO layout (`annotations/instances_<split>.json`,
`images/<split>/`), the layout Datumaro's `coco_instances` format expects.
"""

import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ANNOTATIONS = "_annotations.coco.json"


def _datumaro(dataset) -> dict:
    import datumaro as dm  # pyright: ignore[reportMissingImports]  # optional interop probe: installed only where the probe runs

    labels = dataset.categories()[dm.AnnotationType.label]
    out = {}
    for name, subset in sorted(dataset.subsets().items()):
        items = list(subset)
        per_label = Counter(labels[a.label].name if a.label is not None else None for i in items for a in i.annotations)
        out[name] = {
            "images": len(items),
            "annotations": sum(per_label.values()),
            "categories": len(labels),
            "per_label": {str(k): v for k, v in per_label.items()},
        }
    return out


def roboflow_coco(root: Path, splits: list[str]) -> dict:
    import datumaro as dm  # pyright: ignore[reportMissingImports]  # optional interop probe: installed only where the probe runs

    return {s: v for s, v in _datumaro(dm.Dataset.import_from(str(root), "roboflow_coco")).items() if s in splits}


def coco_instances(root: Path, splits: list[str]) -> dict:
    import datumaro as dm  # pyright: ignore[reportMissingImports]  # optional interop probe: installed only where the probe runs

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "annotations").mkdir()
        (Path(tmp) / "images").mkdir()
        for split in splits:
            os.symlink(root / split / ANNOTATIONS, Path(tmp) / "annotations" / f"instances_{split}.json")
            os.symlink(root / split, Path(tmp) / "images" / split)
        return _datumaro(dm.Dataset.import_from(tmp, "coco_instances"))


def fiftyone(root: Path, splits: list[str]) -> dict:
    import fiftyone as fo  # pyright: ignore[reportMissingImports]  # optional interop probe: installed only where the probe runs

    out = {}
    for split in splits:
        dataset = fo.Dataset.from_dir(
            dataset_type=fo.types.COCODetectionDataset,
            data_path=str(root / split),
            labels_path=str(root / split / ANNOTATIONS),
            label_types=["detections"],
        )
        try:
            labels = Counter(dataset.values("detections.detections.label", unwind=True))
            out[split] = {
                "images": len(dataset),
                "annotations": sum(labels.values()),
                "categories": len(dataset.default_classes or []),
                "per_label": dict(labels),
            }
        finally:
            dataset.delete()
    return out


if __name__ == "__main__":
    tool, root, splits = sys.argv[1], Path(sys.argv[2]).resolve(), sys.argv[3:]
    print(
        json.dumps(
            {"roboflow_coco": roboflow_coco, "coco_instances": coco_instances, "fiftyone": fiftyone}[tool](root, splits)
        )
    )
