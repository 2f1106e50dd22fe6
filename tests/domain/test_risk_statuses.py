"""The keeper's status sets against the contracts they mirror."""

from __future__ import annotations

import re

import pytest

from ledger_app import PROJECT_ROOT
from ledger_app.domain.risk import OPEN_ROOT, OVERDUE_FROM
from ledger_app.domain.vocabulary import RECEIVABLE_STATUS


def _statuses(contract: str, constant: str) -> tuple[str, ...]:
    source = (PROJECT_ROOT / "contracts" / contract).read_text()
    found = re.search(rf"{constant}\s*=(.*?);", source, re.S)
    assert found is not None, f"{contract}: {constant} is gone"
    named = re.findall(r"Status\.(\w+)", found.group(1))
    assert named, found.group(1)
    assert set(named) <= set(RECEIVABLE_STATUS), found.group(1)
    return tuple(sorted(named, key=RECEIVABLE_STATUS.index))


@pytest.mark.parametrize(
    ("contract", "constant", "mirror"),
    [
        ("ReceivableRegistry.sol", "_OVERDUE_FROM", OVERDUE_FROM),
        ("RiskControl.sol", "_OPEN_ROOT", OPEN_ROOT),
    ],
)
def test_keeper_statuses_are_the_contracts(contract, constant, mirror):
    assert _statuses(contract, constant) == mirror
