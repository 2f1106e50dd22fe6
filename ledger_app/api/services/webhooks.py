"""Webhook subscriptions: a participant's endpoints for the notifications it may read.

A subscription names an https URL (http on loopback only where
``LEDGER_WEBHOOK_ALLOW_HTTP_LOOPBACK`` allows it) and kinds
(ledger_app/domain/notifications.py ``KINDS``). It is given what the outbox addresses to
its participant (or to one of the participant's roles) from its creation on, in outbox
order, signed with its secret: shown once, at creation and at each rotation, and never
stored (derived from the service's webhook key, the subscription id and a nonce).

Refused with 422 naming the field: a URL that is not http(s), has no host, or whose
host resolves to a private, loopback, link-local, multicast or reserved address (SSRF;
checked again at each delivery, against DNS rebinding); an unknown kind.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, select, update

from ledger_app.api.identity import Caller
from ledger_app.api.services.receivables import visible_to
from ledger_app.api.webhook_signing import secret_of
from ledger_app.db.notification_tables import notifications, webhook_deliveries
from ledger_app.db.notification_tables import webhook_subscriptions as subs
from ledger_app.db.outbox import last_id
from ledger_app.db.schema import receivables
from ledger_app.domain.notifications import KINDS, audiences_of
from ledger_app.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from ledger_app.api.runtime import Runtime

ACTIVE, DISABLED = "ACTIVE", "DISABLED"
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain"}


def check_url(url: str, *, allow_http_loopback: bool) -> str:
    """``url`` if the service may POST to it; InvalidInput (field ``url``) otherwise.

    Resolves the host: every address it resolves to must be a public one, or loopback
    when ``allow_http_loopback`` (local tests and demos)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise InvalidInput(f"a webhook URL is https:// (not {parts.scheme or 'no scheme'}://)",
                           error="WebhookUrlScheme", field="url", scheme=parts.scheme)  # fmt: skip
    host = parts.hostname
    if not host:
        raise InvalidInput("a webhook URL names a host", error="WebhookUrlHost", field="url")
    if parts.username or parts.password:
        raise InvalidInput("a webhook URL carries no credentials",
                           error="WebhookUrlCredentials", field="url")  # fmt: skip
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"the webhook host {host} does not resolve: {exc}",
                           error="WebhookUrlUnresolvable", field="url", host=host) from exc  # fmt: skip
    addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    loopback = all(a.is_loopback for a in addresses) or host.lower() in _LOOPBACK_NAMES
    if loopback and allow_http_loopback:
        return url
    if parts.scheme != "https":
        raise InvalidInput("a webhook URL is https:// (http only on loopback, where the "
                           "service allows it: LEDGER_WEBHOOK_ALLOW_HTTP_LOOPBACK)",
                           error="WebhookUrlScheme", field="url", scheme=parts.scheme)  # fmt: skip
    for a in addresses:
        if not a.is_global or a.is_multicast:
            raise InvalidInput(f"the webhook host {host} resolves to {a}, a private, "
                               "loopback, link-local, multicast or reserved address",
                               error="WebhookUrlPrivate", field="url", host=host,
                               address=str(a))  # fmt: skip
    return url


def check_kinds(kinds: list[str]) -> list[str]:
    """``kinds`` (deduplicated, in KINDS order) if each is known; InvalidInput otherwise."""
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise InvalidInput(f"unknown notification kinds: {', '.join(unknown)} (known: "
                           f"{', '.join(KINDS)})", error="UnknownNotificationKind",
                           field="kinds", unknown=unknown)  # fmt: skip
    if not kinds:
        raise InvalidInput("a subscription names at least one kind",
                           error="NoNotificationKind", field="kinds")  # fmt: skip
    return [k for k in KINDS if k in kinds]


def describe(row: Any) -> dict[str, Any]:
    """A subscription as the API answers it (never its secret)."""
    return {
        "id": row.id,
        "url": row.url,
        "kinds": row.kinds.split(","),
        "status": row.status,
        "disabled_reason": row.disabled_reason,
        "last_event_id": int(row.cursor),
        "attempts": int(row.attempts),
        "consecutive_failures": int(row.consecutive_failures),
        "next_attempt_at": row.next_attempt_at,
        "created_at": row.created_at,
    }


class WebhookService:
    """Subscribe, list, show, rotate, replay, delete; the delivery log."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.settings = runtime.settings

    def _key(self) -> bytes:
        return self.runtime.webhook_key

    def create(self, caller: Caller, url: str, kinds: list[str]) -> dict[str, Any]:
        """A new ACTIVE subscription, from the next notification on; with its secret."""
        check_url(url, allow_http_loopback=self.settings.webhook_allow_http_loopback)
        kinds = check_kinds(kinds)
        sub_id = "wh_" + secrets.token_hex(12)
        nonce = secrets.token_hex(16)
        with self.engine.begin() as conn:
            conn.execute(subs.insert().values(
                id=sub_id, participant=caller.key, url=url, kinds=",".join(kinds),
                secret_nonce=nonce, status=ACTIVE, cursor=last_id(conn), attempts=0,
                consecutive_failures=0, created_at=datetime.now(UTC)))  # fmt: skip
        return {**self.show(caller, sub_id), "secret": secret_of(self._key(), sub_id, nonce)}

    def _row(self, conn: Connection, caller: Caller, sub_id: str) -> Any:
        row = conn.execute(
            select(subs).where(
                subs.c.id == sub_id, subs.c.participant == caller.key, subs.c.deleted_at.is_(None)
            )
        ).first()
        if row is None:
            raise NotFound(f"no webhook subscription {sub_id} of {caller.address}",
                           error="WebhookSubscriptionNotFound", id=sub_id)  # fmt: skip
        return row

    def show(self, caller: Caller, sub_id: str) -> dict[str, Any]:
        """One of the caller's subscriptions."""
        with self.engine.connect() as conn:
            return describe(self._row(conn, caller, sub_id))

    def list(self, caller: Caller) -> list[dict[str, Any]]:
        """The caller's subscriptions, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(subs).where(subs.c.participant == caller.key, subs.c.deleted_at.is_(None))
                .order_by(subs.c.created_at, subs.c.id)
            ).all()  # fmt: skip
        return [describe(r) for r in rows]

    def rotate(self, caller: Caller, sub_id: str) -> dict[str, Any]:
        """A new secret (the old one signs nothing from now on), shown this once."""
        nonce = secrets.token_hex(16)
        with self.engine.begin() as conn:
            self._row(conn, caller, sub_id)
            conn.execute(update(subs).where(subs.c.id == sub_id).values(secret_nonce=nonce))
        return {**self.show(caller, sub_id), "secret": secret_of(self._key(), sub_id, nonce)}

    def replay(self, caller: Caller, sub_id: str, after: int | None) -> dict[str, Any]:
        """Deliver again from the notification after ``after`` (default: the one that
        failed last: the cursor stays); re-enables a disabled subscription."""
        with self.engine.begin() as conn:
            row = self._row(conn, caller, sub_id)
            cursor = int(row.cursor) if after is None else after
            if cursor < 0:
                raise InvalidInput("after is a notification id (0 or more)",
                                   error="InvalidCursor", field="after")  # fmt: skip
            conn.execute(update(subs).where(subs.c.id == sub_id).values(
                cursor=cursor, status=ACTIVE, disabled_reason=None, attempts=0,
                consecutive_failures=0, next_attempt_at=None))  # fmt: skip
        self.runtime.wake_deliveries()
        return self.show(caller, sub_id)

    def delete(self, caller: Caller, sub_id: str) -> None:
        """Stop delivering to it (its delivery log stays)."""
        with self.engine.begin() as conn:
            self._row(conn, caller, sub_id)
            conn.execute(update(subs).where(subs.c.id == sub_id).values(
                deleted_at=datetime.now(UTC), status=DISABLED, disabled_reason="deleted"))  # fmt: skip

    def deliveries(self, caller: Caller, sub_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """Its delivery log, newest first."""
        d = webhook_deliveries.c
        with self.engine.connect() as conn:
            self._row(conn, caller, sub_id)
            rows = conn.execute(
                select(webhook_deliveries).where(d.subscription_id == sub_id)
                .order_by(d.id.desc()).limit(limit)
            ).all()  # fmt: skip
        return [{"event_id": int(r.notification_id), "attempt": int(r.attempt), "ok": r.ok,
                 "status_code": r.status_code, "error": r.error,
                 "duration_ms": int(r.duration_ms), "attempted_at": r.attempted_at}
                for r in rows]  # fmt: skip


def audience_filter(address: str, roles: Any) -> Any:
    """SQL condition: a notification addressed to the participant or one of its roles."""
    return notifications.c.audience.in_(sorted(audiences_of(address, set(roles))))


def stream_rows(
    conn: Connection, caller: Caller, after: int, limit: int = 100
) -> tuple[list[Any], int]:
    """The caller's notifications after id ``after``, oldest first (the event stream), and
    the last id looked at. A receivable's notification is shown only while the caller may
    still read the receivable (checked now, as a webhook's is at delivery)."""
    n = notifications.c
    rows = conn.execute(
        select(notifications).where(n.id > after, audience_filter(caller.address, caller.roles))
        .order_by(n.id).limit(limit)
    ).all()  # fmt: skip
    if not rows:
        return [], after
    about = {r.receivable_id for r in rows if r.receivable_id is not None}
    readable = set()
    if about:
        readable = set(conn.execute(
            select(receivables.c.id).where(receivables.c.id.in_(about), visible_to(caller))
        ).scalars())  # fmt: skip
    shown = [r for r in rows if r.receivable_id is None or r.receivable_id in readable]
    return shown, int(rows[-1].id)


def stream_after(engine: Engine, caller: Caller, after: int) -> tuple[list[Any], int]:
    """``stream_rows`` on a connection of its own (the stream polls it from a thread)."""
    with engine.connect() as conn:
        return stream_rows(conn, caller, after)


def newest_id(engine: Engine) -> int:
    """The newest notification's id: where a stream without Last-Event-ID starts."""
    with engine.connect() as conn:
        return last_id(conn)
