"""The ``transactions`` table as a write-ahead journal, and recovery from it.

Every custodial transaction is journaled (its row SIGNED with the signed bytes, hash
and nonce) before it is broadcast, and an external signature the same way (SENT);
the row carries the Idempotency-Key of the request that made it. So whatever is
killed, and whenever, each transaction that may be out is on record, and recovery
can settle it against the chain:

- a row the chain has a receipt for: MINED or REVERTED, with its block;
- signed but not on chain, its nonce still free: the same bytes sent again (the same
  transaction hash: it can be mined at most once);
- signed but its nonce taken by another transaction: FAILED (it can never be mined);
- never signed (QUEUED): FAILED, "not executed".

The same pass follows a node that lost blocks (an anvil restarted from an older saved
state): every journaled transaction above the fork point that the node lacks is sent
again, in the order it was first mined, so the chain comes back to what the service
acknowledged (the same transaction hashes, in new blocks).

Then every Idempotency-Key whose request died before answering (RUNNING) gets the
answer its transactions give (``answer_for``): 200 ``done`` once they are mined and
indexed, 202 while one is pending or not indexed yet (a later retry gets the final
answer), the revert's error if one reverted, or 409 ``WriteNotExecuted`` when nothing
was ever sent: safe to send again, with a new key. The answer is recovered from the
journal, not the route's own rendering: ``result`` is null, and says so.

Several API replicas on one PostgreSQL database: a pass holds the sending lock of each
account whose rows it settles (the same lock the sender holds around each transaction,
db/locks.py NamedLocks), so it never settles a row another process is sending, and reads
the rows again once it holds them. A QUEUED row, and a RUNNING key, belong to the process
that made it (``owner``) while that process lives: it may still sign the one and answer
the other; another replica settles them once it is gone (or, for a QUEUED row, once it
has waited QUEUED_PATIENCE s: marking it FAILED then can only make its sending fail,
since the journal signs a row only while it is QUEUED). ``settle_account`` is the same
settling for one account, done by the sender under that account's lock before each send.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar, Token
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update

from ledger_app.api.errors import revert_status
from ledger_app.chain.client import ChainClient, Receipt
from ledger_app.chain.rawtx import decode_raw_transaction
from ledger_app.chain.sender import InFlight
from ledger_app.db.api_tables import idempotency_records, transactions
from ledger_app.errors import ChainError, RPCError, TransactionNotSent, TransactionReverted

log = logging.getLogger(__name__)

#: Rows whose transaction may be out and is not settled yet.
PENDING = ("QUEUED", "SIGNED", "SENT")
#: Rows whose transaction was mined (and so took its sender's nonce).
ON_CHAIN = ("MINED", "REVERTED")
NOT_EXECUTED = "WriteNotExecuted"
#: Seconds a live process's QUEUED row is left to it before another settles it.
QUEUED_PATIENCE = 120.0

_request_key: ContextVar[tuple[str, str] | None] = ContextVar("idempotency_key", default=None)


def bind_idempotency_key(participant: str, key: str) -> Token[tuple[str, str] | None]:
    """Bind the transactions the current request makes to its Idempotency-Key."""
    return _request_key.set((participant, key))


def unbind_idempotency_key(token: Token[tuple[str, str] | None]) -> None:
    """End ``bind_idempotency_key``."""
    _request_key.reset(token)


def current_idempotency_key(participant: str) -> str | None:
    """The Idempotency-Key of the request running for ``participant``, if any."""
    bound = _request_key.get()
    return bound[1] if bound is not None and bound[0] == participant else None


def journal_signed(engine: Engine) -> Callable[[str, InFlight], None]:
    """The sender's ``journal``: stores a signed transaction in its row before the broadcast
    (raises if it cannot, and then the sender sends nothing)."""

    def record(transaction_id: str, in_flight: InFlight) -> None:
        with engine.begin() as conn:
            stored = conn.execute(
                update(transactions)
                .where(transactions.c.id == transaction_id, transactions.c.status == "QUEUED")
                .values(
                    status="SIGNED",
                    raw_transaction="0x" + in_flight.raw.hex(),
                    tx_hash=in_flight.transaction_hash,
                    nonce=in_flight.nonce,
                    updated_at=_now(),
                )
            ).rowcount
        if stored != 1:
            raise RuntimeError(f"transaction {transaction_id} is not QUEUED in the journal")

    return record


# --- the answer a key's transactions give ----------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An HTTP answer rebuilt from the journal."""

    status: int
    body: dict[str, Any]
    final: bool  # False: 202, to be looked at again at the next retry

    def encoded(self) -> str:
        """The body as stored in an idempotency record."""
        return json.dumps(self.body)


def answer_for(rows: Sequence[Any], indexed_to: int) -> Answer:
    """What a request whose transactions are ``rows`` answers, the index being at
    ``indexed_to`` (see the module doc). A QUEUED row counts as pending: recovery marks
    the ones no process will send FAILED before it asks."""
    info = [_info(r) for r in rows]
    pending = [r for r in rows if r.status in PENDING]
    if pending:
        first = pending[0]
        where = f"transaction {first.tx_hash} is sent" if first.tx_hash else "it is queued"
        body = _write_body(
            "pending",
            _info(first),
            info,
            f"{where} and not mined yet; retry with the same Idempotency-Key, or follow "
            f"GET /v1/transactions/{first.id}",
        )
        return Answer(202, body, final=False)
    refused = [r for r in rows if r.status in ("REVERTED", "REFUSED")]
    if refused:
        return _reverted(refused[0])
    mined = [r for r in rows if r.status == "MINED"]
    if not mined:
        return Answer(409, not_executed_body([r.id for r in rows]), final=True)
    if len(mined) < len(rows):
        # Some of a request's transactions mined, a later one never sent (a batch whose
        # chunk failed): what was mined stays; the rest is not executed.
        body = not_executed_body([r.id for r in rows if r.status != "MINED"])
        body["message"] = (
            "part of this request was executed (args.transactions_mined) and the rest was "
            "not: send the rest again, with a new Idempotency-Key"
        )
        body["args"]["transactions_mined"] = [_info(r) for r in mined]
        return Answer(409, body, final=True)
    last = rows[-1]
    if max(r.block_number for r in rows) > indexed_to:
        body = _write_body(
            "indexing",
            _info(last),
            info,
            "mined; the index has not reached its block yet: read again shortly "
            "(answer recovered from the transaction journal)",
        )
        return Answer(202, body, final=False)
    body = _write_body(
        "done",
        _info(last),
        info,
        "mined and indexed. This answer was recovered from the transaction journal "
        "(the service stopped before answering): result is empty; read the resource",
    )
    return Answer(200, body, final=True)


def not_executed_body(transaction_ids: Iterable[str]) -> dict[str, Any]:
    """The 409 of a write that never reached the chain."""
    return {
        "error": NOT_EXECUTED,
        "args": {"transactions": list(transaction_ids)},
        "message": (
            "this write was not executed: nothing of it was sent to the ledger (the service "
            "stopped or failed before sending it). It is safe to send it again, with a new "
            "Idempotency-Key"
        ),
    }


def _reverted(row: Any) -> Answer:
    name = row.error if row.error and row.error.isidentifier() else "TransactionReverted"
    error = TransactionReverted(name, error_name=name, transaction_hash=row.tx_hash)
    body: dict[str, Any] = {
        "error": name,
        "args": {},
        "message": f"the ledger refused this write: {name} (recovered from the journal)",
    }
    if row.tx_hash:
        body["transaction_hash"] = row.tx_hash
    return Answer(revert_status(error, row.participant), body, final=True)


def _info(row: Any) -> dict[str, Any]:
    return {"id": row.id, "hash": row.tx_hash, "block_number": row.block_number}


def _write_body(
    state: str, transaction: dict[str, Any], every: list[dict[str, Any]], message: str
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": state,
        "transaction": transaction,
        "result": None,
        "unsigned_transaction": None,
        "message": message,
    }
    if len(every) > 1:
        body["transactions"] = every
    return body


def rows_of_key(engine: Engine, participant: str, key: str) -> list[Any]:
    """The transactions the request under (participant, key) made, in order."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                select(transactions)
                .where(*_of_key(participant, key))
                .order_by(transactions.c.created_at, transactions.c.nonce)
            )
        )


def _of_key(participant: str, key: str) -> tuple[Any, ...]:
    """The condition on ``transactions`` for the rows of the request under (participant, key)."""
    return (transactions.c.participant == participant, transactions.c.idempotency_key == key)


def fail_unsigned(engine: Engine, participant: str, key: str) -> int:
    """Mark FAILED ("not executed") every never-signed (QUEUED) row of the request under
    (participant, key); how many. For a request that answered a 5xx: its client retries,
    so nothing of it may still be signed behind its back (a job still queued then fails
    at its journaling, which signs a row only while it is QUEUED), and its key must not
    replay "queued" (202) for a write nobody will send."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                update(transactions)
                .where(*_of_key(participant, key), transactions.c.status == "QUEUED")
                .values(status="FAILED", error="not executed: never signed", updated_at=_now())
            ).rowcount
        )


# --- recovery ------------------------------------------------------------------------


@dataclass
class RecoveryReport:
    """What one recovery pass did."""

    reason: str
    started_at: str
    seconds: float = 0.0
    fork_block: int | None = None  # the node had lost the blocks above this one
    found_mined: int = 0  # pending rows the chain had mined
    resent: int = 0  # signed transactions sent again (pending or lost by the node)
    not_executed: int = 0  # rows that never reached the chain
    lost: list[str] = field(default_factory=list)  # mined once, could not be sent again
    keys_resolved: int = 0

    def as_dict(self) -> dict[str, Any]:
        """For /health and the log."""
        return asdict(self)


class Recovery:
    """Settles the journal against the chain (see the module doc)."""

    def __init__(
        self,
        engine: Engine,
        client: ChainClient,
        *,
        indexed_to: Callable[[], int],
        deployment_block: int,
        receipt_timeout: float = 60.0,
        account_lock: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None,
        alive: Callable[[str | None], bool] | None = None,
    ) -> None:
        self.engine = engine
        # Defaults: one process sends (SQLite), and every row's owner but this is gone.
        self.account_lock = account_lock or (lambda _account: contextlib.nullcontext())
        self.alive = alive or (lambda _owner: False)
        self.deployment_block = deployment_block
        self.client = client
        self.indexed_to = indexed_to
        self.receipt_timeout = receipt_timeout
        self._pass = threading.Lock()

    def run(
        self, reason: str, *, active: Callable[[], set[str]] = set, keys_before: datetime | None
    ) -> RecoveryReport:
        """One pass: follow a rewound node, settle pending rows not ``active`` in this
        process, then answer RUNNING keys created before ``keys_before`` (None: none)."""
        with self._pass:
            started = time.monotonic()
            report = RecoveryReport(reason=reason, started_at=_now().isoformat())
            report.fork_block = self.fork_point()
            if report.fork_block is not None and report.fork_block < self.deployment_block:
                # Not an older state of our chain: another chain, or one without the
                # contracts. Sending the journal into it would execute writes against
                # whatever sits at those addresses.
                raise ChainError(
                    f"the node lacks the blocks up to the deployment (block "
                    f"{self.deployment_block}); the journal is not sent into it"
                )
            fork = report.fork_block
            accounts = (
                {r.participant for r in self._rows_after(fork)} if fork is not None else set()
            )
            skip = active()
            accounts |= {r.participant for r in self._pending_rows() if self._settleable(r, skip)}
            with contextlib.ExitStack() as held:
                # In one order in every process: two passes never wait for each other.
                for account in sorted(accounts):
                    held.enter_context(self.account_lock(account))
                # Read again under the locks: another process may have settled some meanwhile
                # (and only the accounts held: one whose row became settleable since waits).
                suspects = self._rows_after(fork) if fork is not None else []
                skip = active()
                pending = [r for r in self._pending_rows()
                           if r.participant in accounts and self._settleable(r, skip)]  # fmt: skip
                self._settle(suspects, pending, report)
            if keys_before is not None:
                report.keys_resolved = self.resolve_keys(keys_before)
            report.seconds = round(time.monotonic() - started, 3)
            return report

    def settle_account(self, account: str, active: set[str]) -> int | None:
        """What the sender does under ``account``'s lock before it sends for it: settle the
        account's signed rows no job of this process follows (left by a process that died,
        or given up waiting for) against the chain, and give the nonce the journal expects
        next (None: nothing on record). TransactionNotSent while one is still not mined:
        nothing may be signed on top of it."""
        account = account.lower()

        def signed_left() -> list[Any]:
            return [r for r in self._pending_rows(account)
                    if r.raw_transaction is not None and r.id not in active]  # fmt: skip

        left = signed_left()
        if left:
            report = RecoveryReport(reason="before a send", started_at=_now().isoformat())
            self._settle([], left, report)
            left = signed_left()
            if left:
                raise TransactionNotSent(
                    f"not sent: transaction {left[0].tx_hash} (nonce {left[0].nonce}) of "
                    f"{account}, sent by another process, is not mined yet, and nothing is "
                    "sent on top of it: try again shortly"
                )
        # The rows this process follows are left out: its own nonces it knows itself, and
        # one whose broadcast was just refused is still SIGNED until its request marks it.
        on_record = transactions.c.status.in_(ON_CHAIN) | (
            transactions.c.status.in_(("SIGNED", "SENT")) & transactions.c.id.not_in(active)
        )
        with self.engine.connect() as conn:
            last = conn.execute(
                select(func.max(transactions.c.nonce)).where(
                    transactions.c.participant == account, on_record
                )
            ).scalar_one()
        return None if last is None else int(last) + 1

    def resolve_dead_keys(self) -> int:
        """Answer the RUNNING keys of processes that are gone (replicas: one was killed)."""
        return self.resolve_keys(None)

    def fork_point(self) -> int | None:
        """The highest journaled block still on the node's chain, when the node lacks a
        journaled block above it; None when the node has every journaled block. (Each
        block is asked for by number and compared by hash: a head read first and compared
        after would count a block mined in between as lost.)"""
        # The rows' own order by block (ix_transactions_block): the watch runs every
        # second, so its first look reads one row, not a grouping of the whole journal.
        journaled = (
            select(transactions.c.block_number, transactions.c.block_hash)
            .where(transactions.c.block_number.is_not(None), transactions.c.status.in_(ON_CHAIN))
            .order_by(transactions.c.block_number.desc())
        )
        with self.engine.connect() as conn:
            newest = conn.execute(journaled.limit(1)).first()
            if newest is None or self._on_chain(newest):
                return None
            # Walk down the journaled blocks to the first one the node still has.
            seen = None
            for block in conn.execute(journaled):
                if (block.block_number, block.block_hash) == seen:
                    continue  # another transaction of a block already looked at
                seen = (block.block_number, block.block_hash)
                if self._on_chain(block):
                    return int(block.block_number)
        return -1

    def has_stale_rows(self, active: set[str], older_than: float = 5.0) -> bool:
        """Whether a pending row this pass may settle (``_settleable``) has waited
        ``older_than`` s."""
        cutoff = _now() - timedelta(seconds=older_than)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    transactions.c.id,
                    transactions.c.status,
                    transactions.c.owner,
                    transactions.c.updated_at,
                ).where(transactions.c.status.in_(PENDING), transactions.c.updated_at < cutoff)
            )
            return any(self._settleable(r, active) for r in rows)

    def resolve_keys(self, created_before: datetime | None) -> int:
        """Answer from its transactions every RUNNING key whose process is gone (and, if
        given, older than ``created_before``): its request will never answer it."""
        query = select(
            idempotency_records.c.participant,
            idempotency_records.c.key,
            idempotency_records.c.owner,
        ).where(idempotency_records.c.state == "RUNNING")
        if created_before is not None:
            query = query.where(idempotency_records.c.created_at < created_before)
        with self.engine.connect() as conn:
            running = [r for r in conn.execute(query) if not self.alive(r.owner)]
        if not running:
            return 0
        indexed = self.indexed_to()
        for participant, key, _owner in running:
            rows = rows_of_key(self.engine, participant, key)
            # Its never-signed rows first: their process is gone, so nothing will sign them,
            # and the key must say "not executed", not "queued" (202) as if they might be.
            gone = [r for r in rows if r.status == "QUEUED" and not self.alive(r.owner)]
            for row in gone:
                self._mark(row.id, status="FAILED", error="not executed: never signed",
                           only="QUEUED")  # fmt: skip
            if gone:
                rows = rows_of_key(self.engine, participant, key)
            answer = answer_for(rows, indexed)
            store_answer(self.engine, participant, key, answer, only_running=True)
        return len(running)

    # --- internals ----------------------------------------------------------------

    def _on_chain(self, block: Any) -> bool:
        if block.block_hash is None:
            return True  # mined before the journal kept hashes: taken as it is
        return self.client.block_hash(int(block.block_number)) == block.block_hash

    def _rows_after(self, fork: int) -> list[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(transactions)
                    .where(
                        transactions.c.block_number > fork,
                        transactions.c.status.in_(ON_CHAIN),
                        transactions.c.raw_transaction.is_not(None),
                    )
                    .order_by(transactions.c.block_number, transactions.c.transaction_index)
                )
            )

    def _pending_rows(self, account: str | None = None) -> list[Any]:
        query = select(transactions).where(transactions.c.status.in_(PENDING))
        if account is not None:
            query = query.where(transactions.c.participant == account)
        with self.engine.connect() as conn:
            return list(conn.execute(query.order_by(transactions.c.created_at,
                                                    transactions.c.nonce)))  # fmt: skip

    def _settleable(self, row: Any, active: set[str]) -> bool:
        """Whether this pass may settle ``row``: not followed by a job of this process, and,
        if never signed, its process gone or its wait past QUEUED_PATIENCE (module doc)."""
        if row.id in active:
            return False
        if row.status != "QUEUED" or not self.alive(row.owner):
            return True
        updated = row.updated_at
        if updated.tzinfo is None:  # SQLite keeps no zone: the service writes UTC
            updated = updated.replace(tzinfo=UTC)
        return bool(updated < _now() - timedelta(seconds=QUEUED_PATIENCE))

    def _settle(self, suspects: list[Any], pending: list[Any], report: RecoveryReport) -> None:
        replay: list[tuple[Any, bool]] = []  # (row, acknowledged as mined before)
        for row in [*suspects, *pending]:
            if row.raw_transaction is None:
                if row.status == "QUEUED" and self._mark(
                    row.id, status="FAILED", error="not executed: never signed", only="QUEUED"
                ):
                    report.not_executed += 1
                continue
            receipt = self.client.receipt_if_mined(row.tx_hash)
            if receipt is not None:
                self._mark_mined(row, receipt)
                report.found_mined += row.status in PENDING
                continue
            replay.append((row, row.status in ON_CHAIN))
        # The order they were first mined in (a receivable's id, a balance, depend on it);
        # within one sender that is nonce order. The never-mined come after, by nonce.
        replay.sort(
            key=lambda item: (
                item[0].block_number if item[1] else float("inf"),
                item[0].transaction_index or 0,
                item[0].nonce,
            )
        )
        stuck: set[str] = set()  # senders whose transaction sent again was not mined
        for row, acknowledged in replay:
            signer = decode_raw_transaction(bytes.fromhex(row.raw_transaction[2:])).signer
            if signer in stuck:
                continue  # behind a nonce not mined yet: left pending for the next pass
            if not self._resend(row, signer, acknowledged, report):
                stuck.add(signer)

    def _resend(self, row: Any, signer: str, acknowledged: bool, report: RecoveryReport) -> bool:
        """Send ``row`` again; False when it is out but not mined within the wait."""
        raw = bytes.fromhex(row.raw_transaction[2:])
        mined = self.client.get_transaction_count(signer, "latest")
        if row.nonce < mined:
            # Mined meanwhile, perhaps by itself (a sender still following it sent it
            # again, or the node mined it from the pool its saved state kept).
            receipt = self.client.receipt_if_mined(row.tx_hash)
            if receipt is None and self.client.transaction_known(row.tx_hash):
                # The node knows these very bytes, so its count may be theirs: a node
                # restarted from a saved state can answer for the count before it answers
                # for the receipt. Never "taken by another" while it may be this one.
                receipt = self._wait_receipt(row.tx_hash)
                if receipt is None:
                    return False  # out, not mined yet: the next pass looks again
            if receipt is not None:
                self._mark_mined(row, receipt)
                return True
        waiting = self.client.get_transaction_count(signer, "pending") if row.nonce > mined else 0
        if row.nonce < mined or row.nonce > max(mined, waiting):
            # Taken by another transaction, or behind a gap nothing on record fills: this
            # transaction can never be mined as it is.
            why = "taken by another transaction" if row.nonce < mined else "not reachable"
            error = f"not executed: nonce {row.nonce} {why} (the node's count is {mined})"
            self._give_up(row, acknowledged, error, report)
            return True
        try:
            self.client.send_raw_transaction(raw)
        except RPCError as exc:
            if "already known" not in str(exc).lower():
                # The node refuses the bytes themselves (funds, gas, nonce): they can
                # never be mined as they are.
                self._give_up(row, acknowledged, f"not executed: the node refused it: {exc}",
                              report)  # fmt: skip
                return True
        report.resent += 1
        receipt = self._wait_receipt(row.tx_hash)
        if receipt is None:
            log.warning("journal: transaction %s sent again, not mined yet", row.tx_hash)
            return False
        self._mark_mined(row, receipt)
        log.warning(
            "journal: transaction %s (%s, nonce %d) sent again; mined in block %d",
            row.tx_hash, row.operation, row.nonce, receipt.block_number,
        )  # fmt: skip
        return True

    def _give_up(self, row: Any, acknowledged: bool, error: str, report: RecoveryReport) -> None:
        # Its block is forgotten with it: a FAILED row's old block would read as lost
        # at every look, and hold writes back for good.
        self._mark(row.id, status="FAILED", error=error, block_number=None, block_hash=None,
                   transaction_index=None)  # fmt: skip
        if acknowledged:
            log.error("journal: acknowledged transaction %s lost: %s", row.tx_hash, error)
            report.lost.append(row.tx_hash)
        else:
            report.not_executed += 1

    def _wait_receipt(self, transaction_hash: str) -> Receipt | None:
        deadline = time.monotonic() + self.receipt_timeout
        pause = 0.005
        while True:
            receipt = self.client.receipt_if_mined(transaction_hash)
            if receipt is not None or time.monotonic() > deadline:
                return receipt
            time.sleep(pause)
            pause = min(pause * 2, 0.2)

    def _mark_mined(self, row: Any, receipt: Receipt) -> None:
        status = "MINED" if receipt.status == 1 else "REVERTED"
        values: dict[str, Any] = {
            "status": status,
            "block_number": receipt.block_number,
            "block_hash": receipt.block_hash,
            "transaction_index": receipt.transaction_index,
        }
        if status == "REVERTED" and row.status != "REVERTED":
            values["error"] = "TransactionReverted"
        # A pending row only while still pending: its request may have marked it meanwhile
        # (with the revert's own error name, which this would overwrite).
        self._mark(row.id, only=PENDING if row.status in PENDING else None, **values)

    def _mark(
        self, transaction_id: str, *, only: str | tuple[str, ...] | None = None, **values: Any
    ) -> bool:
        """Update the row (``only``: if its status is still that, or one of those; a QUEUED
        row being signed by its process meanwhile is SIGNED, and is not marked FAILED)."""
        where = [transactions.c.id == transaction_id]
        if only is not None:
            where.append(transactions.c.status.in_((only,) if isinstance(only, str) else only))
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    update(transactions).where(*where).values(updated_at=_now(), **values)
                ).rowcount
            )


def store_answer(
    engine: Engine, participant: str, key: str, answer: Answer, *, only_running: bool
) -> None:
    """Keep ``answer`` as the key's answer (``only_running``: unless it was answered)."""
    keep_answer(engine, participant, key, answer.status, answer.encoded(),
                [("content-type", "application/json")], only_running=only_running)  # fmt: skip


def keep_answer(
    engine: Engine,
    participant: str,
    key: str,
    status: int,
    body: str,
    headers: list[tuple[str, str]],
    *,
    only_running: bool = False,
) -> None:
    """Keep an answer as the key's, DONE (``only_running``: unless it was answered)."""
    where = [idempotency_records.c.participant == participant, idempotency_records.c.key == key]
    if only_running:
        where.append(idempotency_records.c.state == "RUNNING")
    with engine.begin() as conn:
        conn.execute(
            update(idempotency_records)
            .where(*where)
            .values(
                state="DONE",
                status_code=status,
                response_body=body,
                response_headers=json.dumps(headers),
            )
        )


def _now() -> datetime:
    return datetime.now(UTC)
