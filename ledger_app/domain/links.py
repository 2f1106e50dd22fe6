"""Which receivable, and so which tree, an event belongs to: the trace's link.

One rule for three readers: the indexer's store, which fills ``events.receivable_id``
and ``events.root_id`` as it inserts each event, so that a trace reads its tree's events
through an index instead of scanning every followed event since the root was registered
(ledger_app/audit/trace.py); the
audit's completeness check (ledger_app/audit/completeness.py), which rebuilds a tree
from the node's logs alone and so must attribute each log exactly as the store did; and
scripts/verify_trace.py, which carries its own copy (it may not import ledger_app:
tests/audit/test_completeness.py runs both on the same stories).

What links an event to a receivable:

- ReceivableRegistry: the receivable it names (a split: the parent);
- FinancingRequested: its receivable; the financing's later FinancingDesk events
  through that financing;
- RootRepaid, RootLateInterestCharged: its root; LeafRedeemed, LeafRepaid and the
  EarlyPayment* events: its leaf;
- CreditLineConsumed / CreditLineReleased: the financed receivable that drew or freed
  the line; RootOverdueFlagged / RootOverdueCured: the root;
- PvpSettled: its ``referenceId`` when that is a receivable; HtlcLocked through the
  PvP settlement of its UETR; HtlcClaimed / HtlcRefunded through their lock.

- PaymentDeferred: the receivable of the paying event whose payment it defers (the offer
  closed or superseded, the HTLC claim or refund, the leaf redeemed: domain/claims.py). PaymentClaimed is the payee's own transaction,
  tied to no one financing (one claim may take refunds of several): not linked.

Settlement-token transfers are not linked: a trace finds them by transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledger_app.domain.claims import DEFERRED, deferral_causes
from ledger_app.domain.vocabulary import TRACED


class DecodedEvent(Protocol):
    """What the rule reads of a decoded log (ledger_app.chain.decode.DecodedEvent)."""

    kind: str
    name: str
    address: str
    tx_hash: str
    args: dict[str, Any]


_TRACED_PAIRS = frozenset((k, n) for k, names in TRACED.items() for n in names)


@dataclass
class LinkLookups:
    """Where the resolver looks up what earlier events established.

    Each function answers from the index (None when it holds nothing); what the
    events resolved so far established is remembered and asked first, so events
    of one batch link to each other before that batch's rows are written.
    """

    root_of: Callable[[int], int | None]  # receivable id -> its root id
    financing_receivable: Callable[[int], int | None]  # financing id -> receivable id
    pvp_reference: Callable[[str], int | None]  # UETR -> PvP referenceId
    lock_uetr: Callable[[int], str | None]  # HTLC lock id -> UETR
    roots: dict[int, int] = field(default_factory=dict)
    financings: dict[int, int] = field(default_factory=dict)
    references: dict[str, int] = field(default_factory=dict)
    locks: dict[int, str] = field(default_factory=dict)

    def root(self, receivable_id: int) -> int | None:
        """The root of ``receivable_id``, None if the index has no such receivable."""
        if receivable_id not in self.roots:
            root = self.root_of(receivable_id)
            if root is None:
                return None
            self.roots[receivable_id] = root
        return self.roots[receivable_id]


def is_traced(kind: str, name: str) -> bool:
    """Whether a trace follows events ``name`` of contract kind ``kind``."""
    return (kind, name) in _TRACED_PAIRS


def link(
    kind: str, name: str, args: Mapping[str, Any], lookups: LinkLookups
) -> tuple[int, int] | None:
    """(receivable id, root id) of one event, or None when it belongs to no tree.

    Call it for a chain's events in log order: it remembers what each event
    establishes (a new receivable's root, a financing's receivable, ...)."""
    if not is_traced(kind, name):
        return None
    receivable = _receivable(kind, name, args, lookups)
    if receivable is None:
        return None
    if name == "ReceivableRegistered":
        lookups.roots.setdefault(receivable, receivable)
    root = lookups.root(receivable)
    if root is None:
        return None
    if name == "ReceivableSplit":
        for i in range(len(args["amounts"])):
            lookups.roots[args["firstChildId"] + i] = root
    return receivable, root


def link_all(events: Sequence[DecodedEvent], lookups: LinkLookups) -> list[tuple[int, int] | None]:
    """``link`` for a batch of whole transactions' events in log order; a PaymentDeferred
    takes the link of the paying event it defers the payment of (domain/claims.py)."""
    causes = deferral_causes([(ev.tx_hash, ev.address, ev.name) for ev in events])
    links: list[tuple[int, int] | None] = []
    for position, ev in enumerate(events):
        if ev.name == DEFERRED:
            cause = causes.get(position)
            links.append(None if cause is None else links[cause])
        else:
            links.append(link(ev.kind, ev.name, ev.args, lookups))
    return links


def _receivable(kind: str, name: str, a: Mapping[str, Any], lookups: LinkLookups) -> int | None:
    if kind == "ReceivableRegistry":
        return int(a["parentId"] if name == "ReceivableSplit" else a["id"])
    if name == "FinancingRequested":
        lookups.financings[a["financingId"]] = a["receivableId"]
        return int(a["receivableId"])
    if kind == "FinancingDesk":
        fid = a["financingId"]
        if fid not in lookups.financings:
            found = lookups.financing_receivable(fid)
            if found is None:
                return None
            lookups.financings[fid] = found
        return lookups.financings[fid]
    if name in ("RootRepaid", "RootLateInterestCharged", "RootOverdueFlagged", "RootOverdueCured"):
        return int(a["rootId"])
    if kind == "CreditLines":  # CreditLineConsumed, CreditLineReleased
        return int(a["receivableId"])
    if name in ("LeafRedeemed", "LeafRepaid") or name.startswith("EarlyPayment"):
        return int(a["leafId"])
    if name == "PvpSettled":
        lookups.references[a["uetr"]] = a["referenceId"]
        return _existing(int(a["referenceId"]), lookups)
    if name == "HtlcLocked":
        lookups.locks[a["lockId"]] = a["uetr"]
        return _by_uetr(a["uetr"], lookups)
    # HtlcClaimed, HtlcRefunded
    uetr = lookups.locks.get(a["lockId"]) or lookups.lock_uetr(a["lockId"])
    return None if uetr is None else _by_uetr(uetr, lookups)


def link_key(kind: str, name: str) -> tuple[str, str]:
    """(key space, argument) by which ``_receivable`` links a followed event: the space
    is "receivable", "financing", "uetr" or "lock". A chain-side rebuild of a tree asks
    the node for the logs whose argument is one of the tree's keys of that space
    (audit/completeness.py); it must be the argument ``_receivable`` reads."""
    if kind == "ReceivableRegistry":
        return "receivable", "parentId" if name == "ReceivableSplit" else "id"
    if name == "FinancingRequested":
        return "receivable", "receivableId"
    if kind == "FinancingDesk":
        return "financing", "financingId"
    if name in ("RootRepaid", "RootLateInterestCharged", "RootOverdueFlagged", "RootOverdueCured"):
        return "receivable", "rootId"
    if kind == "CreditLines":
        return "receivable", "receivableId"
    if name in ("LeafRedeemed", "LeafRepaid") or name.startswith("EarlyPayment"):
        return "receivable", "leafId"
    if name == "PvpSettled":
        return "receivable", "referenceId"
    if name == "HtlcLocked":
        return "uetr", "uetr"
    return "lock", "lockId"


def _by_uetr(uetr: str, lookups: LinkLookups) -> int | None:
    reference = lookups.references.get(uetr)
    if reference is None:
        reference = lookups.pvp_reference(uetr)
    return None if reference is None else _existing(int(reference), lookups)


def _existing(receivable_id: int, lookups: LinkLookups) -> int | None:
    # A PvP's referenceId may be anything the payer chose: only a receivable's id links.
    return receivable_id if lookups.root(receivable_id) is not None else None
