"""The Dagster UI's own GraphQL calls, made from Python.

`materialize_group` follows the UI's "Materialize all" button on an asset group page
(`LaunchAssetExecutionButton.tsx`): load the group's asset nodes, keep the executable ones, ask
`LaunchAssetLoaderQuery` for their jobs and checks, pick the first job they all share, select every
check of those assets that runs in that job, and send the `LaunchPipelineExecution` mutation. The
optional `run_config` is what the launchpad (shift+click on the button) adds.
"""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import dataclass

ASSET_GROUP_QUERY = """
query AssetGroupNodes($group: AssetGroupSelector!) {
  assetNodes(group: $group) { assetKey { path } isExecutable isObservable }
}
"""

LAUNCH_ASSET_LOADER_QUERY = """
query LaunchAssetLoaderQuery($assetKeys: [AssetKeyInput!]!) {
  assetNodes(assetKeys: $assetKeys) {
    id opNames jobNames isObservable isExecutable isMaterializable
    assetKey { path }
    assetChecksOrError { ... on AssetChecks { checks { name canExecuteIndividually jobNames } } }
    repository { name location { name } }
    requiredResources { resourceKey }
    configField { isRequired }
  }
}
"""

LAUNCH_PIPELINE_EXECUTION = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { id runId pipelineName } }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
  }
}
"""

RUN_STATUS = "query RunStatus($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status } } }"

GROUP_CHECKS = """
query GroupChecks($group: AssetGroupSelector!) {
  assetNodes(group: $group) {
    assetKey { path }
    assetChecksOrError {
      ... on AssetChecks { checks { name executionForLatestMaterialization { runId status evaluation { success } } } }
    }
  }
}
"""

LOCATIONS = """
query Locations {
  workspaceOrError {
    ... on Workspace {
      locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } }
    }
  }
}
"""

TERMINAL = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass
class DagsterGraphQL:
    url: str

    def query(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            payload = json.load(response)
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def wait_for_location(self, name: str, timeout: float = 240) -> None:
        """Wait until the webserver has loaded code location `name`; raise its load error if it failed."""
        deadline, entries = time.monotonic() + timeout, []
        while time.monotonic() < deadline:
            entries = self.query(LOCATIONS)["workspaceOrError"]["locationEntries"]
            entry = next((e for e in entries if e["name"] == name), None)
            if entry and entry["loadStatus"] == "LOADED":
                loaded = entry["locationOrLoadError"]
                if loaded["__typename"] == "PythonError":
                    raise RuntimeError(f"code location {name} failed to load: {loaded['message']}")
                return
            time.sleep(0.5)
        raise TimeoutError(f"code location {name} not loaded within {timeout:.0f}s: {entries}")

    def materialize_group(
        self, group: str, location: str, repository: str = "__repository__", run_config: dict | None = None
    ) -> tuple[str, dict]:
        """Launch what "Materialize all" launches for `group`; return the run id and the execution params sent."""
        selector = {"groupName": group, "repositoryLocationName": location, "repositoryName": repository}
        nodes = self.query(ASSET_GROUP_QUERY, {"group": selector})["assetNodes"]
        keys = [{"path": n["assetKey"]["path"]} for n in nodes if n["isExecutable"] and not n["isObservable"]]
        assets = self.query(LAUNCH_ASSET_LOADER_QUERY, {"assetKeys": keys})["assetNodes"]
        if any(a["configField"] and a["configField"]["isRequired"] for a in assets) and run_config is None:
            raise ValueError(f"an asset of {group} requires config: the UI would open the launchpad")
        common = [job for job in assets[0]["jobNames"] if all(job in a["jobNames"] for a in assets)]
        if not common:
            raise ValueError(f"the assets of {group} share no job")
        job = common[0]
        checks = [
            {"assetKey": {"path": a["assetKey"]["path"]}, "name": c["name"]}
            for a in assets
            for c in a["assetChecksOrError"].get("checks", [])
            if not c["jobNames"] or job in c["jobNames"]
        ]
        params = {
            "mode": "default",
            "executionMetadata": {"tags": []},
            "runConfigData": json.dumps(run_config or {}),
            "selector": {
                "repositoryLocationName": assets[0]["repository"]["location"]["name"],
                "repositoryName": assets[0]["repository"]["name"],
                "pipelineName": job,
                "assetSelection": [{"path": a["assetKey"]["path"]} for a in assets],
                "assetCheckSelection": checks,
            },
        }
        launched = self.query(LAUNCH_PIPELINE_EXECUTION, {"executionParams": params})["launchPipelineExecution"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launch failed: {launched}")
        return launched["run"]["runId"], params

    def launch_job(
        self, job: str, location: str, repository: str = "__repository__", run_config: dict | None = None
    ) -> str:
        """Launch job `job` as the launchpad's "Launch run" does; return the run id."""
        params = {
            "mode": "default",
            "executionMetadata": {"tags": []},
            "runConfigData": json.dumps(run_config or {}),
            "selector": {"repositoryLocationName": location, "repositoryName": repository, "pipelineName": job},
        }
        launched = self.query(LAUNCH_PIPELINE_EXECUTION, {"executionParams": params})["launchPipelineExecution"]
        if launched["__typename"] != "LaunchRunSuccess":
            raise RuntimeError(f"launch failed: {launched}")
        return launched["run"]["runId"]

    def run_status(self, run_id: str) -> str:
        return self.query(RUN_STATUS, {"runId": run_id})["runOrError"]["status"]

    def wait_for_run(self, run_id: str, timeout: float = 300) -> list[tuple[float, str]]:
        """Poll until the run ends; return the (seconds, status) transitions seen."""
        started, seen = time.monotonic(), []
        while time.monotonic() - started < timeout:
            status = self.run_status(run_id)
            if not seen or seen[-1][1] != status:
                seen.append((round(time.monotonic() - started, 1), status))
            if status in TERMINAL:
                return seen
            time.sleep(0.5)
        raise TimeoutError(f"run {run_id} did not finish within {timeout:.0f}s: {seen}")

    def group_checks(
        self, group: str, location: str, repository: str = "__repository__"
    ) -> dict[tuple[str, str], dict | None]:
        selector = {"groupName": group, "repositoryLocationName": location, "repositoryName": repository}
        nodes = self.query(GROUP_CHECKS, {"group": selector})["assetNodes"]
        return {
            ("/".join(n["assetKey"]["path"]), c["name"]): c["executionForLatestMaterialization"]
            for n in nodes
            for c in n["assetChecksOrError"].get("checks", [])
        }
