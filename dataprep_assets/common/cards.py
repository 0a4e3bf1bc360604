"""Writing a dataset card into the store (`cards/<pipeline>/`, swapped in whole) and the parts every card shares:
input versions from manifests, rejects with reasons, leak-check evidence, split balance against its target, bar and
histogram figures, the card itself (`dataset_card`) and the asset that writes it (`card_asset`)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

import dagster as dg
import pandas as pd

from dataprep_assets.common.automation import FOLLOW_UPSTREAM
from dataprep_assets.common.metadata import Metadata, data_version, latest_materialization_metadata, preview_metadata
from dataprep_assets.common.store import REJECTS_DIR, DatasetStore
from dataprep_assets.lib.cards import Card, Figure, Section, Table, card_files
from dataprep_assets.lib.charts import grouped_bars, histograms_by, remembered_charts
from dataprep_assets.lib.storage import combine_hashes

CARDS_DIR = "cards"
SPLIT_ORDER = ("train", "validation", "valid", "val", "test")


def card_dir(pipeline: str) -> str:
    return f"{CARDS_DIR}/{pipeline}"


def input_versions(store: DatasetStore, relpaths: Sequence[str]) -> dict[str, str]:
    """{dataset: content hash} from the manifests of the card's inputs (missing ones say so)."""
    return {p: (m.dataset_hash[:16] if (m := store.manifest(p)) else "not materialized") for p in relpaths}


def card_version(versions: Mapping[str, str]) -> str:
    return combine_hashes(list(versions.values()))[:16]


def target_fractions(
    instance: dg.DagsterInstance, splits: dg.AssetKey, default: Mapping[str, float]
) -> dict[str, float]:
    """The split fractions the `splits` asset last aimed at (its `target_fractions` metadata), else `default`."""
    return dict(latest_materialization_metadata(instance, splits).get("target_fractions") or default)


def histogram_figure(name: str, caption: str, frame: pd.DataFrame, value: str, by: str, **chart) -> Figure:
    """A card figure: histograms of `frame[value]` per group of `frame[by]` (`lib.charts.histograms_by`)."""
    return Figure(name, histograms_by(frame, value, by, **chart), caption)


def counts_tables(per_split: pd.DataFrame, per_class: pd.DataFrame, *, class_col: str, caption: str) -> list[Table]:
    """The card's two count tables, by the ids a reader (and test_cards) finds them by: `counts-per-split` (one row
    per split) and `counts-per-class` (`per_class`: one row per class, index named `class_col`; columns: splits)."""
    return [
        Table("counts-per-split", "per split", per_split),
        Table("counts-per-class", caption, per_class.rename_axis(class_col).reset_index()),
    ]


def bars_figure(name: str, caption: str, table: pd.DataFrame, **chart) -> Figure:
    """A card figure: grouped bars of `table`, one group per row (x axis), one series per column
    (`lib.charts.grouped_bars`; `chart`: its title, labels and options)."""
    data = {group: {series: float(value) for series, value in row.items()} for group, row in table.iterrows()}
    return Figure(name, grouped_bars(data, **chart), caption)  # pyright: ignore[reportArgumentType]  # pandas-stubs types row labels as any hashable


def rejects_frame(store: DatasetStore, asset_names: Sequence[str]) -> pd.DataFrame:
    """Every reject of the named assets, with the asset that refused it."""
    frames = []
    for name in asset_names:
        path = store.pull(f"{REJECTS_DIR}/{name}.csv")
        if path.exists():
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
            frames.append(frame.assign(asset=name)[["asset", "item", "stage", "reason", "detail"]])
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["asset", "item", "stage", "reason", "detail"])
    )


def rejects_section(rejects: pd.DataFrame, max_rows: int = 40) -> Section:
    counts = (
        rejects.groupby(["asset", "reason"]).size().rename("rejects").reset_index()
        if len(rejects)
        else (pd.DataFrame(columns=["asset", "reason", "rejects"]))
    )
    return Section(
        "Rejects",
        f"{len(rejects)} inputs refused, each with the file and the reason; the full tables are rejects/<asset>.csv.",
        tables=[
            Table("rejects-by-reason", "rejects per asset and reason", counts),
            Table("rejects", f"the first {min(max_rows, len(rejects))} rejects", rejects, max_rows=max_rows),
        ],
    )


def leak_tables(
    frame: pd.DataFrame, group_col: str, split_col: str = "split", order: Sequence[str] = ()
) -> list[Table]:
    """Groups per split, and for every pair of splits the groups they share (the leak check's evidence: 0)."""
    present = set(frame[split_col].unique())
    splits = [s for s in order if s in present] + sorted(present - set(order))
    by_split = frame.groupby(split_col, sort=False)[group_col]
    groups = {s: set(values.unique()) for s, values in by_split}
    rows = by_split.size()
    per_split = pd.DataFrame(
        {
            "split": splits,
            f"{group_col} groups": [len(groups.get(s, ())) for s in splits],
            "rows": [int(rows.get(s, 0)) for s in splits],
        }
    )
    pairs = []
    for a, b in itertools.combinations(splits, 2):
        shared = sorted(map(str, groups.get(a, set()) & groups.get(b, set())))
        pairs.append({"splits": f"{a} / {b}", f"shared {group_col}": len(shared), "examples": ", ".join(shared[:5])})
    overlap = pd.DataFrame(pairs, columns=["splits", f"shared {group_col}", "examples"])
    return [
        Table("leak-groups-per-split", f"{group_col} groups per split", per_split),
        Table("leak-overlap", f"{group_col} shared between splits (must be 0)", overlap),
    ]


def leak_section(frame: pd.DataFrame, group_col: str, split_col: str = "split", order: Sequence[str] = ()) -> Section:
    tables = leak_tables(frame, group_col, split_col, order)
    shared = int(tables[1].frame.iloc[:, 1].sum()) if len(tables[1].frame) else 0
    verdict = "no group is in more than one split" if shared == 0 else f"LEAK: {shared} groups are in several splits"
    return Section("Leak check", f"Whole `{group_col}` groups go to one split; {verdict}.", tables=tables)


def balance_table(achieved: Mapping[str, float], target: Mapping[str, float], what: str) -> Table:
    order = [s for s in SPLIT_ORDER if s in target] + [s for s in target if s not in SPLIT_ORDER]
    rows = [
        {
            "split": s,
            "target": float(target[s]),
            "achieved": float(achieved.get(s, 0.0)),
            "difference": float(achieved.get(s, 0.0)) - float(target[s]),
        }
        for s in order
    ]
    return Table("balance", f"{what}: achieved against target", pd.DataFrame(rows))


def write_card(store: DatasetStore, card: Card, preview: str | None = None) -> dg.MaterializeResult:
    """Write `cards/<pipeline>/` in one swap and return the card asset's result, linking the page."""
    relpath = card_dir(card.pipeline)
    files = card_files(card)
    with store.write_dir(relpath) as staged:
        (staged.path / "figures").mkdir()
        for name, data in sorted(files.items()):
            (staged.path / name).write_bytes(data)
    facts = {k: v for k, v in card.facts.items() if isinstance(v, (int, float, str))}
    meta: Metadata = {
        "card": dg.MetadataValue.url(store.uri(f"{relpath}/index.html")),
        "path": dg.MetadataValue.path(store.uri(relpath)),
        "card_markdown": dg.MetadataValue.path(store.uri(f"{relpath}/README.md")),
        "version": card.version,
        **facts,
        "inputs": dg.MetadataValue.json(card.inputs),
    }
    if preview is not None and f"figures/{preview}.png" in files:
        meta |= preview_metadata(files[f"figures/{preview}.png"], preview)
    return dg.MaterializeResult(data_version=data_version(staged.committed.dataset_hash), metadata=meta)


def dataset_card(
    *,
    pipeline: str,
    title: str,
    versions: dict[str, str],
    facts: dict[str, object],
    sections: Sequence[Section],
    rejects: pd.DataFrame,
    summary: str,
    version: str | None = None,
) -> Card:
    """A pipeline's card: its sections then the rejects section, its facts then the count of rejects; its version
    is `version` (the release's, where there is one), else the hash of its inputs' versions."""
    return Card(
        pipeline=pipeline,
        title=title,
        version=version or card_version(versions),
        inputs=versions,
        sections=[*sections, rejects_section(rejects)],
        facts={**facts, "rejects": len(rejects)},
        summary=summary,
    )


CardBuilder = Callable[[dg.AssetExecutionContext, DatasetStore], Card]


def card_asset(*, group: str, deps: Sequence, preview: str) -> Callable[[CardBuilder], dg.AssetsDefinition]:
    """Decorates a card builder into the asset of its name (and docstring) that builds the card (a chart of
    unchanged data is not drawn again) and writes it (`write_card`), the `preview` figure as its thumbnail."""

    def decorate(build: CardBuilder) -> dg.AssetsDefinition:
        def card(
            context, store: DatasetStore
        ) -> dg.MaterializeResult:  # (a string annotation of context fails Dagster)
            with remembered_charts(store.local_root()):
                made = build(context, store)
            return write_card(store, made, preview=preview)

        card.__name__, card.__doc__ = build.__name__, build.__doc__
        return dg.asset(
            name=build.__name__, group_name=group, deps=deps, kinds={"html"}, automation_condition=FOLLOW_UPSTREAM
        )(card)

    return decorate
