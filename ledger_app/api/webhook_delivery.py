"""Delivering the outbox to webhook subscriptions, in a thread of the API process.

Each pass takes the subscriptions due (ACTIVE, no retry pending, not leased by another
replica), leases one (an atomic ``UPDATE .. WHERE lease_until < now``, so several API
replicas on one PostgreSQL share the work and never deliver one subscription twice at
once), and POSTs its head: the first notification after its cursor of its kinds,
addressed to its participant or one of the participant's roles. The receivable it is
about is checked again against the participant's visibility now (a party that was one
when the notification was written and is none any more is not told).

Order: per subscription, outbox order. A failing head blocks the later ones of that
subscription until it is delivered, replayed past, or the subscription is disabled; other
subscriptions go on.

Retries: after a failure (no answer in ``LEDGER_WEBHOOK_TIMEOUT``, a refused connection,
a non-2xx, a redirect: none is followed) the next attempt waits
``min(max, base * 2**(attempts-1))`` seconds times a random factor in [0.5, 1] (jitter);
after ``LEDGER_WEBHOOK_MAX_FAILURES`` consecutive failures the subscription is DISABLED,
with the reason in its GET; ``POST /v1/webhooks/{id}/replay`` enables it again.

Guarantee: at least once, with the same ``Ledger-Event-Id`` every time. The cursor moves
only after a 2xx has been recorded; a process killed between the receiver's 2xx and that
commit sends the event again after its restart (receivers deduplicate by the id). Nothing
is sent before the notification is committed (it is read from the outbox).

Also here: the due-date pass (``announce_due_soon``), every LEDGER_WEBHOOK_DUE_SOON_INTERVAL
seconds, announcing ``payment.due_soon`` once per receivable (key ``due_soon:<id>:<days>``).
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import Engine, or_, select, update

from ledger_app.api.identity import Caller
from ledger_app.api.index_state import indexed_block
from ledger_app.api.services.lookups import participant_row, roles_of
from ledger_app.api.services.receivables import visible_to
from ledger_app.api.services.webhooks import ACTIVE, DISABLED, audience_filter, check_url
from ledger_app.api.webhook_signing import EVENT_ID_HEADER, SIGNATURE_HEADER, secret_of, sign
from ledger_app.db.notification_tables import notifications, webhook_deliveries
from ledger_app.db.notification_tables import webhook_subscriptions as subs
from ledger_app.db.outbox import announce
from ledger_app.db.schema import blocks, receivables
from ledger_app.domain.notifications import (
    DUE_SOON_DAYS,
    OPEN_STATUSES,
    PAYMENT_DUE_SOON,
    due_soon,
    due_soon_key,
)
from ledger_app.domain.vocabulary import Role
from ledger_app.errors import RequestError

if TYPE_CHECKING:
    from ledger_app.api.runtime import Runtime

log = logging.getLogger(__name__)

#: Deliveries one subscription gets in a row before the others get their turn.
_BURST = 50


def notification_body(row: Any) -> bytes:
    """What a webhook POST carries for one outbox row (and the stream's ``data:``)."""
    return json.dumps(
        {"id": int(row.id), "kind": row.kind, "created_at": _aware(row.created_at).isoformat(),
         "data": json.loads(row.payload)},
        sort_keys=True, separators=(",", ":"),
    ).encode()  # fmt: skip


def backoff(attempts: int, base: float, cap: float, rand: random.Random | None = None) -> float:
    """Seconds before attempt ``attempts + 1``: exponential, capped, with jitter."""
    r = rand or random
    return min(cap, base * 2 ** max(0, attempts - 1)) * r.uniform(0.5, 1.0)


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    """A stored time as UTC (SQLite gives it back without its zone)."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _caller_of(engine: Engine, address: str) -> Caller:
    row = participant_row(engine, address)
    roles = frozenset(Role(r) for r in roles_of(row) if r in Role.__members__)
    return Caller(address=address, api_key_id="", roles=roles, standing="")


class WebhookDelivery:
    """One process's deliveries: ``run_once`` delivers what is due now."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.settings = runtime.settings
        self.holder = "replica-" + secrets.token_hex(6)
        self.http = httpx.Client(timeout=self.settings.webhook_timeout, follow_redirects=False)

    def close(self) -> None:
        """Let go of the HTTP connections."""
        self.http.close()

    def due(self) -> list[str]:
        """Ids of the subscriptions with something to try now (not leased elsewhere)."""
        now = _now()
        with self.engine.connect() as conn:
            return list(conn.execute(
                select(subs.c.id).where(
                    subs.c.status == ACTIVE, subs.c.deleted_at.is_(None),
                    or_(subs.c.next_attempt_at.is_(None), subs.c.next_attempt_at <= now),
                    or_(subs.c.lease_until.is_(None), subs.c.lease_until < now),
                ).order_by(subs.c.id)
            ).scalars())  # fmt: skip

    def run_once(self) -> int:
        """Deliver what is due; returns how many attempts were made."""
        attempts = 0
        for sub_id in self.due():
            if not self._lease(sub_id):
                continue
            try:
                for _ in range(_BURST):
                    outcome = self._deliver_head(sub_id)
                    if outcome is None:
                        break
                    attempts += 1
                    if not outcome:
                        break
            finally:
                self._release(sub_id)
        return attempts

    def _lease(self, sub_id: str) -> bool:
        now = _now()
        until = now + timedelta(seconds=self.settings.webhook_timeout * _BURST + 30)
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(subs).where(subs.c.id == sub_id,
                                   or_(subs.c.lease_until.is_(None), subs.c.lease_until < now))
                .values(lease_until=until, lease_holder=self.holder)
            ).rowcount  # fmt: skip
        return taken == 1

    def _release(self, sub_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(subs).where(subs.c.id == sub_id, subs.c.lease_holder == self.holder)
                         .values(lease_until=None, lease_holder=None))  # fmt: skip

    def _head(self, sub: Any) -> tuple[Any, Caller] | None:
        owner = _caller_of(self.engine, sub.participant)
        n = notifications.c
        with self.engine.connect() as conn:
            row = conn.execute(
                select(notifications).where(
                    n.id > sub.cursor, n.kind.in_(sub.kinds.split(",")),
                    audience_filter(owner.address, owner.roles),
                ).order_by(n.id).limit(1)
            ).first()  # fmt: skip
        return None if row is None else (row, owner)

    def _still_visible(self, owner: Caller, row: Any) -> bool:
        if row.receivable_id is None or not row.audience.startswith("0x"):
            return True
        with self.engine.connect() as conn:
            hit = conn.execute(
                select(receivables.c.id).where(receivables.c.id == row.receivable_id,
                                               visible_to(owner))
            ).first()  # fmt: skip
        return hit is not None

    def _deliver_head(self, sub_id: str) -> bool | None:
        """Try the subscription's head once: True delivered (or skipped), False failed,
        None nothing to deliver."""
        with self.engine.connect() as conn:
            sub = conn.execute(select(subs).where(subs.c.id == sub_id)).first()
        if sub is None or sub.status != ACTIVE:
            return None
        found = self._head(sub)
        if found is None:
            return None
        row, owner = found
        if not self._still_visible(owner, row):
            self._record(sub, row, ok=True, status=None, error="skipped: no longer visible",
                         started=time.monotonic())  # fmt: skip
            return True
        body = notification_body(row)
        stamp = int(time.time())
        secret = secret_of(self.runtime.webhook_key, sub.id, sub.secret_nonce)
        headers = {"Content-Type": "application/json", EVENT_ID_HEADER: str(row.id),
                   SIGNATURE_HEADER: sign(secret, stamp, body),
                   "User-Agent": "ledger-app-webhooks/1"}  # fmt: skip
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            check_url(sub.url, allow_http_loopback=self.settings.webhook_allow_http_loopback)
            answer = self.http.post(sub.url, content=body, headers=headers)
            status = answer.status_code
            if not 200 <= status < 300:
                error = f"answered {status}"
        except RequestError as exc:  # the URL resolves to a refused address now
            error = str(exc)
        except httpx.TimeoutException:
            error = f"no answer in {self.settings.webhook_timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._record(sub, row, ok=error is None, status=status, error=error, started=started)
        return error is None

    def _record(self, sub: Any, row: Any, *, ok: bool, status: int | None, error: str | None,
                started: float) -> None:  # fmt: skip
        attempt = int(sub.attempts) + 1
        values: dict[str, Any]
        if ok:
            values = {"cursor": row.id, "attempts": 0, "consecutive_failures": 0,
                      "next_attempt_at": None}  # fmt: skip
        else:
            failures = int(sub.consecutive_failures) + 1
            wait = backoff(attempt, self.settings.webhook_backoff_base,
                           self.settings.webhook_backoff_max)  # fmt: skip
            values = {"attempts": attempt, "consecutive_failures": failures,
                      "next_attempt_at": _now() + timedelta(seconds=wait)}  # fmt: skip
            if failures >= self.settings.webhook_max_failures:
                values |= {"status": DISABLED, "disabled_reason":
                           f"disabled after {failures} consecutive failed deliveries "
                           f"(last: event {row.id}: {error})"}  # fmt: skip
        with self.engine.begin() as conn:
            conn.execute(webhook_deliveries.insert().values(
                subscription_id=sub.id, notification_id=row.id, attempt=attempt, ok=ok,
                status_code=status, error=error,
                duration_ms=int((time.monotonic() - started) * 1000), attempted_at=_now()))  # fmt: skip
            conn.execute(update(subs).where(subs.c.id == sub.id).values(**values))
        if not ok:
            log.info("webhook %s: event %s not delivered (attempt %d): %s", sub.id, row.id,
                     attempt, error)  # fmt: skip

    def announce_due_soon(self, days: int = DUE_SOON_DAYS) -> int:
        """Announce ``payment.due_soon`` for every open receivable due within ``days`` on
        the chain's clock (the indexed head's timestamp); once per receivable."""
        head = indexed_block(self.engine, self.runtime.chain_id)
        r = receivables.c
        new = 0
        with self.engine.begin() as conn:
            now = conn.execute(select(blocks.c.timestamp).where(
                blocks.c.chain_id == self.runtime.chain_id, blocks.c.number == head)).scalar()  # fmt: skip
            if now is None:
                return 0
            rows = conn.execute(select(receivables).where(
                r.status.in_(OPEN_STATUSES), r.due_date >= now,
                r.due_date <= int(now) + days * 86_400)).mappings().all()  # fmt: skip
            for row in rows:
                notice = due_soon(row, int(now), days)
                if notice is not None:
                    new += announce(conn, PAYMENT_DUE_SOON, notice.recipients, notice.payload,
                                    due_soon_key(notice.receivable_id, days),
                                    receivable_id=notice.receivable_id)  # fmt: skip
        return new


class DeliveryThread(threading.Thread):
    """``WebhookDelivery`` passes every ``interval`` seconds (sooner when woken)."""

    def __init__(self, runtime: Runtime, interval: float) -> None:
        super().__init__(name="webhook-delivery", daemon=True)
        self.runtime = runtime
        self.interval = interval
        self._halt = threading.Event()
        self._wake = threading.Event()
        self._last_due_pass = float("-inf")

    def wake(self) -> None:
        """Look at the outbox now."""
        self._wake.set()

    def stop(self) -> None:
        """End after the current pass."""
        self._halt.set()
        self._wake.set()

    def run(self) -> None:
        delivery = WebhookDelivery(self.runtime)
        due_every = self.runtime.settings.webhook_due_soon_interval
        try:
            while not self._halt.is_set():
                try:
                    if due_every > 0 and time.monotonic() - self._last_due_pass >= due_every:
                        self._last_due_pass = time.monotonic()
                        delivery.announce_due_soon()
                    delivery.run_once()
                except Exception as exc:  # the database away: the next pass
                    log.warning("webhook pass failed: %s: %s", type(exc).__name__, exc)
                self._wake.wait(self.interval)
                self._wake.clear()
        finally:
            delivery.close()
