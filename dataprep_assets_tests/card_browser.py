"""Open a dataset card in headless Chromium: console errors and failed loads recorded, tables read from the DOM."""

from __future__ import annotations

from pathlib import Path

from dataprep_assets_tests.deployment.browser import Browser


class CardBrowser(Browser):
    """A `Browser` that keeps the console errors, exceptions and failed requests of the page."""

    def __enter__(self) -> CardBrowser:
        super().__enter__()
        self.events: list[dict] = []
        for domain in ("Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        return self

    def on_event(self, message: dict) -> None:
        if hasattr(self, "events"):
            self.events.append(message)

    def errors(self) -> list[str]:
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.exceptionThrown":
                out.append(f"exception: {p['exceptionDetails'].get('text')}")
            elif e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(f"console.{p['type']}: {[a.get('value') for a in p.get('args', [])]}")
            elif e["method"] == "Log.entryAdded" and p["entry"].get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif e["method"] == "Network.loadingFailed":
                out.append(f"failed load: {p.get('errorText')}")
        return out

    def open_card(self, index_html: Path) -> dict:
        """Load the page, wait until every image settled; return image states and every table's rows."""
        self.navigate(index_html.resolve().as_uri())
        self.wait_for(
            "document.readyState === 'complete' && Array.from(document.images).every(i => i.complete)", bool, timeout=60
        )
        return self.evaluate("""(() => ({
            title: document.title,
            images: Array.from(document.images).map(i => ({src: i.getAttribute('src'), width: i.naturalWidth})),
            tables: Object.fromEntries(Array.from(document.querySelectorAll('table[id]')).map(t => [t.id, {
                columns: Array.from(t.querySelectorAll('thead th')).map(th => th.textContent),
                rows: Array.from(t.querySelectorAll('tbody tr'))
                    .map(tr => Array.from(tr.cells).map(td => td.textContent)),
            }])),
        }))()""")

    def full_page_screenshot(self, path: Path, max_height: int = 2600) -> Path:
        height = min(int(self.evaluate("document.documentElement.scrollHeight")), max_height)
        self.call(
            "Emulation.setDeviceMetricsOverride", width=self.width, height=height, deviceScaleFactor=1, mobile=False
        )
        return self.screenshot(path)


def table_rows(page: dict, table_id: str) -> list[dict[str, str]]:
    """A DOM table as {column: text} rows."""
    table = page["tables"][table_id]
    return [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]
