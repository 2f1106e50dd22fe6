"""The overdue keeper (ledger_app/api/keeper.py) against a real anvil and the service's own
send path: a pass marks every leaf past due and flags every root past the trigger, exactly
those, journaled like any write; a second pass sends nothing."""

from __future__ import annotations

import pytest
from apikit import Service, onboard
from riskkit import DAY, active, chain_time, due_at, due_in, new_core, register, warp
from sqlalchemy import select

from ledger_app.api.keeper import OverdueKeeper
from ledger_app.db.api_tables import transactions
from ledger_app.errors import ConfigurationError

FACE = 100_000_000


def test_keeper_marks_and_flags_exactly_what_is_due_and_a_second_pass_sends_nothing(
    service: Service,
) -> None:
    runtime = service.app.state.runtime
    onboard(service, "keeper", ["AUDITOR"])  # any active participant may mark
    core = new_core(service, "kept_core")
    due = active(service, "kept_core", due_date=due_in(service, 2))
    split = active(service, "kept_core", due_date=due_in(service, 2))
    parts = service.call("supplier", "POST", f"/v1/receivables/{split['id']}/split",
                         json={"amounts": [str(FACE // 2), str(FACE // 2)]}).json()["result"]  # fmt: skip
    later = active(service, "kept_core", due_date=due_in(service, 80))
    pending = register(service, "kept_core", due_date=due_in(service, 2)).json()["result"]
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


def test_keeper_refuses_an_account_that_is_no_active_participant(service: Service) -> None:
    # The operator's own account is not onboarded: the contracts would refuse every mark.
    with pytest.raises(ConfigurationError, match="LEDGER_KEEPER_ACCOUNT"):
        OverdueKeeper(service.app.state.runtime)
