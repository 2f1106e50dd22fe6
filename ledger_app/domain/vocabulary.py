"""The ledger's words: statuses, roles and standings, as the contracts number them.

One list per Solidity enum, in the enum's order, so that index ``i`` of a tuple is
the name of the value ``i`` the chain stores and emits (contracts/interfaces). The
indexer stores names, the API answers names, the trace shows names: all from here.
"""

from __future__ import annotations

from enum import StrEnum

from eth_utils import keccak

ZERO_ADDRESS = "0x" + "00" * 20

#: IReceivableRegistry.Status
RECEIVABLE_STATUS = (
    "NONE", "PENDING", "ACTIVE", "SPLIT", "FINANCING", "FINANCED",
    "OVERDUE", "DEFAULTED", "SETTLED", "REJECTED", "CANCELLED",
)  # fmt: skip
#: IFinancingDesk.FinancingStatus
FINANCING_STATUS = (
    "NONE", "REQUESTED", "OFFERED", "FUNDED", "DEFAULTED", "CLOSED", "REPAID", "BOUGHT_BACK",
)  # fmt: skip
#: IFinancingDesk.SaleStatus
SALE_STATUS = ("NONE", "OPEN", "SOLD", "CANCELLED")
#: IFinancingDesk.OfferStatus
OFFER_STATUS = ("NONE", "OPEN", "ACCEPTED", "REJECTED", "WITHDRAWN", "EXPIRED", "SUPERSEDED")
#: IHashTimeLock.LockState
LOCK_STATE = ("NONE", "LOCKED", "CLAIMED", "REFUNDED")
#: ICreditLines.LineStatus
LINE_STATUS = ("NONE", "OPEN", "CLOSED")
#: ICreditLines.ReleaseCause
RELEASE_CAUSE = ("REPAID", "RECOVERED", "WRITTEN_OFF", "BOUGHT_BACK", "SOLD")
#: IMaturityClearing.EarlyPaymentStatus
EARLY_PAYMENT_STATUS = ("NONE", "OPEN", "WITHDRAWN", "ACCEPTED")
#: IParticipantRegistry.Standing
STANDING = ("ACTIVE", "NOT_ONBOARDED", "SUSPENDED", "KYC_EXPIRED", "FROZEN")


class Role(StrEnum):
    """The on-chain roles a participant can hold (contracts/Roles.sol)."""

    OPERATOR = "OPERATOR"
    CORE_ENTERPRISE = "CORE_ENTERPRISE"
    SUPPLIER = "SUPPLIER"
    FINANCIER = "FINANCIER"
    SETTLEMENT_BANK = "SETTLEMENT_BANK"
    FX_PROVIDER = "FX_PROVIDER"
    AUDITOR = "AUDITOR"
    REGULATOR = "REGULATOR"


def role_id(name: str) -> bytes:
    """The role's on-chain id: keccak256 of its name (Roles.sol)."""
    return keccak(text=name)


#: Role ids (0x-hex, as the index stores them) to names: the participants' roles, the
#: ledger contracts' LEDGER role, and AccessControl's zero DEFAULT_ADMIN role.
ROLE_NAMES = {"0x" + role_id(name).hex(): name for name in (*Role, "LEDGER")}
ROLE_NAMES["0x" + "00" * 32] = "DEFAULT_ADMIN"


def role_name(role: str) -> str:
    """A role id's name (``SUPPLIER``), or the id itself when unknown."""
    return ROLE_NAMES.get(role, role)


#: The events a trace follows, by contract kind.
TRACED: dict[str, tuple[str, ...]] = {
    "ReceivableRegistry": (
        "ReceivableRegistered", "ReceivableStatusChanged", "ReceivableSplit",
        "ReceivableTransferred", "ReceivableFrozen", "ReceivableUnfrozen", "ReceivableSettled",
    ),
    "FinancingDesk": (
        "FinancingRequested", "FinancingOffered", "FinancingOfferClosed", "FinancingAccepted",
        "FinancingCancelled", "FinancingDefaulted", "RecourseClaimRecorded",
        "RecoursePaid", "RecourseWithdrawn", "FinancingBoughtBack",
        "FinancingSaleOffered", "FinancingSaleCancelled", "FinancingSold",
    ),
    "MaturityClearing": (
        "RootRepaid", "LeafRedeemed", "RootLateInterestCharged", "LeafRepaid",
        "EarlyPaymentOffered", "EarlyPaymentWithdrawn", "EarlyPaymentAccepted",
    ),
    "FxSettlement": ("PvpSettled",),
    "HashTimeLock": ("HtlcLocked", "HtlcClaimed", "HtlcRefunded"),
    "CreditLines": ("CreditLineConsumed", "CreditLineReleased", "CreditLineRecovered"),
    "RiskControl": ("RootOverdueFlagged", "RootOverdueCured"),
}  # fmt: skip
