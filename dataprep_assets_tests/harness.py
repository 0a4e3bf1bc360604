"""The one test harness for every pipeline: its assets and checks found in the code location by group (never
hand-listed), materialized on a real Dagster instance, and what a run says read back (failure text, check
results, data versions, metadata)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache
from typing import Any

import dagster as dg
from dagster._core.storage.defs_state.base import set_defs_state_storage  # pinned dagster 1.13

CARD_KIND = "html"
"""The kind of each pipeline's dataset card asset: left out of a plain `materialize_group` (it only renders)."""


@cache
def definitions() -> dg.Definitions:
    """The project's one code location, loaded once per test process."""
    from dataprep_assets.definitions import defs

    return defs()


def group_asset_keys(group: str) -> set[dg.AssetKey]:
    graph = definitions().resolve_asset_graph()
    return {node.key for node in graph.asset_nodes if node.group_name == group}


def group_assets(group: str, *, with_card: bool = False) -> list[dg.AssetsDefinition | dg.AssetSpec]:
    """The asset definitions of `group` (external assets too), the dataset card (kind `html`) only `with_card`."""
    keys = group_asset_keys(group)
    if not keys:
        raise ValueError(f"no assets in group {group!r}")
    found = {
        id(a): a
        for a in definitions().assets or []
        if isinstance(a, (dg.AssetsDefinition, dg.AssetSpec)) and asset_keys(a) & keys and (with_card or not is_card(a))
    }.values()
    return sorted(found, key=lambda a: sorted(k.to_user_string() for k in asset_keys(a)))


def asset_keys(a: dg.AssetsDefinition | dg.AssetSpec) -> set[dg.AssetKey]:
    return set(a.keys) if isinstance(a, dg.AssetsDefinition) else {a.key}


def is_card(a: dg.AssetsDefinition | dg.AssetSpec) -> bool:
    specs = a.specs if isinstance(a, dg.AssetsDefinition) else [a]
    return any(CARD_KIND in (spec.kinds or ()) for spec in specs)


def group_checks(group: str, *, skip: Iterable[str] = ()) -> list[dg.AssetChecksDefinition]:
    """Every asset check on an asset of `group` (as defined in the code location), less the check names in `skip`."""
    keys, skipped = group_asset_keys(group), set(skip)
    checks = list(
        {
            id(c): c
            for c in definitions().asset_checks or []
            if isinstance(c, dg.AssetChecksDefinition) and any(k.asset_key in keys for k in c.check_keys)
        }.values()
    )
    unknown = skipped - {k.name for c in checks for k in c.check_keys}
    if unknown:
        raise ValueError(f"no checks named {sorted(unknown)} in group {group!r}")
    return [c for c in checks if not {k.name for k in c.check_keys} <= skipped]


def materialize_group(
    group: str,
    store,
    instance: dg.DagsterInstance,
    *,
    selection: Any = None,
    run_config: Mapping | None = None,
    ops: Mapping | None = None,
    default_ops: Mapping | None = None,
    raise_on_error: bool = True,
    with_card: bool = False,
    skip_checks: Iterable[str] = (),
    partition_key: str | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialize `group`'s assets (or `selection`: names, definitions or an AssetSelection) with every check of
    the group, on `instance`.

    `ops` adds op configs to `run_config`; `default_ops` are op configs for selected assets neither gives one.
    """
    config = dict(run_config or {})
    defaults = {op: c for op, c in (default_ops or {}).items() if _selected(op, selection)}
    merged = {**defaults, **dict(config.get("ops", {})), **(ops or {})}
    if merged:
        config["ops"] = merged
    # Dagster keeps "the current defs-state storage" in a context variable set by entering an instance. A sensor or
    # schedule context built without `with` keeps its instance entered after the test disposes it, and loading
    # definitions later in the same process then fails ("undefined DagsterInstance weakref"). Tests close their
    # contexts; this binds the variable to the run's own instance as well, so one leak cannot fail other tests.
    with set_defs_state_storage(instance.defs_state_storage):
        return dg.materialize(
            [*group_assets(group, with_card=with_card), *group_checks(group, skip=skip_checks)],
            instance=instance,
            resources={"store": store},
            selection=list(selection) if _is_listed(selection) else selection,
            run_config=config,
            raise_on_error=raise_on_error,
            partition_key=partition_key,
        )


def _is_listed(selection: Any) -> bool:
    """A plain list or tuple of names / definitions (an AssetSelection is a record, itself a tuple underneath)."""
    return type(selection) in (list, tuple)


def _selected(asset: str, selection: Any) -> bool:
    """Whether `selection` (None = everything, or a list of names / asset definitions) holds `asset`."""
    if selection is None:
        return True
    if not _is_listed(selection):
        return False
    return any(asset in ({s} if isinstance(s, str) else {k.to_user_string() for k in s.keys}) for s in selection)


def runner(group: str, **defaults: Any) -> Callable[..., dg.ExecuteInProcessResult]:
    """`materialize(store, instance, **options)` for one pipeline: `materialize_group` with the pipeline's defaults."""

    def materialize(store, instance: dg.DagsterInstance, **options: Any) -> dg.ExecuteInProcessResult:
        return materialize_group(group, store, instance, **{**defaults, **options})

    return materialize


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    """The messages of every failed step of a run, joined (what the user reads in the UI)."""
    return " ".join(
        str(e.step_failure_data.error.message)
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data.error
    )


def config_refusal(launch: Callable[[], dg.ExecuteInProcessResult]) -> str:
    """What the user reads when `launch()` starts a run with bad config: Dagster's own error when the launch is refused
    (a wrong type, a choice outside a `Literal`: the launchpad's schema says so too), else the one-line `dg.Failure`
    that the step failed with at its start (a range or a cross-field rule, which only pydantic checks)."""
    try:
        result = launch()
    except dg.DagsterInvalidConfigError as exc:
        return str(exc)
    assert not result.success, "the run should have been refused"
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    user = failure.step_failure_data.user_failure_data
    assert user is not None and user.description, f"a dg.Failure, not an unexpected error: {failure_text(result)}"
    assert "\n" not in user.description and "Traceback" not in user.description
    return user.description


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    """`{"<asset>:<check>": evaluation}` of every check a run evaluated."""
    return {f"{e.asset_key.to_user_string()}:{e.check_name}": e for e in result.get_asset_check_evaluations()}


def data_versions(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """`{asset: data version}` of every asset a run materialized."""
    out = {}
    for event in result.get_asset_materialization_events():
        materialization = event.materialization
        out[materialization.asset_key.to_user_string()] = materialization.tags.get("dagster/data_version", "")
    return out


def latest_data_versions(instance: dg.DagsterInstance, assets: Iterable[str]) -> dict[str, str]:
    """`{asset: data version}` of the latest materialization of each of `assets` recorded on `instance`."""
    out = {}
    for name in assets:
        event = instance.get_latest_materialization_event(dg.AssetKey.from_user_string(name))
        materialization = event.asset_materialization if event is not None else None
        out[name] = (materialization.tags or {}).get("dagster/data_version", "") if materialization else ""
    return out


def metadata_value(result: dg.ExecuteInProcessResult, asset: str, key: str) -> Any:
    """The plain value of metadata entry `key` of `asset`'s (last) materialization in a run."""
    events = [
        e for e in result.get_asset_materialization_events() if e.materialization.asset_key.to_user_string() == asset
    ]
    if not events:
        raise KeyError(f"{asset} was not materialized in this run")
    entry = events[-1].materialization.metadata[key]
    return entry.value if isinstance(entry, dg.MetadataValue) else entry


NO_RECORDS = {
    # Dataset cards render documentation and charts from other assets' metadata: no records in or out.
    "cell_qa_dataset_card": "renders the card",
    "ct_hemorrhage_dataset_card": "renders the card",
    "echo_quality_dataset_card": "renders the card",
    "perva_retrieval_dataset_card": "renders the card",
    "quality_prediction_dataset_card": "renders the card",
    # Releases pin whole dataset versions by content hash (and count rows per split): they copy no records.
    "cell_qa_release": "pins dataset versions by hash",
    "echo_dataset_release": "pins dataset versions by hash",
    # An external asset: the inference runs write these files; Dagster never materializes it.
    "echo_inference_output": "external (written by the inference runs)",
    # Reports of statistics over published datasets: they summarise records, they publish none.
    "v4_analysis": "counts over the 6- and 4-class sets",
    "feature_report": "statistics and a probe over the features",
}
"""Assets exempt from the accounting identity (they consume no records), with why."""


def accounting_gaps(group: str, results: Iterable[dg.ExecuteInProcessResult]) -> dict[str, str]:
    """`{asset: problem}` for every asset of `group` (found in the code location) outside `NO_RECORDS` whose
    materializations in `results` lack `accounting/*` metadata or show unaccounted records, or that none of the
    runs materialized (an asset added later without its identity fails here)."""
    found: dict[str, list[dict]] = {}
    for result in results:
        for event in result.get_asset_materialization_events():
            materialization = event.materialization
            entries = found.setdefault(materialization.asset_key.to_user_string(), [])
            entries += [
                {"what": key, **dict(value.value if isinstance(value, dg.MetadataValue) else value)}
                for key, value in materialization.metadata.items()
                if key.startswith("accounting/")
            ]
    gaps = {}
    for key in sorted(k.to_user_string() for k in group_asset_keys(group)):
        if key in NO_RECORDS:
            continue
        if key not in found:
            gaps[key] = "not materialized by these runs"
        elif not found[key]:
            gaps[key] = "no accounting/* metadata"
        elif any(entry["records_unaccounted"] != 0 for entry in found[key]):
            gaps[key] = f"records unaccounted: {found[key]}"
    return gaps


def blocking_checks(group: str) -> dict[str, dg.AssetCheckKey]:
    """`{"<asset>:<check>": key}` of every blocking check of `group` (as defined in the code location)."""
    return {
        f"{spec.asset_key.to_user_string()}:{spec.name}": spec.key
        for check in group_checks(group)
        for spec in check.check_specs
        if spec.blocking
    }


def downstream_assets(asset: str, *, with_card: bool = False) -> set[str]:
    """Every asset that depends on `asset`, directly or not (found in the code location), the cards only
    `with_card`."""
    graph = definitions().resolve_asset_graph()
    cards = {k for a in definitions().assets or [] if isinstance(a, dg.AssetsDefinition) and is_card(a) for k in a.keys}
    found, todo = set(), [dg.AssetKey.from_user_string(asset)]
    while todo:
        for child in graph.get(todo.pop()).child_keys:
            if child not in found and (with_card or child not in cards):
                found.add(child)
                todo.append(child)
    return {k.to_user_string() for k in found}


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    """The assets a run materialized."""
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def store_contents(store) -> dict[str, str]:
    """`{store-relative path: sha256}` of every file in the current view of every dataset of `store` and of every
    rejects table: what "byte-identical outputs" compares."""
    import hashlib

    root = store.local_root()
    files = [p for d in store.datasets() for p in _files(store.path(d))] + _files(root / "rejects")
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(set(files))}


def _files(path) -> list:
    if path.is_file():
        return [path]
    return [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else []


def tick_sensor(sensor, defs: dg.Definitions, instance: dg.DagsterInstance, store, cursor: str | None):
    """One evaluation of `sensor` on a real instance with `store` as its resource; the dynamic partitions it
    requests are added, as the daemon would."""
    with dg.build_sensor_context(
        instance=instance, instance_ref=instance.get_ref(), cursor=cursor, resources={"store": store}, definitions=defs
    ) as context:
        result = sensor.evaluate_tick(context)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result
