"""The accounting identity of an asset: every record in is either a record out or a reject row, exactly once.

`account` compares the records an asset read with the records it wrote plus the records it rejected (as
multisets of record ids, so a duplicate counts twice) and raises `AccountingError` listing what is unaccounted
for (read but neither written nor rejected) and what came from nowhere. Assets call it at their end and show
`Ledger.metadata()`; a non-zero difference fails the asset instead of dropping a record silently.

Records left out on purpose, not refused (pool images balancing did not need, annotations of a class a
derived dataset drops), are a third outcome, `set_aside`, counted in the ledger like rejects.

`account_streamed` checks the same identity over sources read afresh on each iteration (a COCO file read item by
item, a folder listing: `Reread`) without holding their records: each side is a count and an order-free digest
(the sum of the records' 64-bit hashes, so duplicates count), and only a mismatch reads the sources again as lists
for `account` to name the difference. Memory: four counters, whatever the number of records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

SHOWN = 20


class AccountingError(ValueError):
    """Records in != records out + rejects; the message lists the items unaccounted for."""


@dataclass(frozen=True)
class Ledger:
    what: str
    records_in: int
    records_out: int
    rejected: int
    set_aside: int | None = None

    def metadata(self) -> dict[str, int]:
        aside = self.set_aside or 0
        return {
            "records_in": self.records_in,
            "records_out": self.records_out,
            "records_rejected": self.rejected,
            **({"records_set_aside": aside} if self.set_aside is not None else {}),
            "records_unaccounted": self.records_in - self.records_out - self.rejected - aside,
        }


def account(
    what: str,
    records_in: Iterable[str],
    records_out: Iterable[str],
    rejected: Iterable[str],
    set_aside: Iterable[str] | None = None,
) -> Ledger:
    """Check `records in = records out + rejects (+ set aside)` for `what` (e.g. "annotations"); raise naming
    the difference."""
    ins, outs, refused = list(map(str, records_in)), list(map(str, records_out)), list(map(str, rejected))
    aside = None if set_aside is None else list(map(str, set_aside))
    inputs, accounted = Counter(ins), Counter(outs)
    accounted.update(refused)  # counted in C, as the constructor does
    accounted.update(aside or ())
    if not dict.__eq__(accounted, inputs):  # counts are all positive: equal as dicts = equal multisets (C speed)
        missing, extra = inputs - accounted, accounted - inputs
        parts = []
        if missing:
            parts.append(f"{sum(missing.values())} neither written nor rejected: {sorted(missing)[:SHOWN]}")
        if extra:
            parts.append(
                f"{sum(extra.values())} written or rejected but never read (or twice): {sorted(extra)[:SHOWN]}"
            )
        raise AccountingError(
            f"{what}: records in ({len(ins)}) != out ({len(outs)}) + rejected ({len(refused)}); " + "; ".join(parts)
        )
    return Ledger(what, len(ins), len(outs), len(refused), None if aside is None else len(aside))


class Reread:
    """A source of records read afresh on each iteration: `Reread(fn, *args)` iterates `fn(*args)` (a generator
    over a file, a folder listing), so `account_streamed` can read it twice without anything held in between."""

    def __init__(self, fn: Callable[..., Iterable], *args):
        self.fn, self.args = fn, args

    def __iter__(self) -> Iterator:
        return iter(self.fn(*self.args))


_MASK = (1 << 64) - 1


def _digest(records: Iterable) -> tuple[int, int]:
    """(count, sum of the records' hashes mod 2^64): equal for equal multisets, whatever the order."""
    count = total = 0
    for record in records:
        count += 1
        total += hash(str(record))
    return count, total & _MASK


def account_streamed(
    what: str,
    records_in: Iterable,
    records_out: Iterable,
    rejected: Iterable,
    set_aside: Iterable | None = None,
) -> Ledger:
    """`account` over re-iterable sources (lists, `Reread`), holding no records: compared by count and digest;
    on a mismatch the sources are read again as lists and `account` raises naming the difference."""
    n_in, d_in = _digest(records_in)
    n_out, d_out = _digest(records_out)
    n_rejected, d_rejected = _digest(rejected)
    n_aside, d_aside = _digest(set_aside) if set_aside is not None else (0, 0)
    if n_in != n_out + n_rejected + n_aside or d_in != (d_out + d_rejected + d_aside) & _MASK:
        account(what, list(records_in), list(records_out), list(rejected), None if set_aside is None else set_aside)
        raise AccountingError(f"{what}: the records read differ from those written or rejected (a source changed?)")
    return Ledger(what, n_in, n_out, n_rejected, None if set_aside is None else n_aside)


def with_split(frame, id_col: str, splits: Iterable[str], split_col: str = "split") -> list[str]:
    """Ids of the rows of a split table that got one of `splits` (a row with no or an unknown split is not out)."""
    known = frame[split_col].astype("string").isin([str(s) for s in splits]).fillna(False).to_numpy(bool)
    return frame.loc[known, id_col].astype(str).tolist()


def account_split(
    what: str, records_in: Iterable[str], split: object, id_col: str, splits: Iterable[str], split_col: str = "split"
) -> Ledger:
    """A split asset's identity: every record read is one row of the split table with a known split."""
    return account(what, records_in, with_split(split, id_col, splits, split_col), [])


def ledgers_metadata(*ledgers: Ledger) -> dict[str, dict[str, int]]:
    """Asset metadata: one `accounting/<what>` entry per ledger (in, out, rejected, unaccounted = 0)."""
    return {f"accounting/{ledger.what}": ledger.metadata() for ledger in ledgers}
