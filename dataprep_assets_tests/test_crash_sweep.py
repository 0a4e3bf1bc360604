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
"""

import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import sys

import dagster as dg

from dataprep_assets import versions
from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.cell_qa import checks as cell_checks
from dataprep_assets.lib.crashpoints import ENV
from dataprep_assets.sample_data.cell_qa import DATASETS, generate
from dataprep_assets_tests.harness import group_assets

KILLS = ["staged:1", "object:4", "record:3", "swap:2", "pointer:5", "object:25", "swap:9"]
"""Of 11 dataset writes (30 objects) per run: early, middle and late writes, each point at least once."""
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
    os.environ[ENV] = spec
    _materialize(root, home)
    os._exit(0)  # the point was never reached


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
    ctx = mp.get_context("fork")
    for i, spec in enumerate(KILLS):
        if i % 2 == 0:
            _move(held, swept, stash)  # withdrawn
        else:
            _move([stash / p.relative_to(swept) for p in held], stash, swept)  # uploaded again
        child = ctx.Process(target=_killed_run, args=(str(swept), str(tmp_path / f"home{i}"), spec))
        child.start()
        child.join(timeout=300)
        assert child.exitcode == -signal.SIGKILL, f"{spec}: the run was not killed (exit {child.exitcode})"
        problems = versions.check_store(store)
        assert [p for p in problems if not p.endswith(ALLOWED_AFTER_A_KILL)] == [], spec

    if len(KILLS) % 2:
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
