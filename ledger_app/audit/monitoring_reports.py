"""What monitoring hands a regulator: a suspicious-activity report (SAR) of a case, as JSON
and as XML, and the periodic regulatory summary, as JSON and CSV (README "Monitoring").

The SAR follows the goAML report's shape where the ledger has the facts: the reporting
entity (``rentity_id``, name), ``submission_code`` E (electronic), ``report_code`` SAR,
``entity_reference`` (the case), the reason and action taken, the subjects (accounts with
their LEI, legal name, registered address, jurisdiction) and the transactions, each with
its on-chain reference (transaction hash, log index, block number and hash) in place of a
bank's transaction number.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET

from sqlalchemy import Connection, and_, func, select

from ledger_app.db import monitoring as store
from ledger_app.db.schema import (
    credit_line_drawings,
    credit_lines,
    events,
    participants,
    receivables,
)

SAR_VERSION = "ledger-sar/1"
_PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: Statuses of a receivable still owed by its debtor (a SPLIT parent owes through its parts).
OWED = ("ACTIVE", "FINANCING", "FINANCED", "OVERDUE", "DEFAULTED")


def _iso(seconds: int | None) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat() if seconds is not None else None


def _amount(args: dict[str, Any]) -> str | None:
    for name in ("amount", "proceeds", "value"):
        if name in args:
            return str(args[name])
    return None


def sar(
    conn: Connection, case: dict[str, Any], *, entity: str, entity_id: str, chain_id: int,
    reporter: str,
) -> dict[str, Any]:  # fmt: skip
    """The case's SAR as a JSON-ready dict (``case``: the service's view of the case)."""
    subjects: set[str] = set()
    proofs: dict[tuple[str, int], dict[str, Any]] = {}
    for alert in case["alerts"]:
        subjects |= set(alert["subjects"])
        for proof in alert["proofs"]:
            proofs.setdefault((proof["tx_hash"], proof["log_index"]), proof)
    known = store.profiles(conn)
    jurisdictions = {
        r.account.lower(): r.jurisdiction
        for r in conn.execute(select(participants.c.account, participants.c.jurisdiction))
    }
    transactions = []
    for (tx_hash, log_index), proof in sorted(
        proofs.items(), key=lambda p: (p[1]["block_number"], p[0][1])
    ):
        row = conn.execute(select(events.c.args, events.c.contract_kind).where(
            events.c.tx_hash == tx_hash, events.c.log_index == log_index)).first()  # fmt: skip
        args = json.loads(row.args) if row else {}
        currency = None
        if proof.get("receivable_id") is not None:
            currency = conn.execute(select(receivables.c.currency).where(
                receivables.c.id == proof["receivable_id"])).scalar()  # fmt: skip
        transactions.append({
            "transactionnumber": f"{tx_hash}:{log_index}",
            "transaction_location": f"chain {chain_id}",
            "transmode_code": "DLT",
            "date_transaction": _iso(proof.get("timestamp")),
            "amount_local": _amount(args),
            "currency_code": currency,
            "event": proof["event"],
            "contract": row.contract_kind if row else None,
            "receivable_id": proof.get("receivable_id"),
            "on_chain": {"tx_hash": tx_hash, "log_index": log_index,
                         "block_number": proof["block_number"], "block_hash": proof["block_hash"]},
        })  # fmt: skip
    rules = sorted({a["rule"] for a in case["alerts"]})
    return {
        "format": SAR_VERSION,
        "report": {
            "rentity_id": entity_id,
            "rentity_name": entity,
            "submission_code": "E",
            "report_code": "SAR",
            "entity_reference": f"case-{case['id']}",
            "submission_date": datetime.now(UTC).isoformat(),
            "reporting_person": reporter,
            "reason": case.get("reason") or f"alerts of rules {', '.join(rules)}",
            "action": case["status"],
        },
        "subjects": [
            {
                "account": s,
                "lei": known[s].lei if s in known else None,
                "legal_name": known[s].legal_name if s in known else None,
                "registered_address": known[s].registered_address if s in known else None,
                "jurisdiction": jurisdictions.get(s),
            }
            for s in sorted(subjects)
        ],
        "transactions": transactions,
        "alerts": [
            {"id": a["id"], "rule": a["rule"], "severity": a["severity"], "details": a["details"]}
            for a in case["alerts"]
        ],
        "history": [
            {"action": h["action"], "actor": h["actor"], "at": h["at"], "text": h["text"]}
            for h in case["history"]
        ],
    }


def _element(parent: ET.Element, name: str, value: Any) -> None:
    node = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, inner in value.items():
            _element(node, key, inner)
    elif isinstance(value, list):
        for inner in value:
            _element(node, name.rstrip("s") or "item", inner)
    elif value is not None:
        node.text = value if isinstance(value, str) else json.dumps(value, default=str)


def sar_xml(report: dict[str, Any]) -> str:
    """The SAR as XML: ``<report>`` with the JSON's fields as elements, lists as repeated
    singular elements (``<subjects><subject>...``), details as JSON text."""
    root = ET.Element("report", {"format": report["format"]})
    for key, value in report.items():
        if key == "format":
            continue
        if key == "report":
            for inner_key, inner in value.items():
                _element(root, inner_key, inner)
        elif key in ("subjects", "transactions", "alerts", "history"):
            holder = ET.SubElement(root, key)
            for item in value:
                _element(holder, {"history": "event"}.get(key, key[:-1]), item)
        else:
            _element(root, key, value)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def parse_period(text: str) -> tuple[int, int]:
    """``YYYY-MM`` as [start, end) unix seconds; ``ValueError`` otherwise."""
    match = _PERIOD.match(text or "")
    if match is None:
        raise ValueError("period is a month, YYYY-MM (e.g. 2026-11)")
    year, month = int(match[1]), int(match[2])
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return int(start.timestamp()), int(end.timestamp())


def summary(conn: Connection, period: str, chain_id: int) -> dict[str, Any]:
    """Volumes, exposures at the period's end, overdue and alerts by rule, for a month."""
    start, end = parse_period(period)
    in_period = and_(events.c.chain_id == chain_id, events.c.block_timestamp >= start,
                     events.c.block_timestamp < end)  # fmt: skip
    volumes: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    rows = conn.execute(select(events.c.event_name, events.c.args, events.c.receivable_id).where(
        in_period, events.c.event_name.in_(("ReceivableRegistered", "FinancingAccepted"))))  # fmt: skip
    for row in rows:
        args = json.loads(row.args)
        found = conn.execute(select(receivables.c.amount, receivables.c.currency).where(
            receivables.c.id == row.receivable_id)).first()  # fmt: skip
        if found is None:
            continue
        kind = "registered" if row.event_name == "ReceivableRegistered" else "financed"
        amount = int(args.get("amount", found.amount)) if kind == "registered" else found.amount
        volumes[(kind, found.currency)][0] += 1
        volumes[(kind, found.currency)][1] += int(amount)
    last_block = conn.execute(select(func.max(events.c.block_number)).where(
        events.c.chain_id == chain_id, events.c.block_timestamp < end)).scalar()  # fmt: skip
    exposures: dict[tuple[str, str, str], int] = defaultdict(int)
    if last_block is not None:
        open_then = select(
            credit_lines.c.financier, credit_lines.c.obligor, credit_lines.c.currency,
            credit_line_drawings.c.amount,
        ).join(credit_lines, credit_lines.c.line_id == credit_line_drawings.c.line_id).where(
            credit_line_drawings.c.drawn_block <= last_block,
            (credit_line_drawings.c.released_block.is_(None))
            | (credit_line_drawings.c.released_block > last_block),
        )  # fmt: skip
        for r in conn.execute(open_then):
            exposures[(r.financier.lower(), r.obligor.lower(), r.currency)] += int(r.amount)
    overdue: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in conn.execute(select(receivables.c.currency, receivables.c.amount).where(
            receivables.c.due_date >= start, receivables.c.due_date < end,
            receivables.c.status.in_(OWED), receivables.c.child_count == 0)):  # fmt: skip
        overdue[r.currency][0] += 1
        overdue[r.currency][1] += int(r.amount)
    alerts: dict[tuple[str, str], int] = defaultdict(int)
    raised = conn.execute(select(store.monitoring_alerts.c.rule, store.monitoring_alerts.c.severity,
                                 store.monitoring_alerts.c.chain_time,
                                 store.monitoring_alerts.c.raised_at))  # fmt: skip
    for r in raised:
        when = r.chain_time if r.chain_time is not None else int(_utc(r.raised_at).timestamp())
        if start <= when < end:
            alerts[(r.rule, r.severity)] += 1
    return {
        "period": period, "from": _iso(start), "to": _iso(end), "as_of_block": last_block,
        "volumes": [{"kind": k, "currency": c, "count": n, "amount": str(a)}
                    for (k, c), (n, a) in sorted(volumes.items())],
        "exposures": [{"financier": f, "obligor": o, "currency": c, "amount": str(a)}
                      for (f, o, c), a in sorted(exposures.items())],
        "overdue": [{"currency": c, "count": n, "amount": str(a)}
                    for c, (n, a) in sorted(overdue.items())],
        "alerts": [{"rule": r, "severity": s, "count": n} for (r, s), n in sorted(alerts.items())],
    }  # fmt: skip


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def summary_csv(report: dict[str, Any]) -> str:
    """The summary as one CSV table: section, key, currency, count, amount."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["period", "section", "key", "currency", "count", "amount"])
    p = report["period"]
    for v in report["volumes"]:
        writer.writerow([p, "volume", v["kind"], v["currency"], v["count"], v["amount"]])
    for x in report["exposures"]:
        writer.writerow(
            [p, "exposure", f"{x['financier']}->{x['obligor']}", x["currency"], "", x["amount"]]
        )
    for o in report["overdue"]:
        writer.writerow(
            [p, "overdue", "due in period, unpaid", o["currency"], o["count"], o["amount"]]
        )
    for a in report["alerts"]:
        writer.writerow([p, "alerts", f"{a['rule']}/{a['severity']}", "", a["count"], ""])
    return out.getvalue()
