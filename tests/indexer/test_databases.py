"""The same chain gives the same index on SQLite and PostgreSQL; uint256 columns are exact."""

from __future__ import annotations

import json

from helpers import index_to_head, mismatches
from sqlalchemy import insert, select, text

from ledger_app.audit.reconcile import digest
from ledger_app.db import migrate, schema
from ledger_app.db.engine import make_engine
from ledger_app.db.notification_tables import notifications
from ledger_app.indexer.runner import IndexerConfig
from ledger_app.indexer.service import build_indexer

MAX_UINT = 2**256 - 1


def test_sqlite_and_postgresql_index_the_same_chain_to_the_same_digest(
    anvil, ledger, artifacts, postgres, tmp_path
):
    ledger.scenario()
    ledger.fx_and_htlc()
    urls = {"sqlite": f"sqlite:///{tmp_path}/index.db", "postgresql": postgres.create_database()}
    digests, counts, outboxes = {}, {}, {}
    for name, url in urls.items():
        engine = make_engine(url)
        try:
            migrate.upgrade(engine)
            indexer = build_indexer(
                rpc_url=anvil.rpc_url,
                engine=engine,
                artifacts=artifacts,
                contracts=ledger.contracts(),
                start_block=ledger.deployment_block,
                config=IndexerConfig(initial_range=5),
            )
            block = index_to_head(indexer)
            assert block == ledger.head()
            assert mismatches(indexer, artifacts, block) == [], name
            digests[name] = digest(engine, 31337)
            with engine.connect() as conn:  # the outbox, written in the same batches
                n = notifications.c
                outboxes[name] = conn.execute(
                    select(n.id, n.kind, n.audience, n.key, n.payload).order_by(n.id)
                ).all()
            counts[name] = indexer.store.checkpoint().events_total
        finally:
            engine.dispose()

    assert counts["sqlite"] == counts["postgresql"] > 100
    assert digests["sqlite"] == digests["postgresql"]
    assert outboxes["sqlite"] == outboxes["postgresql"] != []


def test_uint256_extremes_round_trip_exactly(engine):
    token, account = "0x" + "11" * 20, "0x" + "22" * 20
    values = [0, 1, 2**64, 10**77 + 1, MAX_UINT]
    with engine.begin() as conn:
        conn.execute(
            insert(schema.token_balances),
            [
                {"token": token, "account": f"0x{i:040x}", "balance": v, "updated_block": 1}
                for i, v in enumerate(values)
            ],
        )
        conn.execute(
            insert(schema.token_balances),
            {"token": token, "account": account, "balance": MAX_UINT - 1, "updated_block": 1},
        )
    with engine.connect() as conn:
        stored = conn.execute(
            select(schema.token_balances.c.balance)
            .where(schema.token_balances.c.account != account)
            .order_by(schema.token_balances.c.balance)
        ).scalars()
        assert list(stored) == values  # ordered numerically, every digit kept
        top = conn.execute(
            select(schema.token_balances.c.account).where(
                schema.token_balances.c.balance > MAX_UINT - 1
            )
        ).scalar_one()
        assert top == f"0x{len(values) - 1:040x}"
        if engine.dialect.name == "postgresql":
            column_type = conn.execute(
                text(
                    "SELECT data_type, numeric_precision, numeric_scale "
                    "FROM information_schema.columns "
                    "WHERE table_name = 'token_balances' AND column_name = 'balance'"
                )
            ).one()
            assert tuple(column_type) == ("numeric", 78, 0)


def test_migration_0011_back_fills_event_parties_page_by_page(database_url):
    # More events than one page of the back-fill (5,000), streamed while it inserts: on
    # PostgreSQL from a server-side cursor, which must stay that one statement's.
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine, "0010")
        sender, receiver = "0x" + "a1" * 20, "0x" + "B2" * 20
        rows = [
            {
                "chain_id": 31337, "tx_hash": f"0x{n:064x}", "log_index": 0, "block_number": n,
                "block_hash": f"0x{n:064x}", "block_timestamp": 1, "contract": "0x" + "ee" * 20,
                "contract_kind": "ReceivableRegistry", "event_name": "ReceivableTransferred",
                "args": json.dumps({"from": sender, "id": n % 7, "to": receiver}),
                "receivable_id": n % 7, "root_id": n % 7,
            }
            for n in range(1, 12_002)
        ]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert(schema.events), rows)
        migrate.upgrade(engine)
        p = schema.event_parties
        with engine.connect() as conn:
            stored = conn.execute(select(p.c.party, p.c.block_number, p.c.receivable_id)).all()
    finally:
        engine.dispose()

    expected = {(a, n, n % 7) for n in range(1, 12_002) for a in (sender, receiver.lower())}
    assert len(stored) == len(expected)
    assert set(stored) == expected
