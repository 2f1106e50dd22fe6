"""Credit lines (授信): a financier's limit on its exposure to one obligor, and who sees it.

A line is visible to its financier, its obligor, a supplier named on its programme (the
line, with its own sub-limit and drawings only), and to auditors, regulators and the
operator. Anyone else gets 404, as if it did not exist. Its figures (headroom,
utilisation) come from ledger_app/domain/risk.py; ``expired`` is judged at the index
head block's timestamp, never the server's clock.

The writes check what the request says before anything is sent
(ledger_app/domain/credit_lines.py: terms against the head block's time, the obligor
an onboarded, active core enterprise, a supplier a supplier, a sub-limit not above the
line, the currency listed); CreditLines.sol checks everything again, and its refusals
(a line exceeded, below what is used, closed, frozen) answer through the refusal table
with the field they are about.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from eth_utils import to_checksum_address

from ledger_app.api.identity import Caller
from ledger_app.api.permissions import Role
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.lookups import participant_row, roles_of, standing, token_of
from ledger_app.api.services.receivables import ReceivableService
from ledger_app.api.services.writes import WriteOutcome, Writer
from ledger_app.db import line_queries, risk_queries
from ledger_app.domain import credit_lines as rules
from ledger_app.errors import Conflict, NotFound

#: The line statuses a line is listed with.
STATUSES = ("OPEN", "CLOSED")


def _unknown(line_id: int) -> NotFound:
    return NotFound(
        f"no credit line {line_id}", error="CreditLineUnknown", field="line_id", line_id=line_id
    )


class CreditLineService:
    """The credit-line operations of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.writer = Writer(runtime)

    # --- reads ------------------------------------------------------------------------

    @staticmethod
    def viewer(caller: Caller) -> str | None:
        """Whose lines ``caller`` sees (ledger_app/domain/risk.py ``line_access``): None,
        every line, for readers and the operator; else the caller's own address."""
        return None if caller.reads_all or Role.OPERATOR in caller.roles else caller.key

    def get(self, caller: Caller, line_id: int) -> dict[str, Any]:
        """A line ``caller`` may see, as the index has it; 404 ``CreditLineUnknown``
        otherwise (as if it did not exist)."""
        with self.engine.connect() as conn:
            found = risk_queries.line(
                conn, line_id, at=self._head_time(conn), viewer=self.viewer(caller)
            )
        if found is None:
            raise _unknown(line_id)
        return found

    def list(
        self,
        caller: Caller,
        *,
        financier: str | None,
        obligor: str | None,
        currency: str | None,
        status: str | None,
        after: int | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], int | None]:
        """The lines ``caller`` may see, filtered, by id: a page (each line whole, with its
        drawings) and the next cursor."""
        with self.engine.connect() as conn:
            found = risk_queries.lines(conn, at=self._head_time(conn), financier=financier,
                                       obligor=obligor, currency=currency, status=status,
                                       viewer=self.viewer(caller))  # fmt: skip
        after_cursor = [f for f in found if after is None or f["line_id"] > after]
        page = after_cursor[:limit]
        return page, (page[-1]["line_id"] if len(after_cursor) > limit else None)

    @staticmethod
    def describe(found: dict[str, Any]) -> dict[str, Any]:
        """A line from the index's figures as the API answers it: checksummed addresses,
        amounts as decimal strings, the expiry as a time."""
        return {
            **found,
            "financier": to_checksum_address(found["financier"]),
            "obligor": to_checksum_address(found["obligor"]),
            "limit": str(found["limit"]),
            "utilised": str(found["utilised"]),
            "headroom": str(found["headroom"]),
            "expiry": datetime.fromtimestamp(found["expiry"], UTC),
            "suppliers": [
                {
                    **s,
                    "supplier": to_checksum_address(s["supplier"]),
                    "limit": str(s["limit"]),
                    "utilised": str(s["utilised"]),
                    "headroom": str(s["headroom"]),
                }
                for s in found["suppliers"]
            ],
            "drawings": [
                {**d, "supplier": to_checksum_address(d["supplier"]), "amount": str(d["amount"])}
                for d in found["drawings"]
            ],
        }

    # --- writes -----------------------------------------------------------------------

    def grant(
        self, caller: Caller, obligor: str, currency: str, limit: int, expiry: int
    ) -> WriteOutcome:
        """The caller (a financier) grants ``obligor`` a line in ``currency``."""
        rules.check_terms(limit, expiry, self._chain_time())
        self._check_party("obligor", obligor, "CORE_ENTERPRISE")
        rules.check_currency_listed(currency, token_of(self.engine, currency) is not None)
        call = self.runtime.contracts.call(
            "credit_lines", "grant", obligor, currency.encode(), limit, expiry
        )
        return self.writer.write(caller, "credit_lines.grant", call)

    def amend(
        self, caller: Caller, line_id: int, limit: int | None, expiry: int | None
    ) -> WriteOutcome:
        """New terms for the caller's line; a term left out is kept as the chain has it."""
        self._own(caller, line_id)
        current = self._chain_line(line_id)
        limit = current["limit"] if limit is None else limit
        expiry = current["expiry"] if expiry is None else expiry
        rules.check_terms(limit, expiry, self._chain_time())
        call = self.runtime.contracts.call("credit_lines", "amend", line_id, limit, expiry)
        return self.writer.write(caller, "credit_lines.amend", call)

    def set_supplier_limit(
        self, caller: Caller, operation: str, line_id: int, supplier: str, limit: int
    ) -> WriteOutcome:
        """Name ``supplier`` on the line's programme with sub-limit ``limit`` (0: take it
        off)."""
        row = self._own(caller, line_id)
        if limit:
            self._check_party("supplier", supplier, "SUPPLIER")
            rules.check_sub_limit(line_id, limit, self._chain_line(line_id)["limit"])
        else:
            named = {s["supplier"].lower() for s in row["suppliers"]}
            rules.check_supplier_named(line_id, supplier, supplier.lower() in named)
        call = self.runtime.contracts.call(
            "credit_lines", "setSupplierLimit", line_id, supplier, limit
        )
        return self.writer.write(caller, operation, call)

    def act(self, caller: Caller, operation: str, line_id: int, function: str) -> WriteOutcome:
        """``function(line_id)`` (close, freeze, unfreeze) on a line the caller may see;
        close by its financier only."""
        if function == "close":
            self._own(caller, line_id)
        else:
            self.get(caller, line_id)
        call = self.runtime.contracts.call("credit_lines", function, line_id)
        return self.writer.write(caller, operation, call)

    def write_off(
        self, caller: Caller, receivable_id: int, amount: int | None = None
    ) -> tuple[WriteOutcome, int]:
        """The financier writes off ``amount`` (None: all it still draws) of a defaulted
        receivable it financed. Returns the outcome and the line's id."""
        ReceivableService(self.runtime).get(caller, receivable_id)  # 404 to a non-party
        with self.engine.connect() as conn:
            drawing = line_queries.open_drawing(conn, receivable_id)
        if drawing is None:
            raise Conflict(
                f"receivable {receivable_id} holds nothing of a credit line",
                error="CreditLineNotDrawn",
                field="receivable_id",
                receivable_id=receivable_id,
            )
        if amount is None:  # all it still draws; more than that, the contract refuses
            amount = int(drawing.amount) - int(drawing.written_off)
        call = self.runtime.contracts.call("credit_lines", "writeOff", receivable_id, amount)
        return self.writer.write(caller, "credit_lines.write_off", call), drawing.line_id

    # --- internals --------------------------------------------------------------------

    def _own(self, caller: Caller, line_id: int) -> Any:
        """A line the caller granted (others it may see: 403, as the contract answers)."""
        row = self.get(caller, line_id)
        rules.check_financier(line_id, caller.address, row["financier"])
        return row

    def _check_party(self, field: str, account: str, role: str) -> None:
        row = participant_row(self.engine, account)
        rules.check_counterparty(field, account, standing(row), roles_of(row), role)

    def _chain_line(self, line_id: int) -> dict[str, int]:
        # The terms a kept term keeps, and a sub-limit is held to: the chain's own, now.
        line = self.runtime.contracts.view(self.runtime.client, "credit_lines", "creditLine",
                                           line_id)  # fmt: skip
        return {"limit": int(line[7]), "expiry": int(line[6])}

    def _head_time(self, conn: Any) -> int:
        # Expiry is judged at the index head block's time, never the server's clock.
        head = risk_queries.head(conn, self.runtime.chain_id)
        return head[1] if head is not None else 0

    def _chain_time(self) -> int:
        return int(self.runtime.client.get_block("latest")["timestamp"])
