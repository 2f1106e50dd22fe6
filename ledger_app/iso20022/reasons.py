"""Why the ledger refused a settlement, as an ISO 20022 status reason.

Each contract error that can refuse a PvP settlement maps to an ExternalStatusReason1Code
(ISO's external code list); the error's name and values go along as additional text, so
the report names the rule that refused it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Contract error -> ISO external status reason code.
REASON_CODES: dict[str, str] = {
    # Standing of payer, payee or provider.
    "FxComplianceStanding": "RR04",  # regulatory reason (suspended, KYC expired, frozen)
    "RegistryParticipantSuspended": "RR04",
    "RegistryKycExpired": "RR04",
    "RegistryAccountFrozen": "AC06",  # blocked account
    "RegistryUnknownParticipant": "BE06",  # unknown end customer
    "RegistryMissingRole": "AG01",  # transaction forbidden
    "SettlementTokenAccountRefused": "AC06",
    # Compliance rules.
    "FxComplianceCorridorClosed": "RR04",
    "FxComplianceDailyLimit": "AM14",  # amount exceeds agreed limit
    # Money.
    "ERC20InsufficientBalance": "AM04",  # insufficient funds
    "ERC20InsufficientAllowance": "AM04",
    "FxInvalidAmount": "AM12",  # invalid amount
    "FxCurrencyNotListed": "AM03",  # not allowed currency
    # References.
    "FxDuplicateUetr": "AM05",  # duplication
    "FxQuoteAlreadyUsed": "AM05",
}
#: Narrative: the reason is in the additional information (e.g. an expired FX quote).
NARRATIVE = "NARR"
_MAX_LINE = 105  # Max105Text, the length of one AddtlInf line


@dataclass(frozen=True)
class RefusalReason:
    """An ISO status reason code and the text that explains it."""

    code: str
    text: str

    def lines(self) -> list[str]:
        """The text cut into AddtlInf lines of at most 105 characters."""
        return [self.text[i : i + _MAX_LINE] for i in range(0, len(self.text), _MAX_LINE)] or [
            self.code
        ]


def refusal_reason(error_name: str, detail: str = "") -> RefusalReason:
    """The status reason for a contract error, e.g. refusal_reason("FxComplianceDailyLimit",
    "limit 1000.00 CNY, used 600.00") -> AM14 with "FxComplianceDailyLimit: limit ...".
    Errors without an ISO code of their own are NARR, the error named in the text."""
    text = f"{error_name}: {detail}" if detail else error_name
    return RefusalReason(REASON_CODES.get(error_name, NARRATIVE), text)
