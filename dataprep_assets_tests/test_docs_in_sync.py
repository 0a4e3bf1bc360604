"""The docs quote asset names, config defaults and concurrency limits; this keeps them equal to the code.

- every name in the first column of an asset table (header `asset`) is an asset of the definitions;
- every "`field` (value)" in a doc's config list ("- `asset`: ...") equals that asset's config default;
- the backfill limit and run slots the docs quote are the ones in `dagster.yaml`.
"""

import re
from pathlib import Path

import dagster as dg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted((ROOT / "docs").glob("*.md"))
CONFIG_ITEM = re.compile(r"^- `(?P<asset>[a-z0-9_]+)`: (?P<body>.*)$")
FIELD_VALUE = re.compile(r"`(?P<field>[a-z0-9_]+)` \((?P<value>[^()]*(?:\([^()]*\)[^()]*)*)\)")


def _asset_keys(defs: dg.Definitions) -> set[str]:
    return {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}


def _config_defaults(defs: dg.Definitions) -> dict[str, dict]:
    """asset key -> {field: default} from the Pythonic config class of the asset's function."""
    out = {}
    for assets_def in defs.resolve_asset_graph().assets_defs:
        if not assets_def.is_executable:
            continue
        fn = getattr(assets_def.op.compute_fn, "decorated_fn", None)
        config_cls = getattr(fn, "__annotations__", {}).get("config")
        if isinstance(config_cls, type) and issubclass(config_cls, dg.Config):
            defaults = {name: field.default for name, field in config_cls.model_fields.items()}
            for key in assets_def.keys:
                out[key.to_user_string()] = defaults
    return out


def _config_items(text: str):
    """(asset, body) of every "- `asset`: ..." list item, continuation lines joined."""
    item = None
    for line in text.splitlines() + [""]:
        match = CONFIG_ITEM.match(line)
        if match or not line.startswith("  "):
            if item:
                yield item
            item = [match["asset"], match["body"]] if match else None
        elif item:
            item[1] += " " + line.strip()


def _agrees(quoted: str, default) -> bool | None:
    """Whether a quoted value equals the default; None when the quote is not a single value (choices, prose)."""
    quoted = quoted.strip().strip("`")
    value = (
        quoted.split(";")[0].split(" = ")[0].split(", ")[0].strip().strip("`")
        if not quoted.startswith("[")
        else quoted.split("]")[0] + "]"
    )
    if isinstance(default, (list, tuple)):
        if not value.startswith("["):
            return None
        return [v.strip().strip("`'\"") for v in value[1:-1].split(",") if v.strip()] == [str(v) for v in default]
    if "|" in value or " " in value.strip():
        return None
    if isinstance(default, bool):
        return value.lower() == str(default).lower() if value.lower() in ("true", "false") else None
    if default is None:
        return (
            value in ("null", "none", "None") if value in ("null", "none", "None", "") or value[:1].isdigit() else None
        )
    if isinstance(default, (int, float)):
        try:
            return float(value) == float(default)
        except ValueError:
            return None
    if isinstance(default, str):
        return value == default or (default == "" and value in ("empty", '""'))
    return None


def test_asset_tables_name_real_assets(defs):
    keys = _asset_keys(defs)
    unknown = []
    for doc in DOCS:
        header = None
        for line in doc.read_text().splitlines():
            if not line.startswith("|"):
                header = None
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells[0].lower()
                continue
            if header == "asset" and not set(cells[0]) <= set("-: "):
                names = re.findall(r"`([a-z0-9_/]+)`", cells[0].split("(")[0])
                unknown += [f"{doc.name}: {n}" for n in names if n not in keys]
    assert not unknown, unknown


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_config_defaults_quoted_in_docs_match_the_code(defs, doc):
    defaults = _config_defaults(defs)
    wrong, compared = [], 0
    for asset, body in _config_items(doc.read_text()):
        if asset not in defaults:
            continue
        for match in FIELD_VALUE.finditer(body):
            field = match["field"]
            if field not in defaults[asset]:
                continue
            agrees = _agrees(match["value"], defaults[asset][field])
            compared += agrees is not None
            if agrees is False:
                wrong.append(f"{asset}.{field}: docs say ({match['value']}), code default {defaults[asset][field]!r}")
    assert not wrong, wrong
    if doc.name in ("quality_prediction.md", "perva_retrieval.md", "cell_qa.md"):
        assert compared >= 4, f"{doc.name}: the config list was not found (format changed?)"


def test_concurrency_limits_quoted_in_docs_match_dagster_yaml():
    runs = yaml.safe_load((ROOT / "dagster.yaml").read_text())["concurrency"]["runs"]
    limits = {t["key"]: t["limit"] for t in runs["tag_concurrency_limits"]}
    deployment = (ROOT / "docs/deployment.md").read_text()
    slots = re.search(r"\((\d+) of (\d+) locally", deployment)
    assert slots and (int(slots[1]), int(slots[2])) == (limits["dagster/backfill"], runs["max_concurrent_runs"])
    for doc in DOCS:
        for quoted in re.findall(r"`dagster/backfill` to (\d+)", doc.read_text()):
            assert int(quoted) == limits["dagster/backfill"], doc.name


def test_a_stale_default_is_caught():
    assert _agrees("5", 15.0) is False and _agrees("15", 15.0) is True
    assert _agrees("[PNG, JPEG]", ["PNG", "JPEG"]) is True and _agrees("[PNG]", ["PNG", "JPEG"]) is False
    assert _agrees("image_stats | resnet50", "auto") is None and _agrees("`manifests/PerVA`", "manifests/PerVA") is True
