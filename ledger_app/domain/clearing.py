"""Maturity clearing's rules that the API checks before the chain does.

``SETTLE_FROM`` mirrors ``ReceivableRegistry._SETTLE_FROM`` (contracts/ReceivableRegistry.sol),
the statuses ``ReceivableRegistry.settle`` accepts: a leaf in one of them is unsettled
and MaturityClearing's ``redeem`` pays its holder; any other status (SETTLED, and those
a repaid root's leaf cannot be in) is not redeemed.
tests/domain/test_clearing_statuses.py checks the list against the contract's source.
"""

from __future__ import annotations

#: Leaf statuses the registry settles (ReceivableRegistry._SETTLE_FROM), in enum order.
SETTLE_FROM = ("ACTIVE", "FINANCING", "FINANCED", "OVERDUE", "DEFAULTED")
