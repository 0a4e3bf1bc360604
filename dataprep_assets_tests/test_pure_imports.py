"""The pure modules (lib/ and each pipeline's domain modules) import without Dagster, so a worker
process or a notebook that needs only the COCO / DICOM / crop functions does not pay for it."""

import ast
import json
import subprocess
import sys
from pathlib import Path

import dataprep_assets

PACKAGE = Path(dataprep_assets.__file__).parent


def _dagster_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(module aliases of dagster packages, names imported from them) at the module's top level."""
    aliases, names = set(), set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            aliases |= {a.asname or a.name for a in node.names if a.name.split(".")[0].startswith("dagster")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0].startswith("dagster"):
            names |= {a.asname or a.name for a in node.names}
    return aliases, names


def _is_dagster(expr: ast.expr, aliases: set[str], names: set[str]) -> bool:
    """Whether `expr` (a decorator, base class or value) is, or calls, something of Dagster's."""
    while isinstance(expr, ast.Call):
        expr = expr.func
    while isinstance(expr, ast.Attribute):
        expr = expr.value
    return isinstance(expr, ast.Name) and (expr.id in aliases or expr.id in names)


def is_dagster_layer(path: Path) -> bool:
    """Whether a module belongs to the thin Dagster layer: it holds module-level Dagster definitions (a function
    with a Dagster decorator, a class on a Dagster base, a value built by a Dagster call) or imports
    `dataprep_assets.common` (the Dagster-aware layer)."""
    tree = ast.parse(path.read_text())
    aliases, names = _dagster_names(tree)
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dataprep_assets.common"):
            return True
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and any(
            _is_dagster(d, aliases, names) for d in node.decorator_list
        ):
            return True
        if isinstance(node, ast.ClassDef) and any(_is_dagster(b, aliases, names) for b in node.bases):
            return True
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if value is not None and _is_dagster(value, aliases, names):
            return True
    return False


MODULES = sorted(PACKAGE.glob("lib/*.py")) + sorted(PACKAGE.glob("defs/*/*.py"))
DAGSTER_WRAPPERS = {f for f in MODULES if is_dagster_layer(f)}
"""The thin Dagster layer (assets, checks, config, sensors, jobs, and what uses `common/`): allowed to import Dagster.
Found by what a module holds, never by its file name: every other module of lib/ and defs/ must be pure."""


def pure_modules() -> list[str]:
    return [".".join(f.relative_to(PACKAGE.parent).with_suffix("").parts) for f in MODULES if f not in DAGSTER_WRAPPERS]


def test_the_dagster_layer_is_found_by_what_modules_hold():
    wrappers = {f.relative_to(PACKAGE).as_posix() for f in DAGSTER_WRAPPERS}
    for pipeline in ("cell_qa", "ct_hemorrhage", "echo_quality", "perva_retrieval", "quality_prediction"):
        assert {f"defs/{pipeline}/{m}.py" for m in ("card", "checks", "config", "uploads")} <= wrappers, pipeline
    # a pure module that shares its name with a wrapper elsewhere is still checked
    assert "defs/ct_hemorrhage/splits.py" in wrappers and "lib/splits.py" not in wrappers
    assert not any(w.startswith("lib/") for w in wrappers), "lib/ holds nothing of Dagster"
    assert not {"defs/ct_hemorrhage/columns.py", "defs/cell_qa/extract.py", "defs/echo_quality/dicoms.py"} & wrappers


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
