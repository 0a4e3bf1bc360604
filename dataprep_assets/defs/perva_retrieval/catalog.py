"""Step 1: scan a PerVA-style image tree into the seed's catalog JSON, refusing bad inputs.

Two layouts (as the seed's `01_build_image_catalog.py`):

    explicit:   <data_root>/<train_dirname>/<category>/<concept>/*.jpg
                (+ <test_dirname>/..., + <concept>/laion/ negatives)
    by_concept: <data_root>/<category>/<concept>/*.jpg  (split per concept here)

The catalog is `{category: {concept: {"train": [...], "test": [...](, "negative": [...])}}}`. Every
file that cannot be used is a reject with a reason; nothing on disk can crash the scan halfway.
Differences from the seed, on purpose: the auto-split honours `num_train`/`train_fraction` (the
seed hard-coded 5), each concept is shuffled by its own seeded RNG (adding a concept never
reshuffles the others; the seed's explicit layout was not seeded at all), exact duplicate files
are refused, and paths never point outside `data_root`.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
from collections import defaultdict
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from dataprep_assets.lib.accounting import Ledger, account
from dataprep_assets.lib.limits import DECOMPRESSION_BOMB, ImageTooLargeError, open_image
from dataprep_assets.lib.naming import COLLISION_REASON, name_key, reject_collisions
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import safe_join

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
CATEGORY_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+ -]*$")
IMAGE_COLUMNS = ["category", "concept", "split", "catalog_path", "store_path", "sha256", "width", "height", "bytes"]
STAGE = "image_catalog"


@dataclass(frozen=True)
class CatalogOptions:
    data_root: str
    relative: bool = False
    train_fraction: float = 0.2
    num_train: int | None = None
    seed: int = 42
    train_dirname: str = "train"
    test_dirname: str = "test"
    layout: str = "detect"
    negatives_dirname: str = "laion"


@dataclass(frozen=True)
class FoundImage:
    category: str
    concept: str
    split: str
    """`train` / `test` / `negative` in the explicit layout; `pool` before the auto-split."""
    store_path: str


@dataclass
class CatalogResult:
    catalog: dict
    images: pd.DataFrame
    rejects: RejectLog
    layout: str
    single_concept_categories: list[str]


def stable_seed(seed: int, *parts: str) -> int:
    """A seed per (seed, names...) that is the same in every process (unlike `hash()`)."""
    digest = hashlib.sha256("\0".join([str(seed), *parts]).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def detect_layout(root: Path, opts: CatalogOptions) -> str:
    if opts.layout != "detect":
        return opts.layout
    explicit = (root / opts.train_dirname).is_dir() or (root / opts.test_dirname).is_dir()
    return "explicit" if explicit else "by_concept"


class _Scanner:
    """Walks the tree; keeps what is usable, records every refusal."""

    def __init__(self, store_root: Path, root: Path, opts: CatalogOptions):
        self.store_root, self.root, self.opts = store_root, root, opts
        self.resolved_root = root.resolve()
        self.rejects = RejectLog()
        self.found: list[FoundImage] = []
        self.concept_dirs: dict[tuple[str, str], str] = {}

    def rel(self, path: Path) -> str:
        return path.relative_to(self.store_root).as_posix()

    def _inside(self, path: Path) -> bool:
        try:
            target = path.resolve()
        except (OSError, RuntimeError):
            return False
        return target == self.resolved_root or self.resolved_root in target.parents

    def _entries(self, folder: Path) -> list[Path]:
        try:
            return sorted(folder.iterdir(), key=lambda p: p.name)
        except OSError as exc:
            self.rejects.add(self.rel(folder), STAGE, "unreadable_folder", f"{type(exc).__name__}: {exc}")
            return []

    def _usable_dir(self, path: Path) -> bool:
        if path.is_symlink() and not self._inside(path):
            self.rejects.add(
                self.rel(path), STAGE, "symlink_outside_root", f"links to {os.readlink(path)}, outside data_root"
            )
            return False
        return True

    def subdirs(
        self, folder: Path, stray_reason: str, stray_detail: str, skip: AbstractSet[str] = frozenset()
    ) -> list[Path]:
        dirs = []
        for entry in self._entries(folder):
            if entry.name in skip:
                continue
            if entry.is_dir():
                if self._usable_dir(entry):
                    dirs.append(entry)
            elif entry.is_symlink() and not self._inside(entry):
                self.rejects.add(
                    self.rel(entry), STAGE, "symlink_outside_root", f"links to {os.readlink(entry)}, outside data_root"
                )
            else:
                self.rejects.add(self.rel(entry), STAGE, stray_reason, stray_detail)
        return dirs

    def images(self, folder: Path, skip_dirs: AbstractSet[str] = frozenset()) -> list[Path]:
        kept = []
        for entry in self._entries(folder):
            if entry.is_symlink() and not self._inside(entry):
                self.rejects.add(
                    self.rel(entry), STAGE, "symlink_outside_root", f"links to {os.readlink(entry)}, outside data_root"
                )
            elif entry.is_dir():
                if entry.name not in skip_dirs:
                    self.rejects.add(
                        self.rel(entry), STAGE, "nested_folder", "images must sit directly in <category>/<concept>/"
                    )
            elif not entry.exists():
                self.rejects.add(self.rel(entry), STAGE, "broken_link", "the file does not exist (dangling symlink)")
            elif entry.name.startswith(".") or entry.suffix.lower() not in IMAGE_EXTS:
                self.rejects.add(
                    self.rel(entry),
                    STAGE,
                    "not_an_image",
                    f"extension {entry.suffix or '(none)'!r} is not one of {sorted(IMAGE_EXTS)}",
                )
            else:
                kept.append(entry)
        return kept

    def category_ok(self, path: Path) -> bool:
        if CATEGORY_NAME.match(path.name) and "..." not in path.name:
            return True
        self.rejects.add(
            self.rel(path),
            STAGE,
            "invalid_category_name",
            "category names become partition keys: letters, digits, space, _ . + - only",
        )
        return False


def scan(store_root: Path, opts: CatalogOptions) -> tuple[list[FoundImage], RejectLog, str]:
    """Every candidate image file (not yet decoded) with its category/concept/split, and the rejects."""
    root = safe_join(store_root, opts.data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"data_root {opts.data_root!r} is not a folder in the dataset store ({store_root})")
    layout = detect_layout(root, opts)
    sc = _Scanner(store_root, root, opts)
    if layout == "explicit":
        split_dirs = {opts.train_dirname: "train", opts.test_dirname: "test"}
        for entry in sc._entries(root):
            if entry.name not in split_dirs:
                sc.rejects.add(
                    sc.rel(entry),
                    STAGE,
                    "outside_split_folders",
                    f"explicit layout: everything lives under {opts.train_dirname}/ or {opts.test_dirname}/",
                )
        for dirname, split in split_dirs.items():
            if not (root / dirname).is_dir() or not sc._usable_dir(root / dirname):
                continue
            for cat_dir in sc.subdirs(
                root / dirname, "not_in_category_folder", "files must sit in <split>/<category>/<concept>/"
            ):
                if not sc.category_ok(cat_dir):
                    continue
                for concept_dir in sc.subdirs(
                    cat_dir, "not_in_concept_folder", "files must sit in <category>/<concept>/"
                ):
                    sc.concept_dirs.setdefault((cat_dir.name, concept_dir.name), sc.rel(concept_dir))
                    neg = concept_dir / opts.negatives_dirname
                    skip = {opts.negatives_dirname} if split == "train" else set()
                    for path in sc.images(concept_dir, skip_dirs=skip):
                        sc.found.append(FoundImage(cat_dir.name, concept_dir.name, split, sc.rel(path)))
                    if split == "train" and neg.is_dir() and sc._usable_dir(neg):
                        for path in sc.images(neg):
                            sc.found.append(FoundImage(cat_dir.name, concept_dir.name, "negative", sc.rel(path)))
    else:
        for cat_dir in sc.subdirs(root, "not_in_category_folder", "files must sit in <category>/<concept>/"):
            if not sc.category_ok(cat_dir):
                continue
            for concept_dir in sc.subdirs(cat_dir, "not_in_concept_folder", "files must sit in <category>/<concept>/"):
                sc.concept_dirs.setdefault((cat_dir.name, concept_dir.name), sc.rel(concept_dir))
                for path in sc.images(concept_dir):
                    sc.found.append(FoundImage(cat_dir.name, concept_dir.name, "pool", sc.rel(path)))
    _reject_empty_concepts(sc)
    _reject_colliding_categories(sc)
    return sc.found, sc.rejects, layout


def _reject_colliding_categories(sc: _Scanner) -> None:
    """Categories name partitions and output folders: two that differ only in case (`Bag`, `bag`) would share
    them on a case-insensitive file system, so the first (sorted) is kept and every image of the other is a reject."""
    categories = {f.category: f.category for f in sc.found}
    kept = reject_collisions(categories, RejectLog(), STAGE)
    if len(kept) == len(categories):
        return
    owner = {name_key(c): c for c in kept}
    for image in [f for f in sc.found if f.category not in kept]:
        sc.rejects.add(
            image.store_path,
            STAGE,
            COLLISION_REASON,
            f"category {image.category!r} names the same partition and output folder as "
            f"{owner[name_key(image.category)]!r}",
        )
    sc.found = [f for f in sc.found if f.category in kept]


def _reject_empty_concepts(sc: _Scanner) -> None:
    """A concept folder that yielded no candidate image at all is refused as a whole."""
    have = {(f.category, f.concept) for f in sc.found}
    for key, relpath in sorted(sc.concept_dirs.items()):
        if key not in have:
            sc.rejects.add(relpath, STAGE, "empty_concept", "no image files in this concept folder")


def inspect_image(args: tuple[str, str]) -> tuple[str, str, int, int, int, str]:
    """(store_path, sha256, width, height, bytes, error): decodes the whole image to prove it is readable."""
    store_root, relpath = args
    path = Path(store_root) / relpath
    try:
        data = path.read_bytes()
        with open_image(path, name=relpath) as img:
            img.load()
            width, height = img.size
        if width < 1 or height < 1:
            raise ValueError(f"empty image {width}x{height}")
        return relpath, hashlib.sha256(data).hexdigest(), width, height, len(data), ""
    except Exception as exc:  # any decoder error makes the file a reject, never a crash
        return relpath, "", 0, 0, 0, f"{type(exc).__name__}: {exc}"


def inspect_chunk(args: tuple[str, list[str]]) -> list[tuple[str, str, int, int, int, str]]:
    store_root, paths = args
    return [inspect_image((store_root, p)) for p in paths]


def build_catalog(
    found: list[FoundImage], inspected: dict[str, tuple], rejects: RejectLog, opts: CatalogOptions, layout: str
) -> CatalogResult:
    """Drop unreadable and duplicate images, split per concept, and write paths as the seed does."""
    usable: list[FoundImage] = []
    first_by_hash: dict[str, FoundImage] = {}
    for image in sorted(found, key=lambda f: f.store_path):
        _, sha, w, h, size, error = inspected[image.store_path]
        if error:
            reason = DECOMPRESSION_BOMB if error.startswith(ImageTooLargeError.__name__) else "unreadable_image"
            rejects.add(image.store_path, STAGE, reason, error)
            continue
        if sha in first_by_hash:
            first = first_by_hash[sha]
            rejects.add(
                image.store_path,
                STAGE,
                "duplicate_content",
                f"identical bytes to {first.store_path} ({first.category}/{first.concept})",
            )
            continue
        first_by_hash[sha] = image
        usable.append(image)
    by_concept: dict[tuple[str, str], list[FoundImage]] = defaultdict(list)
    for image in usable:
        by_concept[(image.category, image.concept)].append(image)
    base = opts.data_root.strip("/") + "/"

    def catalog_path(store_path: str) -> str:
        return store_path[len(base) :] if opts.relative else store_path

    catalog: dict = {}
    rows = []
    for (category, concept), images in sorted(by_concept.items()):
        entry = _split_concept(images, opts, layout, category, concept)
        for p in entry.pop("unsampled", []):
            rejects.add(
                p,
                STAGE,
                "not_sampled",
                f"explicit layout: {category}/{concept} keeps num_train={opts.num_train} of its train images",
            )
        if not entry["train"] and not entry["test"]:
            rejects.add(
                f"{base}{category}/{concept}", STAGE, "empty_concept", "only negatives, no train or test images"
            )
            for p in entry.get("negative", []):
                rejects.add(
                    p, STAGE, "empty_concept", f"a negative of {category}/{concept}, which has no train or test images"
                )
            continue
        catalog.setdefault(category, {})[concept] = {k: [catalog_path(p) for p in v] for k, v in entry.items()}
        for split, paths in entry.items():
            for p in paths:
                _, sha, w, h, size, _ = inspected[p]
                rows.append((category, concept, split, catalog_path(p), p, sha, w, h, size))
    frame = pd.DataFrame(rows, columns=IMAGE_COLUMNS).astype({"width": "int64", "height": "int64", "bytes": "int64"})
    single = sorted(c for c, concepts in catalog.items() if len(concepts) < 2)
    for category in single:
        folder = str(Path(frame.loc[frame["category"] == category, "store_path"].iloc[0]).parent.parent.as_posix())
        rejects.add(
            folder,
            "retrieval_partitions",
            "single_concept_category",
            "kept in catalog.json, but no retrieval partition: hard negatives need at least 2 concepts",
        )
    return CatalogResult(catalog, frame, rejects, layout, single)


def catalog_ledger(found: list[FoundImage], result: CatalogResult) -> Ledger:
    """Every candidate image found is in the images table or a reject row, once."""
    paths = [f.store_path for f in found]
    wanted = set(paths)
    return account(
        "images", paths, result.images["store_path"].tolist(), [r.item for r in result.rejects if r.item in wanted]
    )


def _split_concept(
    images: list[FoundImage], opts: CatalogOptions, layout: str, category: str, concept: str
) -> dict[str, list[str]]:
    rng = random.Random(stable_seed(opts.seed, category, concept))
    if layout == "explicit":
        listed = sorted(i.store_path for i in images if i.split == "train")
        train = listed
        if opts.num_train is not None and train:
            train = sorted(rng.sample(train, max(1, min(opts.num_train, len(train)))))
        return {
            "unsampled": sorted(set(listed) - set(train)),
            "train": train,
            "test": sorted(i.store_path for i in images if i.split == "test"),
            "negative": sorted(i.store_path for i in images if i.split == "negative"),
        }
    pool = sorted(i.store_path for i in images)
    n = len(pool)
    k = max(1, min(opts.num_train, n)) if opts.num_train is not None else max(1, int(round(opts.train_fraction * n)))
    shuffled = pool[:]
    rng.shuffle(shuffled)
    return {"train": sorted(shuffled[:k]), "test": sorted(shuffled[k:])}
