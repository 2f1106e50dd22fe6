"""Helpers of the obligor-risk tests: the chain's clock, moving it, fresh cores, receivables
due at a chain time, and credit lines granted straight on the contract (until the
credit-line routes exist, a line is the financier's own transaction, sent through the
service's send path with its custodial key)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from apikit import Service, onboard

from ledger_app.api.identity import Caller
from ledger_app.api.services.writes import Writer
from ledger_app.domain.vocabulary import Role

DAY = 86_400


def chain_time(service: Service) -> int:
    """The latest block's timestamp."""
    return int(service.client.get_block("latest")["timestamp"])


def rpc(service: Service, method: str, params: list[Any]) -> Any:
    answer = httpx.post(service.settings.rpc_url,
                        json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})  # fmt: skip
    assert "error" not in answer.json(), answer.text
    return answer.json()["result"]


def indexed(service: Service) -> None:
    """Wait until the index holds the chain's latest block."""
    runtime = service.app.state.runtime
    assert runtime.wait_indexed(service.client.block_number(), 60) is not None


def warp(service: Service, seconds: int) -> None:
    """Move the chain's clock ``seconds`` on (evm_increaseTime, evm_mine) and wait for the
    index to reach the new block."""
    rpc(service, "evm_increaseTime", [seconds])
    rpc(service, "evm_mine", [])
    indexed(service)


def due_in(service: Service, days: int) -> str:
    """An ISO due date ``days`` after the chain's clock."""
    return (
        (datetime.fromtimestamp(chain_time(service), UTC) + timedelta(days=days)).date().isoformat()
    )


def due_at(receivable: dict[str, Any]) -> int:
    """A receivable's due date in unix seconds."""
    return int(datetime.fromisoformat(receivable["due_date"]).timestamp())


def new_core(service: Service, name: str) -> str:
    """Onboard core enterprise ``name`` holding CNY to repay; its address."""
    onboard(service, name, ["CORE_ENTERPRISE"])
    service.mint(name, 10**12)
    return service.addresses[name]


def register(service: Service, who: str, **overrides: Any) -> Any:
    """POST /v1/receivables as ``who`` (the raw response)."""
    return service.call(who, "POST", "/v1/receivables", json=service.registration(**overrides))


def active(service: Service, who: str, supplier: str = "supplier", **overrides: Any) -> dict:
    """A receivable owed by ``who`` to ``supplier``, confirmed."""
    response = register(service, who, creditor=service.addresses[supplier], **overrides)
    assert response.status_code == 201, response.text
    rid = response.json()["result"]["id"]
    confirmed = service.call(supplier, "POST", f"/v1/receivables/{rid}/confirm")
    assert confirmed.status_code == 200, confirmed.text
    return confirmed.json()["result"]


def grant_line(service: Service, financier: str, obligor: str, limit: int = 10**15) -> None:
    """``financier``'s credit line to ``obligor`` in CNY, sent on the contract directly."""
    # Through the service's own send path (its sender keeps the financier's nonces).
    runtime = service.app.state.runtime
    caller = Caller(address=service.addresses[financier], api_key_id="test",
                    roles=frozenset({Role.FINANCIER}), standing="ACTIVE")  # fmt: skip
    expiry = chain_time(service) + 3650 * DAY
    call = service.contracts.call("credit_lines", "grant", service.addresses[obligor], b"CNY",
                                  limit, expiry)  # fmt: skip
    outcome = Writer(runtime).write(caller, "credit_lines.grant", call)
    assert outcome.block_number is not None
    indexed(service)
