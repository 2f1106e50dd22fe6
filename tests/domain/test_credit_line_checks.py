"""The pre-checks of the credit lines' writes, as pure rules (ledger_app/domain/credit_lines.py):
each refuses what CreditLines.sol would, naming the request field at fault."""

from __future__ import annotations

import pytest

from ledger_app.domain import credit_lines as rules
from ledger_app.domain.refusals import Refusal
from ledger_app.domain.standing import ACTIVE, FROZEN, NOT_ONBOARDED, SUSPENDED

NOW = 1_800_000_000
ACCOUNT = "0x" + "ab" * 20


def refusal_of(check, *args) -> Refusal:  # type: ignore[no-untyped-def]
    with pytest.raises(Refusal) as caught:
        check(*args)
    return caught.value


def test_terms_within_range_pass() -> None:
    rules.check_terms(1, NOW + 1, NOW)
    rules.check_terms(2**128 - 1, rules.MAX_EXPIRY, NOW)


@pytest.mark.parametrize(
    ("limit", "expiry", "field"),
    [
        (0, NOW + 10, "limit"),
        (-1, NOW + 10, "limit"),
        (5, NOW, "expiry"),  # usable while block.timestamp <= expiry: now itself is no future
        (5, NOW - 1, "expiry"),
        (5, rules.MAX_EXPIRY + 1, "expiry"),
    ],
)
def test_terms_out_of_range_are_refused_naming_the_term(
    limit: int, expiry: int, field: str
) -> None:
    refusal = refusal_of(rules.check_terms, limit, expiry, NOW)

    assert refusal.name == "CreditLineInvalidTerms"
    assert refusal.field == field


def test_a_sub_limit_may_equal_the_line_not_exceed_it() -> None:
    rules.check_sub_limit(3, 500, 500)

    refusal = refusal_of(rules.check_sub_limit, 3, 501, 500)

    assert (refusal.name, refusal.field) == ("CreditLineSubLimitAboveLimit", "limit")
    assert refusal.values == {"line_id": 3, "sub_limit": 501, "line_limit": 500}


@pytest.mark.parametrize(
    ("standing", "roles", "name"),
    [
        (NOT_ONBOARDED, set(), "AccountNotParticipant"),
        (ACTIVE, {"SUPPLIER"}, "CounterpartyLacksRole"),
        (SUSPENDED, {"CORE_ENTERPRISE"}, "AccountRefused"),
        (FROZEN, {"CORE_ENTERPRISE"}, "AccountRefused"),
    ],
)
def test_an_obligor_must_be_an_active_core_enterprise(
    standing: str, roles: set[str], name: str
) -> None:
    refusal = refusal_of(
        rules.check_counterparty, "obligor", ACCOUNT, standing, roles, "CORE_ENTERPRISE"
    )

    assert (refusal.name, refusal.field) == (name, "obligor")


def test_an_active_core_enterprise_is_an_obligor() -> None:
    rules.check_counterparty("obligor", ACCOUNT, ACTIVE, {"CORE_ENTERPRISE"}, "CORE_ENTERPRISE")


def test_only_the_lines_financier_changes_it_whatever_the_case_of_its_address() -> None:
    rules.check_financier(4, ACCOUNT.upper().replace("0X", "0x"), ACCOUNT)

    refusal = refusal_of(rules.check_financier, 4, "0x" + "cd" * 20, ACCOUNT)

    assert (refusal.name, refusal.field) == ("CreditLineNotFinancier", "line_id")


def test_a_currency_without_a_token_is_refused() -> None:
    rules.check_currency_listed("CNY", True)

    refusal = refusal_of(rules.check_currency_listed, "USD", False)

    assert (refusal.name, refusal.field) == ("CreditLineCurrencyNotListed", "currency")


def test_only_a_named_supplier_is_taken_off_a_line() -> None:
    rules.check_supplier_named(2, ACCOUNT, True)

    refusal = refusal_of(rules.check_supplier_named, 2, ACCOUNT, False)

    assert (refusal.name, refusal.field) == ("CreditLineSupplierNotNamed", "supplier")
