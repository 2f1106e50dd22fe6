"""The overdue keeper (ledger_app/api/keeper.py) against a real anvil and the service's own
send path: a pass marks every leaf past due and flags every root past the trigger, exactly
those, journaled like any write; a second pass sends nothing."""

from __future__ import annotations

import os

import pytest
from apikit import Service, onboard
from riskkit import DAY, active, chain_time, due_at, due_in, new_core, register, warp
from sqlalchemy import select

from ledger_app.api.keeper import OverdueKeeper
from ledger_app.cli import main
from ledger_app.db.api_tables import transactions
from ledger_app.errors import ConfigurationError

FACE = 100_000_000


def test_keeper_marks_and_flags_exactly_what_is_due_and_a_second_pass_sends_nothing(
    service: Service,
) -> None:
    runtime = service.app.state.runtime
    onboard(service, "keeper", ["AUDITOR"])  # any active participant may mark
    core = new_core(service, "kept_core")
    # One due date for all three: the chain's clock may cross midnight between two due_in().
    two_days = due_in(service, 2)
    due = active(service, "kept_core", due_date=two_days)
    split = active(service, "kept_core", due_date=two_days)
    parts = service.call("supplier", "POST", f"/v1/receivables/{split['id']}/split",
                         json={"amounts": [str(FACE // 2), str(FACE // 2)]}).json()["result"]  # fmt: skip
    later = active(service, "kept_core", due_date=due_in(service, 80))
    pending = register(service, "kept_core", due_date=two_days).json()["result"]
    warp(service, due_at(due) - chain_time(service) + 31 * DAY)
    keeper = OverdueKeeper(runtime, account=service.addresses["keeper"])

    first = keeper.run_once()
    second = keeper.run_once()

    leaves = {due["id"], parts[1]["id"], parts[2]["id"]}
    assert set(first.marked) == leaves
    assert first.flagged == [due["id"], split["id"]]
    assert first.skipped == []
    assert (second.marked, second.flagged, second.skipped) == ([], [], [])
    shown = {r["id"]: r["status"] for r in service.call(
        "auditor", "GET", "/v1/receivables", params={"limit": 500}).json()["items"]}  # fmt: skip
    assert {shown[i] for i in leaves} == {"OVERDUE"}
    assert (shown[later["id"]], shown[pending["id"]]) == ("ACTIVE", "PENDING")
    flags = service.call("regulator", "GET", "/v1/risk/overdue-flags",
                         params={"debtor": core, "open": "true"}).json()  # fmt: skip
    assert [(f["root_id"], f["flagged_by"]) for f in flags] == [
        (due["id"], service.addresses["keeper"]), (split["id"], service.addresses["keeper"])]  # fmt: skip
    with runtime.engine.connect() as conn:
        sent = conn.execute(select(transactions.c.operation, transactions.c.status).where(
            transactions.c.participant == service.addresses["keeper"].lower())).all()  # fmt: skip
    assert sorted(sent) == sorted([("keeper.mark_overdue", "MINED")] * 3
                                  + [("keeper.flag_overdue", "MINED")] * 2)  # fmt: skip


def test_keeper_as_the_operator_by_default_marks_and_flags_what_is_due(
    service: Service,
) -> None:
    # The operator is no onboarded participant; the contracts take its marks (the
    # service's keeper needs no participant of its own).
    new_core(service, "operator_kept_core")
    due = active(service, "operator_kept_core", due_date=due_in(service, 2))
    warp(service, due_at(due) - chain_time(service) + 31 * DAY)

    report = OverdueKeeper(service.app.state.runtime).run_once()

    assert due["id"] in report.marked
    assert report.flagged == [due["id"]]
    assert report.skipped == []
    flag = service.call("regulator", "GET", "/v1/risk/overdue-flags",
                        params={"open": "true"}).json()  # fmt: skip
    assert (due["id"], service.operator_address.lower()) in {
        (f["root_id"], f["flagged_by"].lower()) for f in flag}  # fmt: skip


def test_keeper_refuses_an_account_neither_operator_nor_active_participant(
    service: Service,
) -> None:
    benched = onboard(service, "benched_keeper", ["AUDITOR"])
    address = benched["address"]
    suspended = service.call("operator", "POST", f"/v1/participants/{address}/suspend")
    assert suspended.status_code < 300, suspended.text

    with pytest.raises(ConfigurationError, match="LEDGER_KEEPER_ACCOUNT"):
        OverdueKeeper(service.app.state.runtime, account=address)


def test_keeper_command_refuses_to_send_beside_a_running_service(
    service: Service, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Two senders for the same accounts would take the same nonces: `ledger-app keeper`
    # takes the sending lock like `run`, so beside a service it stops before sending.
    settings = service.settings
    for name, value in {"RPC_URL": settings.rpc_url, "MANAGED_NODE": "false",
                        "DATABASE_URL": settings.database_url,
                        "DEPLOYMENT_FILE": str(settings.deployment_file),
                        "ARTIFACTS_FILE": str(settings.artifacts_file),
                        "STATE_DIR": str(settings.state_dir),
                        "KEYSTORE_PASSPHRASE": "api-test-passphrase",
                        "KEYSTORE_SCRYPT_N": "1024"}.items():  # fmt: skip
        monkeypatch.setenv(f"LEDGER_{name}", value)
    nonce = service.client.get_transaction_count(service.operator_address)

    umask = os.umask(0o022)
    try:
        code = main(["keeper", "--once"])
    finally:
        os.umask(umask)  # main sets the service's own (0077) for the process

    assert code == 1
    assert "SenderLockedError" in caplog.text
    assert service.client.get_transaction_count(service.operator_address) == nonce
