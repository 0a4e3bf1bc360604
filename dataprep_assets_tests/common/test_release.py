"""common.release: a release asset declared from dataset declarations pins its parts' content hashes and counts
rows and groups per split of its table part, on a real store and a real Dagster instance."""

import dagster as dg
import pandas as pd
import pytest

from dataprep_assets.common.release import release_asset
from dataprep_assets.lib.datasets import Dataset

IMAGES = Dataset("demo_images", "demo/images", "directory")
SPLITS = Dataset("demo_splits", "demo/splits.parquet", "table")
RELEASE = Dataset("demo_release", "demo/release.json", "json")
demo_release = release_asset(RELEASE, group="demo", parts=[IMAGES, SPLITS], group_col="patient")


def write_parts(store, labels: list[str]) -> None:
    with store.write_dir(IMAGES.path) as staged:
        for name in ("a.png", "b.png"):
            (staged.path / name).write_bytes(name.encode())
    frame = pd.DataFrame({"file": ["a.png", "b.png", "c.png"], "patient": ["p1", "p1", "p2"], "split": labels})
    store.write_table(SPLITS.path, frame)


def materialize(store) -> str:
    """The release's data version after a run (the asset's, as Dagster records it)."""
    with dg.instance_for_test() as instance:
        result = dg.materialize([demo_release], instance=instance, resources={"store": store})
    return (result.asset_materializations_for_node("demo_release")[0].tags or {})["dagster/data_version"]


def test_release_asset_is_downstream_of_its_parts_and_counts_its_split_table(store):
    assert demo_release.key == dg.AssetKey("demo_release")
    assert set(demo_release.asset_deps[demo_release.key]) == {dg.AssetKey("demo_images"), dg.AssetKey("demo_splits")}
    write_parts(store, ["train", "train", "test"])
    assert not store.exists(RELEASE.path)
    data_version = materialize(store)
    release = store.read(RELEASE)
    assert release["dataset"] == "demo" and release["group_column"] == "patient"
    assert release["rows_per_split"] == {"test": 1, "train": 2}
    assert release["groups_per_split"] == {"test": 1, "train": 1}
    assert set(release["files"]) == {IMAGES.path, SPLITS.path}
    assert data_version == release["version"]


def test_release_version_changes_with_a_byte_of_a_part(store):
    write_parts(store, ["train", "train", "test"])
    first = materialize(store)
    assert materialize(store) == first
    write_parts(store, ["train", "test", "test"])
    assert materialize(store) != first


def test_release_needs_exactly_one_split_table_among_its_parts():
    with pytest.raises(ValueError, match="one split table"):
        release_asset(RELEASE, group="demo", parts=[IMAGES], group_col="patient")
