"""The rule runner over a real index (issue 23): a story on anvil that trips circular
flow, fast finance, related parties and concentration; each alert carries its on-chain
proofs and is stored exactly once, whatever restarts and failed runs happen in between."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable

from helpers import index_to_head
from ledger import MAX_UINT, Ledger
from sqlalchemy import Engine, insert, select, update

from ledger_app.db import monitoring as store
from ledger_app.db.engine import make_engine
from ledger_app.db.schema import checkpoint, events
from ledger_app.domain import monitoring as rules
from ledger_app.indexer.runner import Indexer, IndexerConfig

TRIPPED = {"circular_flow", "fast_finance", "related_parties", "concentration"}


def _story(ledger: Ledger) -> dict[str, int]:
    """Register, confirm, split; a part goes to supplier2 and comes back; another part is
    financed within seconds of its root's registration."""
    ledger.list_token(b"CNY")
    ledger.send("bank", "cny", "mint", ledger.accounts["financier"].address, 10_000_000_00)
    ledger.send("bank", "cny", "mint", ledger.accounts["financier2"].address, 10_000_000_00)
    ledger.grant_line("financier")
    ledger.grant_line("financier2")
    root = ledger.register(1_000_000_00)
    ledger.send("supplier", "receivables", "confirm", root)
    ledger.send("supplier", "receivables", "split", root, [600_000_00, 400_000_00])
    first, second = root + 1, root + 2
    ledger.send("supplier", "receivables", "transfer", second, ledger.accounts["supplier2"].address)
    ledger.send("supplier2", "receivables", "transfer", second, ledger.accounts["supplier"].address)
    ledger.send("financier", "cny", "approve", ledger.addresses["desk"], MAX_UINT)
    ledger._finance(first)
    return {"root": root, "first": first, "second": second}


def _profiles(engine: Engine, ledger: Ledger) -> None:
    """Core and supplier were onboarded with the same registered address."""
    with engine.begin() as conn:
        for name in ("core", "supplier"):
            conn.execute(insert(store.participant_profiles).values(
                account=ledger.accounts[name].address.lower(), legal_name=name,
                registered_address="8 Harbour Road, Shenzhen", recorded_by="0x" + "00" * 20,
                recorded_at=store.now()))  # fmt: skip


def _alerts(engine: Engine) -> list[dict]:
    with engine.connect() as conn:
        return [store.alert_dict(r) for r in conn.execute(select(store.monitoring_alerts))]


def test_alerts_raised_once_across_restarts_and_failed_runs(
    ledger: Ledger, engine: Engine, make_indexer: Callable[..., Indexer], monkeypatch
) -> None:
    ids = _story(ledger)
    _profiles(engine, ledger)
    small = IndexerConfig(poll_interval=0.05, initial_range=2, max_range=2)
    first = make_indexer(config=small)
    for _ in range(6):  # part of the way, then "restart"
        first.step()
    # A run that dies half-way (after its alerts are written, before its checkpoint):
    # nothing of it stays; the index goes on regardless.
    real = store.set_checkpoint
    calls = {"n": 0}

    def dying(conn, chain_id, block):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("killed mid-run")
        return real(conn, chain_id, block)

    monkeypatch.setattr(store, "set_checkpoint", dying)
    second = make_indexer(config=small)
    while not second.step().caught_up:
        pass
    second.step()  # the next step (caught up) runs the rules again
    assert calls["n"] >= 2
    assert second.monitor.failures == 1
    # And the rules run once more over everything (a checkpoint lost): nothing doubles.
    with engine.begin() as conn:
        conn.execute(update(store.monitoring_checkpoint).values(block_number=0))
    assert second.monitor.run() == []

    alerts = _alerts(engine)
    assert {a["rule"] for a in alerts} >= TRIPPED
    assert max(Counter(a["key"] for a in alerts).values()) == 1
    by_rule = Counter(a["rule"] for a in alerts)
    assert by_rule["circular_flow"] == 1
    assert by_rule["related_parties"] == 1
    assert "near_due_financing" not in by_rule
    assert "structuring" not in by_rule
    with engine.connect() as conn:
        cp = conn.execute(select(checkpoint.c.block_number)).scalar()
        assert store.checkpoint(conn, second.store.chain_id) == cp
        for alert in alerts:
            for proof in alert["proofs"]:  # each proof is an indexed event, and on chain
                row = conn.execute(select(events).where(
                    events.c.tx_hash == proof["tx_hash"], events.c.log_index == proof["log_index"]
                )).one()  # fmt: skip
                assert (row.block_number, row.block_hash, row.event_name) == (
                    proof["block_number"],
                    proof["block_hash"],
                    proof["event"],
                )
                receipt = ledger.rpc("eth_getTransactionReceipt", [proof["tx_hash"]])
                assert int(receipt["blockNumber"], 16) == proof["block_number"]
                assert proof["log_index"] in {int(x["logIndex"], 16) for x in receipt["logs"]}
    circular = next(a for a in alerts if a["rule"] == "circular_flow")
    assert circular["details"]["receivable_id"] == ids["second"]
    assert circular["subjects"] == sorted(
        ledger.accounts[n].address.lower() for n in ("supplier", "supplier2")
    )


def test_a_failing_rule_never_stops_the_index(
    ledger: Ledger, engine: Engine, make_indexer: Callable[..., Indexer], monkeypatch
) -> None:
    _story(ledger)

    def broken(config, facts):
        raise ZeroDivisionError("a rule's bug")

    monkeypatch.setitem(rules.RULES, "circular_flow", broken)
    indexer = make_indexer()
    indexer.run(follow=False)
    assert indexer.monitor.failures >= 1
    assert _alerts(engine) == []
    assert "ZeroDivisionError" in indexer.monitor.last_error
    with engine.connect() as conn:
        # Blocks without a rule's event are passed; none from the first failed run on.
        first = conn.execute(select(events.c.block_number).where(
            events.c.event_name == "ReceivableRegistered")).scalar()  # fmt: skip
        assert (store.checkpoint(conn, indexer.store.chain_id) or 0) < first
    monkeypatch.undo()
    indexer.monitor.run()  # fixed: the same blocks are run, nothing skipped
    assert {"circular_flow", "fast_finance"} <= {a["rule"] for a in _alerts(engine)}
    assert json.dumps(_alerts(engine), default=str)


def test_runs_window_by_window_find_what_one_run_finds(tmp_path) -> None:
    """A run reads only its window from the database and keeps the look-back it read for
    the next: 60 days of synthetic trade run 500 events at a time raise exactly the
    alerts of one run over all of it."""
    from bench.monitoring_bench import measure

    keys = []
    for per_run in (500, 6_000):
        engine = make_engine(f"sqlite:///{tmp_path}/{per_run}.db")
        measure(engine, 6_000, per_run=per_run)
        with engine.connect() as conn:
            keys.append(sorted(conn.execute(select(store.monitoring_alerts.c.key)).scalars()))
        engine.dispose()
    assert keys[0] == keys[1]
    assert {k.split(":")[0] for k in keys[0]} >= {"circular_flow", "structuring", "velocity"}


def test_caught_up_runs_wait_for_the_interval_and_skip_no_block(
    ledger: Ledger, engine: Engine, make_indexer: Callable[..., Indexer]
) -> None:
    """Caught up, the rules run at most every ``monitoring_interval`` s (issue 24: a run
    per written block held the next write's indexing behind it): a block indexed inside
    the interval is not run yet, and the first run after it takes that block too."""
    ledger.list_token(b"CNY")
    root = ledger.register(1_000_000_00)
    ledger.send("supplier", "receivables", "confirm", root)
    ledger.send("supplier", "receivables", "split", root, [600_000_00, 400_000_00])
    supplier, supplier2 = (ledger.accounts[n].address for n in ("supplier", "supplier2"))
    ledger.send("supplier", "receivables", "transfer", root + 2, supplier2)
    indexer = make_indexer(monitoring_interval=3600.0)
    first = index_to_head(indexer)  # the first caught-up step runs at once
    with engine.connect() as conn:
        assert store.checkpoint(conn, indexer.store.chain_id) == first
    ledger.send("supplier2", "receivables", "transfer", root + 2, supplier)  # circular flow
    head = index_to_head(indexer)
    assert head > first
    with engine.connect() as conn:
        assert store.checkpoint(conn, indexer.store.chain_id) == first  # inside the interval
    assert _alerts(engine) == []
    indexer.monitor.last_run -= 3600.0  # as if the interval had passed
    assert indexer.monitor.after_batch(0, caught_up=True) == 1
    [alert] = _alerts(engine)
    assert alert["rule"] == "circular_flow"
    assert alert["proofs"][-1]["block_number"] == head


def test_blocks_indexed_again_after_a_reorg_are_run_again(
    ledger: Ledger, engine: Engine, make_indexer: Callable[..., Indexer]
) -> None:
    """The rules had run over block N (a mint); the chain replaced it with a block where a
    part comes back to its creditor: the rollback lowers the rules' checkpoint, and the
    new block N is run, raising the circular-flow alert."""
    ledger.list_token(b"CNY")
    root = ledger.register(1_000_000_00)
    ledger.send("supplier", "receivables", "confirm", root)
    ledger.send("supplier", "receivables", "split", root, [600_000_00, 400_000_00])
    supplier, supplier2 = (ledger.accounts[n].address for n in ("supplier", "supplier2"))
    ledger.send("supplier", "receivables", "transfer", root + 2, supplier2)
    indexer = make_indexer()
    indexer.run(follow=False)
    snapshot = ledger.rpc("evm_snapshot", [])
    ledger.send("bank", "cny", "mint", supplier, 1)
    replaced = index_to_head(indexer)
    with engine.connect() as conn:
        assert store.checkpoint(conn, indexer.store.chain_id) == replaced
    assert _alerts(engine) == []

    ledger.rpc("evm_revert", [snapshot])
    ledger.send("supplier2", "receivables", "transfer", root + 2, supplier)
    assert ledger.head() == replaced  # the same height, another block
    index_to_head(indexer)

    [alert] = _alerts(engine)
    assert alert["rule"] == "circular_flow"
    assert alert["proofs"][-1]["block_number"] == replaced


def test_sigkilled_indexer_processes_raise_every_alert_once(
    ledger: Ledger, anvil, artifacts, tmp_path
) -> None:
    """`ledger-app index` SIGKILLed at random moments while the trade goes on (the rules
    run after each caught-up step), then restarted: the alerts are exactly those of one
    indexer that ran undisturbed."""
    from test_process import ledger_app, service_env

    from ledger_app.db import migrate
    from ledger_app.indexer.service import build_indexer

    url = f"sqlite:///{tmp_path}/killed.db"
    engine = make_engine(url)
    migrate.upgrade(engine)
    _story(ledger)
    _profiles(engine, ledger)
    env = service_env(ledger, anvil, url, tmp_path)
    rng = random.Random(23)

    def runs() -> int:
        with engine.connect() as conn:
            return conn.execute(select(store.monitoring_checkpoint.c.runs)).scalar() or 0

    ran = []
    for _ in range(5):
        before = runs()
        process = subprocess.Popen(ledger_app("index", "--poll", "0.02"), env=env)
        # Just under the structuring threshold, one after another.
        ledger.register(99_500_000)
        deadline = time.monotonic() + 30
        while runs() == before and time.monotonic() < deadline:  # the rules run in it
            time.sleep(0.01)
        for _ in range(2):
            ledger.register(99_500_000)
            time.sleep(rng.uniform(0, 0.15))
        process.send_signal(signal.SIGKILL)
        process.wait()
        ran.append(runs() - before)
    assert min(ran) >= 1, ran  # each process ran the rules before it was killed
    done = subprocess.run(ledger_app("backfill", "--quiet"), env=env, timeout=120, check=False)
    assert done.returncode == 0

    fresh = make_engine(f"sqlite:///{tmp_path}/fresh.db")
    migrate.upgrade(fresh)
    _profiles(fresh, ledger)
    index_to_head(build_indexer(rpc_url=anvil.rpc_url, engine=fresh, artifacts=artifacts,
                                contracts=ledger.contracts(),
                                start_block=ledger.deployment_block))  # fmt: skip
    killed, undisturbed = (sorted(a["key"] for a in _alerts(e)) for e in (engine, fresh))
    assert killed == undisturbed
    assert {k.split(":")[0] for k in killed} >= TRIPPED | {"structuring"}
    engine.dispose()
    fresh.dispose()
