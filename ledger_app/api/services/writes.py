"""Carrying out a write: sign (custodial) or prepare for the caller's own signature, send,
follow to the receipt, and wait for the index to reach it.

Every write of every resource goes through ``Writer.write``::

    outcome = Writer(runtime).write(caller, "receivables.confirm", call)

- custodial caller: the call is queued on the caller's own sender queue,
  signed with its key, and followed to its receipt; then the index is waited
  for (``write_index_wait`` s) so that a read by the same caller shows it.
  ``outcome.state`` is ``done``, or ``indexing`` if the index was slower.
- caller keeping its own key: nothing is sent. Gas is estimated (a revert
  answers now, as it would for a custodial caller) and the unsigned
  transaction is stored as PREPARED and returned: ``awaiting_signature``.
  ``submit_signed`` takes the signed bytes, checks they are exactly that call
  from the caller's address, and continues like a custodial write.

Each write is a ``transactions`` row: QUEUED / PREPARED, then SIGNED (custodial: the
signed bytes journaled before the broadcast) or SENT (an external signature, journaled
the same way), then MINED, REVERTED (mined and failed), REFUSED (refused before
sending) or FAILED (never executed). A write whose transaction is out but not resolved
(not mined in time, the node away, the service stopping) raises TransactionPending:
answered 202 with the transaction, which recovery (services/journal.py) resolves.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from eth_utils import keccak
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import OperationalError

from ledger_app import metrics
from ledger_app.api.errors import revert_message
from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.journal import current_idempotency_key
from ledger_app.chain.decode import DecodedEvent
from ledger_app.chain.rawtx import decode_raw_transaction
from ledger_app.chain.reads import Receipt
from ledger_app.chain.sender import ContractCall
from ledger_app.chain.sending import transaction_request
from ledger_app.db.api_tables import transactions
from ledger_app.errors import (
    ChainError,
    ChainTimeout,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    TransactionPending,
    TransactionReverted,
)

log = logging.getLogger(__name__)

DONE, INDEXING, AWAITING_SIGNATURE = "done", "indexing", "awaiting_signature"


@dataclass
class WriteOutcome:
    """What became of a write."""

    state: str  # done, indexing, awaiting_signature
    transaction_id: str
    transaction_hash: str | None = None
    block_number: int | None = None
    indexed_block: int | None = None
    contract_address: str | None = None  # of a contract the transaction created
    events: list[DecodedEvent] = field(default_factory=list)
    unsigned: dict[str, Any] | None = None

    def event(self, name: str) -> DecodedEvent:
        """The first event called ``name`` the transaction emitted."""
        return next(e for e in self.events if e.name == name)

    def all(self, name: str) -> list[DecodedEvent]:
        """Every event called ``name`` the transaction emitted, in log order."""
        return [e for e in self.events if e.name == name]


class Writer:
    """Sends the writes of one request (see the module docstring)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine: Engine = runtime.engine

    def write(self, caller: Caller, operation: str, call: ContractCall) -> WriteOutcome:
        """Carry out ``call`` for ``caller``; returns when indexed, or when awaiting a signature."""
        with _Timed(self.runtime, operation) as timing:
            return timing.done(self._write(caller, operation, call))

    def _write(self, caller: Caller, operation: str, call: ContractCall) -> WriteOutcome:
        self.runtime.refuse_writes_if_degraded()
        if not self.runtime.custody.holds(caller.address):
            return self._prepare(caller, operation, call)
        transaction_id = self._record(caller, operation, call, custody="CUSTODIAL", status="QUEUED")
        signer = self.runtime.custody.signer(caller.address)
        future = self.runtime.sender.send(signer, call, transaction_id=transaction_id)
        return self._follow(transaction_id, future)

    def write_all(
        self, caller: Caller, operation: str, calls: Sequence[ContractCall]
    ) -> list[WriteOutcome]:
        """``write`` for the calls of one request, in order. A custodial caller's calls are
        queued together, each after the one before: the sender sends the next as soon as
        one is mined while this request waits for the index to reach that one, so the two
        waits overlap. If one fails, none after it is sent (their rows end FAILED) and its
        error is raised as ``write`` raises it."""
        with _Timed(self.runtime, operation) as timing:
            return timing.done(self._write_all(caller, operation, calls))

    def _write_all(
        self, caller: Caller, operation: str, calls: Sequence[ContractCall]
    ) -> list[WriteOutcome]:
        self.runtime.refuse_writes_if_degraded()
        if not self.runtime.custody.holds(caller.address):
            return [self._prepare(caller, operation, call) for call in calls]
        signer = self.runtime.custody.signer(caller.address)
        queued: list[tuple[str, Any]] = []
        for call in calls:
            transaction_id = self._record(
                caller, operation, call, custody="CUSTODIAL", status="QUEUED"
            )
            after = queued[-1][1] if queued else None
            future = self.runtime.sender.send(
                signer, call, after=after, transaction_id=transaction_id
            )
            queued.append((transaction_id, future))
        outcomes = []
        for i, (transaction_id, future) in enumerate(queued):
            try:
                outcomes.append(self._follow(transaction_id, future))
            except Exception:
                for later_id, later in queued[i + 1 :]:
                    with contextlib.suppress(ChainError):  # TransactionNotSent: row FAILED
                        self._follow(later_id, later)
                raise
        return outcomes

    def submit_signed(self, caller: Caller, transaction_id: str, raw: bytes) -> WriteOutcome:
        """Broadcast the caller's signature of prepared transaction ``transaction_id``."""
        with _Timed(self.runtime, "transactions.submit") as timing:
            return timing.done(self._submit_signed(caller, transaction_id, raw))

    def _submit_signed(self, caller: Caller, transaction_id: str, raw: bytes) -> WriteOutcome:
        self.runtime.refuse_writes_if_degraded()
        row = self.find(caller, transaction_id)
        decoded = decode_raw_transaction(raw)
        if decoded.signer.lower() != caller.key:
            raise Forbidden(
                f"the transaction is signed by {decoded.signer}, not by {caller.address}",
                error="SignerMismatch",
                signer=decoded.signer,
                expected=caller.address,
            )
        expected = {
            "to": row.to_address,
            "data": row.data,
            "value": int(row.value),
            "chain_id": row.chain_id,
        }
        actual = {
            "to": decoded.to.lower() if decoded.to else None,
            "data": "0x" + decoded.data.hex(),
            "value": decoded.value,
            "chain_id": decoded.chain_id,
        }
        differing = sorted(k for k in expected if expected[k] != actual[k])
        if differing:
            raise InvalidInput(
                "the signed transaction is not the prepared call: "
                + ", ".join(f"{k} differs" for k in differing),
                error="TransactionMismatch",
                field="raw_transaction",
                differing=differing,
            )
        # Journaled before the broadcast, like a custodial transaction.
        with self.engine.begin() as conn:
            claimed = conn.execute(
                update(transactions)
                .where(transactions.c.id == transaction_id, transactions.c.status == "PREPARED")
                .values(
                    status="SENT",
                    raw_transaction="0x" + raw.hex(),
                    tx_hash="0x" + keccak(raw).hex(),
                    nonce=decoded.nonce,
                    idempotency_key=current_idempotency_key(caller.key) or row.idempotency_key,
                    updated_at=_now(),
                )
            ).rowcount
        if claimed != 1:
            raise Conflict(
                f"transaction {transaction_id} was already submitted",
                error="TransactionAlreadySubmitted",
                id=transaction_id,
            )
        call = ContractCall(
            to=row.to_address,
            data=bytes.fromhex(row.data[2:]),
            value=int(row.value),
            abis=self.runtime.contracts.error_abis,
        )
        future = self.runtime.sender.send_signed(
            caller.address, raw, call, transaction_id=transaction_id
        )
        return self._follow(transaction_id, future)

    def find(self, caller: Caller, transaction_id: str) -> Any:
        """The caller's transaction row (auditors: anyone's); NotFound otherwise."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(transactions).where(transactions.c.id == transaction_id)
            ).first()
        if row is None or not (caller.is_(row.participant) or caller.reads_all):
            raise NotFound(
                f"no transaction {transaction_id}", error="TransactionUnknown", id=transaction_id
            )
        return row

    # --- internals ------------------------------------------------------------------

    def _prepare(self, caller: Caller, operation: str, call: ContractCall) -> WriteOutcome:
        tx = transaction_request(
            caller.address, call.to, call.data, call.value, self.runtime.chain_id
        )
        tx.update(self.runtime.client.prepare(tx, call.abis))  # a revert is answered now
        transaction_id = self._record(
            caller, operation, call, custody="EXTERNAL", status="PREPARED"
        )
        # What the caller signs, as JSON: every field of ``tx`` but ``from``, in hex.
        unsigned = {"to": tx.get("to"), "data": "0x" + call.data.hex()} | {
            name: hex(value) for name, value in tx.items() if name not in ("from", "to", "data")
        }
        return WriteOutcome(AWAITING_SIGNATURE, transaction_id, unsigned=unsigned)

    def _follow(self, transaction_id: str, future: Any) -> WriteOutcome:
        settings = self.runtime.settings
        _note_queue_depth(self.runtime)  # the job is queued now
        try:
            receipt: Receipt = future.result(timeout=settings.receipt_timeout * 2 + 30)
        except concurrent.futures.TimeoutError as exc:
            # Still queued behind others, or out: either way it may yet be sent and mined.
            raise TransactionPending(
                "the transaction is still queued or out after the longest wait",
                transaction_id=transaction_id,
                transaction_hash=None,
            ) from exc
        except TransactionReverted as exc:
            status = "REVERTED" if exc.transaction_hash else "REFUSED"
            mined = exc.receipt
            self._update(transaction_id, status=status, tx_hash=exc.transaction_hash,
                         error=exc.error_name or revert_message(exc),
                         block_number=mined.block_number if mined else None,
                         block_hash=mined.block_hash if mined else None,
                         transaction_index=mined.transaction_index if mined else None)  # fmt: skip
            raise
        except ChainTimeout as exc:
            # Out, or possibly out: the row stays SIGNED / SENT with its bytes for recovery.
            with contextlib.suppress(OperationalError):
                self._update(transaction_id, error=str(exc))
            raise TransactionPending(
                f"transaction {exc.transaction_hash} is sent but not mined yet: {exc}",
                transaction_id=transaction_id,
                transaction_hash=exc.transaction_hash,
            ) from exc
        except ChainError as exc:
            # Refused before it was broadcast, or by the node at the broadcast: never executed.
            self._update(transaction_id, status="FAILED", error=str(exc))
            raise
        # Mined: the write happened, whatever the database says next. Failing it now (the
        # database locked or away) would have the client send it again: a second mint.
        try:
            self._update(transaction_id, status="MINED", tx_hash=receipt.transaction_hash,
                         block_number=receipt.block_number, block_hash=receipt.block_hash,
                         transaction_index=receipt.transaction_index)  # fmt: skip
        except OperationalError as exc:
            log.warning("transaction %s mined; its row not updated: %s", transaction_id, exc)
        try:
            indexed = self.runtime.wait_indexed(receipt.block_number, settings.write_index_wait)
        except OperationalError:
            indexed = None  # answered as "indexing": read again shortly
        return WriteOutcome(
            state=DONE if indexed is not None else INDEXING,
            transaction_id=transaction_id,
            transaction_hash=receipt.transaction_hash,
            block_number=receipt.block_number,
            indexed_block=indexed,
            contract_address=receipt.contract_address,
            events=self.runtime.decoder.decode_known(receipt.logs),
        )

    def _record(
        self, caller: Caller, operation: str, call: ContractCall, *, custody: str, status: str
    ) -> str:
        transaction_id = secrets.token_hex(8)
        now = _now()
        with self.engine.begin() as conn:
            conn.execute(
                insert(transactions).values(
                    id=transaction_id,
                    participant=caller.key,
                    operation=operation,
                    to_address=call.to.lower() if call.to else None,
                    data="0x" + call.data.hex(),
                    value=str(call.value),
                    chain_id=self.runtime.chain_id,
                    custody=custody,
                    status=status,
                    idempotency_key=current_idempotency_key(caller.key),
                    owner=self.runtime.identity.id,
                    created_at=now,
                    updated_at=now,
                )
            )
        return transaction_id

    def _update(self, transaction_id: str, **values: Any) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(transactions)
                .where(transactions.c.id == transaction_id)
                .values(updated_at=_now(), **values)
            )


def _now() -> datetime:
    return datetime.now(UTC)


def _note_queue_depth(runtime: Runtime) -> None:
    metrics.sender_queue_depth(sum(runtime.sender.queue_depths().values()))


class _Timed:
    """Times one write from its start to its answer for ``ledger_write_duration_seconds``,
    labelled with how it ended: the outcome's state (``done``: indexed; ``indexing``;
    ``awaiting_signature``), or ``pending`` (sent, not mined in time), ``reverted``,
    ``failed`` (never executed), ``refused`` (nothing sent: degraded, bad input, ...)."""

    def __init__(self, runtime: Runtime, operation: str) -> None:
        self.runtime = runtime
        self.operation = operation
        self.outcome = "refused"
        self.started = 0.0

    def __enter__(self) -> _Timed:
        self.started = time.monotonic()
        return self

    def done(self, result: Any) -> Any:
        """Note the outcome (or the last of a request's outcomes) and pass it on."""
        last = result[-1] if isinstance(result, list) and result else result
        self.outcome = last.state if isinstance(last, WriteOutcome) else DONE
        return result

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None:
            self.outcome = (
                "pending" if isinstance(exc, TransactionPending)
                else "reverted" if isinstance(exc, TransactionReverted)
                else "failed" if isinstance(exc, ChainError)
                else "refused"
            )  # fmt: skip
        metrics.observe_write(self.operation, self.outcome, time.monotonic() - self.started)
        _note_queue_depth(self.runtime)
