"""What the ledger announces, and to whom: the one rule webhooks and the event stream share.

A notification is one kind (``KINDS``) addressed to one audience: a participant's
address (lower case), or a role (``role:REGULATOR``) for what concerns every holder of
that role. ``notices_for`` derives them from one indexed event and the read model as the
event's batch left it; it is pure (no database, no clock), so the indexer calls it inside
the batch's transaction and the outbox rows are committed with the events or not at all
(ledger_app/indexer/store.py, ledger_app/db/outbox.py).

Who is told is who may read: every recipient below is one that
ledger_app/domain/visibility.py lets see the receivable (its debtor or creditor see the
whole tree; a financing's supplier and financier are parties named by its events; a
leaf's holder holds it), and a credit line's financier and obligor are its parties.
tests/api/test_webhooks.py tries every kind against a participant that is none of them.

Kinds:

- ``receivable.to_confirm``: a receivable is PENDING: its creditor must confirm it;
- ``financing.offer_received``: a financier offered on a financing: its supplier;
- ``financing.accepted``: the supplier accepted an offer: the financier and the supplier;
- ``payment.due_soon``: a receivable falls due within ``DUE_SOON_DAYS`` on the chain's
  clock: its debtor and its holder (a periodic pass, key ``due_soon:<id>:<days>``);
- ``receivable.overdue``: a receivable became OVERDUE (the keeper's ``markOverdue``):
  its debtor and holder; a root flagged overdue (``RootOverdueFlagged``): its debtor
  and creditor;
- ``payment.received``: a leaf was paid out of clearing (``LeafRedeemed``,
  ``LeafRepaid``): its holder;
- ``credit_line.threshold``: an accept drew a credit line past ``LINE_THRESHOLDS_PCT``
  of its limit: its financier and obligor;
- ``alert.raised``: a compliance alert, to ``role:REGULATOR`` and ``role:AUDITOR`` (who
  read alerts and work cases), announced with the alert (``db/monitoring.raise_alerts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger_app.domain.vocabulary import RECEIVABLE_STATUS

RECEIVABLE_TO_CONFIRM = "receivable.to_confirm"
OFFER_RECEIVED = "financing.offer_received"
FINANCING_ACCEPTED = "financing.accepted"
PAYMENT_DUE_SOON = "payment.due_soon"
RECEIVABLE_OVERDUE = "receivable.overdue"
PAYMENT_RECEIVED = "payment.received"
CREDIT_LINE_THRESHOLD = "credit_line.threshold"
ALERT_RAISED = "alert.raised"

#: Every kind a subscription may name, in the order the docs list them.
KINDS: tuple[str, ...] = (
    RECEIVABLE_TO_CONFIRM,
    OFFER_RECEIVED,
    FINANCING_ACCEPTED,
    PAYMENT_DUE_SOON,
    RECEIVABLE_OVERDUE,
    PAYMENT_RECEIVED,
    CREDIT_LINE_THRESHOLD,
    ALERT_RAISED,
)

#: Days before a receivable's due date its debtor and holder are told it falls due.
DUE_SOON_DAYS = 7
#: Utilisation (percent of the limit) whose crossing is announced on a credit line.
LINE_THRESHOLDS_PCT = (80, 100)
#: Receivable statuses that still fall due (not settled, voided or already overdue).
OPEN_STATUSES = ("ACTIVE", "FINANCING", "FINANCED")
#: The audience prefix of a notification addressed to every holder of a role.
ROLE_AUDIENCE = "role:"

Row = Mapping[str, Any]


@dataclass(frozen=True)
class Notice:
    """One notification to announce: a kind, its recipients, what it says."""

    kind: str
    recipients: tuple[str, ...]
    payload: dict[str, Any] = field(default_factory=dict)
    receivable_id: int | None = None


@dataclass(frozen=True)
class ReadModel:
    """The read model rows ``notices_for`` may look at, as the event's batch left them
    (a lookup returns None for a row the index does not have)."""

    receivable: Any  # Callable[[int], Row | None]
    financing: Any  # Callable[[int], Row | None]
    credit_line: Any  # Callable[[int], Row | None]


def role_audience(role: str) -> str:
    """The audience naming every holder of ``role``."""
    return ROLE_AUDIENCE + role


def audiences_of(address: str, roles: frozenset[str] | set[str]) -> set[str]:
    """Every audience a participant (its address and roles) belongs to."""
    return {address.lower()} | {role_audience(str(r)) for r in roles}


def _who(*addresses: Any) -> tuple[str, ...]:
    seen: list[str] = []
    for a in addresses:
        if a and str(a).lower() not in seen:
            seen.append(str(a).lower())
    return tuple(seen)


def _receivable_notice(kind: str, row: Row | None, *parties: str, **extra: Any) -> list[Notice]:
    if row is None:
        return []
    payload = {
        "receivable_id": int(row["id"]),
        "root_id": int(row["root_id"]),
        "status": row["status"],
        "amount": str(row["amount"]),
        "currency": row["currency"],
        "due_date": int(row["due_date"]),
        "debtor": row["debtor"],
        "creditor": row["creditor"],
        **extra,
    }
    recipients = _who(*(row[p] for p in parties))
    return [Notice(kind, recipients, payload, int(row["id"]))]


def notices_for(name: str, args: Mapping[str, Any], model: ReadModel) -> list[Notice]:
    """The notifications one indexed event (its name and decoded args) announces."""
    if name == "ReceivableStatusChanged":
        status = RECEIVABLE_STATUS[args["to"]]
        row = model.receivable(args["id"])
        if status == "PENDING":
            return _receivable_notice(RECEIVABLE_TO_CONFIRM, row, "creditor")
        if status == "OVERDUE":
            return _receivable_notice(RECEIVABLE_OVERDUE, row, "debtor", "holder")
        return []
    if name == "RootOverdueFlagged":
        row = model.receivable(args["rootId"])
        return _receivable_notice(RECEIVABLE_OVERDUE, row, "debtor", "creditor", flagged=True)
    if name in ("FinancingOffered", "FinancingAccepted"):
        financing = model.financing(args["financingId"])
        if financing is None:
            return []
        row = model.receivable(financing["receivable_id"])
        extra = {"financing_id": int(args["financingId"]), "offer_index": int(args["offerIndex"]),
                 "financier": str(args["financier"]).lower()}  # fmt: skip
        if name == "FinancingOffered":
            extra["proceeds"] = str(args["proceeds"])
            notices = _receivable_notice(OFFER_RECEIVED, row, **extra)
            return [_to(n, financing["supplier"]) for n in notices]
        notices = _receivable_notice(FINANCING_ACCEPTED, row, **extra)
        return [_to(n, args["financier"], financing["supplier"]) for n in notices]
    if name in ("LeafRedeemed", "LeafRepaid"):
        row = model.receivable(args["leafId"])
        paid = {"paid_by": "clearing" if name == "LeafRedeemed" else "debtor",
                "paid": str(args.get("amount", args.get("face", 0))),
                "interest": str(args.get("interest", 0))}  # fmt: skip
        return [_to(n, args["holder"]) for n in _receivable_notice(PAYMENT_RECEIVED, row, **paid)]
    if name == "CreditLineConsumed":
        return _line_threshold(args, model.credit_line(args["lineId"]))
    return []


def _to(notice: Notice, *recipients: Any) -> Notice:
    return Notice(notice.kind, _who(*recipients), notice.payload, notice.receivable_id)


def _line_threshold(args: Mapping[str, Any], line: Row | None) -> list[Notice]:
    if line is None or not int(line["limit"]):
        return []
    limit, after = int(line["limit"]), int(args["utilised"])
    before = after - int(args["amount"])
    crossed = [t for t in LINE_THRESHOLDS_PCT if before * 100 < t * limit <= after * 100]
    if not crossed:
        return []
    payload = {"line_id": int(args["lineId"]), "threshold_pct": crossed[-1],
               "utilised": str(after), "limit": str(limit), "currency": line["currency"]}  # fmt: skip
    return [Notice(CREDIT_LINE_THRESHOLD, _who(line["financier"], line["obligor"]), payload)]


def due_soon(row: Row, now: int, days: int = DUE_SOON_DAYS) -> Notice | None:
    """The ``payment.due_soon`` notice of a receivable (a read-model row) at chain time
    ``now``, or None when it is not open or not due within ``days``."""
    if row["status"] not in OPEN_STATUSES or not now <= int(row["due_date"]) <= now + days * 86_400:
        return None
    notices = _receivable_notice(PAYMENT_DUE_SOON, row, "debtor", "holder", within_days=days)
    return notices[0]


def due_soon_key(receivable_id: int, days: int = DUE_SOON_DAYS) -> str:
    """The outbox key of a receivable's due-soon notice: announced once per receivable."""
    return f"due_soon:{receivable_id}:{days}"
