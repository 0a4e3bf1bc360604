"""One rule for output names: distinct inputs that would land on one output path are found before anything is written.

Output names built from data (a competitor folder, a patient id, a category) can coincide after sanitising
(`competitor A` and `competitor_A` both become `competitor_A`) or differ only in case (`A.png` / `a.png`, one
file on macOS and Windows). Every pipeline resolves its (input, output name) claims here, either by giving every
colliding input a unique deterministic name (`unique_names`) or by keeping one and rejecting the others with a
reject naming the kept input (`reject_collisions`).
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from dataprep_assets.lib.rejects import RejectLog

COLLISION_REASON = "output_name_collision"
SAFE_LETTERS = "A-Za-z0-9"
"""What every file-name token keeps: ASCII letters and digits (a regex character-class body)."""
DIGEST_SEPARATOR = "__"


@dataclass(frozen=True)
class NameCollision:
    name: str
    """The output name claimed more than once (as first claimed, sorted by input)."""
    inputs: tuple[str, ...]
    """The distinct inputs that claim it, sorted."""


def name_key(name: str) -> str:
    """What a file system compares: the case-folded posix path (case-insensitive file systems are common)."""
    return PurePosixPath(str(name).replace("\\", "/")).as_posix().casefold()


def find_collisions(claims: Iterable[tuple[str, str]]) -> list[NameCollision]:
    """(input, output name) pairs -> every output name claimed by two or more distinct inputs."""
    by_key: dict[str, dict[str, str]] = defaultdict(dict)
    for source, name in claims:
        by_key[name_key(name)].setdefault(str(source), str(name))
    out = []
    for owners in by_key.values():
        if len(owners) > 1:
            inputs = tuple(sorted(owners))
            out.append(NameCollision(owners[inputs[0]], inputs))
    return sorted(out, key=lambda c: c.name)


def _with_digest(name: str, source: str, length: int) -> str:
    path = PurePosixPath(name)
    suffix = "".join(path.suffixes[-1:]) if path.suffix and len(path.suffix) <= 6 else ""
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()[:length]
    return str(path.with_name(f"{stem}{DIGEST_SEPARATOR}{digest}{suffix}"))


def unique_names(claims: Mapping[str, str], digest_length: int = 8) -> dict[str, str]:
    """input -> output name, unique (case-insensitively): an input whose name collides with another input's gets
    `<stem>__<sha256(input)[:n]><suffix>`; all others keep theirs. Depends only on the claims, never on their order."""
    names = {str(k): str(v) for k, v in claims.items()}
    length = digest_length
    while True:
        collisions = find_collisions(names.items())
        if not collisions:
            return names
        if length > 64:
            raise ValueError(f"cannot make output names unique: {collisions[:3]}")
        contested = {source for c in collisions for source in c.inputs}
        names = {s: (_with_digest(claims[s], s, length) if s in contested else n) for s, n in names.items()}
        length += 4


def reject_collisions(claims: Mapping[str, str], rejects: RejectLog, stage: str) -> dict[str, str]:
    """input -> output name for the inputs kept: per contested name the first input (sorted) keeps it, every other
    one becomes a reject `output_name_collision` naming the kept input."""
    kept = {str(k): str(v) for k, v in claims.items()}
    for collision in find_collisions(kept.items()):
        winner, *losers = collision.inputs
        for loser in losers:
            rejects.add(
                loser, stage, COLLISION_REASON, f"would be written as {kept[loser]!r}, which {winner!r} already claims"
            )
            del kept[loser]
    return kept


def assert_unique_names(claims: Iterable[tuple[str, str]], what: str) -> None:
    """Fail before writing when two distinct inputs would produce one output path (a bug, not bad input)."""
    collisions = find_collisions(claims)
    if collisions:
        shown = "; ".join(f"{c.name!r} <- {list(c.inputs)}" for c in collisions[:5])
        raise ValueError(f"{what}: {len(collisions)} output name(s) claimed by several inputs: {shown}")


def safe_token(
    text: object, *, keep: str = ".-", joiner: str = "-", max_length: int | None = None, fallback: str = "unknown"
) -> str:
    """`text` as a token safe in a file name: ASCII letters, digits and the characters of `keep` stay, every run of
    other characters becomes `joiner` (stripped from both ends), the result is cut to `max_length`; `fallback`
    when nothing is left. With `joiner=""` other characters are dropped."""
    unsafe = f"[^{SAFE_LETTERS}{re.escape(keep)}]+"
    token = re.sub(unsafe, joiner, str(text))
    if joiner:
        token = token.strip(joiner)
    return token[:max_length] or fallback
