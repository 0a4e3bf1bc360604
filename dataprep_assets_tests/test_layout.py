"""Test folders mirror the package: the tests of `lib/X.py` are `lib/test_X*.py`, of `common/X.py`
`common/test_X*.py`, of `sample_data/X.py` `sample_data/test_X*.py`; a pipeline's tests sit in the folder named
after it in `defs/`; the few cross-cutting folders and top-level files are listed here, with why."""

from pathlib import Path

import pytest

TESTS = Path(__file__).parent
PACKAGE = TESTS.parent / "dataprep_assets"

MIRRORED = ("lib", "common", "sample_data")
"""Test folders whose every `test_<name>*.py` names a module `<name>.py` of the same folder in the package."""

CROSS_CUTTING_FOLDERS = {
    "compute": "the pipelines on a real Dask cluster (one session-wide cluster fixture)",
    "deployment": "the real stack: compose, daemon, Postgres, webserver, browser",
}
CROSS_CUTTING_FILES = {
    "test_accounting_everywhere.py": "the accounting identity on every asset of every pipeline",
    "test_benchmarks.py": "`make bench`: the plan over every script in benchmarks/",
    "test_cards.py": "every pipeline's dataset card",
    "test_crash_sweep.py": "a crash at every crash point of the store",
    "test_defs.py": "the one code location: every asset, check, sensor and config field",
    "test_docs_in_sync.py": "docs/ against the code",
    "test_guarantees.py": "the README's guarantees, parametrised over every pipeline",
    "test_layout.py": "this rule",
    "test_pure_imports.py": "the import layering of the whole package",
}


def _modules(folder: Path) -> set[str]:
    return {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}


def _test_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("test_*.py"))


def module_named_by(test_file: Path, modules: set[str]) -> str | None:
    """The module of `modules` that `test_<module>[_<aspect>].py` names (the longest that fits), or None."""
    stem = test_file.stem.removeprefix("test_")
    fits = [m for m in modules if stem == m or stem.startswith(f"{m}_")]
    return max(fits, key=len) if fits else None


@pytest.mark.parametrize("folder", MIRRORED)
def test_each_test_file_names_a_module_of_the_same_folder(folder):
    modules = _modules(PACKAGE / folder)
    strays = [p.name for p in _test_files(TESTS / folder) if module_named_by(p, modules) is None]
    assert not strays, f"{folder}/: {strays} name no module of dataprep_assets/{folder}/ (rename or move them)"


def test_every_test_folder_is_a_package_folder_a_pipeline_or_a_listed_cross_cutting_one():
    pipelines = {p.name for p in (PACKAGE / "defs").iterdir() if (p / "__init__.py").is_file()}
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and _test_files(p)}
    strays = folders - set(MIRRORED) - pipelines - set(CROSS_CUTTING_FOLDERS)
    assert not strays, f"test folders {sorted(strays)} mirror nothing in dataprep_assets/"


def test_top_level_test_files_are_the_listed_cross_cutting_ones():
    strays = {p.name for p in _test_files(TESTS)} - set(CROSS_CUTTING_FILES)
    assert not strays, f"{sorted(strays)}: move each beside what it tests (lib/, common/, a pipeline folder)"


def test_a_stray_file_is_caught():
    modules = {"coco", "dicom"}
    assert module_named_by(Path("test_dicom_header.py"), modules) == "dicom"
    assert module_named_by(Path("test_coconut.py"), modules) is None
    assert module_named_by(Path("test_robustness_helpers.py"), modules) is None
