"""Settlement tokens: mint and burn (the currency's settlement bank), transfers, balances,
and the allowances the ledger's contracts pull payments with.

Balances are read from the index (``token_balances``). A participant sees its own;
auditors and regulators see anyone's; anyone else asking gets 404, as for an
account that does not exist.

``ensure_allowance`` is how every workflow that pays through a contract (an
offer's escrow, a repayment, a PvP leg, an HTLC lock) gets its approval: the
caller's ``approve`` goes through the same per-sender queue just before the call
that spends it, so the two are mined in that order. ``approve`` sets the
allowance, it does not add to it; it is sent only when the allowance falls short.
``spend`` holds a lock per (caller, token, spender) from the allowance check to the
spending call: two concurrent offers of one financier would otherwise both approve
(the second approval overwriting the first) and the first escrow would leave the
second too little (found by the soak test, tests/load).
"""

from __future__ import annotations

import contextlib
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import select

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.currencies import TOKEN, _terms
from ledger_app.api.services.lookups import participant_row, standing, token_of
from ledger_app.api.services.writes import AWAITING_SIGNATURE, WriteOutcome, Writer
from ledger_app.chain.sender import ContractCall
from ledger_app.db.locks import SPENDING_SCOPE
from ledger_app.db.schema import settlement_tokens, token_balances
from ledger_app.domain.standing import ACTIVE
from ledger_app.domain.tokens import check_transfer
from ledger_app.errors import Conflict, Forbidden, NotFound


class TokenService:
    """The settlement-token operations of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.writer = Writer(runtime)

    # --- reads ------------------------------------------------------------------------

    def token(self, currency: str, field: str = "currency") -> str:
        """Address of the token listed for ``currency``; 409 naming ``field`` if none is."""
        token = token_of(self.engine, currency)
        if token is None:
            raise Conflict(
                f"no settlement token is listed for {currency}",
                error="CurrencyNotListed",
                field=field,
                currency=currency,
            )
        return to_checksum_address(token)

    def terms(self, currency: str) -> tuple[str, int]:
        """(issuer, decimals) of the token of ``currency``."""
        token = self.token(currency)
        return _terms(self.runtime.client, self.runtime.contracts.abi(TOKEN), token)

    def balances(self, caller: Caller, account: str) -> list[dict[str, Any]]:
        """Every listed currency's balance of ``account`` (own, or anyone's for readers)."""
        if not (caller.is_(account) or caller.reads_all):
            raise NotFound(f"no account {account}", error="AccountUnknown", account=account)
        query = (
            select(
                settlement_tokens.c.currency,
                settlement_tokens.c.address,
                token_balances.c.balance,
                token_balances.c.updated_block,
            )
            .select_from(
                settlement_tokens.outerjoin(
                    token_balances,
                    (token_balances.c.token == settlement_tokens.c.address)
                    & (token_balances.c.account == account.lower()),
                )
            )
            .where(settlement_tokens.c.currency.is_not(None))
            .order_by(settlement_tokens.c.currency)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            {
                "currency": row.currency,
                "token": to_checksum_address(row.address),
                "balance": str(row.balance or 0),
                "updated_block": row.updated_block,
            }
            for row in rows
        ]

    def balance_of(self, currency: str, account: str) -> int:
        """The chain's balance of ``account`` in ``currency`` now (not the index's)."""
        token = self.token(currency)
        abi = self.runtime.contracts.abi(TOKEN)
        return int(self.runtime.client.call_function(token, abi, "balanceOf", account)[0])

    # --- writes -----------------------------------------------------------------------

    def mint(self, caller: Caller, currency: str, to: str, amount: int) -> WriteOutcome:
        """The currency's settlement bank mints ``amount`` to an active participant."""
        self._require_issuer(caller, currency)
        self._require_active(to, "to")
        call = self._call(currency, "mint", to, amount)
        return self.writer.write(caller, "tokens.mint", call)

    def burn(self, caller: Caller, currency: str, amount: int) -> WriteOutcome:
        """The currency's settlement bank burns ``amount`` of its own balance."""
        self._require_issuer(caller, currency)
        call = self._call(currency, "burn", amount)
        return self.writer.write(caller, "tokens.burn", call)

    def transfer(self, caller: Caller, currency: str, to: str, amount: int) -> WriteOutcome:
        """The caller pays ``amount`` to another active participant."""
        check_transfer(caller.address, to)
        self._require_active(to, "to")
        call = self._call(currency, "transfer", to, amount)
        return self.writer.write(caller, "tokens.transfer", call)

    def spend(
        self,
        caller: Caller,
        currency: str,
        spender: str,
        amount: int,
        operation: str,
        call: ContractCall,
    ) -> WriteOutcome:
        """``call`` (which has ``spender`` pull up to ``amount`` of the caller's tokens),
        after approving it if need be; the approval's outcome if it awaits the caller's
        signature. One such pair at a time per caller, token and spender, across every
        process of the database (API replicas): another approval in between would replace
        this one's amount before its spending call."""
        with self.spending_lock(caller, self.token(currency), spender):
            pending = self.ensure_allowance(caller, currency, spender, amount, operation)
            if pending is not None:
                return pending  # sign the approval, then call again
            return self.writer.write(caller, operation, call)

    def spending_lock(
        self, caller: Caller, token: str, spender: str
    ) -> contextlib.AbstractContextManager[None]:
        """The lock held from reading ``caller``'s allowance for ``spender`` on ``token`` to
        the call that spends it (db/locks.py NamedLocks, SPENDING_SCOPE)."""
        name = f"{caller.key}|{token.lower()}|{spender.lower()}"
        return self.runtime.locks.hold(SPENDING_SCOPE, name)

    def ensure_allowance(
        self, caller: Caller, currency: str, spender: str, amount: int, operation: str
    ) -> WriteOutcome | None:
        """Approve ``spender`` (a ledger contract) for ``amount`` unless it already may
        spend that much; the approval's outcome if it awaits the caller's signature."""
        token = self.token(currency)
        abi = self.runtime.contracts.abi(TOKEN)
        allowance = int(
            self.runtime.client.call_function(token, abi, "allowance", caller.address, spender)[0]
        )
        if allowance >= amount:
            return None
        call = self.runtime.contracts.call_at(token, TOKEN, "approve", spender, amount)
        outcome = self.writer.write(caller, operation + ".approve", call)
        return outcome if outcome.state == AWAITING_SIGNATURE else None

    # --- internals --------------------------------------------------------------------

    def _call(self, currency: str, function: str, *args: Any) -> Any:
        return self.runtime.contracts.call_at(self.token(currency), TOKEN, function, *args)

    def _require_issuer(self, caller: Caller, currency: str) -> None:
        issuer, _decimals = self.terms(currency)
        if not caller.is_(issuer):
            raise Forbidden(
                f"{caller.address} does not issue {currency}; {issuer} does",
                error="SettlementTokenNotIssuer",
                account=caller.address,
                issuer=issuer,
            )

    def _require_active(self, account: str, field: str) -> None:
        row = participant_row(self.engine, account)
        if row is None or not row.onboarded:
            raise NotFound(
                f"{account} is not a participant", error="AccountNotParticipant", field=field
            )
        if (now := standing(row)) != ACTIVE:
            raise Conflict(
                f"{account} may not receive tokens now: it is {now}",
                error="AccountRefused",
                field=field,
                standing=now,
            )
