"""Financing (factoring): requests, escrowed offers, acceptance, and who sees which.

A caller is a party to financing F when it is F's supplier, F's financier (the
one asked, or the funder), or made an offer on F; a financier is also a party
to every request open to any financier while it takes offers. Auditors and
regulators are parties to all. A non-party gets 404. Each party sees the offers
it may: the supplier and readers all of them, a financier only its own.

Every offer carries its advance, discount, fee and proceeds, computed by
ledger_app.domain.financing exactly as the desk computes them; ``quote`` gives
the same figures before anything is sent. An offer escrows its proceeds, so the
service first approves the desk for them from the financier's account, on the
financier's own queue (TokenService.ensure_allowance).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import and_, or_, select, true

from ledger_app.api.identity import Caller
from ledger_app.api.index_state import indexed_block
from ledger_app.api.permissions import Role
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.lookups import is_active_with, participant_row
from ledger_app.api.services.receivables import ReceivableService
from ledger_app.api.services.risk import RiskService
from ledger_app.api.services.tokens import TokenService
from ledger_app.api.services.writes import WriteOutcome, Writer
from ledger_app.db import claim_queries
from ledger_app.db.schema import (
    credit_line_drawings,
    financing_offers,
    financing_sales,
    financings,
    receivables,
    recourse_payments,
)
from ledger_app.domain import financing as arithmetic
from ledger_app.domain.vocabulary import ZERO_ADDRESS
from ledger_app.errors import Conflict, InvalidInput, NotFound

OPEN = ("REQUESTED", "OFFERED")
#: An offer is priced at the time of its block; the escrow is approved for the price a
#: little later (fewer days, so a smaller discount), in case a day boundary passes.
APPROVAL_MARGIN = 300


@dataclass(frozen=True)
class Terms:
    """Offer terms as the desk takes them (validated by the request model)."""

    advance_rate_bps: int
    discount_rate_bps: int
    day_count_basis: int
    recourse: bool
    grace_period: int  # seconds
    expiry: int  # unix seconds
    fee: int

    def as_tuple(self) -> tuple[Any, ...]:
        """The desk's OfferTerms struct."""
        return (
            self.advance_rate_bps,
            self.discount_rate_bps,
            self.day_count_basis,
            self.recourse,
            self.grace_period,
            self.expiry,
            self.fee,
        )


def visible_to(caller: Caller) -> Any:
    """SQL condition: the financing row is one ``caller`` is a party to."""
    if caller.reads_all:
        return true()
    me = caller.key
    offered = select(financing_offers.c.financing_id).where(financing_offers.c.financier == me)
    # A financier offered a financing for sale sees it (to decide), and its seller still
    # sees what it sold.
    traded = select(financing_sales.c.financing_id).where(
        or_(financing_sales.c.buyer == me, financing_sales.c.seller == me)
    )
    parties = [
        financings.c.supplier == me,
        financings.c.financier == me,
        financings.c.id.in_(offered),
        financings.c.id.in_(traded),
    ]
    if Role.FINANCIER in caller.roles:
        parties.append(and_(financings.c.financier == ZERO_ADDRESS, financings.c.status.in_(OPEN)))
    return or_(*parties)


class FinancingService:
    """The financing operations of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.writer = Writer(runtime)

    # --- reads ------------------------------------------------------------------------

    def get(self, caller: Caller, financing_id: int) -> Any:
        """The row of a financing ``caller`` is a party to; NotFound otherwise."""
        query = select(financings).where(financings.c.id == financing_id, visible_to(caller))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(
                f"no financing {financing_id}", error="FinancingUnknown", id=financing_id
            )
        return row

    def list(
        self, caller: Caller, status: str | None, after: int | None, limit: int
    ) -> tuple[list[Any], int | None]:
        """Financings the caller is a party to, by id, ``limit`` after id ``after``."""
        query = select(financings).where(visible_to(caller))
        if status:
            # The shown status (arithmetic.shown_status), asked of the stored rows.
            stored, settled = arithmetic.stored_for(status)
            query = query.where(financings.c.status.in_(stored))
            if settled is True:
                query = query.where(financings.c.receivable_id.in_(self._settled()))
            elif settled is False:
                query = query.where(financings.c.receivable_id.not_in(self._settled()))
        if after is not None:
            query = query.where(financings.c.id > after)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(financings.c.id).limit(limit + 1)).all()
        page = rows[:limit]
        return page, (page[-1].id if len(rows) > limit and page else None)

    def describe(self, caller: Caller, row: Any) -> dict[str, Any]:
        """A financing as the API answers it, with the offers the caller may see."""
        with self.engine.connect() as conn:
            receivable = conn.execute(
                select(receivables).where(receivables.c.id == row.receivable_id)
            ).one()
            query = select(financing_offers).where(financing_offers.c.financing_id == row.id)
            if not (caller.reads_all or caller.is_(row.supplier)):
                query = query.where(financing_offers.c.financier == caller.key)
            offers = conn.execute(query.order_by(financing_offers.c.offer_index)).all()
            desk = self.runtime.contracts.address("financing_desk")
            deferred = claim_queries.deferred_refunds(conn, row.receivable_id, desk)
            after_funding = self._after_funding(conn, caller, row)
        status = arithmetic.shown_status(row.status, receivable.status)  # as the desk's view
        return {
            "id": row.id,
            "receivable_id": row.receivable_id,
            "supplier": to_checksum_address(row.supplier),
            "financier": None
            if row.financier == ZERO_ADDRESS
            else to_checksum_address(row.financier),
            "status": status,
            "face_amount": str(receivable.amount),
            "currency": receivable.currency,
            "due_date": datetime.fromtimestamp(receivable.due_date, UTC),
            "offer_count": row.offer_count,
            "accepted_offer": row.accepted_offer - 1 if row.accepted_offer else None,
            "recourse_claim": str(row.recourse_claim),
            "offers": [_offer(o, deferred.get((row.id, o.offer_index))) for o in offers],
            **after_funding,
            "updated_block": row.updated_block,
            "risk": self.risk(caller, receivable),
        }

    def _after_funding(self, conn: Any, caller: Caller, row: Any) -> dict[str, Any]:
        """Recourse paid and outstanding, the buy-back, write-offs and recovery, and the
        sales the caller may see (the sale's two financiers; the supplier and readers)."""
        payments = conn.execute(
            select(recourse_payments)
            .where(recourse_payments.c.financing_id == row.id)
            .order_by(recourse_payments.c.block_number, recourse_payments.c.log_index)
        ).all()
        drawing = conn.execute(
            select(credit_line_drawings).where(
                credit_line_drawings.c.receivable_id == row.receivable_id,
                credit_line_drawings.c.financing_id == row.id,
            )
        ).first()
        query = select(financing_sales).where(financing_sales.c.financing_id == row.id)
        if not (caller.reads_all or caller.is_(row.supplier)):
            query = query.where(
                or_(financing_sales.c.seller == caller.key, financing_sales.c.buyer == caller.key)
            )
        sales = conn.execute(query.order_by(financing_sales.c.sale_id)).all()
        claim, paid = int(row.recourse_claim), int(row.recourse_paid)
        bought_back = row.bought_back_block is not None
        return {
            "recourse_paid": str(paid),
            "recourse_outstanding": str(0 if bought_back else claim - paid),
            "recourse_payments": [
                {
                    "kind": p.kind,
                    "amount": str(p.amount),
                    "paid": str(p.paid),
                    "block_number": p.block_number,
                }
                for p in payments
            ],
            "bought_back_block": row.bought_back_block,
            "written_off": str(drawing.written_off if drawing is not None else 0),
            "recovered": None
            if drawing is None or drawing.recovered is None
            else str(drawing.recovered),
            "recovered_block": None if drawing is None else drawing.recovered_block,
            "sales": [_sale(s) for s in sales],
        }

    def risk(self, caller: Caller, receivable: Any) -> dict[str, Any]:
        """The debtor's score and the caller's open line to it (services/risk.py), at the
        indexed head."""
        block = indexed_block(self.engine, self.runtime.chain_id)
        return RiskService(self.runtime).financing_risk(
            caller, receivable.debtor, receivable.currency, block
        )

    def quote(
        self, caller: Caller, financing_id: int, terms: Terms, at: int | None = None
    ) -> dict[str, Any]:
        """Advance, discount, fee and proceeds of ``terms`` on this financing, priced as the
        desk would price them in a block at ``at`` (default: the latest block's time)."""
        row = self.get(caller, financing_id)
        receivable = ReceivableService(self.runtime).current(row.receivable_id)
        now = self._chain_time() if at is None else at
        if now >= receivable.due_date:
            raise Conflict(
                f"receivable {receivable.id} is due: it takes no offers",
                error="FinancingReceivableDue",
                receivable_id=receivable.id,
                due_date=receivable.due_date,
            )
        if terms.expiry < now:
            raise InvalidInput(
                "the offer would expire before the ledger's current time",
                error="FinancingInvalidTerms",
                field="expires_at",
            )
        days = arithmetic.days_to_maturity(receivable.due_date, now)
        try:
            amounts = arithmetic.offer_amounts(
                int(receivable.amount),
                terms.advance_rate_bps,
                terms.discount_rate_bps,
                days,
                terms.fee,
                terms.day_count_basis,
            )
        except arithmetic.NoProceedsError as exc:
            raise InvalidInput(
                str(exc),
                error="FinancingNoProceeds",
                field="fee",
                advance=exc.advance,
                discount=exc.discount,
                fee=exc.fee,
            ) from exc
        except arithmetic.FinancingTermsError as exc:
            raise InvalidInput(str(exc), error="FinancingInvalidTerms", field=exc.field) from exc
        return {
            "face_amount": str(receivable.amount),
            "currency": receivable.currency,
            "days_to_maturity": days,
            "priced_at": datetime.fromtimestamp(now, UTC),
            "advance": str(amounts.advance),
            "discount": str(amounts.discount),
            "fee": str(terms.fee),
            "proceeds": str(amounts.proceeds),
            "risk": self.risk(caller, receivable),
        }

    # --- writes -----------------------------------------------------------------------

    def request(self, caller: Caller, receivable_id: int, financier: str | None) -> WriteOutcome:
        """The holder asks for financing of a receivable, from ``financier`` or any."""
        ReceivableService(self.runtime).get(caller, receivable_id)
        if financier is not None and not is_active_with(
            participant_row(self.engine, financier), "FINANCIER"
        ):
            raise Conflict(
                f"{financier} is not an active financier",
                error="FinancierNotActive",
                field="financier",
            )
        call = self.runtime.contracts.call(
            "financing_desk", "request", receivable_id, financier or ZERO_ADDRESS
        )
        return self.writer.write(caller, "financing.request", call)

    def offer(self, caller: Caller, financing_id: int, terms: Terms) -> WriteOutcome:
        """Offer ``terms``: approve the desk for the proceeds, then offer (escrowing them)."""
        row = self.get(caller, financing_id)
        if row.status not in OPEN:
            raise Conflict(
                f"financing {financing_id} is {row.status}; an offer needs it {' or '.join(OPEN)}",
                error="FinancingInvalidStatus",
                id=financing_id,
                current=row.status,
                allowed=list(OPEN),
            )
        if row.financier not in (ZERO_ADDRESS, caller.key):
            raise NotFound(
                f"no financing {financing_id}", error="FinancingUnknown", id=financing_id
            )
        quote = self.quote(caller, financing_id, terms)
        # Priced later, a day boundary may have passed: fewer days, a larger proceeds.
        latest = self.quote(caller, financing_id, terms, at=self._chain_time() + APPROVAL_MARGIN)
        escrow = max(int(quote["proceeds"]), int(latest["proceeds"]))
        tokens = TokenService(self.runtime)
        balance = tokens.balance_of(quote["currency"], caller.address)
        if balance < int(quote["proceeds"]):
            raise Conflict(
                f"the offer escrows {quote['proceeds']} {quote['currency']}; the balance is {balance}",
                error="ERC20InsufficientBalance",
                sender=caller.address,
                balance=balance,
                needed=int(quote["proceeds"]),
            )
        desk = self.runtime.contracts.address("financing_desk")
        call = self.runtime.contracts.call(
            "financing_desk", "offer", financing_id, terms.as_tuple()
        )
        return tokens.spend(caller, quote["currency"], desk, escrow, "financing.offer", call)

    def act(
        self, caller: Caller, operation: str, financing_id: int, function: str, *args: Any
    ) -> WriteOutcome:
        """``function(financing_id, *args)`` on the desk, for a party to the financing."""
        self.get(caller, financing_id)
        call = self.runtime.contracts.call("financing_desk", function, financing_id, *args)
        return self.writer.write(caller, operation, call)

    def pay_recourse(self, caller: Caller, financing_id: int, amount: int) -> WriteOutcome:
        """The supplier pays ``amount`` of a defaulted financing's recourse claim: approve
        the desk for it, then pay (the desk holds it until the claim is paid in full)."""
        row = self.get(caller, financing_id)
        currency = self._currency(row)
        self._check_balance(caller, currency, amount)
        call = self.runtime.contracts.call("financing_desk", "payRecourse", financing_id, amount)
        desk = self.runtime.contracts.address("financing_desk")
        return TokenService(self.runtime).spend(
            caller, currency, desk, amount, "financing.pay_recourse", call
        )

    def offer_sale(
        self, caller: Caller, financing_id: int, buyer: str, price: int, expiry: int
    ) -> WriteOutcome:
        """The financier offers a funded financing to ``buyer`` for ``price``."""
        self.get(caller, financing_id)
        call = self.runtime.contracts.call(
            "financing_desk", "offerSale", financing_id, buyer, price, expiry
        )
        return self.writer.write(caller, "financing.offer_sale", call)

    def sale(self, caller: Caller, sale_id: int) -> Any:
        """A sale the caller is seller or buyer of (readers: any); NotFound otherwise."""
        query = select(financing_sales).where(financing_sales.c.sale_id == sale_id)
        if not caller.reads_all:
            query = query.where(
                or_(financing_sales.c.seller == caller.key, financing_sales.c.buyer == caller.key)
            )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(
                f"no sale {sale_id}", error="FinancingSaleUnknown", field="sale_id", saleId=sale_id
            )
        return row

    def cancel_sale(self, caller: Caller, sale_id: int) -> WriteOutcome:
        """The seller withdraws its sale offer."""
        self.sale(caller, sale_id)
        call = self.runtime.contracts.call("financing_desk", "cancelSale", sale_id)
        return self.writer.write(caller, "financing.cancel_sale", call)

    def buy_sale(self, caller: Caller, sale_id: int) -> WriteOutcome:
        """The named buyer buys: approve the desk for the price, then buy."""
        sale = self.sale(caller, sale_id)
        currency = self._currency(self.get(caller, sale.financing_id))
        self._check_balance(caller, currency, int(sale.price))
        call = self.runtime.contracts.call("financing_desk", "buySale", sale_id)
        desk = self.runtime.contracts.address("financing_desk")
        return TokenService(self.runtime).spend(
            caller, currency, desk, int(sale.price), "financing.buy_sale", call
        )

    # --- internals --------------------------------------------------------------------

    def _currency(self, row: Any) -> str:
        with self.engine.connect() as conn:
            return str(
                conn.execute(
                    select(receivables.c.currency).where(receivables.c.id == row.receivable_id)
                ).scalar_one()
            )

    def _check_balance(self, caller: Caller, currency: str, amount: int) -> None:
        balance = TokenService(self.runtime).balance_of(currency, caller.address)
        if balance < amount:
            raise Conflict(
                f"this pays {amount} {currency}; the balance is {balance}",
                error="ERC20InsufficientBalance",
                sender=caller.address,
                balance=balance,
                needed=amount,
            )

    def _chain_time(self) -> int:
        return int(self.runtime.client.get_block("latest")["timestamp"])

    def _settled(self) -> Any:
        return select(receivables.c.id).where(receivables.c.status == "SETTLED")


def _sale(row: Any) -> dict[str, Any]:
    return {
        "sale_id": row.sale_id,
        "seller": to_checksum_address(row.seller),
        "buyer": to_checksum_address(row.buyer),
        "price": str(row.price),
        "expires_at": datetime.fromtimestamp(row.expiry, UTC),
        "status": row.status,
        "offered_block": row.offered_block,
        "closed_block": row.closed_block,
    }


def _offer(row: Any, refund_deferred: int | None = None) -> dict[str, Any]:
    return {
        "refund_deferred": None if refund_deferred is None else str(refund_deferred),
        "index": row.offer_index,
        "financier": to_checksum_address(row.financier),
        "status": row.status,
        "advance_rate_bps": row.advance_rate_bps,
        "discount_rate_bps": row.discount_rate_bps,
        "day_count_basis": row.day_count_basis,
        "recourse": row.recourse,
        "grace_period_seconds": row.grace_period,
        "expires_at": datetime.fromtimestamp(row.expiry, UTC),
        "advance": str(row.advance),
        "discount": str(row.discount),
        "fee": str(row.fee),
        "proceeds": str(row.proceeds),
    }
