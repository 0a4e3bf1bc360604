"""The blocking `crops_readable` check reads each crop file once, skips crop files whose bytes (and referenced
rows) passed before (a rebuild checks only what is new), and still catches a truncated TIFF or stack, naming it."""

import dagster as dg
import pytest

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.cell_qa.checks import crops_readable
from dataprep_assets_tests.cell_qa.conftest import crops_config, materialize, small_sample
from dataprep_assets_tests.harness import check_results

CROPS = dg.AssetSelection.assets("cell_qa_inventory", "cell_crops")
CROPS = CROPS | dg.AssetSelection.checks_for_assets("cell_qa_inventory", "cell_crops")


@pytest.mark.parametrize("layout", ["tiff_per_cell", "stacked"])
def test_crops_readable_is_incremental_and_catches_truncated_files(tmp_path, layout):
    small_sample(tmp_path)
    store = LocalDatasetStore(root=str(tmp_path))
    with dg.instance_for_test() as instance:
        first = check_results(materialize(store, instance, selection=CROPS, ops=crops_config(layout=layout)))
        readable = first["cell_crops:crops_readable"]
        files = readable.metadata["crop_files_read"].value
        assert readable.passed and files > 0 and readable.metadata["crops_checked"].value >= files
        again = check_results(materialize(store, instance, selection=CROPS, ops=crops_config(layout=layout)))
        assert (
            again["cell_crops:crops_readable"].passed
            and again["cell_crops:crops_readable"].metadata["crop_files_read"].value == 0
        ), "files (and, for stacks, the rows referenced) that passed before are not read again"

        suffix = ".tif" if layout == "tiff_per_cell" else ".npy"
        victim = sorted(p for p in store.path("data/cell_crops").rglob(f"*{suffix}") if ".mask." not in p.name)[0]
        data = victim.read_bytes()
        victim.unlink()  # the view's file is a hard link to the stored object: replace it, never edit the object
        victim.write_bytes(data[: len(data) // 2])
        only_check = dg.AssetSelection.checks(crops_readable)
        evaluation = check_results(materialize(store, instance, selection=only_check))["cell_crops:crops_readable"]
        assert not evaluation.passed, "a file replaced since it was written is read again, whatever its old hash"
        assert any(victim.name in example for example in evaluation.metadata["examples"].value)
