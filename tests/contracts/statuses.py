"""The contracts' enums, mirrored for readable assertions (values must match the .sol)."""

from enum import IntEnum


class Status(IntEnum):
    """IReceivableRegistry.Status"""

    NONE = 0
    PENDING = 1
    ACTIVE = 2
    SPLIT = 3
    FINANCING = 4
    FINANCED = 5
    OVERDUE = 6
    DEFAULTED = 7
    SETTLED = 8
    REJECTED = 9
    CANCELLED = 10


class FinancingStatus(IntEnum):
    """IFinancingDesk.FinancingStatus"""

    NONE = 0
    REQUESTED = 1
    OFFERED = 2
    FUNDED = 3
    DEFAULTED = 4
    CLOSED = 5
    REPAID = 6
    BOUGHT_BACK = 7


class OfferStatus(IntEnum):
    """IFinancingDesk.OfferStatus"""

    NONE = 0
    OPEN = 1
    ACCEPTED = 2
    REJECTED = 3
    WITHDRAWN = 4
    EXPIRED = 5
    SUPERSEDED = 6


class SaleStatus(IntEnum):
    """IFinancingDesk.SaleStatus"""

    NONE = 0
    OPEN = 1
    SOLD = 2
    CANCELLED = 3


class ReleaseCause(IntEnum):
    """ICreditLines.ReleaseCause"""

    REPAID = 0
    RECOVERED = 1
    WRITTEN_OFF = 2
    BOUGHT_BACK = 3
    SOLD = 4


def mask(*statuses: Status) -> int:
    """The allowed-status bit mask ReceivableInvalidStatus reports."""
    return sum(1 << s for s in statuses)
