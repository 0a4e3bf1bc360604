"""Find raw frames, ground truth and competitor masks in the Cell Tracking Challenge layout.

    raw/cell_qa/<dataset>/<seq>/t000.tif                         raw frame
    raw/cell_qa/<dataset>/<seq>_GT/SEG/man_seg000.tif            ground-truth labels
    raw/cell_qa/competitors/<name>/<dataset>/<seq>_RES/mask000.tif   one competitor's labels

One row per (frame, competitor). File names match case-insensitively (`T000.TIF`, `man_seg002.TIF`,
`mask002.TIFF`: users' tools differ). Every file found is used or becomes a reject:
two files for one frame (`t0.tif` and `t000.tif`) are `duplicate_frame` rejects naming each other; frames
without ground truth, competitors missing a frame, ground truth or masks without a raw frame (also under a
dataset or sequence that has no raw frames at all), frames no competitor segmented, and links that point
outside the store (`unsafe_path`) are rejects. Output names (`crop_stem`: the crops' file names) are unique
per (frame, competitor) even where names differ only in characters that sanitising removes
(`competitor A` / `competitor_A`), by `lib.naming.unique_names`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from dataprep_assets.defs.cell_qa.datasets import RAW_PREFIX
from dataprep_assets.lib.accounting import Ledger, account
from dataprep_assets.lib.naming import safe_token, unique_names
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import UnsafePathError, safe_join

COMPETITORS_DIR = "competitors"
STAGE = "inventory"
_FRAME = re.compile(r"^t(\d+)\.tiff?$", re.IGNORECASE)
_GT = re.compile(r"^man_seg(\d+)\.tiff?$", re.IGNORECASE)
_MASK = re.compile(r"^mask(\d+)\.tiff?$", re.IGNORECASE)
_SEQ = re.compile(r"^\d+$")
_GT_DIR = re.compile(r"^(\d+)_GT$", re.IGNORECASE)
_RES_DIR = re.compile(r"^(\d+)_RES$", re.IGNORECASE)
_SEG_DIR = re.compile(r"^SEG$", re.IGNORECASE)

INVENTORY_COLUMNS = [
    "original_image_key",
    "frame_key",
    "dataset",
    "sequence",
    "frame",
    "competitor",
    "raw_path",
    "gt_path",
    "mask_path",
    "crop_stem",
]


def crop_stem(dataset: str, sequence: str, frame: int, competitor: str) -> str:
    """The file-name stem of one competitor's crops of a frame (before `unique_names` settles collisions)."""
    names = [safe_token(text, keep="._-", joiner="_", fallback="x") for text in (dataset, sequence, competitor)]
    return f"{names[0]}_{names[1]}_t{frame:03d}_{names[2]}"


def _child(folder: Path, name_pattern: re.Pattern) -> dict[str, Path]:
    """Sub-folders of `folder` whose names match, by the pattern's first group (or the name) -> path."""
    if not folder.is_dir():
        return {}
    out = {}
    for path in sorted(folder.iterdir()):
        match = name_pattern.match(path.name)
        if match and path.is_dir():
            out.setdefault(match.group(1) if name_pattern.groups else path.name, path)
    return out


def _first_child(folder: Path, name_pattern: re.Pattern) -> Path | None:
    return next(iter(_child(folder, name_pattern).values()), None)


class _Scan:
    def __init__(self, root: Path, rejects: RejectLog):
        self.root, self.rejects, self.seen = root, rejects, []
        self._prefix = f"{root}/"

    def rel(self, path: Path) -> str:
        text = str(path)  # paths are built under the root: cutting its text off is `relative_to`, without parsing
        return text[len(self._prefix) :] if text.startswith(self._prefix) else path.relative_to(self.root).as_posix()

    def reject(self, path: Path, reason: str, detail: str) -> None:
        """Quarantine a file found under the root, by its store-relative path."""
        self.rejects.add(self.rel(path), STAGE, reason, detail)

    def _unsafe(self, path: Path) -> str:
        """Why `path` is not safely inside the store (it or a folder above it links out), or ""."""
        try:
            safe_join(self.root, self.rel(path))
        except UnsafePathError as exc:
            return str(exc).replace(str(self.root), "<store>")
        return ""

    def frames(self, folder: Path | None, pattern: re.Pattern) -> dict[int, Path]:
        """Frame number -> file; two files of one frame are both rejects, a link out of the store is one."""
        if folder is None or not folder.is_dir():
            return {}
        by_frame: dict[int, list[Path]] = {}
        folder_problem = self._unsafe(folder)  # the folder is resolved once; a file only when it is a link itself
        for path in sorted(folder.iterdir()):
            match = pattern.match(path.name)
            if not match or not (path.is_file() or path.is_symlink()):
                continue
            self.seen.append(self.rel(path))
            problem = folder_problem or (self._unsafe(path) if path.is_symlink() else "")
            if problem:
                self.reject(path, "unsafe_path", problem)
                continue
            by_frame.setdefault(int(match.group(1)), []).append(path)
        found = {}
        for frame, paths in by_frame.items():
            if len(paths) == 1:
                found[frame] = paths[0]
                continue
            names = [self.rel(p) for p in paths]
            for name in names:
                others = [n for n in names if n != name]
                self.rejects.add(
                    name,
                    STAGE,
                    "duplicate_frame",
                    f"frame {frame} is also {', '.join(others)}; which one is meant is unknown",
                )
        return found


def build_inventory(root: Path, raw_dir: str = RAW_PREFIX) -> tuple[pd.DataFrame, RejectLog]:
    """Pair every raw frame with its ground truth and each competitor's mask; `root` is the store root and
    `raw_dir` the store-relative folder holding the seed's layout."""
    frame, rejects, _ = build_inventory_with_ledger(root, raw_dir)
    return frame, rejects


def build_inventory_with_ledger(root: Path, raw_dir: str = RAW_PREFIX) -> tuple[pd.DataFrame, RejectLog, Ledger]:
    """`build_inventory` plus its accounting: every frame file found is in a row or a reject."""
    base = root / raw_dir
    rejects = RejectLog()
    scan = _Scan(root, rejects)
    competitor_dirs = _child(base / COMPETITORS_DIR, re.compile(r"^(.+)$"))
    competitors = sorted(competitor_dirs)
    datasets = {name: path for name, path in _child(base, re.compile(r"^(.+)$")).items() if name != COMPETITORS_DIR}
    dataset_names = set(datasets)
    for comp_dir in competitor_dirs.values():
        dataset_names |= set(_child(comp_dir, re.compile(r"^(.+)$")))
    rows = []
    for dataset in sorted(dataset_names):
        dataset_dir = datasets.get(dataset)
        raw_seqs = dict((_child(dataset_dir, _SEQ) if dataset_dir else {}).items())
        gt_seqs = _child(dataset_dir, _GT_DIR) if dataset_dir else {}
        res_seqs = {c: _child(competitor_dirs[c] / dataset, _RES_DIR) for c in competitors}
        sequences = set(raw_seqs) | set(gt_seqs) | {s for found in res_seqs.values() for s in found}
        for seq in sorted(sequences, key=lambda s: (len(s), s)):
            raw = scan.frames(raw_seqs.get(seq), _FRAME)
            gt_dir = gt_seqs.get(seq)
            gt = scan.frames(_first_child(gt_dir, _SEG_DIR) if gt_dir else None, _GT)
            masks = {c: scan.frames(res_seqs[c].get(seq), _MASK) for c in competitors}
            labelled = [(n, p, f"ground truth for frame {n} has no raw t{n:03d}.tif") for n, p in gt.items()]
            labelled += [
                (n, p, f"{c} mask for frame {n} has no raw frame") for c, f in masks.items() for n, p in f.items()
            ]
            for number, path, what in labelled:
                if number not in raw:
                    scan.reject(path, "no_raw_frame", f"{what} under {dataset}/{seq}")
            for number, raw_path in raw.items():
                if number not in gt:
                    scan.reject(raw_path, "no_ground_truth", f"no man_seg{number:03d}.tif under {dataset}/{seq}_GT/SEG")
                    for competitor in competitors:
                        if number in masks[competitor]:
                            scan.reject(
                                masks[competitor][number],
                                "no_ground_truth",
                                f"{competitor} mask of {dataset}/{seq} frame {number}, which has no ground truth",
                            )
                    continue
                paired = 0
                for competitor in competitors:
                    mask_path = masks[competitor].get(number)
                    if mask_path is None:
                        rejects.add(
                            f"{raw_dir}/{COMPETITORS_DIR}/{competitor}/{dataset}/{seq}_RES/mask{number:03d}.tif",
                            STAGE,
                            "missing_competitor_mask",
                            f"{competitor} has no mask for {dataset}/{seq} frame {number}",
                        )
                        continue
                    paired += 1
                    rows.append(
                        (
                            f"{dataset}/{seq}",
                            f"{dataset}/{seq}/t{number:03d}",
                            dataset,
                            seq,
                            number,
                            competitor,
                            scan.rel(raw_path),
                            scan.rel(gt[number]),
                            scan.rel(mask_path),
                        )
                    )
                if not paired:
                    for path in (raw_path, gt[number]):
                        scan.reject(
                            path, "no_competitor_mask", f"no competitor segmented {dataset}/{seq} frame {number}"
                        )
    frame = pd.DataFrame(rows, columns=INVENTORY_COLUMNS[:-1])
    frame["frame"] = frame["frame"].astype("int64")
    claims = {
        f"{r.dataset}\x00{r.sequence}\x00{r.frame}\x00{r.competitor}": (
            crop_stem(r.dataset, r.sequence, r.frame, r.competitor)  # pyright: ignore[reportArgumentType]  # pandas-stubs types DataFrame cells and reductions as any scalar
        )
        for r in frame.itertuples(index=False)
    }
    stems = unique_names(claims)
    frame["crop_stem"] = [
        stems[f"{d}\x00{s}\x00{f}\x00{c}"]
        for d, s, f, c in zip(frame["dataset"], frame["sequence"], frame["frame"], frame["competitor"], strict=True)
    ]
    used = set(frame["raw_path"]) | set(frame["gt_path"]) | set(frame["mask_path"])
    refused = {r.item for r in rejects}
    ledger = account("files", sorted(set(scan.seen)), sorted(used - refused), sorted(refused & set(scan.seen)))
    return frame, rejects, ledger
