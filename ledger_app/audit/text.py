"""A trace as a readable text tree: each receivable under its parent, its steps under it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def completeness_lines(completeness: dict[str, Any] | None) -> list[str]:
    """The completeness check's verdict, each difference it named, and its RPC cost."""
    if not completeness:
        return []
    if not completeness.get("checked"):
        return [f"Completeness: NOT CHECKED ({completeness.get('reason')})"]
    state = "COMPLETE" if completeness["complete"] else "INCOMPLETE"
    cost = completeness["rpc"]
    lines = [f"Completeness against the tree rebuilt from the node: {state} "
             f"({completeness['chain_steps']} steps on chain, {completeness['trace_steps']} in the "
             f"trace; {cost['requests']} requests, {cost['calls']} calls, {cost['logs_fetched']} "
             f"logs, {cost['ms']} ms)"]  # fmt: skip
    lines += [f"  ! {p}" for p in completeness["contracts"]["problems"]]
    for key in ("missing_subtrees", "missing_steps", "extra_steps", "misattributed_steps",
                "altered_steps", "reordered_steps", "unknown_receivables"):  # fmt: skip
        lines += [f"  ! {item['reason']}" for item in completeness[key]]
    return lines


def render_tree(trace: dict[str, Any], verification: dict[str, Any] | None = None) -> str:
    """The trace as indented text; with ``verification``, each step's verdict too."""
    nodes = {n["id"]: n for n in trace["receivables"]}
    steps_of: dict[int | None, list[dict[str, Any]]] = {}
    for step in trace["steps"]:
        steps_of.setdefault(step["receivable_id"], []).append(step)
    verdicts = {}
    if verification is not None:
        verdicts = {(s["tx_hash"], s["log_index"]): s for s in verification["steps"]}
    lines = [f"Trace of receivable {trace['receivable_id']} (root {trace['root_id']}, "
             f"chain {trace['chain_id']}, index at block {trace['as_of_block']})"]  # fmt: skip
    if verification is not None:
        state = "VERIFIED" if verification["verified"] else "MISMATCHES FOUND"
        lines.append(f"Verification against the node: {state}")
        lines += completeness_lines(verification.get("completeness"))

    def walk(rid: int, depth: int) -> None:
        node = nodes[rid]
        pad = "    " * depth
        lines.append(f"{pad}#{rid} tier {node['tier']}: {_amount(node['amount'])} {node['currency']} "
                     f"{node['status']}, debtor {node['debtor']}, holder {node['holder']}")  # fmt: skip
        for step in steps_of.get(rid, []):
            lines.append(f"{pad}  - {_step(step)}")
            where = (f"block {step['block_number']} {_when(step['block_timestamp'])} "
                     f"tx {step['tx_hash']} log {step['log_index']}")  # fmt: skip
            verdict = verdicts.get((step["tx_hash"], step["log_index"]))
            if verdict is not None:
                where += (
                    f"  [{verdict['status']}"
                    + (": " + "; ".join(verdict["reasons"]) if verdict["reasons"] else "")
                    + "]"
                )
            lines.append(f"{pad}      {where}")
        for child in node["children"]:
            if child in nodes:
                walk(child, depth + 1)

    walk(trace["root_id"], 0)
    return "\n".join(lines)


#: Steps whose terms the text shows (issue 20): an early payment's rate, day count and
#: days, a late payment's rate and days late.
_TERMS_SHOWN = frozenset({"early_payment_offer", "early_payment", "late_interest"})
_TERMS_SHOWN_KEYS = ("offer_id", "annual_rate_bps", "day_count_basis", "days_early",
                     "late_interest_bps", "days_late")  # fmt: skip


def _step(step: dict[str, Any]) -> str:
    actors = ", ".join(f"{role} {address}" for role, address in step["actors"].items())
    money = ", ".join(
        f"{m['role']} {_amount(m['amount'])} {m['currency']}" for m in step["amounts"]
    )
    # A token leg's purpose; a line's release its cause (repaid, bought back, sold...);
    # an early payment's or a late root's terms.
    extra = step["details"].get("purpose") or step["details"].get("cause") or ""
    if step["kind"] in _TERMS_SHOWN:
        extra = ", ".join(f"{k} {v}" for k, v in step["details"].items() if k in _TERMS_SHOWN_KEYS)
    if step["event"] == "ReceivableStatusChanged":
        extra = f"{step['details']['from']} -> {step['details']['to']}"
    return " | ".join(p for p in (step["kind"], extra, actors, money) if p)


def _amount(minor: str) -> str:
    value = int(minor)
    return f"{value // 100:,}.{value % 100:02d}"


def _when(timestamp: int | None) -> str:
    if timestamp is None:
        return "(time unknown)"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
