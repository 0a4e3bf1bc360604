"""Date-prefixed upload trees read as the seed's layout.

Teams whose buckets grow by day upload under a date prefix (`raw/cell_qa/2026/11/28/DS/01/t000.tif`), so that an
upload sensor lists only the last days (`%Y/%m/%d/`). The pipelines read the seed's layout
(`raw/cell_qa/DS/01/t000.tif`). `undated_view` builds that layout from both kinds of file: every file and empty
folder under a date prefix appears at its path without the prefix; an undated one stays where it is; where one path
was uploaded on several days, the latest day wins (a re-upload replaces) and the replaced copies are listed. Hidden
files are uploads like any other; only files being written atomically (`.<name>.tmp-<pid>-<id>`) are left out.

The view is a tree of hard links (no bytes copied; a copy only across file systems; a symlink stays a symlink with
the same target, so a reader that refuses links leaving its root still does), swapped in whole, and rebuilt only
when the source's listing (path, size, mtime, inode of every entry) differs from the one it was built from (kept
beside it, `.<view>.listing`): the assets of one run share one view, and a new, changed or deleted upload is always
seen.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dataprep_assets.lib.storage import atomic_write_text, clean_debris, staged_directory

_FIELDS = {"Y": r"\d{4}", "m": r"\d{2}", "d": r"\d{2}", "H": r"\d{2}", "M": r"\d{2}", "j": r"\d{3}"}


def date_prefix_pattern(date_format: str) -> re.Pattern[str]:
    """A regex matching a path that starts with a prefix written by `date_format` (e.g. `%Y/%m/%d/`)."""
    return re.compile(f"^({_date_regex(date_format)})(.+)$")


def names_a_dated_folder(relpath: str, date_format: str) -> bool:
    """Whether `relpath` (relative to the dated tree's root) is a date folder or lies under one, e.g.
    `2026/11/28/DS` with `%Y/%m/%d/`: a path that already names one day's uploads."""
    match = re.match(f"^{_date_regex(date_format)}", relpath.strip("/") + "/")
    if match is None:
        return False
    try:
        datetime.strptime(match.group(0), date_format)
    except ValueError:  # digits in the shape of a date that is none
        return False
    return True


def _date_regex(date_format: str) -> str:
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
    return "".join(parts)


@dataclass
class DatedView:
    files: int = 0
    dated: int = 0
    """Files that came from under a date prefix."""
    replaced: list[str] = field(default_factory=list)
    """Source paths (relative) hidden by a later upload of the same path."""
    reused: bool = False
    """The view built before from the same listing was kept as it is."""


DEBRIS = re.compile(r"^\..+\.(tmp|staging|old)-\d+-[0-9a-f]{8}$")
"""A file or folder being written atomically (`lib.storage`): not an upload yet."""


def _seed_path(rel: str, pattern: re.Pattern[str], date_format: str) -> tuple[str, tuple]:
    """The path of `rel` in the seed's layout and its order among uploads of that path (undated first, then by day)."""
    match = pattern.match(rel)
    if match:
        try:
            return match.group(2), (1, datetime.strptime(match.group(1), date_format))
        except ValueError:  # digits in the shape of a date that is none (2026/13/40/): an ordinary folder
            pass
    return rel, (0, datetime.min)


def _latest_uploads(src: Path, pattern: re.Pattern[str], date_format: str) -> tuple[dict, list[str], set[str], str]:
    """Seed-layout path -> ((dated, date), source relative path) of its latest upload; the replaced sources; the
    empty folders (seed-layout paths); a digest of the listing (every entry's path, size, mtime and inode)."""
    chosen: dict[str, tuple[tuple, str]] = {}
    replaced: list[str] = []
    empty: set[str] = set()
    listing = hashlib.sha256(date_format.encode())
    for dirpath, dirnames, filenames in os.walk(src):
        linked = [d for d in dirnames if (Path(dirpath) / d).is_symlink()]  # an entry of its own, not followed
        dirnames[:] = sorted(d for d in dirnames if not DEBRIS.match(d) and d not in linked)
        names = sorted(n for n in [*filenames, *linked] if not DEBRIS.match(n))
        folder = Path(dirpath).relative_to(src).as_posix()
        if not dirnames and not names and folder != ".":
            listing.update(f"{folder}/\n".encode())
            key, (dated, _) = _seed_path(folder, pattern, date_format)
            awaiting = all(p.isdigit() for p in key.split("/")) or names_a_dated_folder(key, date_format)
            if dated or not awaiting:  # not a date folder awaiting uploads
                empty.add(key)
        for name in names:
            rel = (Path(dirpath) / name).relative_to(src).as_posix()
            stat = os.lstat(Path(dirpath) / name)
            listing.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\0{stat.st_ino}\n".encode())
            key, order = _seed_path(rel, pattern, date_format)
            previous = chosen.get(key)
            if previous is None or order >= previous[0]:
                if previous is not None:
                    replaced.append(previous[1])
                chosen[key] = (order, rel)
            else:
                replaced.append(rel)
    return chosen, sorted(replaced), empty, listing.hexdigest()


def listing_record(view: str | os.PathLike) -> Path:
    """The file beside `view` naming the listing it was built from."""
    view = Path(view)
    return view.with_name(f".{view.name}.listing")


@contextmanager
def _exclusive(view: Path) -> Iterator[None]:
    """One process at a time compares and builds `view` (a lock file beside it), so a view and its listing record
    always belong together."""
    view.parent.mkdir(parents=True, exist_ok=True)
    with open(view.with_name(f".{view.name}.lock"), "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def undated_view(src: str | os.PathLike, view: str | os.PathLike, date_format: str) -> DatedView:
    """Make `view` the seed layout of `src` (see the module docstring): kept as it is when built from the same
    listing, else rebuilt; returns what it holds."""
    src, view = Path(src), Path(view)
    pattern = date_prefix_pattern(date_format)
    with _exclusive(view):
        chosen, replaced, empty, listing = (
            _latest_uploads(src, pattern, date_format) if src.is_dir() else ({}, [], set(), "")
        )
        report = DatedView(files=len(chosen), replaced=replaced, dated=sum(d for (d, _), _ in chosen.values()))
        record = listing_record(view)
        if view.is_dir() and record.is_file() and record.read_text() == listing:
            report.reused = True
            return report
        record.unlink(missing_ok=True)  # from here until the new view is in, no listing vouches for it
        clean_debris(view)
        with staged_directory(view) as staging:
            for key in sorted(empty):
                (staging / key).mkdir(parents=True, exist_ok=True)
            for key, (_, rel) in sorted(chosen.items()):
                target = staging / key
                target.parent.mkdir(parents=True, exist_ok=True)
                if (src / rel).is_symlink():  # stays a link with the same target, for the reader to judge
                    os.symlink(os.readlink(src / rel), target)
                    continue
                try:
                    os.link(src / rel, target)
                except OSError:  # another file system: copy
                    shutil.copy2(src / rel, target)
        atomic_write_text(record, listing)
    return report
