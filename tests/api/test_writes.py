"""Writer.write_all, the several transactions of one request (a batch's chunks): queued
together, each sent only after the one before succeeded; a failure sends nothing after it.

Driven through the running service's own runtime (its sender, its indexer), with calls
that fail on purpose."""

from __future__ import annotations

import pytest
from apikit import Service
from eth_utils import keccak, to_checksum_address
from sqlalchemy import select

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.writes import Writer
from ledger_app.chain.sender import ContractCall
from ledger_app.db.api_tables import transactions
from ledger_app.errors import TransactionReverted


@pytest.fixture
def runtime(service: Service) -> Runtime:
    # The service's own runtime: a second one on its database would be refused (one
    # process sends for the custodial accounts: the sending lock).
    return service.app.state.runtime


def _batch(runtime: Runtime, service: Service, *invoices: str) -> ContractCall:
    due = int(service.client.get_block("latest")["timestamp"]) + 90 * 86_400  # chain time
    rows = [(service.addresses["supplier"], 100, b"CNY", due, keccak(text=invoice), b"\0" * 32, 0)
            for invoice in invoices]  # fmt: skip
    return runtime.contracts.call("receivables", "registerBatch", rows)


def _statuses(runtime: Runtime, operation: str) -> list[str]:
    with runtime.engine.connect() as conn:
        rows = conn.execute(
            select(transactions.c.status, transactions.c.error)
            .where(transactions.c.operation == operation)
            .order_by(transactions.c.created_at)
        ).all()
    return [status for status, _ in rows]


def _core(service: Service) -> Caller:
    return Caller(address=to_checksum_address(service.addresses["core"]), api_key_id="test",
                  roles=frozenset(), standing="ACTIVE")  # fmt: skip


def test_calls_of_one_request_land_in_order(runtime: Runtime, service: Service, unique) -> None:
    last_id = service.view("receivables", "lastId")
    calls = [_batch(runtime, service, f"{unique()}-a", f"{unique()}-b") for _ in range(3)]

    outcomes = Writer(runtime).write_all(_core(service), "test.in_order", calls)

    blocks = [o.block_number for o in outcomes]
    assert blocks == sorted(blocks)
    assert len(set(blocks)) == 3
    assert [o.state for o in outcomes] == ["done"] * 3
    assert service.view("receivables", "lastId") == last_id + 6
    assert _statuses(runtime, "test.in_order") == ["MINED"] * 3


def test_a_failed_call_sends_nothing_after_it(runtime: Runtime, service: Service, unique) -> None:
    last_id = service.view("receivables", "lastId")
    nonce = service.nonce("core")
    invoice = unique()
    first = _batch(runtime, service, invoice)
    again = _batch(runtime, service, invoice)  # refused: the first registers that invoice
    third = _batch(runtime, service, unique())

    with pytest.raises(TransactionReverted) as raised:
        Writer(runtime).write_all(_core(service), "test.stops", [first, again, third])

    assert raised.value.error_name == "ReceivableDuplicateInvoice"
    assert service.view("receivables", "lastId") == last_id + 1  # the third never went
    assert service.nonce("core") == nonce + 1
    assert _statuses(runtime, "test.stops") == ["MINED", "REFUSED", "FAILED"]
