"""Dataset cards, Dagster-free: one self-contained HTML page and its markdown twin per dataset version.

A `Card` is facts, tables and figures grouped in sections; `card_files` renders it to the files written next
to the data: `index.html` (inline CSS, no script, no network), `README.md`, `card.json` (the same tables as
data) and `figures/*.png`. Tables carry an `id` so a test (or a person with devtools) can read them back.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

import pandas as pd

from dataprep_assets.lib.tables import plain, records

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d232b;background:#f6f7f9}
header{background:#1d2b3a;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:#c9d3de}\
code{font:12px ui-monospace,monospace;background:#eef1f4;padding:1px 4px;border-radius:3px}
header code{background:#2c3e50;color:#fff}main{padding:8px 28px 40px;max-width:1500px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;margin:16px 0;padding:12px 18px}
h2{font-size:17px;margin:4px 0 10px}.facts{display:flex;flex-wrap:wrap;gap:10px;margin:0;padding:0}
.fact{list-style:none;border:1px solid #dde2e8;border-radius:6px;padding:6px 12px;min-width:110px}
.fact b{display:block;font-size:20px}.fact span{color:#5b6673;font-size:12px}
.tables{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
table{border-collapse:collapse;font-size:13px}caption{text-align:left;font-weight:600;padding:2px 0 6px}
th,td{border-bottom:1px solid #e3e7ec;padding:3px 10px;text-align:left}th{background:#f0f3f6}
td.n{text-align:right;font-variant-numeric:tabular-nums}.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}
.figures{display:flex;flex-wrap:wrap;gap:18px}figure{margin:0}figure img{max-width:100%;border:1px solid #e3e7ec}
figcaption{color:#5b6673;font-size:12px;max-width:760px}p.note{color:#5b6673;margin:4px 0 10px}
"""


@dataclass
class Figure:
    name: str
    """File stem under `figures/`."""
    png: bytes
    caption: str


@dataclass
class Table:
    id: str
    caption: str
    frame: pd.DataFrame
    max_rows: int = 60


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


@dataclass
class Card:
    pipeline: str
    title: str
    version: str
    facts: dict[str, object]
    """The numbers at a glance, shown first: {label: value}."""
    inputs: dict[str, str]
    """Input datasets and their content versions."""
    sections: list[Section]
    summary: str = ""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _cell(value) -> tuple[str, bool]:
    value = plain(value)
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, int):
        return str(value), True
    if isinstance(value, float):
        return f"{value:.4g}", True
    return ("" if value is None else str(value)), False


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in t.frame.columns)
    rows = []
    for row in t.frame.head(t.max_rows).itertuples(index=False, name=None):
        cells = []
        for v in row:
            text, numeric = _cell(v)
            cells.append(f'<td class="n">{html.escape(text)}</td>' if numeric else f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f'<p class="note">{len(t.frame) - t.max_rows} more rows in card.json</p>' if len(t.frame) > t.max_rows else ""
    )
    return (
        "<div><table "
        f'id="{html.escape(t.id)}"><caption>{html.escape(t.caption)}</caption><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{more}</div>"
    )


def render_html(card: Card) -> str:
    facts = "".join(
        f'<li class="fact"><b>{html.escape(_cell(v)[0])}</b><span>{html.escape(k)}</span></li>'
        for k, v in card.facts.items()
    )
    inputs = "".join(
        f"<tr><td>{html.escape(k)}</td><td><code>{html.escape(v)}</code></td></tr>" for k, v in card.inputs.items()
    )
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(card.title)}</title><style>{CSS}</style></head><body>",
        f"<header><h1>{html.escape(card.title)}</h1><p>pipeline <code>{html.escape(card.pipeline)}</code> · "
        f'version <code id="version">{html.escape(card.version)}</code></p></header><main>',
        f'<section id="at-a-glance"><h2>At a glance</h2>{f"<p>{html.escape(card.summary)}</p>" if card.summary else ""}'
        f'<ul class="facts">{facts}</ul></section>',
    ]
    for section in card.sections:
        parts.append(f'<section id="{slug(section.title)}"><h2>{html.escape(section.title)}</h2>')
        if section.text:
            parts.append(f'<p class="note">{html.escape(section.text)}</p>')
        if section.tables:
            parts.append('<div class="tables">' + "".join(_html_table(t) for t in section.tables) + "</div>")
        if section.figures:
            figs = "".join(
                f'<figure><img src="figures/{html.escape(f.name)}.png" alt="{html.escape(f.caption)}">'
                f"<figcaption>{html.escape(f.caption)}</figcaption></figure>"
                for f in section.figures
            )
            parts.append(f'<div class="figures">{figs}</div>')
        parts.append("</section>")
    parts.append(
        f'<section id="versions"><h2>Version and inputs</h2><table id="inputs"><caption>input datasets and their '
        f"content versions</caption><thead><tr><th>input</th><th>version</th></tr></thead><tbody>{inputs}</tbody>"
        "</table></section></main></body></html>"
    )
    return "\n".join(parts) + "\n"


def _md_table(t: Table) -> str:
    frame = t.frame.head(t.max_rows)
    lines = [
        f"**{t.caption}**",
        "",
        "| " + " | ".join(map(str, frame.columns)) + " |",
        "|" + "---|" * len(frame.columns),
    ]
    for row in frame.itertuples(index=False, name=None):
        lines.append("| " + " | ".join(_cell(v)[0].replace("|", "\\|") for v in row) + " |")
    if len(t.frame) > t.max_rows:
        lines.append(f"\n_{len(t.frame) - t.max_rows} more rows in card.json_")
    return "\n".join(lines)


def render_markdown(card: Card) -> str:
    out = [f"# {card.title}", "", f"pipeline `{card.pipeline}` · version `{card.version}`", ""]
    if card.summary:
        out += [card.summary, ""]
    out += ["## At a glance", ""] + [f"- **{k}**: {_cell(v)[0]}" for k, v in card.facts.items()] + [""]
    for section in card.sections:
        out += [f"## {section.title}", ""]
        if section.text:
            out += [section.text, ""]
        for t in section.tables:
            out += [_md_table(t), ""]
        for f in section.figures:
            out += [f"![{f.caption}](figures/{f.name}.png)", "", f"_{f.caption}_", ""]
    out += ["## Version and inputs", "", "| input | version |", "|---|---|"]
    out += [f"| {k} | `{v}` |" for k, v in card.inputs.items()] + [""]
    return "\n".join(out)


def card_json(card: Card) -> dict:
    return {
        "pipeline": card.pipeline,
        "title": card.title,
        "version": card.version,
        "inputs": card.inputs,
        "facts": {k: plain(v) for k, v in card.facts.items()},
        "tables": {t.id: records(t.frame) for s in card.sections for t in s.tables},
    }


def card_files(card: Card) -> dict[str, bytes]:
    """Every file of the card, by path relative to the card's folder."""
    names = [f.name for s in card.sections for f in s.figures]
    if len(names) != len(set(names)):
        raise ValueError(f"figure names repeat in the {card.pipeline} card: {sorted(names)}")
    files = {
        "index.html": render_html(card).encode(),
        "README.md": render_markdown(card).encode(),
        "card.json": (json.dumps(card_json(card), indent=1, sort_keys=True) + "\n").encode(),
    }
    files |= {f"figures/{f.name}.png": f.png for s in card.sections for f in s.figures}
    return files
