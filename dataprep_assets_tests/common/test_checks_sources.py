"""common.checks: a check factory reads its table from a `Dataset` declaration as from a loader function, on a
real store and a real Dagster instance."""

import dagster as dg
import pandas as pd

from dataprep_assets.common.checks import frame_loader, group_overlap_check
from dataprep_assets.lib.datasets import Dataset

SPLITS = Dataset("demo_splits", "demo/splits.parquet", "table")


@dg.asset(name="demo_splits")
def demo_splits() -> None:
    """Stands for the asset that wrote the table (the test writes it into the store)."""


by_declaration = group_overlap_check(asset=demo_splits, load=SPLITS, group_col="patient", name="by_declaration")
by_function = group_overlap_check(
    asset=demo_splits, load=lambda store: store.read(SPLITS), group_col="patient", name="by_function"
)


def evaluations(store, frame: pd.DataFrame) -> dict[str, bool]:
    store.write_table(SPLITS.path, frame)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [demo_splits, by_declaration, by_function],
            instance=instance,
            resources={"store": store},
            raise_on_error=False,
        )
    return {e.check_name: e.passed for e in result.get_asset_check_evaluations()}


def test_a_declaration_is_read_like_a_loader_function(store):
    frame = pd.DataFrame({"patient": ["p1", "p2"], "split": ["train", "test"]})
    store.write_table(SPLITS.path, frame)
    pd.testing.assert_frame_equal(frame_loader(SPLITS)(store), store.read(SPLITS))
    assert evaluations(store, frame) == {"by_declaration": True, "by_function": True}
    leaking = pd.DataFrame({"patient": ["p1", "p1"], "split": ["train", "test"]})
    assert evaluations(store, leaking) == {"by_declaration": False, "by_function": False}
