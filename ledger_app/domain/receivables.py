"""The checks a receivable's write passes before it is sent: registration (one or a
batch) and split.

Each rule answers what the facts the index holds show the ledger would refuse, by the
name the API answers (the contract's own error where the rule anticipates a revert:
``ReceivableInvalidSplit``, ``ReceivableSelfDealing``, ...). The contract checks them
again, all but the seller's tax id, which the chain does not hold (it binds the invoice
to the creditor's LEI instead, see invoices.py). The statuses are the refusal table's
(ledger_app/api/errors.py).

A receivable's transfer has no check of its own here: who may move it is the registry's
(the holder, an ACTIVE receivable, an active recipient), and the service only checks
that the caller is a party to it.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from ledger_app.domain.documents import may_commit
from ledger_app.domain.invoices import normalise
from ledger_app.domain.refusals import Refusal


@dataclass(frozen=True)
class RegistrationFacts:
    """What the index shows about one registration a debtor asks for."""

    debtor: str  # the caller, lower-case
    creditor: str  # as the request gave it
    creditor_is_active_supplier: bool
    creditor_tax_id: str | None  # recorded at the creditor's onboarding (None: none)
    seller_tax_id: str  # as the request gave it; compared normalised
    currency: str
    currency_listed: bool
    registered_as: int | None  # the root already registered with this invoice key
    registered_shown: bool  # whether the debtor is a party to that root
    document: str | None  # the 0x keccak256 of the committed document (None: none)
    document_entitled: frozenset[str] = frozenset()  # who may commit that document


def registration_refusals(facts: RegistrationFacts) -> list[Refusal]:
    """What the ledger would refuse of one registration, most basic problem first."""
    refusals = []
    if facts.debtor == facts.creditor.lower():
        refusals.append(Refusal("ReceivableSelfDealing", "the debtor cannot be the creditor",
                                field="creditor"))  # fmt: skip
    elif not facts.creditor_is_active_supplier:
        refusals.append(Refusal("CreditorNotActiveSupplier",
                                f"{facts.creditor} is not an active supplier",
                                field="creditor", creditor=facts.creditor))  # fmt: skip
    else:
        refusals += seller_refusals(facts.creditor, facts.seller_tax_id, facts.creditor_tax_id)
    if not facts.currency_listed:
        refusals.append(Refusal("ReceivableUnknownCurrency",
                                f"no settlement token is listed for {facts.currency}",
                                field="currency", currency=facts.currency))  # fmt: skip
    # A duplicate only of an invoice the rest would let through: its key is the creditor's.
    if facts.registered_as is not None and not refusals:
        refusals.append(duplicate_invoice(facts.registered_as, facts.registered_shown))
    if facts.document is not None and not may_commit(facts.debtor, facts.document_entitled):
        refusals.append(Refusal("DocumentUnknown",
                                f"no document {facts.document}: upload it, or have its "
                                "uploader grant it to you",
                                field="document_hash", document_hash=facts.document))  # fmt: skip
    return refusals


def seller_refusals(creditor: str, seller_tax_id: str, recorded: str | None) -> list[Refusal]:
    """The invoice's seller must be the creditor: its tax id the one recorded for it."""
    if recorded is None:
        return [Refusal("CreditorTaxIdUnknown",
                        f"no tax id is recorded for creditor {creditor} (onboarded before tax "
                        f"ids were): the operator records it once with PUT "
                        f"/v1/participants/{creditor}/tax-id, then register again",
                        field="creditor", creditor=creditor)]  # fmt: skip
    given = normalise(seller_tax_id)
    if given != recorded:
        return [Refusal("SellerNotCreditor",
                        f"seller tax id {given} is not the tax id of creditor {creditor}: an "
                        "invoice is registered only to the seller that issued it",
                        field="invoice.seller_tax_id", seller_tax_id=given,
                        creditor=creditor)]  # fmt: skip
    return []


def duplicate_invoice(found: int, party: bool) -> Refusal:
    """An invoice already registered as root ``found``: named to a party to it only, so
    that the refusal is no oracle of who sold what to whom."""
    if party:
        return Refusal("ReceivableDuplicateInvoice", f"this invoice is already receivable {found}",
                       field="invoice", id=found)  # fmt: skip
    return Refusal("ReceivableDuplicateInvoice", "this invoice is already registered",
                   field="invoice")  # fmt: skip


def batch_duplicates(invoices: Sequence[Hashable]) -> list[Refusal | None]:
    """Per row of a batch, the refusal of an invoice an earlier row registers already
    (one seller's invoice: the same ref to the same creditor), else None."""
    first: dict[Hashable, int] = {}
    refusals: list[Refusal | None] = []
    for row, invoice in enumerate(invoices):
        earlier = first.setdefault(invoice, row)
        refusals.append(
            None
            if earlier == row
            else Refusal("DuplicateInBatch", f"the same invoice as row {earlier}", field="invoice")
        )
    return refusals


def check_split(amount: int, parts: Sequence[int]) -> None:
    """A split's parts must sum exactly to the receivable's ``amount`` (each part is
    positive: the request's model refuses any other)."""
    total = sum(parts)
    if total != amount:
        raise Refusal(
            "ReceivableInvalidSplit",
            f"the parts sum to {total}, the receivable is {amount}",
            field="amounts",
            sum=total,
            amount=amount,
        )
