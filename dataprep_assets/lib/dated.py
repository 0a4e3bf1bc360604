"""Date-prefixed upload trees read as the seed's layout.

Teams whose buckets grow by day upload under a date prefix (`raw/cell_qa/2026/11/28/DS/01/t000.tif`), so that an
upload sensor lists only the last days (`%Y/%m/%d/`). The pipelines read the seed's layout
(`raw/cell_qa/DS/01/t000.tif`). `undated_view` builds that layout from both kinds of file: every file under a date
prefix appears at its path without the prefix; an undated file stays where it is; where one path was uploaded on
several days, the latest day wins (a re-upload replaces) and the replaced copies are listed. The view is a tree of
hard links (no bytes copied; a copy only across file systems), rebuilt whole and swapped in atomically.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dataprep_assets.lib.storage import clean_debris, staged_directory

_FIELDS = {"Y": r"\d{4}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "M": r"\d{2}", "j": r"\d{3}"}


def date_prefix_pattern(date_format: str) -> re.Pattern[str]:
    """A regex matching a path that starts with a prefix written by `date_format` (e.g. `%Y/%m/%d/`)."""
    if not date_format.endswith("/"):
        raise ValueError(f"date prefix format {date_format!r} must end with '/' (a folder per date)")
    parts, i = [], 0
    while i < len(date_format):
        if date_format[i] == "%" and i + 1 < len(date_format):
            code = date_format[i + 1]
            if code not in _FIELDS:
                raise ValueError(f"date prefix format {date_format!r}: %{code} is not one of %Y %m %d %H %M %j")
            parts.append(_FIELDS[code])
            i += 2
        else:
            parts.append(re.escape(date_format[i]))
            i += 1
    return re.compile(f"^({''.join(parts)})(.+)$")


@dataclass
class DatedView:
    files: int = 0
    dated: int = 0
    """Files that came from under a date prefix."""
    replaced: list[str] = field(default_factory=list)
    """Source paths (relative) hidden by a later upload of the same path."""


def _latest_uploads(src: Path, pattern: re.Pattern[str], date_format: str) -> tuple[dict[str, tuple], list[str]]:
    """Seed-layout path -> ((dated, date), source relative path) of its latest upload; the replaced sources."""
    chosen: dict[str, tuple[tuple, str]] = {}
    replaced: list[str] = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            rel = (Path(dirpath) / name).relative_to(src).as_posix()
            match = pattern.match(rel)
            if match:
                try:
                    when = datetime.strptime(match.group(1), date_format)
                except ValueError:  # digits in the shape of a date that is none (2026/13/40/): an ordinary folder
                    match = None
            key, order = (match.group(2), (1, when)) if match else (rel, (0, datetime.min))
            previous = chosen.get(key)
            if previous is None or order >= previous[0]:
                if previous is not None:
                    replaced.append(previous[1])
                chosen[key] = (order, rel)
            else:
                replaced.append(rel)
    return chosen, sorted(replaced)


def undated_view(src: str | os.PathLike, view: str | os.PathLike, date_format: str) -> DatedView:
    """Rebuild `view` as the seed layout of `src` (see the module docstring); returns what it holds."""
    src, view = Path(src), Path(view)
    pattern = date_prefix_pattern(date_format)
    chosen, replaced = _latest_uploads(src, pattern, date_format) if src.is_dir() else ({}, [])
    report = DatedView(files=len(chosen), replaced=replaced)
    clean_debris(view)
    with staged_directory(view) as staging:
        for key, ((dated, _), rel) in sorted(chosen.items()):
            target = staging / key
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src / rel, target)
            except OSError:  # another file system: copy
                shutil.copy2(src / rel, target)
            report.dated += dated
    return report
