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
state): every journaled transaction whose block the node lacks (``Recovery.lost_rows``,
looked for every second) is sent again, in the order it was first mined, so the chain
comes back to what the service acknowledged (the same transaction hashes, in new
blocks). Writes of other accounts mined meanwhile may come first, so a receivable sent
again can get another id than the one first answered. After a pass each account sends
from the nonce the journal expects, not the node's: should the node still lack a write
acknowledged once, a send is refused and the journal looks again, rather than take its
nonce (which would lose it for good).

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
from collections import deque
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
#: Seconds a row's ``updated_at`` may trail the moment its receipt was read (a slow request,
#: another replica's clock): each look at the chain looks again at rows this much older.
CLOCK_SLACK = 5.0
#: Seconds before the newest journaled row whose rows a look without a previous one checks.
FIRST_LOOK_WINDOW = 120.0
LOOKS_KEPT = 64  # heads of the latest looks kept (at one look a second: a minute)
SPARSE_LOOK_SPACING = timedelta(seconds=60)  # and of older ones, one a minute,
SPARSE_LOOKS_KEPT = 120  # for two hours
SEEN_KEPT = 100_000  # journaled blocks whose hash a look found on the chain, kept
HASHES_PER_BATCH = 500  # blocks asked for in one JSON-RPC batch

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
    found_again: int = 0  # rows above the fork the node has mined anyway (in a new block)
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
        deployment_hash: str = "",
        receipt_timeout: float = 60.0,
        account_lock: Callable[[str], contextlib.AbstractContextManager[Any]] | None = None,
        alive: Callable[[str | None], bool] | None = None,
    ) -> None:
        self.engine = engine
        # Defaults: one process sends (SQLite), and every row's owner but this is gone.
        self.account_lock = account_lock or (lambda _account: contextlib.nullcontext())
        self.alive = alive or (lambda _owner: False)
        self.deployment_block = deployment_block
        self.deployment_hash = deployment_hash  # "" in a record made without it
        self.client = client
        self.indexed_to = indexed_to
        self.receipt_timeout = receipt_timeout
        self._pass = threading.Lock()
        self._watch = threading.Lock()
        # The node's head at the latest looks that found every journaled block on the
        # chain (newest last), and the hashes of journaled blocks seen on it since.
        self._looks: deque[_Look] = deque(maxlen=LOOKS_KEPT)
        self._sparse: deque[_Look] = deque(maxlen=SPARSE_LOOKS_KEPT)  # older, one a minute
        self._seen: dict[int, str] = {}

    def run(
        self, reason: str, *, active: Callable[[], set[str]] = set, keys_before: datetime | None
    ) -> RecoveryReport:
        """One pass: follow a rewound node, settle pending rows not ``active`` in this
        process, then answer RUNNING keys created before ``keys_before`` (None: none)."""
        with self._pass:
            started = time.monotonic()
            report = RecoveryReport(reason=reason, started_at=_now().isoformat())
            lost = self.lost_rows()
            report.fork_block = self._fork_below(lost)
            if lost and not self._holds_deployment():
                # Not an older state of our chain: another chain, or one without the
                # contracts. Sending the journal into it would execute writes against
                # whatever sits at those addresses.
                raise ChainError(
                    f"the node lacks the blocks up to the deployment (block "
                    f"{self.deployment_block}); the journal is not sent into it"
                )
            accounts = {r.participant for r in lost}
            skip = active()
            accounts |= {r.participant for r in self._pending_rows() if self._settleable(r, skip)}
            with contextlib.ExitStack() as held:
                # In one order in every process: two passes never wait for each other.
                for account in sorted(accounts):
                    held.enter_context(self.account_lock(account))
                # Read again under the locks: another process may have settled some meanwhile
                # (and only the accounts held: one whose row became settleable since waits).
                suspects = [r for r in self.lost_rows() if r.participant in accounts]
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

    def expected_nonces(self) -> dict[str, int]:
        """Each account's next nonce by the journal: one past its highest mined, signed or
        sent transaction (lowercase address)."""
        holding = transactions.c.status.in_((*ON_CHAIN, "SIGNED", "SENT"))
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(transactions.c.participant, func.max(transactions.c.nonce))
                .where(holding, transactions.c.nonce.is_not(None))
                .group_by(transactions.c.participant)
            )
            return {str(account).lower(): int(last) + 1 for account, last in rows}

    def resolve_dead_keys(self) -> int:
        """Answer the RUNNING keys of processes that are gone (replicas: one was killed)."""
        return self.resolve_keys(None)

    def fork_point(self) -> int | None:
        """The highest journaled block still on the node's chain below the lowest one it
        lacks (-1: none is on it); None when the node has every journaled block."""
        return self._fork_below(self.lost_rows())

    def lost_rows(self) -> list[Any]:
        """The journaled transactions mined once (MINED or REVERTED, their bytes kept) whose
        block the node's chain does not hold, in the order they were mined.

        Each look compares the blocks of the rows the previous look did not cover: those
        above the head the node had then, and those written since (a row is written after
        its receipt is read, so it can name a block the node lost before the previous
        look); and the previous head is asked for again: when the node still has it,
        every block below it that a look found is still there too. A row is never taken
        as safe because a newer one is: after a node lost blocks, writes of accounts it
        did not touch are mined at the same heights, above or among the lost ones.
        Without a previous look on the chain (the first look, or a node restarted from a
        state older than every look kept), the journal's blocks are walked down from the
        newest to the first the node holds, and the rows written in the two minutes
        before the newest one are looked at besides (rows mined among lost ones, then
        the process killed before its next look: those lost longer before are found only
        if nothing was mined above them)."""
        with self._watch:
            started = _now()
            # The head first: whatever is mined after it is above it, and looked at next time.
            newest = self._looks[-1] if self._looks else None
            head, *held = self.client.block_hashes(
                ["latest"] if newest is None else ["latest", newest.number]
            )
            base = (
                newest if newest is not None and held[0] == (newest.number, newest.hash) else None
            )
            if base is None and newest is not None:
                base = self._newest_held_look()
            if base is not None:
                self._seen = {n: h for n, h in self._seen.items() if n <= base.number}
                since = base.at - timedelta(seconds=CLOCK_SLACK)
                rows = _merged(
                    self._journaled(transactions.c.block_number > base.number),
                    self._journaled(transactions.c.updated_at >= since),
                )
            else:
                self._seen = {}
                rows = self._first_look_rows()
            lost = self._not_on_chain(rows)
            if not lost and head is not None:
                self._remember(_Look(head[0], head[1], started))
                self._seen[head[0]] = head[1]
            return self._whole(lost)

    def _newest_held_look(self) -> _Look | None:
        """The newest look kept whose head the node still has; the newer ones are dropped."""
        looks = [*self._sparse, *self._looks]
        held = self.client.block_hashes([look.number for look in looks])
        kept = [look for look, block in zip(looks, held, strict=True)
                if block == (look.number, look.hash)]  # fmt: skip
        newest = kept[-1] if kept else None
        self._looks = deque((k for k in kept if k in self._looks), maxlen=LOOKS_KEPT)
        self._sparse = deque((k for k in kept if k in self._sparse), maxlen=SPARSE_LOOKS_KEPT)
        return newest

    def _remember(self, look: _Look) -> None:
        if len(self._looks) == self._looks.maxlen:
            oldest = self._looks[0]  # about to go: kept among the sparse ones, one a minute
            if not self._sparse or oldest.at - self._sparse[-1].at >= SPARSE_LOOK_SPACING:
                self._sparse.append(oldest)
        self._looks.append(look)

    def _first_look_rows(self) -> list[Any]:
        with self.engine.connect() as conn:
            latest = conn.execute(
                select(func.max(transactions.c.updated_at)).where(
                    transactions.c.block_number.is_not(None)
                )
            ).scalar_one()
        if latest is None:
            return []
        if latest.tzinfo is None:  # SQLite keeps no zone: the service writes UTC
            latest = latest.replace(tzinfo=UTC)
        recent = self._journaled(
            transactions.c.updated_at >= latest - timedelta(seconds=FIRST_LOOK_WINDOW)
        )
        return _merged(recent, self._walk_down(None)[0])

    def _walk_down(self, below: int | None) -> tuple[list[Any], int | None]:
        """The journaled rows (below block ``below``), newest first, down to the first one
        whose block the node holds; and that block (None: none held)."""
        query = _journaled_query(None if below is None else transactions.c.block_number < below)
        walked: list[Any] = []
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(transactions.c.block_number.desc()))
            while chunk := rows.fetchmany(HASHES_PER_BATCH):
                self._not_on_chain(chunk)  # the chunk's blocks asked for in one batch
                for row in chunk:
                    if row.block_hash is None or self._seen.get(row.block_number) == row.block_hash:
                        return walked, int(row.block_number)
                    walked.append(row)
        return walked, None

    def _not_on_chain(self, rows: list[Any]) -> list[Any]:
        rows = [r for r in rows if r.block_hash is not None]  # before hashes were kept: as is
        wanted = sorted(
            {r.block_number for r in rows if self._seen.get(r.block_number) != r.block_hash}
        )
        self._seen.update(self._hashes(wanted))
        if len(self._seen) > SEEN_KEPT:  # the lower half goes
            self._seen = dict(sorted(self._seen.items())[-SEEN_KEPT // 2 :])
        return [r for r in rows if self._seen.get(r.block_number) != r.block_hash]

    def _hashes(self, numbers: list[int]) -> dict[int, str]:
        hashes: dict[int, str] = {}
        for at in range(0, len(numbers), HASHES_PER_BATCH):
            for block in self.client.block_hashes(list(numbers[at : at + HASHES_PER_BATCH])):
                if block is not None:
                    hashes[block[0]] = block[1]
        return hashes

    def _holds_deployment(self) -> bool:
        block = self.client.block_hashes([self.deployment_block])[0]
        return block is not None and self.deployment_hash in ("", block[1])

    def _fork_below(self, lost: list[Any]) -> int | None:
        """The highest journaled block the node holds below the lowest lost row (-1: none)."""
        if not lost:
            return None
        lowest = min(int(r.block_number) for r in lost)
        with self._watch:
            held = self._walk_down(lowest)[1]
        return -1 if held is None else held

    def _journaled(self, where: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(_journaled_query(where)))

    def _whole(self, rows: list[Any]) -> list[Any]:
        """``rows`` (the few columns a look reads) as whole rows, in the order mined."""
        if not rows:
            return []
        with self.engine.connect() as conn:
            found = conn.execute(
                select(transactions).where(transactions.c.id.in_([r.id for r in rows]))
            )
            return _merged(list(found))

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
                report.found_again += row.status in ON_CHAIN
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


@dataclass(frozen=True)
class _Look:
    """A look that found every journaled block on the chain: the head then, and when."""

    number: int
    hash: str
    at: datetime


def _journaled_query(where: Any) -> Any:
    """Rows mined once, with the block they were mined in and their bytes (to send again):
    the columns a look at the chain reads."""
    c = transactions.c
    query = select(c.id, c.block_number, c.block_hash, c.transaction_index).where(
        transactions.c.block_number.is_not(None),
        transactions.c.status.in_(ON_CHAIN),
        transactions.c.raw_transaction.is_not(None),
    )
    return query if where is None else query.where(where)


def _merged(*parts: list[Any]) -> list[Any]:
    """The rows of ``parts``, each once, in the order they were mined."""
    rows = {r.id: r for part in parts for r in part}
    return sorted(rows.values(), key=lambda r: (int(r.block_number), r.transaction_index or 0))


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
