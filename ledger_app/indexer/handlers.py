"""Pure functions from one decoded event to the row mutations it implies.

No RPC, no database: a handler sees only the event and its block's timestamp,
so replaying the same events always yields the same mutations. Where a row
depends on another row (a split child inherits its root's terms) the handler
says so with a mutation the store resolves (``CopyFrom``).

Every state change of the read models is derived from events alone (DESIGN.md
invariant 6); reconcile.py checks the result against the contracts' views.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger_app.chain.decode import DecodedEvent
from ledger_app.domain.vocabulary import (
    OFFER_STATUS,
    RECEIVABLE_STATUS,
    RELEASE_CAUSE,
    SALE_STATUS,
    ZERO_ADDRESS,
    role_name,
)
from ledger_app.indexer.mutations import (
    Add,
    AddFrom,
    CopyFrom,
    Mutation,
    Patch,
    SetMember,
    Upsert,
)

#: What children of a split copy from their parent (which carries its root's terms).
INHERITED_TERMS = (
    "root_id", "debtor", "creditor", "currency", "issue_date", "due_date",
    "invoice_key", "document_hash", "late_interest_bps",
)  # fmt: skip

Handler = Callable[[DecodedEvent, int], list[Mutation]]
HANDLERS: dict[tuple[str, str], Handler] = {}


def handles(kind: str, name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of ``kind``'s event ``name``."""

    def register(function: Handler) -> Handler:
        HANDLERS[(kind, name)] = function
        return function

    return register


#: The kind under which a handler of an event any ledger contract may emit is registered
#: (DeferredPayments' events: the desk, the HTLC and clearing all inherit them).
ANY_CONTRACT = "*"


def mutations_for(event: DecodedEvent, timestamp: int) -> list[Mutation]:
    """The mutations ``event`` implies (none for events only kept as history)."""
    handler = HANDLERS.get((event.kind, event.name)) or HANDLERS.get((ANY_CONTRACT, event.name))
    return handler(event, timestamp) if handler else []


# --- ParticipantRegistry ------------------------------------------------------------


def _participant(account: str) -> dict[str, Any]:
    return {"account": account}


@handles("ParticipantRegistry", "ParticipantOnboarded")
def participant_onboarded(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A new participant, active, with its LEI, jurisdiction and KYC expiry."""
    a = e.args
    return [
        Upsert(
            "participants",
            _participant(a["account"]),
            {
                "lei": a["lei"],
                "jurisdiction": a["jurisdiction"],
                "kyc_expiry": a["kycExpiry"],
                "onboarded": True,
                "suspended": False,
                "frozen": False,
            },
        )
    ]


def _participant_flag(column: str, value: bool) -> Handler:
    def handler(e: DecodedEvent, _ts: int) -> list[Mutation]:
        return [Patch("participants", _participant(e.args["account"]), {column: value})]

    handler.__doc__ = f"Sets the participant's ``{column}`` to {value}."
    return handler


handles("ParticipantRegistry", "ParticipantSuspended")(_participant_flag("suspended", True))
handles("ParticipantRegistry", "ParticipantReinstated")(_participant_flag("suspended", False))
handles("ParticipantRegistry", "AccountFrozen")(_participant_flag("frozen", True))
handles("ParticipantRegistry", "AccountUnfrozen")(_participant_flag("frozen", False))


@handles("ParticipantRegistry", "ParticipantKycUpdated")
def participant_kyc_updated(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A renewed (or shortened) KYC validity."""
    return [
        Patch("participants", _participant(e.args["account"]), {"kyc_expiry": e.args["kycExpiry"]})
    ]


@handles("ParticipantRegistry", "RoleGranted")
def role_granted(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Adds a role; ledger contracts and the operator get a row, never onboarded."""
    name = role_name(e.args["role"])
    return [SetMember("participants", _participant(e.args["account"]), "roles", name, True)]


@handles("ParticipantRegistry", "RoleRevoked")
def role_revoked(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Removes a role."""
    name = role_name(e.args["role"])
    return [SetMember("participants", _participant(e.args["account"]), "roles", name, False)]


@handles("ParticipantRegistry", "SettlementTokenListed")
def settlement_token_listed(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A currency's token; the runner follows its address from this block on."""
    return [
        Upsert(
            "settlement_tokens",
            {"address": e.args["token"]},
            {"currency": e.args["currency"], "listed_block": e.block_number},
        )
    ]


# --- SettlementToken ----------------------------------------------------------------


@handles("SettlementToken", "Transfer")
def token_transfer(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Moves balance; a mint (from zero) or burn (to zero) changes the total supply."""
    sender, recipient, value = e.args["from"], e.args["to"], e.args["value"]
    out: list[Mutation] = []
    if sender == ZERO_ADDRESS:
        out.append(Add("settlement_tokens", {"address": e.address}, "total_supply", value))
    else:
        out.append(
            Add("token_balances", {"token": e.address, "account": sender}, "balance", -value)
        )
    if recipient == ZERO_ADDRESS:
        out.append(Add("settlement_tokens", {"address": e.address}, "total_supply", -value))
    else:
        out.append(
            Add("token_balances", {"token": e.address, "account": recipient}, "balance", value)
        )
    return out


# --- ReceivableRegistry -------------------------------------------------------------


def _receivable(rid: int) -> dict[str, Any]:
    return {"id": rid}


@handles("ReceivableRegistry", "ReceivableRegistered")
def receivable_registered(e: DecodedEvent, timestamp: int) -> list[Mutation]:
    """A new root; its status arrives with the ReceivableStatusChanged that follows."""
    a = e.args
    return [
        Upsert(
            "receivables",
            _receivable(a["id"]),
            {
                "parent_id": 0,
                "root_id": a["id"],
                "debtor": a["debtor"],
                "creditor": a["creditor"],
                "holder": a["creditor"],
                "amount": a["amount"],
                "currency": a["currency"],
                "issue_date": timestamp,  # the registry records block.timestamp
                "due_date": a["dueDate"],
                "invoice_key": a["invoiceKey"],
                "document_hash": a["documentHash"],
                "late_interest_bps": a["lateInterestBps"],
                "status": "NONE",
                "frozen": False,
                "first_child_id": 0,
                "child_count": 0,
                "outstanding": a["amount"],
                "created_block": e.block_number,
            },
        ),
        # The registry reports it to the risk control in the same transaction.
        Add("core_payables", _payables(a["debtor"], a["currency"]), "outstanding", a["amount"]),
    ]


#: A pending root's answers that void it: what its debtor owes drops by its amount.
_VOIDED = frozenset({RECEIVABLE_STATUS.index("CANCELLED"), RECEIVABLE_STATUS.index("REJECTED")})


@handles("ReceivableRegistry", "ReceivableStatusChanged")
def receivable_status_changed(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The one event every status change emits; a pending root cancelled or rejected is
    no longer owed (the registry's ``recordVoided``)."""
    a = e.args
    out: list[Mutation] = [
        Patch("receivables", _receivable(a["id"]), {"status": RECEIVABLE_STATUS[a["to"]]})
    ]
    if a["from"] == RECEIVABLE_STATUS.index("PENDING") and a["to"] in _VOIDED:
        out.append(_owed_no_more(a["id"]))
    return out


@handles("ReceivableRegistry", "ReceivableRootRepaid")
def receivable_root_repaid(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The debtor paid the root into clearing: it owes what was still outstanding no
    more (the registry's ``recordRootRepaid``; leaves paid ahead were taken off as paid)."""
    return [_owed_no_more(e.args["rootId"], "outstanding")]


def _payables(core: str, currency: str) -> dict[str, Any]:
    return {"core": core, "currency": currency}


def _owed_no_more(receivable_id: int, amount_column: str = "amount") -> Mutation:
    """The receivable's ``amount_column`` (its amount, or a root's outstanding amount)
    off its debtor's payables in its currency."""
    return AddFrom(
        "core_payables",
        source_table="receivables",
        source_key=_receivable(receivable_id),
        key_from=(("core", "debtor"), ("currency", "currency")),
        column="outstanding",
        amount_column=amount_column,
        sign=-1,
    )


@handles("ReceivableRegistry", "ReceivableSplit")
def receivable_split(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Children with consecutive ids, ACTIVE, held by the splitter, inheriting the terms."""
    parent, first = e.args["parentId"], e.args["firstChildId"]
    amounts = e.args["amounts"]
    out: list[Mutation] = [
        Patch(
            "receivables",
            _receivable(parent),
            {"first_child_id": first, "child_count": len(amounts)},
        )
    ]
    for offset, amount in enumerate(amounts):
        out.append(
            CopyFrom(
                "receivables",
                _receivable(first + offset),
                source_key=_receivable(parent),
                columns=INHERITED_TERMS,
                values={
                    "parent_id": parent,
                    "holder": e.args["holder"],
                    "amount": amount,
                    "status": "ACTIVE",
                    "frozen": False,
                    "first_child_id": 0,
                    "child_count": 0,
                    "outstanding": None,
                    "created_block": e.block_number,
                },
            )
        )
    return out


@handles("ReceivableRegistry", "ReceivableTransferred")
def receivable_transferred(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A new holder (also how a funded financier becomes the holder)."""
    return [Patch("receivables", _receivable(e.args["id"]), {"holder": e.args["to"]})]


@handles("ReceivableRegistry", "ReceivableFrozen")
def receivable_frozen(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The regulator froze it."""
    return [Patch("receivables", _receivable(e.args["id"]), {"frozen": True})]


@handles("ReceivableRegistry", "ReceivableUnfrozen")
def receivable_unfrozen(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The freeze was lifted."""
    return [Patch("receivables", _receivable(e.args["id"]), {"frozen": False})]


@handles("ReceivableRegistry", "ReceivableSettled")
def receivable_settled(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A leaf was paid: the root's outstanding amount is what the event says remains."""
    return [
        Patch("receivables", _receivable(e.args["rootId"]), {"outstanding": e.args["outstanding"]})
    ]


# --- FinancingDesk ------------------------------------------------------------------


def _financing(fid: int) -> dict[str, Any]:
    return {"id": fid}


def _offer(fid: int, index: int) -> dict[str, Any]:
    return {"financing_id": fid, "offer_index": index}


@handles("FinancingDesk", "FinancingRequested")
def financing_requested(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A holder asked for financing (the receivable's FINANCING status comes separately)."""
    a = e.args
    return [
        Upsert(
            "financings",
            _financing(a["financingId"]),
            {
                "receivable_id": a["receivableId"],
                "supplier": a["supplier"],
                "financier": a["financier"],
                "status": "REQUESTED",
                "offer_count": 0,
                "open_offers": 0,
                "accepted_offer": 0,
                "recourse": None,
                "recourse_claim": 0,
            },
        )
    ]


@handles("FinancingDesk", "FinancingOffered")
def financing_offered(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """An offer with escrowed proceeds; offers are numbered from 0 in order."""
    a, terms = e.args, e.args["terms"]
    fid, index = a["financingId"], a["offerIndex"]
    return [
        Upsert(
            "financing_offers",
            _offer(fid, index),
            {
                "financier": a["financier"],
                "status": "OPEN",
                "advance_rate_bps": terms["advanceRateBps"],
                "discount_rate_bps": terms["discountRateBps"],
                "day_count_basis": terms["dayCountBasis"],
                "recourse": terms["recourse"],
                "grace_period": terms["gracePeriod"],
                "expiry": terms["expiry"],
                "fee": terms["fee"],
                "advance": a["advance"],
                "discount": a["discount"],
                "proceeds": a["proceeds"],
            },
        ),
        Patch("financings", _financing(fid), {"status": "OFFERED", "offer_count": index + 1}),
        Add("financings", _financing(fid), "open_offers", 1),
    ]


@handles("FinancingDesk", "FinancingOfferClosed")
def financing_offer_closed(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """An offer left OPEN. Rejected, withdrawn or expired: one open offer fewer (the
    last one gone, FinancingClosed follows). Superseded: accept/cancel closed all."""
    fid, index = e.args["financingId"], e.args["offerIndex"]
    status = OFFER_STATUS[e.args["status"]]
    out: list[Mutation] = [Patch("financing_offers", _offer(fid, index), {"status": status})]
    if status != "SUPERSEDED":
        out.append(Add("financings", _financing(fid), "open_offers", -1))
    return out


@handles("FinancingDesk", "FinancingAccepted")
def financing_accepted(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Funded: the accepted offer's financier is the financing's financier now."""
    a = e.args
    fid, index = a["financingId"], a["offerIndex"]
    return [
        Patch(
            "financings",
            _financing(fid),
            {
                "status": "FUNDED",
                "accepted_offer": index + 1,
                "financier": a["financier"],
                "open_offers": 0,
            },
        ),
        Patch("financing_offers", _offer(fid, index), {"status": "ACCEPTED"}),
    ]


@handles("FinancingDesk", "FinancingCancelled")
def financing_cancelled(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Withdrawn by the supplier before funding."""
    return [
        Patch(
            "financings", _financing(e.args["financingId"]), {"status": "CLOSED", "open_offers": 0}
        )
    ]


@handles("FinancingDesk", "FinancingClosed")
def financing_closed(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Closed when its last open offer was rejected, withdrawn or expired."""
    return [
        Patch(
            "financings", _financing(e.args["financingId"]), {"status": "CLOSED", "open_offers": 0}
        )
    ]


@handles("FinancingDesk", "FinancingDefaulted")
def financing_defaulted(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Declared in default by the funding financier."""
    return [
        Patch(
            "financings",
            _financing(e.args["financingId"]),
            {"status": "DEFAULTED", "recourse": e.args["recourse"]},
        )
    ]


@handles("FinancingDesk", "RecourseClaimRecorded")
def recourse_claim_recorded(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """With recourse, the financier's claim against the supplier."""
    return [
        Patch(
            "financings", _financing(e.args["financingId"]), {"recourse_claim": e.args["amountDue"]}
        )
    ]


def _recourse_row(e: DecodedEvent, kind: str, paid: int) -> Upsert:
    return Upsert(
        "recourse_payments",
        {"financing_id": e.args["financingId"], "block_number": e.block_number,
         "log_index": e.log_index},
        {"supplier": e.args["supplier"], "kind": kind, "amount": e.args["amount"], "paid": paid},
    )  # fmt: skip


@handles("FinancingDesk", "RecoursePaid")
def recourse_paid(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The supplier paid part of the recourse claim; the desk holds it."""
    paid = e.args["paid"]
    return [
        Patch("financings", _financing(e.args["financingId"]), {"recourse_paid": paid}),
        _recourse_row(e, "PAYMENT", paid),
    ]


@handles("FinancingDesk", "RecourseWithdrawn")
def recourse_withdrawn(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The root was paid into clearing first: the supplier took its payments back."""
    return [
        Patch("financings", _financing(e.args["financingId"]), {"recourse_paid": 0}),
        _recourse_row(e, "WITHDRAWAL", 0),
    ]


@handles("FinancingDesk", "FinancingBoughtBack")
def financing_bought_back(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The claim is paid in full: the receivable is the supplier's again."""
    return [
        Patch(
            "financings",
            _financing(e.args["financingId"]),
            {"status": "BOUGHT_BACK", "bought_back_block": e.block_number},
        )
    ]


@handles("FinancingDesk", "FinancingSaleOffered")
def financing_sale_offered(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A financier offers a funded financing to a named financier for a price."""
    a = e.args
    sale = {
        "financing_id": a["financingId"], "seller": a["seller"], "buyer": a["buyer"],
        "price": a["price"], "expiry": a["expiry"], "status": SALE_STATUS[1],
        "offered_block": e.block_number, "closed_block": None,
    }  # fmt: skip
    return [Upsert("financing_sales", {"sale_id": a["saleId"]}, sale)]


@handles("FinancingDesk", "FinancingSaleCancelled")
def financing_sale_cancelled(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The seller withdrew its sale offer."""
    return [
        Patch(
            "financing_sales",
            {"sale_id": e.args["saleId"]},
            {"status": SALE_STATUS[3], "closed_block": e.block_number},
        )
    ]


@handles("FinancingDesk", "FinancingSold")
def financing_sold(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Bought: the buyer is the financing's financier (the holder comes separately)."""
    a = e.args
    return [
        Patch(
            "financing_sales",
            {"sale_id": a["saleId"]},
            {"status": SALE_STATUS[2], "closed_block": e.block_number},
        ),
        Patch("financings", _financing(a["financingId"]), {"financier": a["buyer"]}),
    ]


# --- MaturityClearing ---------------------------------------------------------------


@handles("MaturityClearing", "RootRepaid")
def root_repaid(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The debtor paid the root's outstanding amount into clearing."""
    a = e.args
    return [
        Upsert(
            "clearing_roots",
            {"root_id": a["rootId"]},
            {
                "debtor": a["debtor"],
                "currency": a["currency"],
                "repaid": a["amount"],
                "unredeemed": a["amount"],
            },
        )
    ]


@handles("MaturityClearing", "RootLateInterestCharged")
def root_late_interest_charged(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The root was paid late: the interest paid on top, for its leaves pro rata."""
    a = e.args
    return [
        Patch(
            "clearing_roots",
            {"root_id": a["rootId"]},
            {
                "late_interest": a["interest"],
                "interest_unredeemed": a["interest"],
                "days_late": a["daysLate"],
            },
        )
    ]


def _leaf_payment(e: DecodedEvent, kind: str, root_id: int, **amounts: int) -> Upsert:
    a = e.args
    face = a["amount"] if "amount" in a else a["face"]
    values = {"discount": 0, "interest": 0, **amounts}
    paid = face - values["discount"] + values["interest"]
    return Upsert(
        "leaf_payments",
        {"leaf_id": a["leafId"]},
        {"root_id": root_id, "kind": kind, "holder": a["holder"], "face": face, "paid": paid}
        | values,
    )


@handles("MaturityClearing", "LeafRedeemed")
def leaf_redeemed(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A leaf was paid out of the root's repayment, with its share of the interest."""
    a = e.args
    root = {"root_id": a["rootId"]}
    return [
        Add("clearing_roots", root, "unredeemed", -a["amount"]),
        Add("clearing_roots", root, "interest_unredeemed", -a["interest"]),
        _leaf_payment(e, "REDEEMED", a["rootId"], interest=a["interest"]),
    ]


@handles("MaturityClearing", "LeafRepaid")
def leaf_repaid(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The debtor paid a leaf ahead of its root: it owes its face no more (the
    registry's ``recordLeafPaid``)."""
    a = e.args
    return [
        _leaf_payment(e, "PARTIAL", a["rootId"], interest=a["interest"]),
        _owed_no_more(a["leafId"]),
    ]


@handles("MaturityClearing", "EarlyPaymentOffered")
def early_payment_offered(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The debtor offered to pay a leaf early at a discount."""
    a = e.args
    return [
        Upsert(
            "early_payment_offers",
            {"offer_id": a["offerId"]},
            {
                "leaf_id": a["leafId"],
                "debtor": a["debtor"],
                "annual_rate_bps": a["annualRateBps"],
                "day_count_basis": a["dayCountBasis"],
                "expiry": a["expiry"],
                "status": "OPEN",
                "offered_block": e.block_number,
            },
        )
    ]


@handles("MaturityClearing", "EarlyPaymentWithdrawn")
def early_payment_withdrawn(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The debtor withdrew its offer."""
    return [Patch("early_payment_offers", {"offer_id": e.args["offerId"]}, {"status": "WITHDRAWN"})]


@handles("MaturityClearing", "EarlyPaymentAccepted")
def early_payment_accepted(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The holder accepted: paid face - discount, the leaf settled early, its face owed
    no more (the registry's ``recordLeafPaid``). The leaf's root is read from its row."""
    a = e.args
    return [
        Patch(
            "early_payment_offers",
            {"offer_id": a["offerId"]},
            {
                "status": "ACCEPTED",
                "holder": a["holder"],
                "days_early": a["daysEarly"],
                "discount": a["discount"],
                "paid": a["paid"],
            },
        ),
        CopyFrom(
            "leaf_payments",
            {"leaf_id": a["leafId"]},
            source_key=_receivable(a["leafId"]),
            columns=("root_id",),
            values={
                "kind": "EARLY",
                "holder": a["holder"],
                "face": a["face"],
                "discount": a["discount"],
                "interest": 0,
                "paid": a["paid"],
            },
            source_table="receivables",
        ),
        _owed_no_more(a["leafId"]),
    ]


# --- FxSettlement -------------------------------------------------------------------


@handles("FxSettlement", "FxQuotePosted")
def fx_quote_posted(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A provider's firm quote, posted on chain."""
    q = e.args["quote"]
    return [
        Upsert(
            "fx_quotes",
            {"quote_id": e.args["quoteId"]},
            {
                "provider": q["provider"],
                "sell_currency": q["sellCurrency"],
                "buy_currency": q["buyCurrency"],
                "rate": q["rate"],
                "issued_at": q["issuedAt"],
                "valid_until": q["validUntil"],
                "payer": q["payer"],
                "posted": True,
            },
        )
    ]


@handles("FxSettlement", "PvpSettled")
def pvp_settled(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Both legs moved; the quote (posted, or signed off chain) is used up."""
    a = e.args
    return [
        Upsert(
            "pvp_settlements",
            {"uetr": a["uetr"]},
            {
                "payer": a["payer"],
                "payee": a["payee"],
                "provider": a["provider"],
                "quote_id": a["quoteId"],
                "sell_currency": a["sellCurrency"],
                "sell_amount": a["sellAmount"],
                "buy_currency": a["buyCurrency"],
                "buy_amount": a["buyAmount"],
                "purpose": a["purpose"],
                "reference_id": a["referenceId"],
                "block_number": e.block_number,
                "tx_hash": e.tx_hash,
            },
        ),
        Upsert(
            "fx_quotes",
            {"quote_id": a["quoteId"]},
            {
                "provider": a["provider"],
                "sell_currency": a["sellCurrency"],
                "buy_currency": a["buyCurrency"],
                "used": True,
            },
        ),
    ]


# --- HashTimeLock -------------------------------------------------------------------


@handles("HashTimeLock", "HtlcLocked")
def htlc_locked(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Tokens locked under a sha256 hashlock until a timeout."""
    a = e.args
    return [
        Upsert(
            "htlc_locks",
            {"lock_id": a["lockId"]},
            {
                "sender": a["sender"],
                "recipient": a["recipient"],
                "token": a["token"],
                "amount": a["amount"],
                "hashlock": a["hashlock"],
                "timeout": a["timeout"],
                "uetr": a["uetr"],
                "state": "LOCKED",
                "preimage": None,
            },
        )
    ]


@handles("HashTimeLock", "HtlcClaimed")
def htlc_claimed(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Released to the recipient; the preimage is now public."""
    return [
        Patch(
            "htlc_locks",
            {"lock_id": e.args["lockId"]},
            {"state": "CLAIMED", "preimage": e.args["preimage"]},
        )
    ]


@handles("HashTimeLock", "HtlcRefunded")
def htlc_refunded(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Taken back by the sender after the timeout."""
    return [Patch("htlc_locks", {"lock_id": e.args["lockId"]}, {"state": "REFUNDED"})]


# --- CreditLines --------------------------------------------------------------------


def _line(line_id: int) -> dict[str, Any]:
    return {"line_id": line_id}


#: What a line's history row records of the line after each of its events.
LINE_TERMS = ("limit", "utilised", "expiry", "status", "frozen", "programme")


def _line_history(e: DecodedEvent) -> Mutation:
    """The line's terms after ``e``, kept by (line, block, log index): its terms at any
    block are those of its last history row at or before it."""
    line_id = e.args["lineId"]
    return CopyFrom(
        "credit_line_history",
        {"line_id": line_id, "block_number": e.block_number, "log_index": e.log_index},
        source_key=_line(line_id),
        columns=LINE_TERMS,
        values={"event_name": e.name},
        source_table="credit_lines",
    )


def _line_change(e: DecodedEvent, values: dict[str, Any]) -> list[Mutation]:
    return [Patch("credit_lines", _line(e.args["lineId"]), values), _line_history(e)]


@handles("CreditLines", "CreditLineGranted")
def credit_line_granted(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A new open line, nothing drawn, no programme yet."""
    a = e.args
    return [
        Upsert(
            "credit_lines",
            _line(a["lineId"]),
            {
                "financier": a["financier"],
                "obligor": a["obligor"],
                "currency": a["currency"],
                "limit": a["limit"],
                "utilised": 0,
                "expiry": a["expiry"],
                "status": "OPEN",
                "frozen": False,
                "programme": False,
                "granted_block": e.block_number,
            },
        ),
        _line_history(e),
    ]


@handles("CreditLines", "CreditLineAmended")
def credit_line_amended(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A new limit and expiry."""
    return _line_change(e, {"limit": e.args["limit"], "expiry": e.args["expiry"]})


@handles("CreditLines", "CreditLineSupplierLimitSet")
def credit_line_supplier_limit_set(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A supplier's sub-limit (0: off the programme); the line is a programme for good."""
    a = e.args
    return [
        Upsert(
            "credit_line_suppliers",
            {"line_id": a["lineId"], "supplier": a["supplier"]},
            {"limit": a["limit"]},
        ),
        *_line_change(e, {"programme": True}),
    ]


@handles("CreditLines", "CreditLineClosed")
def credit_line_closed(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Closed: nothing draws on it any more; what is drawn is still freed."""
    return _line_change(e, {"status": "CLOSED"})


@handles("CreditLines", "CreditLineFrozen")
def credit_line_frozen(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The regulator froze it."""
    return _line_change(e, {"frozen": True})


@handles("CreditLines", "CreditLineUnfrozen")
def credit_line_unfrozen(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The freeze was lifted."""
    return _line_change(e, {"frozen": False})


@handles("CreditLines", "CreditLineConsumed")
def credit_line_consumed(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """An accept drew the receivable's face amount: the line's utilisation is the
    event's; on a programme line the supplier's sub-limit counts it too."""
    a = e.args
    drawing = {"receivable_id": a["receivableId"]}
    return [
        CopyFrom(
            "credit_line_drawings",
            drawing,
            source_key=_line(a["lineId"]),
            columns=("programme",),
            values={
                "line_id": a["lineId"],
                "financing_id": a["financingId"],
                "supplier": a["supplier"],
                "amount": a["amount"],
                "drawn_block": e.block_number,
                "released_block": None,
                "release_cause": None,
                "written_off": 0,
                "freed": 0,
                "recovered": None,
                "recovered_block": None,
            },
            source_table="credit_lines",
        ),
        _supplier_drawn(drawing, sign=1),
        *_line_change(e, {"utilised": a["utilised"]}),
    ]


@handles("CreditLines", "CreditLineReleased")
def credit_line_released(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Written off (in part or whole): that much is uncounted, the drawing stays open
    for a recovery. Repaid, recovered, bought back or sold: the drawing is freed of
    what it still counted (and kept, released)."""
    a = e.args
    drawing = {"receivable_id": a["receivableId"]}
    cause = RELEASE_CAUSE[a["cause"]]
    if cause == "WRITTEN_OFF":
        changes: list[Mutation] = [
            Patch("credit_line_drawings", drawing, {"freed": a["amount"]}),
            Add("credit_line_drawings", drawing, "written_off", a["amount"]),
            Upsert(
                "credit_line_write_offs",
                {**drawing, "block_number": e.block_number, "log_index": e.log_index},
                {"line_id": a["lineId"], "amount": a["amount"]},
            ),
        ]
    else:
        changes = [
            Patch(
                "credit_line_drawings",
                drawing,
                {"released_block": e.block_number, "release_cause": cause, "freed": a["amount"]},
            )
        ]
    return [
        *changes,
        _supplier_drawn(drawing, sign=-1),
        *_line_change(e, {"utilised": a["utilised"]}),
    ]


@handles("CreditLines", "CreditLineRecovered")
def credit_line_recovered(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A leaf written off (in part) was paid after all: what reached its holder."""
    return [
        Patch(
            "credit_line_drawings",
            {"receivable_id": e.args["receivableId"]},
            {"recovered": e.args["recovered"], "recovered_block": e.block_number},
        )
    ]


def _supplier_drawn(drawing: dict[str, Any], *, sign: int) -> Mutation:
    """The drawing's amount on its supplier's sub-limit (or what it just freed off it),
    when the line was a programme as it was drawn (what the contract counted is what it
    uncounts)."""
    return AddFrom(
        "credit_line_suppliers",
        source_table="credit_line_drawings",
        source_key=drawing,
        key_from=(("line_id", "line_id"), ("supplier", "supplier")),
        column="utilised",
        amount_column="amount" if sign > 0 else "freed",
        sign=sign,
        when="programme",
    )


# --- RiskControl --------------------------------------------------------------------


@handles("RiskControl", "IssuanceCapSet")
def issuance_cap_set(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A cap on what the core may owe in the currency."""
    a = e.args
    return [
        Upsert(
            "core_payables",
            _payables(a["core"], a["currency"]),
            {"cap": a["cap"], "capped": True},
        )
    ]


@handles("RiskControl", "IssuanceCapRemoved")
def issuance_cap_removed(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """No cap any more."""
    a = e.args
    return [
        Upsert("core_payables", _payables(a["core"], a["currency"]), {"cap": 0, "capped": False})
    ]


@handles("RiskControl", "IssuanceCapManagerSet")
def issuance_cap_manager_set(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The bank that may set the core's caps besides the operator (none: NULL)."""
    manager = e.args["manager"]
    return [
        Upsert(
            "cap_managers",
            {"core": e.args["core"]},
            {"manager": None if manager == ZERO_ADDRESS else manager},
        )
    ]


@handles("RiskControl", "OverdueTriggerSet")
def overdue_trigger_set(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """Days past due after which an unpaid root may be flagged (also at deployment)."""
    return [
        Upsert(
            "risk_settings",
            {"contract": e.address},
            {"overdue_trigger_days": e.args["triggerDays"]},
        )
    ]


@handles("RiskControl", "RootOverdueFlagged")
def root_overdue_flagged(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A root flagged past the trigger: its debtor is restricted while a flag is open."""
    a = e.args
    return [
        Upsert(
            "overdue_flags",
            {"root_id": a["rootId"]},
            {
                "debtor": a["debtor"],
                "due_date": a["dueDate"],
                "flagged_by": a["actor"],
                "flagged_block": e.block_number,
                "cured_block": None,
            },
        )
    ]


@handles("RiskControl", "RootOverdueCured")
def root_overdue_cured(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The flagged root was paid into clearing."""
    return [Patch("overdue_flags", {"root_id": e.args["rootId"]}, {"cured_block": e.block_number})]


# --- DeferredPayments (any ledger contract) --------------------------------------------


def _deferral(e: DecodedEvent, claimable: int) -> list[Mutation]:
    a = e.args
    key = {"contract": e.address, "payee": a["payee"], "token": a["token"]}
    return [
        Upsert("deferred_payments", key, {"claimable": claimable}),
        Upsert(
            "deferred_payment_history",
            {"block_number": e.block_number, "log_index": e.log_index},
            {
                "tx_hash": e.tx_hash,
                **key,
                "event_name": e.name,
                "amount": a["amount"],
                "claimable": claimable,
            },
        ),
    ]


@handles(ANY_CONTRACT, "PaymentDeferred")
def payment_deferred(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """A payment the contract could not make now waits for its payee: the event carries
    the payee's new total, so a replay writes the same value."""
    return _deferral(e, e.args["claimable"])


@handles(ANY_CONTRACT, "PaymentClaimed")
def payment_claimed(e: DecodedEvent, _ts: int) -> list[Mutation]:
    """The payee took everything that waited for it in that token."""
    return _deferral(e, 0)
