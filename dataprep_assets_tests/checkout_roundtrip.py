"""What every pipeline's checkout test asserts: the datasets a run wrote, checked out after later rebuilds
with other inputs, are byte for byte what that run wrote."""

from __future__ import annotations

from pathlib import Path

from dataprep_assets import versions
from dataprep_assets.common.store import DatasetStore


def snapshot(store: DatasetStore) -> dict[str, dict[str, bytes]]:
    """The bytes of every dataset's current view, file by file (as its manifest lists them)."""
    out = {}
    for dataset in store.datasets():
        manifest = store.manifest(dataset)
        assert manifest is not None, f"{dataset} has versions but no current view"
        view = store.path(dataset)
        if store.versions(dataset, sync=False)[-1].kind == "file":
            out[dataset] = {view.name: view.read_bytes()}
        else:
            out[dataset] = {e.path: (view / e.path).read_bytes() for e in manifest.entries}
    return out


def restored(root: Path, dataset: str, kind: str) -> dict[str, bytes]:
    target = root / dataset
    if kind == "file":
        return {target.name: target.read_bytes()}
    return {p.relative_to(target).as_posix(): p.read_bytes() for p in sorted(target.rglob("*")) if p.is_file()}


def assert_run_checks_out_byte_identically(
    store: DatasetStore, run_id: str, written: dict[str, dict[str, bytes]], dest: Path, must_change: list[str]
) -> int:
    """Check out, by run id, every dataset the run wrote and compare with `written` (its snapshot); the datasets
    in `must_change` must have changed since (so the comparison is with a version that is no longer current).
    Returns the number of datasets compared."""
    current = snapshot(store)
    changed = [d for d in must_change if current[d] != written[d]]
    assert changed == must_change, f"these datasets did not change between the runs: {set(must_change) - set(changed)}"
    compared = 0
    for dataset, files in sorted(written.items()):
        records = [r for r in store.versions(dataset, sync=False) if r.run_id == run_id]
        if not records:
            continue  # not written by that run (e.g. a figure of another asset)
        out = dest / f"v{compared}"
        versions.checkout(dataset, out, run_id=run_id, store=store)
        assert restored(out, dataset, records[-1].kind) == files, dataset
        compared += 1
    return compared
