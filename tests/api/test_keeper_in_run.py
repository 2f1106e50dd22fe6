"""The overdue keeper as `ledger-app run` runs it: a thread of the service, every
LEDGER_KEEPER_INTERVAL seconds, as the operator, with nobody asking."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from apikit import Service, running_service
from riskkit import DAY, active, chain_time, due_at, due_in, new_core, warp


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service whose keeper passes every half second (the suite's others have none)."""
    with running_service(tmp_path_factory.mktemp("keeper"), keeper_interval=0.5) as svc:
        yield svc


def test_the_services_own_keeper_flags_a_root_past_the_trigger_and_restricts_its_debtor(
    service: Service,
) -> None:
    core = new_core(service, "unattended_core")
    late = active(service, "unattended_core", due_date=due_in(service, 2))
    warp(service, due_at(late) - chain_time(service) + 31 * DAY)

    deadline = time.monotonic() + 60
    flags: list = []
    while time.monotonic() < deadline and not flags:
        flags = service.call("auditor", "GET", "/v1/risk/overdue-flags",
                             params={"debtor": core, "open": "true"}).json()  # fmt: skip
        time.sleep(0.2)
    shown = service.call("auditor", "GET", f"/v1/receivables/{late['id']}").json()
    refused = service.call("unattended_core", "POST", "/v1/receivables",
                           json=service.registration())  # fmt: skip

    assert [(f["root_id"], f["flagged_by"].lower()) for f in flags] == [
        (late["id"], service.operator_address.lower())]  # fmt: skip
    assert shown["status"] == "OVERDUE"
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == "RiskObligorRestricted"
