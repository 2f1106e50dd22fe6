"""Hash-time-locked escrows (HashTimeLock): the leg of a cross-border settlement that
completes on another ledger.

An escrow is approved and locked by its sender, claimed with the sha256 preimage
before the timeout, refunded from the timeout on. Parties: sender and recipient
(and readers).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import or_, select

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.lookups import participant_row, standing
from ledger_app.api.services.tokens import TokenService
from ledger_app.api.services.writes import WriteOutcome, Writer
from ledger_app.db.schema import htlc_locks
from ledger_app.domain.standing import ACTIVE
from ledger_app.errors import Conflict, InvalidInput, NotFound


class EscrowService:
    """The escrow operations of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.writer = Writer(runtime)
        self.tokens = TokenService(runtime)

    # --- escrows ----------------------------------------------------------------------

    def lock(
        self,
        caller: Caller,
        currency: str,
        recipient: str,
        amount: int,
        hashlock: str,
        timeout: int,
        uetr: uuid.UUID,
    ) -> WriteOutcome:
        """Approve the escrow contract for ``amount``, then lock it for ``recipient``."""
        token = self.tokens.token(currency)
        row = participant_row(self.engine, recipient)
        if (now := standing(row)) != ACTIVE:
            raise Conflict(
                f"{recipient} may not receive tokens: it is {now}",
                error="HtlcRecipientRefused",
                field="recipient",
                standing=now,
            )
        balance = self.tokens.balance_of(currency, caller.address)
        if balance < amount:
            raise Conflict(
                f"the balance is {balance} {currency}",
                error="ERC20InsufficientBalance",
                sender=caller.address,
                balance=balance,
                needed=amount,
            )
        escrow = self.runtime.contracts.address("hash_time_lock")
        call = self.runtime.contracts.call(
            "hash_time_lock",
            "lock",
            token,
            recipient,
            amount,
            bytes.fromhex(hashlock[2:]),
            timeout,
            uetr.bytes,
        )
        return self.tokens.spend(caller, currency, escrow, amount, "escrows.lock", call)

    def escrow(self, caller: Caller, lock_id: int) -> Any:
        """The indexed lock, for its sender, its recipient or a reader."""
        query = select(htlc_locks).where(htlc_locks.c.lock_id == lock_id)
        if not caller.reads_all:
            query = query.where(
                or_(htlc_locks.c.sender == caller.key, htlc_locks.c.recipient == caller.key)
            )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no escrow {lock_id}", error="HtlcUnknown", lock_id=lock_id)
        return row

    def claim(self, caller: Caller, lock_id: int, preimage: str) -> WriteOutcome:
        """Release the lock to its recipient against the preimage."""
        row = self.escrow(caller, lock_id)
        secret = bytes.fromhex(preimage[2:])
        if "0x" + hashlib.sha256(secret).hexdigest() != row.hashlock:
            raise InvalidInput(
                "sha256 of the preimage is not the hashlock",
                error="HtlcWrongPreimage",
                field="preimage",
                lock_id=lock_id,
            )
        call = self.runtime.contracts.call("hash_time_lock", "claim", lock_id, secret)
        return self.writer.write(caller, "escrows.claim", call)

    def refund(self, caller: Caller, lock_id: int) -> WriteOutcome:
        """Return the lock to its sender once the timeout has passed."""
        self.escrow(caller, lock_id)
        call = self.runtime.contracts.call("hash_time_lock", "refund", lock_id)
        return self.writer.write(caller, "escrows.refund", call)
