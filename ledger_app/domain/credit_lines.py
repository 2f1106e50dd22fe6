"""Credit lines' rules, checked by the API before the chain does (contracts/CreditLines.sol).

A line is a financier's limit on its exposure to one obligor (a core enterprise) in
one currency, with an expiry and, on a programme, a sub-limit per supplier. These
checks anticipate the contract's own errors of the same names from what the request
and the chain's clock say (terms, sub-limits), or refuse in the API's words what the
contract would refuse with another account's standing (the obligor, the supplier):

=====================================  ======================================  ======
refusal                                 when                                    status
=====================================  ======================================  ======
CreditLineInvalidTerms (``limit``)      limit 0                                 422
CreditLineInvalidTerms (``expiry``)     expiry not after the chain's clock      422
CreditLineSubLimitAboveLimit            a supplier's sub-limit above the line   422
AccountNotParticipant                   obligor / supplier not onboarded        404
CounterpartyLacksRole                   obligor not a core enterprise,          422
                                        supplier not a supplier
AccountRefused                          suspended, KYC expired or frozen        409
CreditLineSupplierNotNamed              a supplier taken off a line it is not   404
                                        named on
=====================================  ======================================  ======

The statuses are the refusal table's (ledger_app/api/errors.py); the contract checks
everything again. What accept draws on a line (room, expiry, freeze, programme) is
decided by the contract in the accept's own transaction and answered from its revert.
"""

from __future__ import annotations

from ledger_app.domain.refusals import Refusal
from ledger_app.domain.standing import ACTIVE, NOT_ONBOARDED

#: The largest expiry the contract stores (uint64 seconds).
MAX_EXPIRY = 2**64 - 1


def check_terms(limit: int, expiry: int, now: int) -> None:
    """A line's terms: a positive limit, an expiry after ``now`` (the chain's clock: the
    head block's timestamp) and within uint64."""
    if limit <= 0:
        raise Refusal(
            "CreditLineInvalidTerms", "the limit must be above zero", field="limit", value=limit
        )
    if expiry <= now:
        raise Refusal(
            "CreditLineInvalidTerms",
            f"the expiry {expiry} is not after the ledger's time {now}",
            field="expiry",
            value=expiry,
            now=now,
        )
    if expiry > MAX_EXPIRY:
        raise Refusal(
            "CreditLineInvalidTerms", "the expiry is too far in the future", field="expiry",
            value=expiry,
        )  # fmt: skip


def check_sub_limit(line_id: int, sub_limit: int, limit: int) -> None:
    """A supplier's sub-limit is not above the line's limit."""
    if sub_limit > limit:
        raise Refusal(
            "CreditLineSubLimitAboveLimit",
            f"a sub-limit of {sub_limit} is above line {line_id}'s limit {limit}",
            field="limit",
            line_id=line_id,
            sub_limit=sub_limit,
            line_limit=limit,
        )


def check_counterparty(field: str, account: str, standing: str, roles: set[str], role: str) -> None:
    """``account``, named in the request as ``field``, is an onboarded, active ``role``
    (``standing``: ledger_app/domain/standing.py; ``roles``: the names it holds)."""
    if standing == NOT_ONBOARDED:
        raise Refusal(
            "AccountNotParticipant", f"{account} is not a participant", field=field,
            account=account,
        )  # fmt: skip
    if role not in roles:
        raise Refusal(
            "CounterpartyLacksRole",
            f"{account} is not a {role.replace('_', ' ').lower()}",
            field=field,
            account=account,
            role=role,
        )
    if standing != ACTIVE:
        raise Refusal(
            "AccountRefused",
            f"{account} may not take part now: it is {standing}",
            field=field,
            account=account,
            standing=standing,
        )


def check_currency_listed(currency: str, listed: bool) -> None:
    """A line is in a currency with a listed settlement token."""
    if not listed:
        raise Refusal(
            "CreditLineCurrencyNotListed",
            f"no settlement token is listed for {currency}",
            field="currency",
            currency=currency,
        )


def check_financier(line_id: int, account: str, financier: str) -> None:
    """Only the financier that granted a line changes it."""
    if account.lower() != financier.lower():
        raise Refusal(
            "CreditLineNotFinancier",
            f"{account} is not the financier of credit line {line_id}",
            field="line_id",
            line_id=line_id,
            account=account,
            financier=financier,
        )


def check_supplier_named(line_id: int, supplier: str, named: bool) -> None:
    """Only a supplier named on a line is taken off it. (CreditLines.setSupplierLimit with
    0 for one never named would make the line a programme with nobody on it: no one could
    draw on it again.)"""
    if not named:
        raise Refusal(
            "CreditLineSupplierNotNamed",
            f"{supplier} is not named on credit line {line_id}",
            field="supplier",
            line_id=line_id,
            supplier=supplier,
        )
