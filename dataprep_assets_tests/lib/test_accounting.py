"""lib.accounting: records in = records out + records rejected, or an error naming the unaccounted items."""

import pytest

from dataprep_assets.lib.accounting import AccountingError, account


def test_accounting_identity():
    ledger = account("rows", ["a", "b", "c"], ["a"], ["b", "c"])
    assert ledger.metadata() == {"records_in": 3, "records_out": 1, "records_rejected": 2, "records_unaccounted": 0}
    with pytest.raises(AccountingError, match=r"\['b'\]"):
        account("rows", ["a", "b"], ["a"], [])
