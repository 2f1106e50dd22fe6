"""Indexing the business scenario: the read models equal the contracts' views."""

from __future__ import annotations

from helpers import index_to_head, mismatches
from sqlalchemy import select, update

from ledger_app.audit.reconcile import digest
from ledger_app.db import schema
from ledger_app.db.notification_tables import notifications
from ledger_app.indexer.reader import READ
from ledger_app.indexer.store import Batch


def test_index_scenario_matches_contract_views(ledger, make_indexer, artifacts, engine):
    ids = ledger.scenario()
    indexer = make_indexer()

    block = index_to_head(indexer)

    assert block == ledger.head()
    assert mismatches(indexer, artifacts, block) == []
    with engine.connect() as conn:
        root = (
            conn.execute(select(schema.receivables).where(schema.receivables.c.id == ids["root"]))
            .mappings()
            .one()
        )
        children = conn.execute(
            select(schema.receivables.c.amount, schema.receivables.c.currency).where(
                schema.receivables.c.parent_id == ids["root"]
            )
        ).all()
    assert root["status"] == "SPLIT"
    assert sum(a for a, _ in children) == root["amount"]
    assert {c for _, c in children} == {"CNY"}
    assert root["outstanding"] == root["amount"] - 600_000_00 - 300_000_00


def test_replay_of_indexed_range_changes_nothing(ledger, make_indexer, engine):
    ledger.scenario()
    indexer = make_indexer()
    block = index_to_head(indexer)
    before = digest(engine, 31337)
    announced = outbox(engine)
    assert {kind for kind, _a, _k in announced} >= {
        "receivable.to_confirm", "financing.offer_received", "financing.accepted"
    }  # fmt: skip
    start = ledger.deployment_block

    for lo in range(start, block + 1, 7):
        hi = min(block, lo + 6)
        read = indexer.reader.read(lo, hi, indexer.tokens)
        assert (read.status, read.end) == (READ, hi)
        indexer.store.apply(Batch(lo, hi, block, read.headers, read.events))

    assert digest(engine, 31337) == before
    assert outbox(engine) == announced  # nothing announced twice
    assert indexer.store.checkpoint().block_number == block


def outbox(engine) -> list[tuple[str, str, str]]:
    """The notifications announced, in order: (kind, audience, key)."""
    n = notifications.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(n.kind, n.audience, n.key).order_by(n.id))]


def test_reconcile_reports_tampered_rows(ledger, make_indexer, artifacts, engine):
    ids = ledger.scenario()
    indexer = make_indexer()
    block = index_to_head(indexer)
    outsider = "0x" + "99" * 20
    with engine.begin() as conn:
        conn.execute(
            update(schema.receivables)
            .where(schema.receivables.c.id == ids["first_child"] + 2)
            .values(holder=outsider)
        )
        conn.execute(
            update(schema.token_balances)
            .where(schema.token_balances.c.account == ledger.accounts["core"].address.lower())
            .values(balance=12345)
        )
        conn.execute(
            update(schema.participants)
            .where(schema.participants.c.account == ledger.accounts["supplier"].address.lower())
            .values(suspended=True, roles="")
        )

    found = mismatches(indexer, artifacts, block)
    core_balance = ledger.view("cny", "balanceOf", ledger.accounts["core"].address, block=block)

    assert sorted(found) == sorted(
        [
            f"receivables[{ids['first_child'] + 2}].holder: index '{outsider}', "
            f"chain '{ledger.accounts['supplier'].address.lower()}'",
            f"participants[{ledger.accounts['supplier'].address.lower()}].suspended: "
            "index True, chain False",
            f"participants[{ledger.accounts['supplier'].address.lower()}].role SUPPLIER: "
            "index False, chain True",
            f"token_balances[{ledger.addresses['cny'].lower()}/"
            f"{ledger.accounts['core'].address.lower()}].balance: index 12345, chain {core_balance}",
        ]
    )
