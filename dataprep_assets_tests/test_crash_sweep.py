"""SIGKILL a real Dagster materialization at many points of its dataset writes, then run it again.

After one uninterrupted build (the reference bytes), each killed run is a rebuild of the cell_qa pipeline
(every asset, the blocking leak check, real Dagster instance) with other inputs than the version it replaces
(one frame withdrawn, then uploaded again, in turn: so a view left half-swapped differs from its manifest)
in a forked process that
`DATAPREP_CRASH_AT` kills at the n-th hit of a point: a dataset fully staged, an object stored, a version
recorded before its swap, a view swapped before its manifest pointer, a pointer written before publishing.
After every kill, nothing looks complete that is not: every latest version is whole, and every dataset
whose manifest pointer names the latest version has exactly that version's files in its view (the only
other states allowed are "pointer behind the latest version" and debris, which a reader can tell and the
next write repairs). After the sweep one clean run recovers everything: `python -m dataprep_assets
verify` is clean (views = latest versions, objects whole, no debris) and every dataset has the bytes of
the uninterrupted run.

Kills also come from outside, at staggered delays (`after:<share of an uninterrupted rebuild's time>`),
at whatever point the run has reached; and the ct sweep kills rebuilds of the 6-class set and its
4-class links (with other augmentations than the version they replace) at the same write points: after
every kill each 4-class version the store shows links every image to the stored object of the 6-class
version it pins, and no link anywhere in the store dangles.
"""

import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from dataprep_assets import versions
from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.cell_qa import checks as cell_checks
from dataprep_assets.defs.ct_hemorrhage import datasets as D
from dataprep_assets.defs.ct_hemorrhage.validation import links_report
from dataprep_assets.lib.crashpoints import ENV
from dataprep_assets.sample_data.cell_qa import DATASETS, generate
from dataprep_assets.sample_data.ct_hemorrhage import generate as generate_ct
from dataprep_assets_tests.harness import group_assets

KILLS = ["staged:1", "object:4", "record:3", "swap:2", "pointer:5", "object:25", "swap:9"]
"""Of 11 dataset writes (30 objects) per run: early, middle and late writes, each point at least once."""
TIMED_KILLS = ["after:0.3", "after:0.65"]
"""Killed from outside after this share of an uninterrupted rebuild's time (wherever the run has got to)."""
RUN_CONFIG = {"ops": {"cell_crops": {"config": {"max_workers": 1, "layout": "stacked"}}}}
ALLOWED_AFTER_A_KILL = ("(repair)",)  # pointer behind the latest version, or debris: visible, repaired next write


def _materialize(root: str, home: str) -> bool:
    os.makedirs(home, exist_ok=True)
    with dg.instance_for_test(temp_dir=home) as instance:
        result = dg.materialize(
            [*group_assets("cell_qa"), cell_checks.no_image_key_overlap],
            instance=instance,
            resources={"store": LocalDatasetStore(root=root)},
            run_config=RUN_CONFIG,
            raise_on_error=False,
        )
    return result.success


def _killed_run(root: str, home: str, spec: str) -> None:
    if not spec.startswith("after:"):
        os.environ[ENV] = spec
    _materialize(root, home)
    os._exit(0)  # the point was never reached (or the run ended before its timed kill)


def _run_and_kill(target, args, spec: str, reference_s: float) -> int | None:
    """Run `target(*args, spec)` in a forked process killed by its crash point, or from outside after a share
    of `reference_s`; its exit code (-SIGKILL when killed)."""
    child = mp.get_context("fork").Process(target=target, args=(*args, spec))
    child.start()
    if spec.startswith("after:"):
        child.join(timeout=float(spec.split(":")[1]) * reference_s)
        if child.exitcode is None:
            os.kill(child.pid, signal.SIGKILL)  # pyright: ignore[reportArgumentType] - started: it has a pid
    child.join(timeout=300)
    return child.exitcode


def dangling_links(root: Path) -> list[str]:
    """Every symbolic link under `root` whose target does not exist."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_symlink() and not p.exists())


def _frame_files(root) -> list:
    """One frame's raw image, ground truth and competitor masks (withdrawn and re-uploaded between kills)."""
    raw = root / "raw" / "cell_qa"
    frame = sorted(raw.glob("*/01/t*.tif"))[0]
    number = frame.stem[1:]
    return [frame, *raw.glob(f"*/01_GT/SEG/man_seg{number}.tif"), *raw.glob(f"competitors/*/*/01_RES/mask{number}.tif")]


def _move(files, src, dst) -> None:
    for path in files:
        target = dst / path.relative_to(src)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, target)


def _latest_hashes(store) -> dict[str, str]:
    return {d: store.versions(d, sync=False)[-1].dataset_hash for d in store.datasets()}


def test_sigkill_at_every_write_point_never_leaves_a_dataset_that_looks_complete_and_a_rerun_recovers(tmp_path):
    swept = tmp_path / "store"
    generate(swept, seed=3, sequences=2, frames=2, size=96, datasets={"Fluo-N2DH-GOWT1": DATASETS["Fluo-N2DH-GOWT1"]})
    assert _materialize(str(swept), str(tmp_path / "home_ref"))
    expected = _latest_hashes(LocalDatasetStore(root=str(swept)))

    store = LocalDatasetStore(root=str(swept))
    held, stash = _frame_files(swept), tmp_path / "stash"
    assert len(held) >= 3
    _move(held, swept, stash)
    started = time.monotonic()
    assert _materialize(str(swept), str(tmp_path / "home_timed"))  # how long one rebuild takes (the timed kills')
    reference_s = time.monotonic() - started
    _move([stash / p.relative_to(swept) for p in held], stash, swept)
    killed_from_outside = 0
    for i, spec in enumerate(KILLS + TIMED_KILLS):
        if i % 2 == 0:
            _move(held, swept, stash)  # withdrawn
        else:
            _move([stash / p.relative_to(swept) for p in held], stash, swept)  # uploaded again
        exit_code = _run_and_kill(_killed_run, (str(swept), str(tmp_path / f"home{i}")), spec, reference_s)
        if spec in TIMED_KILLS and exit_code == 0:
            continue  # the run was quicker than the reference: it finished before its kill
        assert exit_code == -signal.SIGKILL, f"{spec}: the run was not killed (exit {exit_code})"
        killed_from_outside += spec in TIMED_KILLS
        problems = versions.check_store(store)
        assert [p for p in problems if not p.endswith(ALLOWED_AFTER_A_KILL)] == [], spec
        assert dangling_links(swept) == [], spec
    assert killed_from_outside >= 1

    if len(KILLS + TIMED_KILLS) % 2:
        _move([stash / p.relative_to(swept) for p in held], stash, swept)
    assert _materialize(str(swept), str(tmp_path / "home_final"))
    env = {**os.environ, "DATAPREP_STORE_ROOT": str(swept)}
    env.pop("DATAPREP_STORE_URL", None)
    verify = subprocess.run(
        [sys.executable, "-m", "dataprep_assets", "verify"], env=env, capture_output=True, text=True, timeout=120
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert _latest_hashes(store) == expected
    leftovers = [p for p in swept.rglob(".*") if any(f".{tag}-" in p.name for tag in ("staging", "old"))]
    assert leftovers == []


CT_STEPS = ["augmented_coco_6class", "coco_4class", "v4_dataset_6class_csv", "v4_dataset_4class_csv"]
CT_KILLS = ["swap:1", "record:2", "swap:2", "after:0.5"]
"""Of the 4 dataset writes of a 6-class + 4-class rebuild: the 6-class view swapped before its pointer, the
4-class version recorded before its swap and swapped before its pointer; one kill from outside."""


def _ct_rebuild(root: str, home: str, seed: int, steps: list[str] | None = CT_STEPS) -> bool:
    """The ct graph (`steps`, None: all of it) without its checks, augmentations seeded by `seed`."""
    os.makedirs(home, exist_ok=True)
    ops = {"augmented_coco_6class": {"config": {"max_workers": 1, "seed": seed}}}
    if steps is None:
        ops["no_hem_pngs"] = {"config": {"max_workers": 1}}
    with dg.instance_for_test(temp_dir=home) as instance:
        result = dg.materialize(
            group_assets("ct_hemorrhage"),
            instance=instance,
            resources={"store": LocalDatasetStore(root=root)},
            selection=steps,
            run_config={"ops": ops},
            raise_on_error=False,
        )
    return result.success


def _killed_ct_rebuild(root: str, home: str, seed: int, spec: str) -> None:
    if not spec.startswith("after:"):
        os.environ[ENV] = spec
    _ct_rebuild(root, home, seed)
    os._exit(0)


def four_class_link_problems(store) -> list[str]:
    """Each 4-class image links to the stored object of the 6-class version the 4-class version pins."""
    four = store.current_version(D.FOUR_CLASS.path)
    six = store.version(D.SIX_CLASS.path, four.meta["pins"][D.SIX_CLASS.path])
    objects = {e.path: e.sha256 for e in store.entries(six)}
    counts, bad = links_report(store.path(D.FOUR_CLASS.path), objects, store.object_path, D.SPLIT_ORDER)
    return bad if counts["images"] else ["no 4-class images"]


def test_sigkill_during_a_6_and_4_class_rebuild_never_leaves_a_dangling_or_mismatched_link(tmp_path):
    root = tmp_path / "store"
    generate_ct(root, seed=0, v3_patients=6, roboflow_patients=4, pool_patients=6, defects=False)
    assert _ct_rebuild(str(root), str(tmp_path / "home_ref"), 42, steps=None)
    store = LocalDatasetStore(root=str(root))
    expected = _latest_hashes(store)
    assert four_class_link_problems(store) == []
    started = time.monotonic()
    assert _ct_rebuild(str(root), str(tmp_path / "home_timed"), 7)  # how long one rebuild takes
    reference_s = time.monotonic() - started

    for i, spec in enumerate(CT_KILLS):
        seed = 42 if i % 2 == 0 else 7  # every rebuild changes the augmentations the links point at
        exit_code = _run_and_kill(_killed_ct_rebuild, (str(root), str(tmp_path / f"home{i}"), seed), spec, reference_s)
        if not (spec.startswith("after:") and exit_code == 0):  # a timed kill may come after the run's end
            assert exit_code == -signal.SIGKILL, f"{spec}: the run was not killed (exit {exit_code})"
        problems = versions.check_store(store)
        assert [p for p in problems if not p.endswith(ALLOWED_AFTER_A_KILL)] == [], spec
        assert dangling_links(root) == [], spec
        assert four_class_link_problems(store) == [], spec

    assert _ct_rebuild(str(root), str(tmp_path / "home_final"), 42)
    assert versions.check_store(store) == []
    assert _latest_hashes(store) == expected
    assert dangling_links(root) == [] and four_class_link_problems(store) == []
    assert [p for p in root.rglob(".*") if any(f".{tag}-" in p.name for tag in ("staging", "old"))] == []
