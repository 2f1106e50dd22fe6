"""events.receivable_id / events.root_id: the link a trace reads its tree's events by
(ledger_app/indexer/links.py), filled by the store and by migration 0005."""

from __future__ import annotations

from alembic import command
from scenario import multi_tier
from sqlalchemy import select

from ledger_app.audit.trace import build_trace
from ledger_app.db import migrate, schema
from ledger_app.db.engine import make_engine
from ledger_app.indexer.runner import IndexerConfig
from ledger_app.indexer.service import build_indexer


def _links(engine) -> dict[tuple[str, int], tuple[str, int | None, int | None]]:
    e = schema.events
    with engine.connect() as conn:
        rows = conn.execute(
            select(e.c.tx_hash, e.c.log_index, e.c.event_name, e.c.receivable_id, e.c.root_id)
        ).all()
    return {(tx, i): (name, rid, root) for tx, i, name, rid, root in rows}


def test_store_links_each_traced_event_to_its_receivable_and_root(ledger, indexer, engine):
    ids = multi_tier(ledger)
    other = ledger.register(5_000_00)  # a second tree, after the first one's events
    ledger.send("supplier", "receivables", "confirm", other)
    indexer.run(follow=False)

    links = _links(engine).values()
    tree = {ids[k] for k in ("root", "kept", "passed", "financed", "tier2_kept")}
    linked = [(name, rid, root) for name, rid, root in links if root is not None]
    assert {root for _, _, root in linked} == {ids["root"], other}
    assert all(rid in tree for _, rid, root in linked if root == ids["root"])
    assert [(n, rid) for n, rid, root in linked if root == other] == [
        ("ReceivableRegistered", other), ("ReceivableStatusChanged", other),
        ("ReceivableStatusChanged", other),
    ]  # fmt: skip
    by_name = {}
    for name, rid, _root in linked:
        by_name.setdefault(name, set()).add(rid)
    assert by_name["FinancingAccepted"] == {ids["financed"]}
    assert by_name["PvpSettled"] == {ids["root"]}
    assert by_name["LeafRedeemed"] == {ids["kept"], ids["financed"]}
    assert all(root is None for name, _, root in links if name == "Transfer")


def test_store_links_the_same_when_every_block_is_its_own_batch(
    ledger, indexer, engine, anvil, artifacts, tmp_path
):
    multi_tier(ledger)
    indexer.run(follow=False)  # one batch: links come from what the batch itself set up
    single = make_engine(f"sqlite:///{tmp_path}/single.db")
    migrate.upgrade(single)
    try:
        per_block = build_indexer(
            rpc_url=anvil.rpc_url, engine=single, artifacts=artifacts,
            contracts=ledger.contracts(), start_block=ledger.deployment_block,
            config=IndexerConfig(initial_range=1, max_range=1), rpc_timeout=5.0,
        )  # fmt: skip
        per_block.run(follow=False)  # one block per batch: links come from the index

        assert _links(single) == _links(engine)
    finally:
        single.dispose()


def test_trace_reads_only_events_linked_to_its_root(ledger, indexer, engine):
    ids = multi_tier(ledger)
    indexer.run(follow=False)
    e = schema.events
    with engine.begin() as conn:
        # Unlinking one step drops it from the trace: the link is what the trace reads.
        confirm = conn.execute(
            select(e.c.tx_hash, e.c.log_index).where(
                e.c.root_id == ids["root"], e.c.event_name == "ReceivableStatusChanged"
            )
        ).first()
        before = len(build_trace(conn, 31337, ids["root"])["steps"])
        conn.execute(
            e.update()
            .where(e.c.tx_hash == confirm.tx_hash, e.c.log_index == confirm.log_index)
            .values(root_id=None)
        )
        after = build_trace(conn, 31337, ids["root"])["steps"]

    assert len(after) == before - 1
    assert (confirm.tx_hash, confirm.log_index) not in {
        (s["tx_hash"], s["log_index"]) for s in after
    }


def test_migration_0005_links_events_indexed_before_it(ledger, indexer, engine):
    multi_tier(ledger)
    indexer.run(follow=False)
    expected = _links(engine)
    config = migrate.alembic_config(engine.url.render_as_string(hide_password=False))

    command.downgrade(config, "0004")
    command.upgrade(config, "0005")

    assert any(root is not None for _, _, root in expected.values())
    assert _links(engine) == expected
