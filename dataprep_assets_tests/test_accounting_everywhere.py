"""The accounting identity (records in = out + rejects + set aside) is audited in every pipeline: each
group of the code location has a test that runs `accounting_gaps` over a real materialization, and the
exemption list (`NO_RECORDS`) names only assets that exist."""

from pathlib import Path

from dataprep_assets_tests.harness import NO_RECORDS, accounting_gaps, definitions

TESTS = Path(__file__).parent


def _groups_and_assets() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for node in definitions().resolve_asset_graph().asset_nodes:
        out.setdefault(str(node.group_name), set()).add(node.key.to_user_string())
    return out


def _test_folder(group: str) -> Path:
    """The test folder mirroring the package that defines the group's assets: `defs/<pipeline>/` -> `<pipeline>/`;
    a group defined in `common/` alone (the upload batches) -> `common/`."""
    modules = [
        node.assets_def.op.compute_fn.decorated_fn.__module__.split(".")  # pyright: ignore[reportAttributeAccessIssue]
        for node in definitions().resolve_asset_graph().asset_nodes
        if node.group_name == group and node.assets_def.is_executable
    ]
    pipelines = {m[2] for m in modules if m[1] == "defs"}
    return TESTS / (pipelines.pop() if len(pipelines) == 1 else "common")


def test_every_pipeline_audits_its_accounting_on_a_real_materialization():
    unaudited = [
        group
        for group, assets in _groups_and_assets().items()
        if set(assets) - set(NO_RECORDS)
        and not any("accounting_gaps(" in p.read_text() for p in _test_folder(group).glob("test_*.py"))
    ]
    assert unaudited == []


def test_the_exemptions_name_existing_assets():
    every_asset = set().union(*_groups_and_assets().values())
    assert sorted(set(NO_RECORDS) - every_asset) == []


def test_an_asset_without_its_ledger_is_a_gap():
    """A run that materialized nothing leaves every non-exempt asset of the group a gap (the audit can fail)."""
    assets = _groups_and_assets()["cell_qa"]
    gaps = accounting_gaps("cell_qa", [])
    assert set(gaps) == assets - set(NO_RECORDS) and "cell_crops" in gaps
    assert set(gaps.values()) == {"not materialized by these runs"}
