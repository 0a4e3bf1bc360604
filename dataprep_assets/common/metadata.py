"""Asset metadata a person reads at a glance: tables, counts, images, links to files."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import pandas as pd

from dataprep_assets.common.store import DatasetStore
from dataprep_assets.lib.images import markdown_image
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import Manifest, combine_hashes


def markdown_table(frame: pd.DataFrame, max_rows: int = 20, float_format: str = "{:.3f}") -> str:
    """A GitHub-style markdown table of the first `max_rows` rows (no extra dependency)."""
    if frame.empty:
        return "_(empty)_"
    shown = frame.head(max_rows)

    def cell(value) -> str:
        if isinstance(value, float):
            return float_format.format(value)
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(str, shown.columns)) + " |", "|" + "---|" * len(shown.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    if len(frame) > max_rows:
        lines.append(f"\n_{len(frame) - max_rows} more rows not shown_")
    return "\n".join(lines)


def data_version(*hashes: str) -> dg.DataVersion:
    """The asset's data version from the content hashes of what it wrote (same bytes, same version)."""
    return dg.DataVersion(combine_hashes(hashes)[:32])


def dataset_metadata(store: DatasetStore, relpath: str, manifest: Manifest | None) -> dict[str, object]:
    """Where a dataset is, how big, and its content hash."""
    meta: dict[str, object] = {"path": dg.MetadataValue.path(store.uri(relpath))}
    if manifest is not None:
        meta |= {"files": len(manifest.entries), "bytes": manifest.total_bytes, "content_hash": manifest.dataset_hash[:16]}
        if manifest.version_id:
            meta |= version_metadata(relpath, manifest.version_id)
    return meta


def version_metadata(relpath: str, version_id: str) -> dict[str, object]:
    """Which immutable version this materialization wrote, and the exact command that gets it back."""
    name = relpath.rstrip("/").rsplit("/", 1)[-1]
    command = f"python -m dataprep_assets checkout {relpath} --version {version_id} --to ./checkout-{name}"
    return {"version": version_id, "checkout": dg.MetadataValue.md(f"```\n{command}\n```")}


def rejects_metadata(store: DatasetStore, relpath: str, rejects: RejectLog) -> dict[str, object]:
    """The rejects count, counts by reason, and the first rows, with a link to the full table."""
    meta: dict[str, object] = {"rejects": len(rejects), "rejects_table": dg.MetadataValue.path(store.uri(relpath))}
    if len(rejects):
        counts = pd.DataFrame(sorted(rejects.counts_by_reason().items()), columns=["reason", "count"])
        meta["rejects_by_reason"] = dg.MetadataValue.md(markdown_table(counts))
        meta["rejects_preview"] = dg.MetadataValue.md(markdown_table(rejects.to_frame(), max_rows=15))
    return meta


def image_metadata(png: bytes, alt: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_image(png, alt))


def counts_table(counts: Mapping[str, Mapping[str, int]] | pd.DataFrame, index_name: str = "") -> dg.MetadataValue:
    frame = counts if isinstance(counts, pd.DataFrame) else pd.DataFrame(counts).fillna(0).astype(int)
    if index_name:
        frame = frame.rename_axis(index_name).reset_index()
    return dg.MetadataValue.md(markdown_table(frame, max_rows=50))


def latest_materialization_metadata(instance: dg.DagsterInstance, asset_key: dg.AssetKey) -> dict:
    """Raw metadata values of the asset's latest materialization ({} if never materialized)."""
    event = instance.get_latest_materialization_event(asset_key)
    if event is None or event.asset_materialization is None:
        return {}
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}
