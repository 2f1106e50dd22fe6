"""Who may see a receivable: the one rule the API's reads and the audit trace share.

A tree is a root and the parts it was split into. Of a tree, a participant sees:

- all of it, when it reads everything (AUDITOR, REGULATOR), or is the tree's debtor
  (it owes every part and pays every holder) or its original creditor (every part
  inherits both from the root);
- otherwise the receivables it is a party to, each with its ancestors up to the root
  (its provenance: a tier-2 supplier holding a leaf sees the root it came from), and
  what a receivable it holds now was split into (a supplier that split and passed a
  part on still sees that part); never a sibling's subtree.

A participant is a party to a receivable when it holds it now, or when one of the
receivable's events names it in a field of ``PARTY_EVENTS``: a past holder (a
transfer's ``from``/``to``) and the financing's supplier and financiers (a financier
that offered sees what it offered on, funded or not).

The API's SQL filter (``visible_to`` in ledger_app/api/services/receivables.py) and the
trace's scope (ledger_app/audit/scope.py) are both built from this module: the SQL from
``WHOLE_TREE_FIELDS`` and the ``event_parties`` index, which the indexer fills with
``named_parties`` of each event it stores (ledger_app/indexer/store.py); the scope by
calling ``names_party`` and ``visible``.
tests/audit/test_trace_scope.py reads one story as every participant both ways.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: A receivable's fields naming who sees its whole tree (the same in every part).
WHOLE_TREE_FIELDS = ("debtor", "creditor")

#: Event name -> its fields that make the participant they name a party to the event's
#: receivable (the receivable the indexer links the event to, events.receivable_id).
#: The index stores what it names (event_parties) as it stores each event: a change here
#: needs event_parties filled again for the events already indexed (a migration, as
#: 0011 filled it, or a rebuild of the index).
PARTY_EVENTS: dict[str, tuple[str, ...]] = {
    "ReceivableTransferred": ("from", "to"),
    "FinancingRequested": ("supplier", "financier"),
    "FinancingOffered": ("financier",),
    "FinancingAccepted": ("supplier", "financier"),
    "FinancingDefaulted": ("financier",),
    "RecourseClaimRecorded": ("financier", "supplier"),
    "FinancingBoughtBack": ("supplier", "financier"),
    # The named buyer sees what it is offered; both financiers what they sold or bought.
    "FinancingSaleOffered": ("seller", "buyer"),
    "FinancingSold": ("seller", "buyer"),
    "CreditLineConsumed": ("supplier",),
    # The debtor sees its whole tree anyway; the flag's actor (any participant, a keeper)
    # is no party to the receivable and is not named.
    "RootOverdueFlagged": ("debtor",),
    "RootOverdueCured": ("debtor",),
}


@dataclass(frozen=True, slots=True)
class Node:
    """One receivable of a tree, as far as visibility cares (addresses lower-case)."""

    id: int
    parent_id: int  # 0 for the root
    debtor: str
    creditor: str
    holder: str


def named_parties(event_name: str, args: Mapping[str, Any]) -> frozenset[str]:
    """The participants (lower case) an event (its name and decoded args) makes parties to
    its receivable; what the indexer stores in ``event_parties`` for the API's filter."""
    named = (str(args.get(field, "")).lower() for field in PARTY_EVENTS.get(event_name, ()))
    return frozenset(party for party in named if party)


def names_party(event_name: str, args: Mapping[str, Any], viewer: str) -> bool:
    """Whether an event (its name and decoded args) makes ``viewer`` a party to its
    receivable."""
    return viewer.lower() in named_parties(event_name, args)


def sees_whole_tree(root: Node, viewer: str, *, reads_all: bool = False) -> bool:
    """Whether ``viewer`` sees every receivable of ``root``'s tree."""
    return reads_all or viewer.lower() in (getattr(root, f) for f in WHOLE_TREE_FIELDS)


def visible(
    nodes: Iterable[Node], viewer: str, *, took_part: Iterable[int] = (), reads_all: bool = False
) -> set[int]:
    """The ids of one tree's receivables ``viewer`` may see.

    ``nodes``: the whole tree; ``took_part``: ids of its receivables whose events name
    the viewer as a party (``names_party``)."""
    viewer = viewer.lower()
    tree = {n.id: n for n in nodes}
    root = next((n for n in tree.values() if n.parent_id == 0), None)
    if root is not None and sees_whole_tree(root, viewer, reads_all=reads_all):
        return set(tree)
    held = {n.id for n in tree.values() if n.holder == viewer}
    shown: set[int] = set()
    for rid in held | {i for i in took_part if i in tree}:
        while rid in tree and rid not in shown:  # up to the root: the provenance
            shown.add(rid)
            rid = tree[rid].parent_id
    children: dict[int, list[int]] = {}
    for n in tree.values():
        children.setdefault(n.parent_id, []).append(n.id)
    below, split_into = list(held), set()
    while below:  # down from what it holds now: what that was split into
        for child in children.get(below.pop(), ()):
            if child not in split_into:
                split_into.add(child)
                below.append(child)
    return shown | split_into
