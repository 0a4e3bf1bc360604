"""lib.accounting: records in = records out + records rejected, or an error naming the unaccounted items."""

import pytest

from dataprep_assets.lib.accounting import AccountingError, account


def test_accounting_identity():
    ledger = account("rows", ["a", "b", "c"], ["a"], ["b", "c"])
    assert ledger.metadata() == {"records_in": 3, "records_out": 1, "records_rejected": 2, "records_unaccounted": 0}
    with pytest.raises(AccountingError, match=r"\['b'\]"):
        account("rows", ["a", "b"], ["a"], [])


def test_streamed_accounting_reads_sources_again_only_to_name_a_difference():
    from dataprep_assets.lib.accounting import Reread, account_streamed

    reads = []

    def source(items):
        reads.append(len(items))
        yield from items

    ledger = account_streamed("rows", Reread(source, ["a", "b", "b", "c"]), ["c", "b", "a"], ["b"], [])
    assert ledger.metadata() == account("rows", ["a", "b", "b", "c"], ["c", "b", "a"], ["b"], []).metadata()
    assert reads == [4]  # one pass when the identity holds
    with pytest.raises(AccountingError, match=r"neither written nor rejected: \['b'\]"):
        account_streamed("rows", Reread(source, ["a", "b", "b"]), ["a", "b"], [])  # a duplicate counts twice
    with pytest.raises(AccountingError, match=r"never read \(or twice\): \['x'\]"):
        account_streamed("rows", ["a"], ["x"], [])  # same count, other record
