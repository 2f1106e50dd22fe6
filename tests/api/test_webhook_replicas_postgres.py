"""Webhook delivery by several API replicas sharing one PostgreSQL database: each
notification is delivered once, in order, whichever replica takes it (a subscription is
leased by one replica at a time), and the outbox's ids commit in their order while two
transactions announce at once (its advisory lock). Against a real cluster
(tests/indexer/pgcluster.py) and a local receiver, through the classes the service runs."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from webhookkit import Receiver

from ledger_app.api.webhook_delivery import WebhookDelivery
from ledger_app.db import migrate
from ledger_app.db.engine import make_engine
from ledger_app.db.notification_tables import webhook_subscriptions
from ledger_app.db.outbox import announce
from ledger_app.settings import Settings

sys.path.append(str(Path(__file__).parents[1] / "indexer"))
from pgcluster import PostgresCluster, running_cluster

OWNER = "0x" + "ab" * 20
NOTIFICATIONS = 40


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with running_cluster() as started:
        yield started


def test_two_replicas_deliver_each_notification_once_in_order(cluster: PostgresCluster) -> None:
    engine = make_engine(cluster.create_database(), pool_size=8)
    migrate.upgrade(engine)
    settings = Settings(webhook_allow_http_loopback=True, webhook_timeout=2.0)
    runtime = SimpleNamespace(engine=engine, settings=settings, chain_id=31337,
                              webhook_key=b"k" * 32)  # fmt: skip
    receiver = Receiver()
    try:
        with engine.begin() as conn:
            conn.execute(webhook_subscriptions.insert().values(
                id="wh_replicas", participant=OWNER, url=receiver.url,
                kinds="receivable.to_confirm", secret_nonce="0" * 32, status="ACTIVE",
                cursor=0, attempts=0, consecutive_failures=0, created_at=datetime.now(UTC)))  # fmt: skip

        def announcer(tag: str, count: int, pause: float) -> None:
            """Announces, then goes on in its transaction for ``pause`` (as an indexer
            batch stores its blocks after announcing): another writer must not commit a
            later id meanwhile, or a replica moves past this one before it is visible."""
            for n in range(count):
                with engine.begin() as conn:
                    announce(conn, "receivable.to_confirm", OWNER, {"n": f"{tag}{n}"},
                             f"test:{tag}:{n}")  # fmt: skip
                    time.sleep(pause)
                time.sleep(0.01)

        replicas = [WebhookDelivery(runtime) for _ in range(2)]  # type: ignore[arg-type]
        stop = threading.Event()

        def deliver(replica: WebhookDelivery) -> None:
            while not stop.is_set():
                replica.run_once()

        slow, fast = 3, NOTIFICATIONS - 3  # slow transactions among many quick ones
        threads = [threading.Thread(target=announcer, args=("slow", slow, 0.4)),
                   threading.Thread(target=announcer, args=("fast", fast, 0.0))]  # fmt: skip
        threads += [threading.Thread(target=deliver, args=(r,)) for r in replicas]
        for t in threads:
            t.start()
        receiver.wait(lambda: len(receiver.answered(200)) >= NOTIFICATIONS, "every one", 60)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        ids = [r["event_id"] for r in receiver.answered(200)]
        assert len(ids) == len(set(ids)) == NOTIFICATIONS
        assert ids == sorted(ids)
        for replica in replicas:
            replica.close()
    finally:
        receiver.close()
        engine.dispose()
