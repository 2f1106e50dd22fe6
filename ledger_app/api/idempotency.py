"""``Idempotency-Key`` on every write: the first answer is kept and replayed.

For a POST, PUT, PATCH or DELETE carrying the header, from an authenticated
caller:

- first time: the request runs and its answer (status, body, the ledger
  headers) is stored under (participant, key) with a hash of method, path,
  query and body, before it is sent (so a client never holds an answer the key
  would not replay);
- the same key and the same request again: the stored answer, with
  ``Idempotent-Replayed: true``; nothing runs, nothing is sent on chain;
- the same key with another request: 409 ``IdempotencyKeyReused``;
- concurrent duplicates: an in-process lock per key makes the second wait for
  the first and then replay it; across processes (API replicas) the RUNNING row
  makes it a 409 ``IdempotencyKeyInProgress`` (try again) while the process running
  it lives, and once it is gone, the answer its transactions give (recovery).

A secret in an answer (an API key issued by onboarding, key issue or rotation) is
never kept: the stored answer has it replaced by null and says so in
``secrets_withheld``, and its replay carries ``Idempotent-Secret-Withheld: true``.
The key was shown once, in the first answer; one lost with it is replaced by
issuing another.

The transactions a request makes are bound to its key (their journal rows carry it,
ledger_app/api/services/journal.py). A 5xx answer is not kept (the row is removed,
so the request can be retried) only when none of them may have reached the chain;
otherwise the key keeps the answer its transactions give. A kept 202 (pending, or
mined but not indexed yet) is looked at again at each retry, and replaced by the
final answer once there is one. A key whose process died before answering is
answered by recovery at the next start. Recording the answer is retried while the
database is locked or away, so that a short outage does not leave the key "in
progress" for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger_app.api.errors import database_unavailable
from ledger_app.api.identity import Caller
from ledger_app.api.index_state import indexed_block
from ledger_app.api.services.journal import (
    answer_for,
    bind_idempotency_key,
    fail_unsigned,
    keep_answer,
    rows_of_key,
    store_answer,
    unbind_idempotency_key,
)
from ledger_app.db.api_tables import idempotency_records

HEADER = b"idempotency-key"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
SETTLE_PATIENCE = 60.0  # seconds the answer's row is retried while the database is away
#: Response headers kept with the answer and replayed.
KEPT_HEADERS = frozenset({b"content-type", b"x-ledger-block", b"location"})
SECRET_WITHHELD = b"idempotent-secret-withheld"
#: An API key as ledger_app.api.auth issues it: lk_<16 hex id>_<secret>.
_API_KEY = re.compile(r"lk_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}")


def without_secrets(body: str) -> str | None:
    """``body`` (JSON) with every API key in it replaced by null and a note saying so;
    None when it holds none."""
    if not _API_KEY.search(body):
        return None
    try:
        answer = json.loads(body)
    except ValueError:
        return _API_KEY.sub("(withheld)", body)

    def scrub(value: Any) -> Any:
        if isinstance(value, str) and _API_KEY.fullmatch(value):
            return None
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    answer = scrub(answer)
    if isinstance(answer, dict):
        answer["secrets_withheld"] = (
            "this is a replay: the API key issued by the first answer is not kept and "
            "cannot be shown again (it was shown once); issue another if it was lost"
        )
    return json.dumps(answer)


class IdempotencyMiddleware:
    """Replays the first answer to a repeated write (see the module docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = dict(scope.get("headers") or []).get(HEADER)
        caller: Caller | None = scope.get("state", {}).get("caller")
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS or not key or not caller:
            await self.app(scope, receive, send)
            return
        idempotency_key = key.decode("latin-1")
        if len(idempotency_key) > MAX_KEY_LENGTH:
            await _answer(
                send,
                422,
                _error(
                    "InvalidIdempotencyKey",
                    "Idempotency-Key is longer than 255 characters",
                    field="Idempotency-Key",
                ),
            )
            return
        body = await _read_body(receive)
        fingerprint = _fingerprint(scope, body)
        engine: Engine = scope["app"].state.engine
        lock = self._locks[(caller.key, idempotency_key)]
        async with lock:
            try:
                stored = await anyio.to_thread.run_sync(_find, engine, caller.key, idempotency_key)
                if stored is None:
                    claimed = await anyio.to_thread.run_sync(
                        _claim, engine, caller.key, idempotency_key, fingerprint, _owner(scope)
                    )
            except OperationalError:
                # Nothing ran: the caller tries again once the database is back.
                await database_unavailable()(scope, receive, send)
                return
            if stored is not None:
                if stored.status_code == 202 and stored.request_hash == fingerprint:
                    with contextlib.suppress(OperationalError):
                        stored = await anyio.to_thread.run_sync(
                            _refreshed, scope["app"], caller.key, idempotency_key, stored
                        )
                await _replay_or_refuse(send, stored, fingerprint)
                return
            if not claimed:
                await _answer(
                    send,
                    409,
                    _error(
                        "IdempotencyKeyInProgress",
                        "a request with this Idempotency-Key is still running; try again",
                    ),
                )
                return
            response = _Captured(send)
            token = bind_idempotency_key(caller.key, idempotency_key)
            try:
                await self.app(scope, _replaying(body), response.send)
            finally:
                unbind_idempotency_key(token)
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(
                        _settle_patiently, engine, caller.key, idempotency_key, response
                    )
            # Kept first, sent second: a process killed in between leaves a key that
            # replays what the client got, never one the client saw answered otherwise.
            await response.deliver()


class _Captured:
    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = bytearray()
        self._held: list[Message] = []

    async def send(self, message: Message) -> None:
        """Hold the answer (a write's answer is small) until it has been kept."""
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")
        self._held.append(message)

    async def deliver(self) -> None:
        """Send what the application answered."""
        for message in self._held:
            await self._send(message)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            return b"".join(chunks)


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def _fingerprint(scope: Scope, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b"")):
        digest.update(part + b"\0")
    digest.update(body)
    return digest.hexdigest()


def _error(name: str, message: str, **args: Any) -> dict[str, Any]:
    return {"error": name, "message": message, "args": args}


async def _answer(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _replay_or_refuse(send: Send, stored: Any, fingerprint: str) -> None:
    if stored.request_hash != fingerprint:
        await _answer(
            send,
            409,
            _error("IdempotencyKeyReused", "this Idempotency-Key was used for a different request"),
        )
        return
    if stored.state != "DONE":
        await _answer(
            send,
            409,
            _error(
                "IdempotencyKeyInProgress",
                "a request with this Idempotency-Key is still running; try again",
            ),
        )
        return
    headers = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in json.loads(stored.response_headers or "[]")
    ]
    payload = (stored.response_body or "").encode()
    await send(
        {
            "type": "http.response.start",
            "status": stored.status_code,
            "headers": [
                *[(k, v) for k, v in headers if k != b"content-length"],
                (b"content-length", str(len(payload)).encode()),
                (b"idempotent-replayed", b"true"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


def _find(engine: Engine, participant: str, key: str) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(idempotency_records).where(
                idempotency_records.c.participant == participant,
                idempotency_records.c.key == key,
            )
        ).first()


def _owner(scope: Scope) -> str | None:
    """This process's instance id (the RUNNING row is its until it dies), if it runs."""
    runtime = getattr(scope["app"].state, "runtime", None)
    return None if runtime is None else runtime.identity.id


def _claim(
    engine: Engine, participant: str, key: str, fingerprint: str, owner: str | None = None
) -> bool:
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(idempotency_records).values(
                    participant=participant,
                    key=key,
                    request_hash=fingerprint,
                    state="RUNNING",
                    owner=owner,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        return False
    return True


def _settle_patiently(engine: Engine, participant: str, key: str, response: _Captured) -> None:
    """``_settle``, retried while the database is locked or away (up to SETTLE_PATIENCE s):
    a RUNNING row left behind would answer 409 in progress to every retry, for good."""
    deadline = time.monotonic() + SETTLE_PATIENCE
    pause = 0.2
    while True:
        try:
            _settle(engine, participant, key, response)
            return
        except OperationalError:
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def _refreshed(app: Any, participant: str, key: str, stored: Any) -> Any:
    """A kept 202 made final once its transactions are (``stored`` otherwise)."""
    rows = rows_of_key(app.state.engine, participant, key)
    if not rows or any(r.status == "PREPARED" for r in rows):
        return stored  # awaiting the caller's signature: that 202 is the answer
    answer = answer_for(rows, _indexed(app))
    if answer.status == 202:
        return stored
    store_answer(app.state.engine, participant, key, answer, only_running=False)
    return _find(app.state.engine, participant, key)


def _indexed(app: Any) -> int:
    runtime = getattr(app.state, "runtime", None)
    return indexed_block(app.state.engine, runtime.chain_id) if runtime is not None else -1


def _settle(engine: Engine, participant: str, key: str, response: _Captured) -> None:
    where = (idempotency_records.c.participant == participant, idempotency_records.c.key == key)
    if response.status is None or response.status >= 500:
        fail_unsigned(engine, participant, key)
        rows = rows_of_key(engine, participant, key)
        if any(r.status not in ("FAILED", "REFUSED", "PREPARED") for r in rows):
            # Something may reach or have reached the chain: forgetting the key would let
            # a retry execute it a second time. It answers what its transactions give (a
            # 202 until they are settled and indexed).
            store_answer(engine, participant, key, answer_for(rows, -1), only_running=False)
            return
        with engine.begin() as conn:
            conn.execute(delete(idempotency_records).where(*where))
        return
    kept = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in response.headers
        if k.lower() in KEPT_HEADERS
    ]
    body = response.body.decode("utf-8", errors="replace")
    withheld = without_secrets(body)
    if withheld is not None:
        body = withheld
        kept.append((SECRET_WITHHELD.decode(), "true"))
    keep_answer(engine, participant, key, response.status, body, kept)
