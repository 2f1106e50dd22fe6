"""The clearing's "settle from" statuses against the contract they mirror."""

from __future__ import annotations

import re

from ledger_app import PROJECT_ROOT
from ledger_app.domain.clearing import SETTLE_FROM
from ledger_app.domain.vocabulary import RECEIVABLE_STATUS

REGISTRY = PROJECT_ROOT / "contracts" / "ReceivableLedgerEntryPoints.sol"


def test_settle_from_is_the_registrys_settle_from():
    source = REGISTRY.read_text()
    constant = re.search(r"_SETTLE_FROM\s*=(.*?);", source, re.S)
    assert constant is not None, "ReceivableLedgerEntryPoints._SETTLE_FROM is gone"
    in_contract = re.findall(r"Status\.(\w+)", constant.group(1))

    assert in_contract, constant.group(1)
    assert set(in_contract) <= set(RECEIVABLE_STATUS)
    assert tuple(sorted(in_contract, key=RECEIVABLE_STATUS.index)) == SETTLE_FROM


def test_a_settled_leaf_is_not_settled_again():
    assert "SETTLED" not in SETTLE_FROM
