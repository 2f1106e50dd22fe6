"""The access log's anchoring as `ledger-app run` does it, killed between an anchor's
broadcast and its record, then restarted: nothing is lost, the anchor is found again on
the chain, anchoring goes on, and the log verifies; a clean stop anchors the last rows."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from service_stack import Stack, running_stack
from sqlalchemy import select

from ledger_app.db.access_chain import chain_head
from ledger_app.db.api_tables import access_log_anchors
from ledger_app.db.engine import make_engine

pytestmark = pytest.mark.slow


@pytest.fixture
def stack(tmp_path) -> Iterator[Stack]:
    env = {"LEDGER_ACCESS_LOG_ANCHOR_INTERVAL": "0.5"}
    cast = {"auditor": ["AUDITOR"], "bank": ["SETTLEMENT_BANK"]}
    with running_stack(tmp_path, cast, env=env) as stack:
        yield stack


def on_chain(stack: Stack) -> int:
    """The count of the ledger's last anchor."""
    count, _head = stack.service.contracts.view(stack.service.client, "access_log_anchor",
                                                "lastAnchor")  # fmt: skip
    return int(count)


def recorded(stack: Stack) -> set[int]:
    engine = make_engine(stack.database_url)
    with engine.connect() as conn:
        counts = set(conn.execute(select(access_log_anchors.c.count)).scalars())
    engine.dispose()
    return counts


def until(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def test_kill_between_anchor_and_record_loses_nothing(stack: Stack) -> None:
    until(lambda: on_chain(stack) > 0, "the first anchor")
    for _ in range(5):
        stack.service.call("auditor", "GET", "/v1/currencies")

    # SIGKILL the service the moment its next anchor reaches the node, before it hears back.
    fired = stack.proxy.arm("eth_sendRawTransaction", stack.api.kill)
    assert fired.wait(60), stack.api.log_tail()
    killed_at = on_chain(stack)
    assert killed_at not in recorded(stack)  # sent and mined, never recorded

    stack.api.start()
    stack.wait_healthy()
    until(lambda: killed_at in recorded(stack), "the killed anchor recorded from the chain")
    until(lambda: on_chain(stack) > killed_at, "an anchor after the restart")
    report = stack.service.call("auditor", "GET", "/v1/audit/access-log/verify").json()

    assert report["ok"], report
    assert report["anchor_mismatches"] == []
    assert report["last_anchored"] >= killed_at
    assert report["rows"] >= report["last_anchored"]

    # A clean stop anchors the rows written since, the stop's own last ones included.
    stack.api.stop()
    engine = make_engine(stack.database_url)
    with engine.connect() as conn:
        rows, _head = chain_head(conn)
    engine.dispose()
    assert on_chain(stack) == rows
    assert max(recorded(stack)) == rows
