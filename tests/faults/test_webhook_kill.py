"""The outbox across a SIGKILL of `ledger-app run`: notifications committed while their
receiver was failing, the service killed before any was delivered, restarted: each is
delivered, in order, and acknowledged once per event id (no 2xx-acknowledged id is sent
again: the cursor moves in the transaction that records the 2xx)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from service_stack import Stack, running_stack
from sqlalchemy import func, select
from webhookkit import Receiver

from ledger_app.db.engine import make_engine
from ledger_app.db.notification_tables import notifications

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path) -> Iterator[Stack]:
    env = {"LEDGER_WEBHOOK_ALLOW_HTTP_LOOPBACK": "true", "LEDGER_WEBHOOK_BACKOFF_BASE": "0.2",
           "LEDGER_WEBHOOK_BACKOFF_MAX": "0.5", "LEDGER_WEBHOOK_MAX_FAILURES": "1000",
           "LEDGER_WEBHOOK_DELIVERY_INTERVAL": "0.1"}  # fmt: skip
    cast = {"core": ["CORE_ENTERPRISE"], "supplier": ["SUPPLIER"], "bank": ["SETTLEMENT_BANK"]}
    with running_stack(tmp_path, cast, env=env) as stack:
        yield stack


def announced(stack: Stack, audience: str) -> int:
    engine = make_engine(stack.database_url)
    with engine.connect() as conn:
        count = conn.execute(
            select(func.count()).where(notifications.c.audience == audience.lower())
        ).scalar_one()
    engine.dispose()
    return int(count)


def test_outbox_survives_a_sigkill_and_delivers_once_per_event_id(stack: Stack) -> None:
    receiver = Receiver()
    receiver.default = 500
    try:
        svc = stack.service
        made = svc.call("supplier", "POST", "/v1/webhooks",
                        json={"url": receiver.url, "kinds": ["receivable.to_confirm"]})  # fmt: skip
        assert made.status_code == 201, made.text
        ids = [svc.register()["id"] for _ in range(3)]
        receiver.wait(lambda: announced(stack, svc.addresses["supplier"]) == 3, "3 announced")
        receiver.wait(lambda: receiver.received, "a failed attempt")
        stack.api.kill()
        assert receiver.answered(200) == []
        receiver.default = 200
        stack.api.start()
        stack.wait_healthy()
        receiver.wait(lambda: len(receiver.answered(200)) >= 3, "3 delivered after the restart")
        receiver.wait(lambda: svc.call("supplier", "GET", "/v1/webhooks").json()[0]
                      ["last_event_id"] == receiver.answered(200)[-1]["event_id"],
                      "the cursor at the last delivered")  # fmt: skip
        delivered = receiver.answered(200)
        event_ids = [r["event_id"] for r in delivered]
        assert len(event_ids) == len(set(event_ids)) == 3, event_ids
        assert event_ids == sorted(event_ids)
        assert [r["json"]["data"]["receivable_id"] for r in delivered] == ids
    finally:
        receiver.close()
