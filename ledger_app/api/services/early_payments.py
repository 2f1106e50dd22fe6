"""Early payment (dynamic discounting) and partial repayment of leaves (issue 20).

Early payment: the debtor of a leaf offers to pay it before its due date at an annual
discount rate (``MaturityClearing.offerEarlyPayment``); the service first makes sure
clearing may pull the face of every leaf the debtor has an open offer on, so that any
of them can be accepted. The leaf's holder accepts (``acceptEarlyPayment``): it receives
face - discount, computed as ledger_app/domain/clearing_amounts.py computes it (the
figure shown before accepting is the contract's, to the unit).

Partial repayment: the debtor pays chosen leaves of a root ahead of the root
(``repayLeaves``), each with its own late interest when past the due date.

An offer is seen by its debtor and by whoever may see its leaf (its holder and the
leaf's other parties, ledger_app/domain/visibility.py); anyone else gets 404.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.receivables import ReceivableService, visible_to
from ledger_app.api.services.tokens import TokenService
from ledger_app.api.services.writes import WriteOutcome, Writer
from ledger_app.db.schema import early_payment_offers, receivables
from ledger_app.domain.clearing import check_debtor
from ledger_app.domain.clearing_amounts import days_late, early_payment, late_interest
from ledger_app.errors import InvalidInput, NotFound


class EarlyPaymentService:
    """The early payment and partial repayment operations of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.writer = Writer(runtime)
        self.receivables = ReceivableService(runtime)

    # --- early payment ------------------------------------------------------------------

    def offer(
        self, caller: Caller, leaf_id: int, rate_bps: int, basis: int, expiry: int
    ) -> WriteOutcome:
        """The debtor offers to pay leaf ``leaf_id`` early (its id: the outcome's
        EarlyPaymentOffered event)."""
        leaf = self.receivables.get(caller, leaf_id)
        check_debtor(leaf.root_id, caller.address, leaf.debtor)
        clearing = self.runtime.contracts.address("maturity_clearing")
        # Clearing may then pull the face of every leaf the debtor offered to pay early.
        allowance = int(leaf.amount) + self._open_offer_faces(caller.address, leaf.currency)
        call = self.runtime.contracts.call(
            "maturity_clearing", "offerEarlyPayment", leaf_id, rate_bps, basis, expiry
        )
        return TokenService(self.runtime).spend(
            caller, leaf.currency, clearing, allowance, "clearing.offer_early_payment", call
        )

    def withdraw(self, caller: Caller, offer_id: int) -> WriteOutcome:
        """The debtor withdraws its open offer."""
        self.get(caller, offer_id)
        call = self.runtime.contracts.call("maturity_clearing", "withdrawEarlyPayment", offer_id)
        return self.writer.write(caller, "clearing.withdraw_early_payment", call)

    def accept(self, caller: Caller, offer_id: int) -> WriteOutcome:
        """The leaf's holder accepts: paid face - discount, the leaf settled."""
        self.get(caller, offer_id)
        call = self.runtime.contracts.call("maturity_clearing", "acceptEarlyPayment", offer_id)
        return self.writer.write(caller, "clearing.accept_early_payment", call)

    def get(self, caller: Caller, offer_id: int) -> dict[str, Any]:
        """Offer ``offer_id`` with its leaf and what accepting it now would pay."""
        rows = self._offers(caller, early_payment_offers.c.offer_id == offer_id)
        if not rows:
            raise NotFound(f"no early payment offer {offer_id}",
                           error="ClearingEarlyPaymentUnknown", offerId=offer_id)  # fmt: skip
        return rows[0]

    def list(self, caller: Caller, leaf_id: int | None, status: str | None) -> list[dict[str, Any]]:
        """The offers the caller may see, newest first."""
        conditions = []
        if leaf_id is not None:
            conditions.append(early_payment_offers.c.leaf_id == leaf_id)
        if status is not None:
            conditions.append(early_payment_offers.c.status == status)
        return self._offers(caller, *conditions)

    # --- partial repayment --------------------------------------------------------------

    def repay_leaves(self, caller: Caller, root_id: int, leaf_ids: list[int]) -> WriteOutcome:
        """The debtor pays leaves ``leaf_ids`` of root ``root_id`` ahead of the root."""
        root = self.receivables.tree_root(caller, root_id)
        check_debtor(root_id, caller.address, root.debtor)
        with self.engine.connect() as conn:
            leaves = conn.execute(
                select(receivables.c.id, receivables.c.amount, receivables.c.root_id).where(
                    receivables.c.id.in_(leaf_ids)
                )
            ).all()
        strangers = sorted(set(leaf_ids) - {leaf.id for leaf in leaves if leaf.root_id == root_id})
        if strangers:
            raise InvalidInput(
                f"receivables {strangers} are not leaves of root {root_id}",
                error="LeavesNotOfRoot", field="leaf_ids", root_id=root_id, leaf_ids=strangers,
            )  # fmt: skip
        now = int(self.runtime.client.get_block("latest")["timestamp"])
        # Approve for one whole day more of interest than now: the block that carries the
        # payment may fall on the next day; what is not pulled stays unspent.
        late = days_late(root.due_date, now) + 1 if now >= root.due_date else 0
        faces = sum(int(leaf.amount) for leaf in leaves)
        total = faces + sum(
            late_interest(int(leaf.amount), root.late_interest_bps, late) for leaf in leaves
        )
        clearing = self.runtime.contracts.address("maturity_clearing")
        call = self.runtime.contracts.call("maturity_clearing", "repayLeaves", leaf_ids)
        return TokenService(self.runtime).spend(
            caller, root.currency, clearing, total, "clearing.repay_leaves", call
        )

    # --- internals --------------------------------------------------------------------

    def _view(self, function: str, *args: Any) -> Any:
        return self.runtime.contracts.view(
            self.runtime.client, "maturity_clearing", function, *args
        )

    def _open_offer_faces(self, debtor: str, currency: str) -> int:
        o, r = early_payment_offers.c, receivables.c
        query = (
            select(r.amount)
            .select_from(early_payment_offers.join(receivables, r.id == o.leaf_id))
            .where(o.debtor == debtor.lower(), o.status == "OPEN", r.currency == currency)
        )
        with self.engine.connect() as conn:
            return sum(int(amount) for amount in conn.execute(query).scalars())

    def _offers(self, caller: Caller, *conditions: Any) -> list[dict[str, Any]]:
        o, r = early_payment_offers.c, receivables.c
        query = (
            select(
                early_payment_offers,
                r.root_id,
                r.amount,
                r.currency,
                r.due_date,
                r.holder.label("leaf_holder"),
                r.status.label("leaf_status"),
            )
            .select_from(early_payment_offers.join(receivables, r.id == o.leaf_id))
            .where(visible_to(caller), *conditions)
            .order_by(o.offer_id.desc())
        )
        now = int(self.runtime.client.get_block("latest")["timestamp"])
        with self.engine.connect() as conn:
            return [_described(row, now) for row in conn.execute(query).all()]


def _described(row: Any, now: int) -> dict[str, Any]:
    """An offer as the API answers it: what accepting now would pay, while it is open."""
    quote = None
    if row.status == "OPEN" and now < row.due_date and now <= row.expiry:
        try:
            quote = early_payment(int(row.amount), row.annual_rate_bps, row.due_date, now,
                                  row.day_count_basis)  # fmt: skip
        except ValueError:
            quote = None  # the discount would take the whole face: the contract refuses
    return {
        "offer_id": row.offer_id,
        "leaf_id": row.leaf_id,
        "root_id": row.root_id,
        "debtor": row.debtor,
        "holder": row.holder or row.leaf_holder,
        "leaf_status": row.leaf_status,
        "currency": row.currency,
        "face": str(row.amount),
        "due_date": row.due_date,
        "annual_rate_bps": row.annual_rate_bps,
        "day_count_basis": row.day_count_basis,
        "expiry": row.expiry,
        "status": row.status,
        "days_early": row.days_early if row.days_early is not None else quote and quote.days_early,
        "discount": _amount(row.discount if row.discount is not None else quote and quote.discount),
        "paid": _amount(row.paid if row.paid is not None else quote and quote.paid),
        "offered_block": row.offered_block,
        "updated_block": row.updated_block,
    }


def _amount(value: Any) -> str | None:
    return None if value is None else str(value)
