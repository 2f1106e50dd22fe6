"""What of a trace a participant may see.

Which receivables: the one rule of ledger_app/domain/visibility.py, the rule the API's
reads apply too (``visible_to`` in ledger_app/api/services/receivables.py), so a trace
shows a participant exactly the receivables ``GET /v1/receivables/{id}`` answers it.

How: the debtor (it owes every leaf and pays every holder) gets the whole trace.
Anyone else sees the debtor and the amounts of the receivables it may see, and every
other participant masked. Steps of receivables it may not see (sibling subtrees) are
left out, and a split shows only the children it may see. Raw logs are left out of a
scoped trace: their topics carry the masked addresses. Someone who may see nothing of
the tree, or not the receivable asked for, gets None (the route answers 404).
"""

from __future__ import annotations

import copy
from typing import Any

from ledger_app.domain.visibility import Node, names_party, visible

MASKED = "masked"


def scoped_trace(trace: dict[str, Any], viewer: str) -> dict[str, Any] | None:
    """``trace`` as ``viewer`` (lower-case address) may see it; None if it is no party."""
    viewer = viewer.lower()
    nodes = {n["id"]: n for n in trace["receivables"]}
    root = nodes[trace["root_id"]]
    if root["debtor"] == viewer:
        return trace
    took_part = {
        s["receivable_id"] for s in trace["steps"] if names_party(s["event"], s["args"], viewer)
    }
    seeable = visible(
        (
            Node(n["id"], n["parent_id"], n["debtor"], n["creditor"], n["holder"])
            for n in nodes.values()
        ),
        viewer,
        took_part=took_part,
    )
    if trace["receivable_id"] not in seeable:
        return None
    known = {viewer, root["debtor"]}

    def mask(address: str) -> str:
        return address if address in known else MASKED

    out = copy.deepcopy({k: v for k, v in trace.items() if k not in ("receivables", "steps")})
    out["scope"] = {"viewer": viewer, "masked": True}
    out["receivables"] = []
    for node in trace["receivables"]:
        if node["id"] in seeable:
            shown = dict(node)
            shown["children"] = [c for c in node["children"] if c in seeable]
            for field in ("debtor", "creditor", "holder"):
                shown[field] = mask(node[field])
            out["receivables"].append(shown)
    out["steps"] = []
    for step in trace["steps"]:
        if step["receivable_id"] not in seeable:
            continue
        party = viewer in step["actors"].values()
        shown = {k: copy.deepcopy(v) for k, v in step.items() if k not in ("raw", "args")}
        # A step the viewer took part in names its counterparties; others are masked.
        shown["actors"] = {
            role: (a if party or a in known or set(a) <= {"0", "x"} else MASKED)
            for role, a in step["actors"].items()
        }
        if step["kind"] == "split":
            keep = [c for c in step["details"]["children"] if c in seeable]
            shown["details"]["children"] = keep
            shown["amounts"] = [m for m in step["amounts"] if int(m["role"].split()[-1]) in keep]
        out["steps"].append(shown)
    return out
