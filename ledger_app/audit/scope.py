"""What of a trace a participant may see.

Auditors and regulators, and the debtor (it owes every leaf and pays every holder),
see the whole tree. Anyone else sees only the path from the root to the receivables
it took part in (any step of theirs names it), with the debtor and the amounts on
that path, and every other participant masked. Steps of receivables off that path
(sibling subtrees) are left out, and a split shows only the children on the path.
Raw logs are left out of a scoped trace: their topics carry the masked addresses.
Someone who took part in nothing of the tree gets None (the route answers 404).
So a party to any receivable of a tree sees the root: the rule the API's
``party_to_tree`` (ledger_app/api/services/receivables.py) applies to the root's
clearing.
"""

from __future__ import annotations

import copy
from typing import Any

MASKED = "masked"


def scoped_trace(trace: dict[str, Any], viewer: str) -> dict[str, Any] | None:
    """``trace`` as ``viewer`` (lower-case address) may see it; None if it is no party."""
    viewer = viewer.lower()
    nodes = {n["id"]: n for n in trace["receivables"]}
    root = nodes[trace["root_id"]]
    if root["debtor"] == viewer:
        return trace
    involved = {s["receivable_id"] for s in trace["steps"] if viewer in s["actors"].values()} | {
        n["id"] for n in nodes.values() if viewer in (n["holder"], n["creditor"])
    }
    visible: set[int] = set()
    for rid in involved:
        while rid and rid in nodes and rid not in visible:
            visible.add(rid)
            rid = nodes[rid]["parent_id"]
    if trace["receivable_id"] not in visible:
        return None
    known = {viewer, root["debtor"]}

    def mask(address: str) -> str:
        return address if address in known else MASKED

    out = copy.deepcopy({k: v for k, v in trace.items() if k not in ("receivables", "steps")})
    out["scope"] = {"viewer": viewer, "masked": True}
    out["receivables"] = []
    for node in trace["receivables"]:
        if node["id"] in visible:
            shown = dict(node)
            shown["children"] = [c for c in node["children"] if c in visible]
            for field in ("debtor", "creditor", "holder"):
                shown[field] = mask(node[field])
            out["receivables"].append(shown)
    out["steps"] = []
    for step in trace["steps"]:
        if step["receivable_id"] not in visible:
            continue
        party = viewer in step["actors"].values()
        shown = {k: copy.deepcopy(v) for k, v in step.items() if k not in ("raw", "args")}
        # A step the viewer took part in names its counterparties; others are masked.
        shown["actors"] = {
            role: (a if party or a in known or set(a) <= {"0", "x"} else MASKED)
            for role, a in step["actors"].items()
        }
        if step["kind"] == "split":
            keep = [c for c in step["details"]["children"] if c in visible]
            shown["details"]["children"] = keep
            shown["amounts"] = [m for m in step["amounts"] if int(m["role"].split()[-1]) in keep]
        out["steps"].append(shown)
    return out
