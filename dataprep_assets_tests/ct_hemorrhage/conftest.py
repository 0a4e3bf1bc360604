"""Fixtures for the ct_hemorrhage tests: the sample inputs generated once, copied into each test's store,
and the real DICOM files that ship with pydicom and pydicom-data."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.ct_hemorrhage import assets as A
from dataprep_assets.defs.ct_hemorrhage import checks as C
from dataprep_assets.defs.ct_hemorrhage import publish as P
from dataprep_assets.defs.ct_hemorrhage.layout import RAW
from dataprep_assets.sample_data.ct_hemorrhage import generate

ASSETS = [
    A.labelled_coco,
    A.no_hem_candidates,
    A.no_hem_dicoms,
    A.no_hem_pngs,
    A.no_hem_coco,
    A.patient_splits,
    A.balanced_splits,
    P.augmented_coco_6class,
    P.coco_4class,
    P.v4_analysis,
    P.v4_dataset_6class_csv,
    P.v4_dataset_4class_csv,
]
CHECKS = [v for v in vars(C).values() if isinstance(v, dg.AssetChecksDefinition)]


def real_dicom(name: str) -> Path:
    """A real DICOM file from pydicom's bundled test files or the pydicom-data package (no download)."""
    import data_store  # the pydicom-data package
    from pydicom.data import get_testdata_file

    bundled = Path(data_store.__file__).parent / "data" / name
    return bundled if bundled.is_file() else Path(get_testdata_file(name, download=False))


@pytest.fixture(scope="session")
def sample_template(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("ct_sample")
    generate(root, seed=0)
    return root


@pytest.fixture
def sample_store(sample_template: Path, store_root: Path) -> LocalDatasetStore:
    shutil.copytree(sample_template / RAW, store_root / RAW)
    return LocalDatasetStore(root=str(store_root))


def materialize(store, instance, selection=None, run_config=None, raise_on_error=False, assets=None):
    return dg.materialize(
        (assets or ASSETS) + CHECKS,
        instance=instance,
        resources={"store": store},
        selection=selection,
        run_config=run_config or {},
        raise_on_error=raise_on_error,
    )


def checks_by_name(result) -> dict[str, object]:
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in result.get_asset_check_evaluations()}
