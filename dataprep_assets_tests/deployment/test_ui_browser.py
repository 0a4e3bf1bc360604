"""The Dagster UI, as a person uses it, on the real webserver.

`dagster dev` runs over the local instance config (dagster.yaml: SQLite, queued runs, the daemon)
and small cell_qa sample data. The cell_qa group is materialized through GraphQL exactly as the
UI's "Materialize all" button does it (plus the launchpad's in-process executor, see
docs/deployment.md), the run must succeed with every asset check passed, and headless Chromium
must render the asset graph with those results: asserted on the DOM, with the screenshot kept
under test-artifacts/ui/ (docs/images/ holds a copy for the docs).
"""

import json
import shutil
import time
from collections import Counter

import pytest

from dataprep_assets_tests.deployment.browser import Browser
from dataprep_assets_tests.deployment.conftest import ARTIFACTS, ROOT, write_cell_qa_sample
from dataprep_assets_tests.deployment.graphql_ui import DagsterGraphQL
from dataprep_assets_tests.deployment.webserver import DagsterDev

pytestmark = pytest.mark.slow

GROUP, LOCATION = "cell_qa", "dataprep_assets"
# The Materialize button sends no config: the code location's default (in-process) executor runs it.
LAUNCHPAD_CONFIG: dict = {}
OUT = ARTIFACTS / "ui"
SCREENSHOT = OUT / "cell_qa_asset_graph.png"

GRAPH_STATE_JS = """
(() => {
  const checks = {};
  for (const a of document.querySelectorAll('a[href^="/assets/"][href$="?view=checks"]')) {
    const key = decodeURIComponent(a.getAttribute('href').slice('/assets/'.length).split('?')[0]);
    checks[key] = a.innerText.trim();
  }
  const runs = [...document.querySelectorAll('a[href^="/runs/"]')]
    .map(a => a.getAttribute('href').slice('/runs/'.length).split('?')[0]);
  const button = [...document.querySelectorAll('button')]
    .map(b => b.innerText.trim()).find(t => t.startsWith('Materialize')) || null;
  return {checks, runs, button, title: document.title};
})()
"""


@pytest.fixture
def ui(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    store = tmp_path / "store"
    write_cell_qa_sample(store)
    OUT.mkdir(parents=True, exist_ok=True)
    server = DagsterDev(
        workspace=ROOT / "workspace.yaml",
        dagster_home=home,
        log_path=OUT / "dagster_dev.log",
        env={"DATAPREP_STORE_ROOT": str(store)},
    ).start()
    try:
        DagsterGraphQL(server.url).wait_for_location(LOCATION)
        server.startup_seconds = time.monotonic() - server.started_at
    except BaseException:
        server.stop(strict=False)
        raise
    yield server
    server.stop()  # raises if the process group ignored SIGTERM


def _materialize_all(client: DagsterGraphQL, group_assets: set[str]) -> tuple[str, dict, list]:
    run_id, params = client.materialize_group(GROUP, LOCATION, run_config=LAUNCHPAD_CONFIG)
    transitions = client.wait_for_run(run_id)
    assert transitions[-1][1] == "SUCCESS", f"run {run_id}: {transitions}"
    # Queued first: the local instance's QueuedRunCoordinator and the daemon launched it.
    assert transitions[0][1] in {"QUEUED", "NOT_STARTED", "STARTING"}
    # The whole group, exactly its materializable assets, with their checks.
    assert {"/".join(k["path"]) for k in params["selector"]["assetSelection"]} == group_assets
    assert params["selector"]["assetCheckSelection"]
    return run_id, params, transitions


def _assert_every_check_passed(client: DagsterGraphQL, run_id: str) -> Counter:
    checks = client.group_checks(GROUP, LOCATION)
    assert ("cell_level_dataframe_with_splits", "no_original_image_key_overlap") in checks
    for (asset, name), execution in checks.items():
        assert execution is not None, f"{asset}:{name} never ran"
        assert execution["runId"] == run_id
        assert execution["status"] == "SUCCEEDED", f"{asset}:{name} is {execution['status']}"
        assert execution["evaluation"]["success"] is True
    return Counter(asset for asset, _ in checks)


def _render_asset_graph(url: str, n_checks_assets: int, n_materialized: int) -> dict:
    with Browser(width=1920, height=1000) as browser:
        browser.navigate(f"{url}/locations/{LOCATION}/asset-groups/{GROUP}/lineage")
        browser.wait_for(
            GRAPH_STATE_JS,
            lambda s: bool(s) and len(s["checks"]) >= n_checks_assets and len(s["runs"]) >= n_materialized,
        )
        time.sleep(1.0)  # let the graph's fit-to-screen animation settle before the picture
        browser.screenshot(SCREENSHOT)
        (OUT / "cell_qa_asset_graph.html").write_text(browser.dom())
        return browser.evaluate(GRAPH_STATE_JS)


def test_materialize_all_from_the_ui_then_see_it_in_the_browser(ui, defs):
    group_assets = {
        n.key.to_user_string()
        for n in defs.resolve_asset_graph().asset_nodes
        if n.group_name == GROUP and n.is_executable
    }
    assert {"cell_qa_inventory", "cell_crops", "cell_level_dataframe_with_splits", "cell_qa_release"} <= group_assets
    client = DagsterGraphQL(ui.url)
    started = time.monotonic()
    run_id, params, transitions = _materialize_all(client, group_assets)
    launch_to_end = time.monotonic() - started
    (OUT / "timings.json").write_text(
        json.dumps(
            {
                "webserver_start_s": round(ui.startup_seconds, 1),
                "launch_to_success_s": round(launch_to_end, 1),
                "status_transitions": transitions,
            },
            indent=2,
        )
    )

    checks_per_asset = _assert_every_check_passed(client, run_id)

    client.query("mutation { setNuxSeen }")  # what "Skip" on the first-visit community dialog does
    n_materialized = len(params["selector"]["assetSelection"])
    state = _render_asset_graph(ui.url, len(checks_per_asset), n_materialized)
    assert state["checks"] == {asset: f"{n} / {n} Passed" for asset, n in checks_per_asset.items()}
    # Every materialized node links its latest event to our run (and no other run is linked).
    assert set(state["runs"]) == {run_id} and len(state["runs"]) >= n_materialized
    assert state["button"].startswith("Materialize all")
    assert SCREENSHOT.stat().st_size > 20_000
