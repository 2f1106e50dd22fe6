"""Maturity clearing (清分): the debtor repays a root; its unsettled leaves are redeemed.

Repay: at or after the due date the root's debtor pays its outstanding amount
into MaturityClearing in one transaction (the service approves the clearing
contract for it first, on the debtor's queue). Redeem: each unsettled leaf of a
repaid root pays its current holder; one leaf, or every unsettled leaf of a
root in batches of the contract's MAX_REDEEM_BATCH, one transaction per batch.

A root's clearing is seen, and its redemption pushed, by a party to any receivable
of its tree (``party_to_tree`` in ledger_app.api.services.receivables, the rule the
trace follows too): a tier-2 supplier holding a leaf sees its root's clearing. A
single leaf is redeemed by a party to that leaf. Anyone else gets 404. What the index already shows to be refused (not a root, not the
debtor, not due, repaid already, not repaid yet) is answered before sending, by the rules
of ledger_app/domain/clearing.py.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.fx import RATE_SCALE, FxService, Payment, Quote
from ledger_app.api.services.receivables import ReceivableService
from ledger_app.api.services.tokens import TokenService
from ledger_app.api.services.writes import WriteOutcome, Writer
from ledger_app.db.schema import clearing_roots, receivables
from ledger_app.domain.clearing import (
    SETTLE_FROM,
    check_debtor,
    check_due,
    check_fx_currency,
    check_leaves_to_redeem,
    check_not_repaid,
    check_repaid,
    check_root,
)
from ledger_app.domain.clearing_amounts import days_late, late_interest

#: Leaf statuses the registry settles: the contract's, from domain/clearing.py.
REDEEMABLE = SETTLE_FROM


class ClearingService:
    """The clearing operations of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.writer = Writer(runtime)
        self.receivables = ReceivableService(runtime)

    def show(self, caller: Caller, root_id: int) -> dict[str, Any]:
        """Repayment and redemption state of a root the caller is a party to."""
        root = self._root(caller, root_id)
        with self.engine.connect() as conn:
            cleared = conn.execute(
                select(clearing_roots).where(clearing_roots.c.root_id == root_id)
            ).first()
            leaves = conn.execute(
                select(
                    receivables.c.id,
                    receivables.c.status,
                    receivables.c.amount,
                    receivables.c.frozen,
                )
                .where(receivables.c.root_id == root_id, receivables.c.child_count == 0)
                .order_by(receivables.c.id)
            ).all()
        unsettled = [leaf for leaf in leaves if leaf.status in REDEEMABLE]
        interest_due = 0 if cleared else self._interest_due(root, 0)
        outstanding = int(root.outstanding or 0)
        return {
            "root_id": root_id,
            "debtor": root.debtor,
            "currency": root.currency,
            "amount": str(root.amount),
            "due_date": root.due_date,
            "status": root.status,
            "repaid": str(cleared.repaid) if cleared else "0",
            "unredeemed": str(cleared.unredeemed) if cleared else "0",
            "late_interest_bps": root.late_interest_bps,
            "late_interest": str(cleared.late_interest) if cleared else "0",
            "interest_unredeemed": str(cleared.interest_unredeemed) if cleared else "0",
            "amount_due": "0" if cleared else str(outstanding + interest_due),
            "interest_due": str(interest_due),
            "leaves": len(leaves),
            "settled_leaves": sum(1 for leaf in leaves if leaf.status == "SETTLED"),
            "unsettled_leaves": [leaf.id for leaf in unsettled],
            "frozen_leaves": [leaf.id for leaf in unsettled if leaf.frozen],
        }

    def repay(self, caller: Caller, root_id: int) -> WriteOutcome:
        """The debtor pays the root's outstanding amount into clearing."""
        root = self._repayable(caller, root_id)
        amount = int(
            self.runtime.contracts.view(self.runtime.client, "receivables", "outstanding", root_id)
        )
        clearing = self.runtime.contracts.address("maturity_clearing")
        call = self.runtime.contracts.call("maturity_clearing", "repay", root_id)
        due = amount + self._interest_due(root, 1, amount)
        return TokenService(self.runtime).spend(
            caller, root.currency, clearing, due, "clearing.repay", call
        )

    def repay_fx(
        self,
        caller: Caller,
        root_id: int,
        quote: Quote,
        signature: bytes,
        uetr: uuid.UUID,
    ) -> WriteOutcome:
        """The debtor pays the root's outstanding amount in the quote's sell currency (its
        own); the FX provider pays the receivable's currency into clearing (PvP), in one
        transaction (MaturityClearing.repayViaFx). FxSettlement is approved first, on the
        debtor's queue, for ceil(amount x 1e18 / rate) of the sell currency."""
        root = self._repayable(caller, root_id)
        check_fx_currency(root_id, root.currency, quote.buy_currency)
        fx = FxService(self.runtime)
        amount = int(
            self.runtime.contracts.view(self.runtime.client, "receivables", "outstanding", root_id)
        )
        due = amount + self._interest_due(root, 1, amount)
        sell = -(-due * RATE_SCALE // quote.rate)  # rounded up, as the contract does
        # The FX rules (quote, UETR, standing, corridor debtor -> provider, limits) are the
        # same as a PvP payment's to the provider: answered before the approval is sent.
        payment = Payment(quote.provider, sell, uetr, "SUPP", root_id)
        fx.check_settlement(caller, payment, quote, into_contract=True)
        settlement = self.runtime.contracts.address("fx_settlement")
        call = self.runtime.contracts.call(
            "maturity_clearing",
            "repayViaFx",
            root_id,
            settlement,
            uetr.bytes,
            quote.as_tuple(),
            signature,
        )
        return TokenService(self.runtime).spend(
            caller, quote.sell_currency, settlement, sell, "clearing.repay_fx", call
        )

    def redeem(self, caller: Caller, leaf_id: int) -> WriteOutcome:
        """Pay one leaf of a repaid root to its holder."""
        leaf = self.receivables.get(caller, leaf_id)
        self._require_repaid(leaf.root_id)
        call = self.runtime.contracts.call("maturity_clearing", "redeem", leaf_id)
        return self.writer.write(caller, "clearing.redeem", call)

    def redeem_all(self, caller: Caller, root_id: int) -> tuple[list[int], list[WriteOutcome]]:
        """Every unsettled, unfrozen leaf of a repaid root, in batches of MAX_REDEEM_BATCH."""
        self._root(caller, root_id)
        self._require_repaid(root_id)
        with self.engine.connect() as conn:
            leaves = list(
                conn.execute(
                    select(receivables.c.id)
                    .where(
                        receivables.c.root_id == root_id,
                        receivables.c.child_count == 0,
                        receivables.c.status.in_(REDEEMABLE),
                        receivables.c.frozen.is_(False),
                    )
                    .order_by(receivables.c.id)
                ).scalars()
            )
        check_leaves_to_redeem(root_id, leaves)
        size = int(
            self.runtime.contracts.view(
                self.runtime.client, "maturity_clearing", "MAX_REDEEM_BATCH"
            )
        )
        outcomes = []
        for start in range(0, len(leaves), size):
            call = self.runtime.contracts.call(
                "maturity_clearing", "redeemBatch", leaves[start : start + size]
            )
            outcomes.append(self.writer.write(caller, "clearing.redeem_all", call))
        return leaves, outcomes

    # --- internals --------------------------------------------------------------------

    def _root(self, caller: Caller, root_id: int) -> Any:
        root = self.receivables.tree_root(caller, root_id)
        check_root(root_id, root.parent_id, root.root_id)
        return root

    def _repayable(self, caller: Caller, root_id: int) -> Any:
        # What the index already shows a repayment would be refused for: not the debtor,
        # not due, repaid already (in this order: the clock is asked of the debtor only).
        root = self._root(caller, root_id)
        check_debtor(root_id, caller.address, root.debtor)
        check_due(root_id, root.due_date, int(self.runtime.client.get_block("latest")["timestamp"]))
        check_not_repaid(root_id, self._cleared(root_id) is not None)
        return root

    def _interest_due(self, root: Any, margin_days: int, amount: int | None = None) -> int:
        """Late interest on the root's outstanding ``amount`` (the index's by default) at
        the chain's time, ``margin_days`` later: an approval covers a payment whose block
        falls on the next day; what it does not pull stays unspent."""
        now = int(self.runtime.client.get_block("latest")["timestamp"])
        if now < root.due_date:
            return 0
        outstanding = int(root.outstanding or 0) if amount is None else amount
        late = days_late(root.due_date, now) + margin_days
        return late_interest(outstanding, root.late_interest_bps, late)

    def _cleared(self, root_id: int) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(
                select(clearing_roots).where(clearing_roots.c.root_id == root_id)
            ).first()

    def _require_repaid(self, root_id: int) -> None:
        check_repaid(root_id, self._cleared(root_id) is not None)
