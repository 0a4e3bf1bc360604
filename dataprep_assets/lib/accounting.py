"""The accounting identity of an asset: every record in is either a record out or a reject row, exactly once.

`account` compares the records an asset read with the records it wrote plus the records it rejected (as
multisets of record ids, so a duplicate counts twice) and raises `AccountingError` listing what is unaccounted
for (read but neither written nor rejected) and what came from nowhere. Assets call it at their end and show
`Ledger.metadata()`; a non-zero difference fails the asset instead of dropping a record silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
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

    def metadata(self) -> dict[str, int]:
        return {
            "records_in": self.records_in,
            "records_out": self.records_out,
            "records_rejected": self.rejected,
            "records_unaccounted": self.records_in - self.records_out - self.rejected,
        }


def account(what: str, records_in: Iterable[str], records_out: Iterable[str], rejected: Iterable[str]) -> Ledger:
    """Check `records in = records out + rejects` for `what` (e.g. "annotations"); raise naming the difference."""
    inputs, outputs, refused = (
        Counter(map(str, records_in)),
        Counter(map(str, records_out)),
        Counter(map(str, rejected)),
    )
    accounted = outputs + refused
    missing, extra = inputs - accounted, accounted - inputs
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"{sum(missing.values())} neither written nor rejected: {sorted(missing)[:SHOWN]}")
        if extra:
            parts.append(
                f"{sum(extra.values())} written or rejected but never read (or twice): {sorted(extra)[:SHOWN]}"
            )
        raise AccountingError(
            f"{what}: records in ({sum(inputs.values())}) != out ({sum(outputs.values())}) + "
            f"rejected ({sum(refused.values())}); " + "; ".join(parts)
        )
    return Ledger(what, sum(inputs.values()), sum(outputs.values()), sum(refused.values()))


def ledgers_metadata(*ledgers: Ledger) -> dict[str, dict[str, int]]:
    """Asset metadata: one `accounting/<what>` entry per ledger (in, out, rejected, unaccounted = 0)."""
    return {f"accounting/{ledger.what}": ledger.metadata() for ledger in ledgers}
