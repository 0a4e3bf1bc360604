"""The pure modules (lib/ and each pipeline's domain modules) import without Dagster, so a worker
process or a notebook that needs only the COCO / DICOM / crop functions does not pay for it."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import dataprep_assets

PACKAGE = Path(dataprep_assets.__file__).parent
DAGSTER_WRAPPERS = {
    "assets",
    "checks",
    "config",
    "automation",
    "publish",
    "uploads",
    "demo",
    "paths",
    "resources",
    "results_location",
    "report",
    "gc",
    "card",
    # ct_hemorrhage's asset modules, one per stage of the seed's workflow
    "labelled_sources",
    "pool",
    "splits",
    "training_set",
    "reports",
    "jobs",
}
"""The thin Dagster layer (assets, checks, config, sensors, and what uses `common/`): allowed to import it.
A new domain module is pure unless its name is added here."""


def pure_modules() -> list[str]:
    files = sorted(PACKAGE.glob("lib/*.py")) + sorted(PACKAGE.glob("defs/*/*.py"))
    return [
        ".".join(f.relative_to(PACKAGE.parent).with_suffix("").parts) for f in files if f.stem not in DAGSTER_WRAPPERS
    ]


def test_pure_modules_do_not_import_dagster():
    modules = pure_modules()
    assert {
        "dataprep_assets.lib.coco",
        "dataprep_assets.lib.dicom",
        "dataprep_assets.defs.cell_qa.extract",
        "dataprep_assets.defs.ct_hemorrhage.labelled",
        "dataprep_assets.defs.ct_hemorrhage.convert",
    } <= set(modules)
    # one fresh interpreter imports them in turn and names the first one after which dagster is loaded
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    if any(m == 'dagster' or m.startswith('dagster.') or m.startswith('dagster_') for m in sys.modules):\n"
        "        print(json.dumps(name)); break\n"
        "else:\n"
        "    print(json.dumps(None))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) is None, f"{out.stdout.strip()} pulls in dagster"


def test_ml_modules_depend_only_on_ml_and_lib():
    """The model side (`ml/`) never imports a pipeline folder, `common/` or Dagster: `defs/` may use `ml/`, not the
    reverse (no folder-level import loop)."""
    allowed = ("dataprep_assets.ml", "dataprep_assets.lib")
    outside = []
    for path in sorted(PACKAGE.glob("ml/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            outside += [
                f"{path.name}: {name}"
                for name in names
                if (name.startswith("dataprep_assets") and not name.startswith(allowed)) or name.startswith("dagster")
            ]
    assert not outside, outside
