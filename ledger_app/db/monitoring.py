"""Monitoring tables (issue 23) and the writes and reads over them.

- ``monitoring_checkpoint``: the last block the rules have run over, per chain; written
  in the same transaction as the alerts of that run.
- ``monitoring_rules`` / ``monitoring_rule_changes``: the regulator's overrides of the
  rules' defaults (ledger_app/domain/monitoring.py ``DEFAULTS``) and the append-only log
  of every change (who, when, old, new).
- ``monitoring_alerts``: one row per hit, unique by ``key`` (rule + triggering rows):
  ``raise_alerts`` inserts a hit only when its key is absent.
- ``monitoring_cases``, ``monitoring_case_alerts``, ``monitoring_case_events``: cases
  opened from alerts; their history is only ever appended to.
- ``sanctions_entries``: the operator's sanctions list as last loaded.
- ``participant_profiles``: legal name and registered address given at onboarding (off
  chain), read by related-party detection and screening.

Mirrors migrations/versions/0019_monitoring.py. Addresses are lower-case hex.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    insert,
    select,
    update,
)
from sqlmodel import SQLModel

from ledger_app.db.outbox import announce
from ledger_app.db.schema import participants
from ledger_app.domain import monitoring as rules
from ledger_app.domain.lei import lei_text
from ledger_app.domain.monitoring import DEFAULTS, Hit, Profile, SanctionEntry
from ledger_app.domain.notifications import ALERT_RAISED, role_audience
from ledger_app.domain.vocabulary import Role

#: Who is told of a new alert: those who read alerts and work cases (api/permissions.py).
ALERT_AUDIENCE = (role_audience(Role.REGULATOR), role_audience(Role.AUDITOR))

metadata = SQLModel.metadata


def _when(name: str, *, nullable: bool = False) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _id() -> Column:
    return Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True)


monitoring_checkpoint = Table(
    "monitoring_checkpoint",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("block_number", BigInteger, nullable=False),
    Column("runs", BigInteger, nullable=False),
    _when("updated_at"),
)

monitoring_rules = Table(
    "monitoring_rules",
    metadata,
    Column("rule", String(64), primary_key=True),
    Column("config", Text, nullable=False),  # JSON: the whole configuration in force
    Column("updated_by", String(42), nullable=False),
    _when("updated_at"),
)

monitoring_rule_changes = Table(
    "monitoring_rule_changes",
    metadata,
    _id(),
    Column("rule", String(64), nullable=False),
    Column("old", Text, nullable=False),
    Column("new", Text, nullable=False),
    Column("changed_by", String(42), nullable=False),
    _when("changed_at"),
    Index("ix_monitoring_rule_changes_rule", "rule"),
)

monitoring_alerts = Table(
    "monitoring_alerts",
    metadata,
    _id(),
    Column("key", String(200), nullable=False),
    Column("rule", String(64), nullable=False),
    Column("severity", String(8), nullable=False),
    Column("status", String(16), nullable=False),  # OPEN, IN_CASE, DISMISSED, REPORTED
    Column("subjects", Text, nullable=False),  # JSON list of addresses
    Column("rows", Text, nullable=False),  # JSON list of on-chain proofs
    Column("details", Text, nullable=False),  # JSON object
    Column("block_number", BigInteger, nullable=True),  # of the triggering row
    Column("chain_time", BigInteger, nullable=True),  # unix seconds of the triggering row
    _when("raised_at"),
    Index("ix_monitoring_alerts_key", "key", unique=True),
    Index("ix_monitoring_alerts_rule", "rule"),
)

monitoring_cases = Table(
    "monitoring_cases",
    metadata,
    _id(),
    Column("status", String(16), nullable=False),  # OPEN, DISMISSED, REPORTED
    Column("title", String(200), nullable=False),
    Column("opened_by", String(42), nullable=False),
    _when("opened_at"),
    Column("closed_by", String(42), nullable=True),
    _when("closed_at", nullable=True),
    Column("reason", Text, nullable=True),
)

monitoring_case_alerts = Table(
    "monitoring_case_alerts",
    metadata,
    Column("case_id", BigInteger, primary_key=True, autoincrement=False),
    Column("alert_id", BigInteger, primary_key=True, autoincrement=False),
)

monitoring_case_events = Table(
    "monitoring_case_events",
    metadata,
    _id(),
    Column("case_id", BigInteger, nullable=False),
    Column("action", String(16), nullable=False),  # OPENED, NOTE, DISMISSED, REPORTED
    Column("actor", String(42), nullable=False),
    Column("text", Text, nullable=True),
    _when("at"),
    Index("ix_monitoring_case_events_case", "case_id"),
)

sanctions_entries = Table(
    "sanctions_entries",
    metadata,
    Column("entry_id", String(64), primary_key=True),
    Column("name", String(400), nullable=False),
    Column("lei", String(20), nullable=True),
    Column("aliases", Text, nullable=False),  # JSON list
    Column("source", String(400), nullable=False),
    _when("loaded_at"),
)

participant_profiles = Table(
    "participant_profiles",
    metadata,
    Column("account", String(42), primary_key=True),
    Column("legal_name", String(400), nullable=True),
    Column("registered_address", String(400), nullable=True),
    Column("recorded_by", String(42), nullable=False),
    _when("recorded_at"),
)


def utc(moment: datetime | None) -> datetime | None:
    """A stored time as UTC (SQLite gives it back without its zone)."""
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def now() -> datetime:
    """The database's clock for the monitoring's own rows (UTC)."""
    return datetime.now(UTC)


# --- rules configuration ---------------------------------------------------------------


def rule_configs(conn: Connection) -> dict[str, dict[str, Any]]:
    """Every rule's configuration in force: the defaults, with the regulator's changes."""
    configs = {rule: dict(values) for rule, values in DEFAULTS.items()}
    for row in conn.execute(select(monitoring_rules.c.rule, monitoring_rules.c.config)):
        if row.rule in configs:
            configs[row.rule].update(json.loads(row.config))
    return configs


def change_rule(
    conn: Connection, rule: str, old: Mapping[str, Any], new: Mapping[str, Any], by: str
) -> None:
    """Put ``new`` in force for ``rule`` and log the change (append-only)."""
    at = now()
    text = json.dumps(new, sort_keys=True)
    done = conn.execute(
        update(monitoring_rules).where(monitoring_rules.c.rule == rule)
        .values(config=text, updated_by=by, updated_at=at)
    ).rowcount  # fmt: skip
    if not done:
        conn.execute(insert(monitoring_rules).values(rule=rule, config=text, updated_by=by,
                                                     updated_at=at))  # fmt: skip
    conn.execute(
        insert(monitoring_rule_changes).values(
            rule=rule, old=json.dumps(old, sort_keys=True), new=text, changed_by=by, changed_at=at
        )
    )


# --- alerts ----------------------------------------------------------------------------


def raise_alerts(conn: Connection, hits: Iterable[Hit]) -> list[int]:
    """Store each hit as an OPEN alert unless its key is stored already; the ids of the
    alerts new in this call. THE one place an alert is created (rule runs, screening):
    whatever must follow a new alert (a notification) is called from here, in the same
    transaction."""
    created = []
    for hit in hits:
        found = conn.execute(
            select(monitoring_alerts.c.id).where(monitoring_alerts.c.key == hit.key)
        ).first()
        if found is not None:
            continue
        first = hit.rows[-1] if hit.rows else None
        result = conn.execute(insert(monitoring_alerts).values(
            key=hit.key, rule=hit.rule, severity=hit.severity, status="OPEN",
            subjects=json.dumps(list(hit.subjects)),
            rows=json.dumps([r.proof() for r in hit.rows]),
            details=json.dumps(dict(hit.details), sort_keys=True, default=str),
            block_number=first.block_number if first else None,
            chain_time=hit.at or None, raised_at=now(),
        ))  # fmt: skip
        alert_id = int(result.inserted_primary_key[0])
        created.append(alert_id)
        # Announced in the alert's own transaction (the outbox's rule): webhooks and the
        # event stream of regulators and auditors hear of it once it is committed.
        announce(conn, ALERT_RAISED, ALERT_AUDIENCE, {
            "alert_id": alert_id, "rule": hit.rule, "severity": hit.severity,
            "subjects": list(hit.subjects),
            "block_number": first.block_number if first else None,
        }, f"alert:{alert_id}")  # fmt: skip
    return created


def alert_dict(row: Any) -> dict[str, Any]:
    """An alert row as the API shows it."""
    return {
        "id": row.id, "key": row.key, "rule": row.rule, "severity": row.severity,
        "status": row.status, "subjects": json.loads(row.subjects),
        "proofs": json.loads(row.rows), "details": json.loads(row.details),
        "block_number": row.block_number, "chain_time": row.chain_time,
        "raised_at": utc(row.raised_at),
    }  # fmt: skip


# --- checkpoint ------------------------------------------------------------------------


def checkpoint(conn: Connection, chain_id: int) -> int | None:
    """The last block the rules ran over (None: never run)."""
    return conn.execute(
        select(monitoring_checkpoint.c.block_number).where(
            monitoring_checkpoint.c.chain_id == chain_id
        )
    ).scalar()


def set_checkpoint(conn: Connection, chain_id: int, block: int) -> None:
    """Record that the rules have run over every block up to ``block``."""
    done = conn.execute(
        update(monitoring_checkpoint).where(monitoring_checkpoint.c.chain_id == chain_id)
        .values(block_number=block, runs=monitoring_checkpoint.c.runs + 1, updated_at=now())
    ).rowcount  # fmt: skip
    if not done:
        conn.execute(
            insert(monitoring_checkpoint).values(
                chain_id=chain_id, block_number=block, runs=1, updated_at=now()
            )
        )


# --- participants' profiles and the sanctions list --------------------------------------


def profiles(conn: Connection) -> dict[str, Profile]:
    """Every onboarded participant's LEI (from the chain) with its off-chain profile."""
    extra = {r.account.lower(): r for r in conn.execute(select(participant_profiles))}
    found = {}
    for p in conn.execute(select(participants.c.account, participants.c.lei)):
        account = p.account.lower()
        more = extra.get(account)
        found[account] = Profile(
            account=account, lei=lei_text(p.lei),
            legal_name=more.legal_name if more else None,
            registered_address=more.registered_address if more else None,
        )  # fmt: skip
    return found


def record_profile(
    conn: Connection, account: str, legal_name: str | None, address: str | None, by: str
) -> None:
    """Keep what onboarding said of ``account`` off chain (once: onboarding is once; a
    request run again keeps the first)."""
    account = account.lower()
    known = select(participant_profiles.c.account).where(participant_profiles.c.account == account)
    if conn.execute(known).first() is not None:
        return
    conn.execute(insert(participant_profiles).values(
        account=account.lower(), legal_name=legal_name, registered_address=address,
        recorded_by=by.lower(), recorded_at=now()))  # fmt: skip


def sanctions(conn: Connection) -> list[SanctionEntry]:
    """The sanctions list as last loaded."""
    return [
        SanctionEntry(r.entry_id, r.name, r.lei, tuple(json.loads(r.aliases)))
        for r in conn.execute(select(sanctions_entries).order_by(sanctions_entries.c.entry_id))
    ]


def replace_sanctions(conn: Connection, entries: Iterable[SanctionEntry], source: str) -> int:
    """The list becomes ``entries`` (the file loaded replaces the one before)."""
    conn.execute(sanctions_entries.delete())
    at, n = now(), 0
    for entry in entries:
        conn.execute(insert(sanctions_entries).values(
            entry_id=entry.entry_id, name=entry.name, lei=entry.lei,
            aliases=json.dumps(list(entry.aliases)), source=source[:400], loaded_at=at))  # fmt: skip
        n += 1
    return n


def screen_participants(conn: Connection, accounts: Iterable[str] | None = None) -> list[int]:
    """Screen ``accounts`` (default: every participant) against the list; the ids of the
    new alerts (a match already alerted is not alerted again)."""
    config = rule_configs(conn)["sanctions"]
    if not config["enabled"]:
        return []
    entries = sanctions(conn)
    known = profiles(conn)
    wanted = known.keys() if accounts is None else [a.lower() for a in accounts]
    hits = []
    for account in wanted:
        profile = known.get(account)
        if profile is not None:
            hits += rules.screen(config, profile, entries)
    return raise_alerts(conn, hits)


def screen_profile(conn: Connection, profile: Profile) -> list[int]:
    """Screen one participant as onboarding describes it (before the index has it)."""
    config = rule_configs(conn)["sanctions"]
    if not config["enabled"]:
        return []
    return raise_alerts(conn, rules.screen(config, profile, sanctions(conn)))
