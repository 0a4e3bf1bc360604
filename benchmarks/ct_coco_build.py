"""ct_hemorrhage COCO build (import, remap, merge, clip, patient split, export): ours against its peers.

    .venv/bin/python -m benchmarks.ct_coco_build [--runs 3] [--quick]

The job: two labelled sources in the Roboflow layout (`<source>/train/_annotations.coco.json`, images
beside it; empty image files, since nobody reads pixels here), 7,000 v3 images with 4 categories and
3,800 Roboflow images with 8 (two of them noise); 10,800 images, ~21,300 boxes, ~2,400 patients named
`<patient>_<slice>.png`; boxes partly outside their image. Output: one COCO JSON per split
(train/valid/test 80/15/5 by patient), 6 classes, clipped boxes, images missing on disk dropped.

- OURS: the project's `load_source` (image size check off: nobody else opens the images either),
  `merge_sources`, `split_images` (coverage split: every class in every split), `coco_from_frames`.
- PLAIN PANDAS (the fair baseline): the simplest code a competent engineer writes for the same
  output: `json.load` -> DataFrames, category remap with `map`, one `os.listdir` per source directory
  for the existence check, a vectorised regex for patient/slice, vectorised clipping, a seeded
  permutation of patients cut at 80/15/5, `to_dict("records")` -> `json.dump`. It does less than
  ours (no reject rows with reasons, no path safety, no class coverage per split), so matching its
  time is a strict target.
- DATUMARO (peer library, from the interop venv `make interop` builds, `var/interop_venv`, or `$DATUMARO_PYTHON`;
  it pins pandas 2.x and Pillow 12, so it lives in its own venv): `import_from(..., "roboflow_coco")`,
  `remap_labels`, `Dataset.from_extractors` (merge), an item transform that clips, the `split`
  transform (detection task), `export(..., "coco_instances")`. Its split does not know patients.
- Group split alone: ours `split_images` vs scikit-learn `GroupShuffleSplit` (two cuts for three
  splits), on the merged table.

Each job is timed in a fresh child process after a warm-up call (see benchmarks/_harness.py);
"leaked" counts patients whose slices land in more than one split.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
from pathlib import Path

from benchmarks._harness import header, measure, ratio

SOURCES = {
    "v3": (7000, 1550, ["IPH", "IVH", "SAH", "SDH"], {"IPH": "IPH", "IVH": "IVH", "SAH": "SAH", "SDH": "SDH"}),
    "roboflow": (
        3800,
        840,
        ["hemorrhage-ct", "EDH", "Contusion", "IPH", "IVH", "SAH", "SDH", "calcification"],
        {
            "hemorrhage-ct": "drop",
            "EDH": "EDH",
            "Contusion": "HC",
            "IPH": "IPH",
            "IVH": "IVH",
            "SAH": "SAH",
            "SDH": "SDH",
            "calcification": "drop",
        },
    ),
}
CLASSES_6 = ("EDH", "HC", "IPH", "IVH", "SAH", "SDH")
FRACTIONS = {"train": 0.8, "valid": 0.15, "test": 0.05}
PATTERN = r"^(?P<patient>(?:ID_)?[A-Za-z0-9.\-]+)_(?P<slice>\d+)(?![0-9A-Za-z])"
SIZE = 512
ANN_COLUMNS = ("id", "new_id", "category_id", "x", "y", "w", "h", "area")


def build(root: Path, scale: float = 1.0) -> dict:
    """Both sources under `root`; returns counts."""
    rnd = random.Random(0)
    counts = {"images": 0, "boxes": 0}
    for name, (n_images, n_patients, cats, _) in SOURCES.items():
        n_images, n_patients = max(int(n_images * scale), 20), max(int(n_patients * scale), 5)
        directory = root / name / "train"
        directory.mkdir(parents=True)
        images, annotations = [], []
        for i in range(n_images):
            file_name = f"{name[0]}{i % n_patients:05d}_{i // n_patients}.png"
            images.append({"id": i + 1, "file_name": file_name, "width": SIZE, "height": SIZE})
            if i % 400 != 7:  # a few listed images are missing on disk
                (directory / file_name).touch()
            for _ in range(rnd.choice((0, 1, 2, 2, 3, 4))):
                x, y = rnd.uniform(-20, SIZE - 10), rnd.uniform(-20, SIZE - 10)
                w, h = rnd.uniform(4, 120), rnd.uniform(4, 120)
                annotations.append(
                    {
                        "id": len(annotations) + 1,
                        "image_id": i + 1,
                        "category_id": rnd.randrange(len(cats)),
                        "bbox": [round(x, 1), round(y, 1), round(w, 1), round(h, 1)],
                        "area": w * h,
                        "iscrowd": 0,
                    }
                )
        categories = [{"id": j, "name": c, "supercategory": "hemorrhage"} for j, c in enumerate(cats)]
        coco = {"images": images, "annotations": annotations, "categories": categories}
        (directory / "_annotations.coco.json").write_text(json.dumps(coco))
        counts["images"] += n_images
        counts["boxes"] += len(annotations)
    return counts


def _leaked(patients, splits) -> str:
    """`<patients in more than one split> of <patients>`."""
    seen: dict = {}
    for p, s in zip(patients, splits, strict=True):
        seen.setdefault(p, set()).add(s)
    return f"{sum(len(v) > 1 for v in seen.values())} of {len(seen)}"


def _classes(images, boxes) -> list[tuple[str, ...]]:
    """Each image's sorted class names (the patient split's input)."""
    per_image: dict = {}
    for image_id, category in zip(boxes["image_id"].tolist(), boxes["category_id"].tolist(), strict=True):
        per_image.setdefault(image_id, set()).add(CLASSES_6[category])
    return [tuple(sorted(per_image.get(i, ()))) for i in images["id"].tolist()]


# ---- ours ----------------------------------------------------------------------------------------------


def ours(warmup: bool, root: str) -> dict:
    from dataprep_assets.defs.ct_hemorrhage.labelled import Source, load_source, merge_sources
    from dataprep_assets.defs.ct_hemorrhage.patients import split_images
    from dataprep_assets.lib.coco import coco_from_frames
    from dataprep_assets.lib.rejects import RejectLog

    root_path = Path(root)
    rejects = RejectLog()
    sources = [Source(name, f"{name}/train/_annotations.coco.json", spec[3]) for name, spec in SOURCES.items()]
    results = [load_source(root_path, source, PATTERN, 2.0, False, rejects) for source in sources]
    images, boxes = merge_sources(results)
    images["classes"] = _classes(images, boxes)
    split, _ = split_images(images, "classes", FRACTIONS, seed=0)
    out = Path(tempfile.mkdtemp(dir=root, prefix="ours-"))
    for name in FRACTIONS:
        part = split[split["split"] == name]
        part_boxes = boxes[boxes["image_id"].isin(part["id"])]
        coco = coco_from_frames(part, part_boxes, CLASSES_6, extra_image_fields=["patient_id"])
        (out / f"{name}.json").write_text(json.dumps(coco))
    return {
        "items": len(images),
        "boxes": len(boxes),
        "leaked": _leaked(split["patient_id"], split["split"]),
        "rejects": len(rejects),
    }


# ---- plain pandas ------------------------------------------------------------------------------------


def plain_pandas(warmup: bool, root: str) -> dict:
    """The fair baseline (see the module docstring)."""
    import numpy as np
    import pandas as pd

    image_tables, box_tables = [], []
    for name, spec in SOURCES.items():
        directory = os.path.join(root, name, "train")
        with open(os.path.join(directory, "_annotations.coco.json")) as fh:
            coco = json.load(fh)
        imgs = pd.DataFrame(coco["images"])
        imgs = imgs[imgs["file_name"].isin(set(os.listdir(directory)))]
        parts = imgs["file_name"].str.extract(PATTERN)
        imgs = imgs.assign(patient_id=parts["patient"], slice=parts["slice"].astype("Int64"))
        imgs = imgs.dropna(subset=["patient_id"])
        imgs["source"] = name
        cat = {c["id"]: spec[3][c["name"]] for c in coco["categories"]}
        anns = pd.DataFrame(coco["annotations"])
        anns["cls"] = anns["category_id"].map(cat)
        anns = anns[anns["cls"] != "drop"].merge(
            imgs[["id", "width", "height"]], left_on="image_id", right_on="id", suffixes=("", "_img")
        )
        xywh = np.array(anns["bbox"].tolist(), dtype=float)
        x0, y0 = np.clip(xywh[:, 0], 0, anns["width"]), np.clip(xywh[:, 1], 0, anns["height"])
        x1 = np.clip(xywh[:, 0] + xywh[:, 2], 0, anns["width"])
        y1 = np.clip(xywh[:, 1] + xywh[:, 3], 0, anns["height"])
        anns = anns.assign(x=x0, y=y0, w=x1 - x0, h=y1 - y0, source=name)
        box_tables.append(anns[(anns["w"] >= 2) & (anns["h"] >= 2)])
        image_tables.append(imgs)
    imgs = pd.concat(image_tables, ignore_index=True)
    imgs["new_id"] = np.arange(len(imgs))
    boxes = pd.concat(box_tables, ignore_index=True)
    boxes = boxes.merge(imgs[["source", "id", "new_id"]], left_on=["source", "image_id"], right_on=["source", "id"])
    patients = imgs["patient_id"].unique()
    order = np.random.default_rng(0).permutation(len(patients))
    cuts = np.cumsum([int(round(f * len(patients))) for f in FRACTIONS.values()])[:-1]
    split_of = {}
    for split_name, chunk in zip(FRACTIONS, np.split(patients[order], cuts), strict=True):
        split_of.update(dict.fromkeys(chunk, split_name))
    imgs["split"] = imgs["patient_id"].map(split_of)
    cat_id = {c: i for i, c in enumerate(CLASSES_6)}
    boxes = boxes.assign(category_id=boxes["cls"].map(cat_id), area=boxes["w"] * boxes["h"])
    boxes["id"] = np.arange(len(boxes))
    out = Path(tempfile.mkdtemp(dir=root, prefix="pandas-"))
    for split_name in FRACTIONS:
        part = imgs[imgs["split"] == split_name]
        b = boxes[boxes["new_id"].isin(part["new_id"])]
        coco = {
            "images": part.rename(columns={"id": "source_id", "new_id": "id"})[
                ["id", "file_name", "width", "height", "patient_id"]
            ].to_dict("records"),
            "annotations": [
                {
                    "id": int(i),
                    "image_id": int(im),
                    "category_id": int(c),
                    "bbox": [round(x, 2), round(y, 2), round(w, 2), round(h, 2)],
                    "area": round(a, 2),
                    "iscrowd": 0,
                    "segmentation": [],
                }
                for i, im, c, x, y, w, h, a in zip(*(b[col] for col in ANN_COLUMNS), strict=True)
            ],
            "categories": [{"id": i, "name": c, "supercategory": "hemorrhage"} for i, c in enumerate(CLASSES_6)],
        }
        (out / f"{split_name}.json").write_text(json.dumps(coco))
    return {"items": len(imgs), "boxes": len(boxes), "leaked": _leaked(imgs["patient_id"], imgs["split"])}


# ---- datumaro ----------------------------------------------------------------------------------------


def datumaro(warmup: bool, root: str) -> dict:
    """The peer library's way (see the module docstring)."""
    import re

    import datumaro as dm  # pyright: ignore[reportMissingImports]  # optional interop probe: installed only where the probe runs
    from datumaro.components.transformer import ItemTransform  # pyright: ignore[reportMissingImports]  # optional interop probe: installed only where the probe runs

    class ClipBoxes(ItemTransform):
        def transform_item(self, item):
            height, width = getattr(item.media, "size", None) or (SIZE, SIZE)  # from the COCO file, not the pixels
            kept = []
            for ann in item.annotations:
                x0, y0 = max(ann.x, 0), max(ann.y, 0)
                x1, y1 = min(ann.x + ann.w, width), min(ann.y + ann.h, height)
                if x1 - x0 >= 2 and y1 - y0 >= 2:
                    kept.append(ann.wrap(x=x0, y=y0, w=x1 - x0, h=y1 - y0))
            return item.wrap(annotations=kept)

    parts = []
    for name, spec in SOURCES.items():
        ds = dm.Dataset.import_from(os.path.join(root, name), "roboflow_coco")
        mapping = {k: v for k, v in spec[3].items() if v != "drop"}
        ds = ds.transform("remap_labels", mapping=mapping, default="delete")
        parts.append(ds)
    merged = dm.Dataset.from_extractors(*parts, merge_policy="union") if len(parts) > 1 else parts[0]
    merged = merged.transform(ClipBoxes)
    merged = merged.transform("split", task="detection", splits=list(FRACTIONS.items()), seed=0)
    out = tempfile.mkdtemp(dir=root, prefix="datumaro-")
    merged.export(out, "coco_instances", save_media=False)
    patients, splits = [], []
    pattern = re.compile(PATTERN)
    for item in merged:
        match = pattern.match(os.path.basename(item.id))
        if match:
            patients.append(match.group("patient"))
            splits.append(item.subset)
    return {"items": len(merged), "leaked": _leaked(patients, splits)}


# ---- group split alone ---------------------------------------------------------------------------------


def _split_table(root: str):
    from dataprep_assets.defs.ct_hemorrhage.labelled import Source, load_source, merge_sources
    from dataprep_assets.lib.rejects import RejectLog

    results = [
        load_source(Path(root), Source(n, f"{n}/train/_annotations.coco.json", s[3]), PATTERN, 2.0, False, RejectLog())
        for n, s in SOURCES.items()
    ]
    images, boxes = merge_sources(results)
    images["classes"] = _classes(images, boxes)
    return images


_TABLE: dict = {}


def split_ours(warmup: bool, root: str) -> dict:
    from dataprep_assets.defs.ct_hemorrhage.patients import split_images

    table = _TABLE.setdefault(root, _split_table(root))
    split, _ = split_images(table, "classes", FRACTIONS, seed=0)
    return {"items": len(split), "leaked": _leaked(split["patient_id"], split["split"])}


def split_sklearn(warmup: bool, root: str) -> dict:
    """GroupShuffleSplit twice (train vs rest, then valid vs test): the usual scikit-learn recipe."""
    import numpy as np
    from sklearn.model_selection import GroupShuffleSplit

    table = _TABLE.setdefault(root, _split_table(root))
    groups = table["patient_id"].to_numpy()
    train, rest = next(GroupShuffleSplit(n_splits=1, train_size=0.8, random_state=0).split(table, groups=groups))
    valid, test = next(GroupShuffleSplit(n_splits=1, train_size=0.75, random_state=0).split(rest, groups=groups[rest]))
    split = np.empty(len(table), dtype=object)
    split[train], split[rest[valid]], split[rest[test]] = "train", "valid", "test"
    return {"items": len(table), "leaked": _leaked(groups, split)}


def datumaro_python(repo: Path) -> str | None:
    candidate = os.environ.get("DATUMARO_PYTHON") or str(repo / "var" / "interop_venv" / "bin" / "python")
    return candidate if os.path.exists(candidate) else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--peer-runs", type=int, default=0, help="runs of Datumaro (default: --runs; it is slow)")
    parser.add_argument("--quick", action="store_true", help="a tenth of the size, 1 run")
    args = parser.parse_args(argv)
    scale, runs = (0.1, 1) if args.quick else (1.0, args.runs)
    repo = Path(__file__).resolve().parent.parent
    mod = "benchmarks.ct_coco_build"
    with tempfile.TemporaryDirectory() as tmp:
        counts = build(Path(tmp), scale)
        header(
            f"ct COCO build: {counts['images']:,} images, {counts['boxes']:,} boxes, 2 sources -> 6 classes, "
            f"3 patient splits; images/s"
        )
        rows = {
            "ours": measure(mod, "ours", "ours (load_source, merge, split_images, export)", runs, unit="img", root=tmp),
            "pandas": measure(mod, "plain_pandas", "plain pandas", runs, unit="img", root=tmp),
        }
        python = datumaro_python(repo)
        if python:
            env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONWARNINGS": "ignore"}
            rows["datumaro"] = measure(
                mod,
                "datumaro",
                "Datumaro 1.13 (own venv)",
                args.peer_runs or runs,
                unit="img",
                env=env,
                python=python,
                root=tmp,
            )
        else:
            print("   Datumaro: not installed (make interop builds var/interop_venv with it)")
        for m in rows.values():
            print(f"   {m.label}: {m.extra.get('leaked')} patients leaked across splits")
        ratio(rows["ours"], rows["pandas"], "target >= 1.0x")
        if "datumaro" in rows:
            ratio(rows["ours"], rows["datumaro"], "target >= 5x")
        try:
            import sklearn  # noqa: F401
        except ImportError:
            print("   group split: scikit-learn not installed, no peer to compare")
            return
        ours_split = measure(mod, "split_ours", "group split: ours split_images (coverage)", runs, unit="img", root=tmp)
        sk = measure(mod, "split_sklearn", "group split: sklearn GroupShuffleSplit x2", runs, unit="img", root=tmp)
        print(f"   leaked patients: ours {ours_split.extra['leaked']}, sklearn {sk.extra['leaked']}")
        ratio(ours_split, sk)


if __name__ == "__main__":
    main()
