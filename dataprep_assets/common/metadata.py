"""Asset metadata a person reads at a glance: typed tables, column schemas, counts, links to files and figures.

Tables are `MetadataValue.table` with a `TableSchema` (ints stay ints); a table asset declares its columns
with `column_schema` (`dagster/column_schema`); charts and montages are PNG files in the store linked by
path, never base64 in the event log (one small `preview` at most); echoed config and speeds go to one
`run_info` entry, after the dataset facts.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeAlias

import dagster as dg
import pandas as pd
from PIL import Image

from dataprep_assets.common.store import DatasetStore
from dataprep_assets.lib.rejects import RejectLog
from dataprep_assets.lib.storage import Manifest, combine_hashes
from dataprep_assets.lib.tables import column_types, counts_frame, records

if TYPE_CHECKING:
    from dagster._core.definitions.metadata import RawMetadataValue

Metadata: TypeAlias = "dict[str, RawMetadataValue]"
"""An asset's or check's metadata: Dagster's raw metadata values (plain values or MetadataValue objects)."""

FIGURES_DIR = "figures"
PREVIEW_WIDTH = 360


def markdown_table(frame: pd.DataFrame, max_rows: int = 20, float_format: str = "{:.3f}") -> str:
    """A GitHub-style markdown table of the first `max_rows` rows (for check descriptions and cards)."""
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


def table_schema(frame: pd.DataFrame, descriptions: Mapping[str, str] | None = None) -> dg.TableSchema:
    """Column names and types from the frame's dtypes, with the one-line descriptions that are declared."""
    described = descriptions or {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, kind, description=described.get(name)) for name, kind in column_types(frame).items()
        ]
    )


def column_schema(frame: pd.DataFrame, descriptions: Mapping[str, str]) -> Metadata:
    """`dagster/column_schema` of a table asset: what its file's columns are, typed and described."""
    return {"dagster/column_schema": table_schema(frame, descriptions)}


def table(frame: pd.DataFrame, max_rows: int = 50, descriptions: Mapping[str, str] | None = None) -> dg.MetadataValue:
    """A typed table: the first `max_rows` rows of `frame` with its schema (ints stay ints)."""
    return dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in records(frame, max_rows)], schema=table_schema(frame, descriptions)
    )


def counts_table(counts: Mapping[str, Mapping[str, int]] | pd.DataFrame, index_name: str = "") -> dg.MetadataValue:
    """A counts table (labels as the first column, whole-number columns as ints)."""
    return table(counts_frame(counts, index_name))


def run_info(**values: object) -> Metadata:
    """Echoed config, speeds and worker counts, grouped in one JSON entry apart from the dataset facts."""
    plain = {
        k: (v if isinstance(v, (str, int, float, bool, list, dict)) or v is None else str(v)) for k, v in values.items()
    }
    return {"run_info": dg.MetadataValue.json(plain)}


def data_version(*hashes: str) -> dg.DataVersion:
    """The asset's data version from the content hashes of what it wrote (same bytes, same version)."""
    return dg.DataVersion(combine_hashes(hashes)[:32])


def dataset_metadata(store: DatasetStore, relpath: str, manifest: Manifest | None) -> Metadata:
    """Where a dataset is, how big, and its content hash."""
    meta: Metadata = {"path": dg.MetadataValue.path(store.uri(relpath))}
    if manifest is not None:
        meta |= {
            "files": len(manifest.entries),
            "bytes": manifest.total_bytes,
            "content_hash": manifest.dataset_hash[:16],
        }
        if manifest.version_id:
            meta |= version_metadata(relpath, manifest.version_id)
    return meta


def version_metadata(relpath: str, version_id: str) -> Metadata:
    """Which immutable version this materialization wrote, and the exact command that gets it back."""
    name = relpath.rstrip("/").rsplit("/", 1)[-1]
    command = f"python -m dataprep_assets checkout {relpath} --version {version_id} --to ./checkout-{name}"
    return {"version": version_id, "checkout": dg.MetadataValue.md(f"```\n{command}\n```")}


def rejects_metadata(store: DatasetStore, relpath: str, rejects: RejectLog) -> Metadata:
    """The rejects count, counts by reason, and the first rows, with a link to the full table."""
    meta: Metadata = {"rejects": len(rejects), "rejects_table": dg.MetadataValue.path(store.uri(relpath))}
    if len(rejects):
        counts = pd.DataFrame(sorted(rejects.counts_by_reason().items()), columns=["reason", "count"])
        meta["rejects_by_reason"] = table(counts)
        meta["rejects_preview"] = table(rejects.to_frame(), max_rows=15)
    return meta


def figure_relpath(asset_name: str, name: str) -> str:
    return f"{FIGURES_DIR}/{asset_name}/{name}.png"


def figure_metadata(store: DatasetStore, asset_name: str, name: str, png: bytes) -> Metadata:
    """Write a chart or montage PNG into the store (atomically) and link it: `{name: path}`."""
    relpath = figure_relpath(asset_name, name)
    with store.write_file(relpath) as tmp:
        tmp.write_bytes(png)
    return {name: dg.MetadataValue.path(store.uri(relpath))}


def preview_metadata(png: bytes, alt: str, width: int = PREVIEW_WIDTH) -> Metadata:
    """The one small inline picture an asset may carry: `png` scaled down to `width` pixels."""
    with Image.open(io.BytesIO(png)) as img:
        rgb = img.convert("RGB")
    if rgb.width > width:
        rgb = rgb.resize((width, max(1, round(rgb.height * width / rgb.width))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, format="JPEG", quality=80)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return {"preview": dg.MetadataValue.md(f"![{alt}](data:image/jpeg;base64,{data})")}


def latest_materialization_metadata(
    instance: dg.DagsterInstance, asset_key: dg.AssetKey, partition: str | None = None
) -> dict:
    """Raw metadata values of the asset's latest materialization (of one `partition`); {} if there is none."""
    if partition is None:
        event = instance.get_latest_materialization_event(asset_key)
        materialization = event.asset_materialization if event is not None else None
    else:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]), limit=1
        ).records
        materialization = records[0].asset_materialization if records else None
    if materialization is None:
        return {}
    return {k: v.value for k, v in materialization.metadata.items()}
