"""Fixtures for the ct_hemorrhage tests: the sample inputs generated once, copied into each test's store,
and the real DICOM files that ship with pydicom and pydicom-data."""

import shutil
from pathlib import Path

import pytest

from dataprep_assets.common.store import LocalDatasetStore
from dataprep_assets.defs.ct_hemorrhage import datasets as D
from dataprep_assets.sample_data.ct_hemorrhage import generate
from dataprep_assets_tests.harness import runner

materialize = runner("ct_hemorrhage", raise_on_error=False)
"""The ct_hemorrhage graph (without its card) and every one of its checks, on a real instance."""


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
    shutil.copytree(sample_template / D.RAW_PREFIX, store_root / D.RAW_PREFIX)
    return LocalDatasetStore(root=str(store_root))
