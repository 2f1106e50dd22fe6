"""The pre-checks of the ledger's writes, as pure rules: registration, batch, split,
clearing, token transfer (ledger_app/domain/receivables.py, clearing.py,
tokens.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ledger_app.domain import clearing as clearing_checks
from ledger_app.domain.receivables import (
    RegistrationFacts,
    batch_duplicates,
    check_split,
    registration_refusals,
)
from ledger_app.domain.refusals import Refusal
from ledger_app.domain.tokens import check_transfer

DEBTOR = "0x" + "aa" * 20
CREDITOR = "0x" + "Bb" * 20
DOCUMENT = "0x" + "cd" * 32

FINE = RegistrationFacts(
    debtor=DEBTOR,
    creditor=CREDITOR,
    creditor_is_active_supplier=True,
    creditor_tax_id="91310000MA1FL0001X",
    seller_tax_id=" 91310000ma1fl0001x",
    currency="CNY",
    currency_listed=True,
    registered_as=None,
    registered_shown=False,
    document=None,
)


def names(refusals: list[Refusal]) -> list[str]:
    return [r.name for r in refusals]


def test_registration_the_index_lets_through_has_no_refusal() -> None:
    assert registration_refusals(FINE) == []


def test_registration_to_oneself_is_self_dealing_whatever_the_case() -> None:
    refusals = registration_refusals(replace(FINE, creditor=DEBTOR.upper().replace("0X", "0x")))

    assert names(refusals) == ["ReceivableSelfDealing"]
    assert refusals[0].details == {"field": "creditor"}


def test_registration_lists_each_problem_most_basic_first() -> None:
    facts = replace(FINE, creditor_is_active_supplier=False, currency_listed=False,
                    registered_as=7, document=DOCUMENT)  # fmt: skip

    refusals = registration_refusals(facts)

    # No duplicate: an invoice is keyed by a creditor the rest refuses.
    assert names(refusals) == ["CreditorNotActiveSupplier", "ReceivableUnknownCurrency",
                               "DocumentUnknown"]  # fmt: skip
    assert refusals[2].details == {"field": "document_hash", "document_hash": DOCUMENT}


def test_registration_seller_must_be_the_creditor() -> None:
    unknown = registration_refusals(replace(FINE, creditor_tax_id=None))
    other = registration_refusals(replace(FINE, seller_tax_id="91310000MA1FL0002Y"))

    assert names(unknown) == ["CreditorTaxIdUnknown"]
    assert names(other) == ["SellerNotCreditor"]
    assert other[0].details == {"field": "invoice.seller_tax_id",
                                "seller_tax_id": "91310000MA1FL0002Y", "creditor": CREDITOR}  # fmt: skip


@pytest.mark.parametrize(("shown", "values"), [(True, {"id": 7}), (False, {})])
def test_a_duplicate_invoice_is_named_to_a_party_only(shown: bool, values: dict) -> None:
    refusals = registration_refusals(replace(FINE, registered_as=7, registered_shown=shown))

    assert names(refusals) == ["ReceivableDuplicateInvoice"]
    assert refusals[0].values == values
    assert ("7" in refusals[0].message) is shown


def test_a_document_the_debtor_may_commit_passes() -> None:
    facts = replace(FINE, document=DOCUMENT, document_entitled=frozenset({DEBTOR}))

    assert registration_refusals(facts) == []


def test_batch_duplicates_name_the_first_row_of_the_invoice() -> None:
    refusals = batch_duplicates([("a", b"1"), ("b", b"1"), ("a", b"1"), ("a", b"1")])

    assert refusals[:2] == [None, None]
    assert [(r.name, r.message) for r in refusals[2:] if r] == [
        ("DuplicateInBatch", "the same invoice as row 0"),
        ("DuplicateInBatch", "the same invoice as row 0"),
    ]


def test_split_parts_must_sum_to_the_amount() -> None:
    check_split(100, [60, 40])
    with pytest.raises(Refusal) as refused:
        check_split(100, [60, 39])

    assert refused.value.name == "ReceivableInvalidSplit"
    assert refused.value.details == {"field": "amounts", "sum": 99, "amount": 100}


def test_clearing_checks_refuse_by_the_contracts_names() -> None:
    cases = [
        (clearing_checks.check_root, (5, 4, 4), "ClearingNotRoot"),
        (clearing_checks.check_debtor, (4, CREDITOR, DEBTOR), "ClearingNotDebtor"),
        (clearing_checks.check_due, (4, 1_000, 999), "ClearingNotDue"),
        (clearing_checks.check_not_repaid, (4, True), "ClearingAlreadyRepaid"),
        (clearing_checks.check_repaid, (4, False), "ClearingNotRepaid"),
        (clearing_checks.check_fx_currency, (4, "CNY", "USD"), "ClearingFxCurrencyMismatch"),
        (clearing_checks.check_leaves_to_redeem, (4, []), "ClearingNothingToRedeem"),
    ]
    for check, args, name in cases:
        with pytest.raises(Refusal) as refused:
            check(*args)
        assert refused.value.name == name


def test_clearing_checks_let_a_due_unpaid_root_of_its_debtor_through() -> None:
    clearing_checks.check_root(4, 0, 4)
    clearing_checks.check_debtor(4, DEBTOR.upper().replace("0X", "0x"), DEBTOR)
    clearing_checks.check_due(4, 1_000, 1_000)
    clearing_checks.check_not_repaid(4, False)
    clearing_checks.check_repaid(4, True)
    clearing_checks.check_fx_currency(4, "CNY", "CNY")
    clearing_checks.check_leaves_to_redeem(4, [5])


def test_a_token_transfer_to_oneself_is_refused() -> None:
    check_transfer(DEBTOR, CREDITOR)
    with pytest.raises(Refusal) as refused:
        check_transfer(CREDITOR, CREDITOR.lower())

    assert (refused.value.name, refused.value.details) == ("TransferToSelf", {"field": "to"})
