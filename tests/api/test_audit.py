"""Audit routes over HTTP: full and scoped traces, verification, queries, exports,
reconciliation, and the access log (recorded for every request, editable by none)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.engine import make_url

from ledger_app.api.app import api_routes, create_app
from ledger_app.db.api_tables import access_log
from ledger_app.db.engine import make_engine

if TYPE_CHECKING:  # by name only: in a run with other suites, ``conftest`` may be theirs
    from conftest import Service


def _tree(service: Service) -> dict:
    """core -> supplier; supplier splits 70/30 and passes the 30 part to supplier2,
    which splits it 20/10; a second tree of core2 -> supplier2 stays apart."""
    root = service.active()
    parts = service.call("supplier", "POST", f"/v1/receivables/{root['id']}/split",
                         json={"amounts": ["70000000", "30000000"]}).json()["result"]  # fmt: skip
    kept, passed = parts[1]["id"], parts[2]["id"]
    assert service.call("supplier", "POST", f"/v1/receivables/{passed}/transfer",
                        json={"to": service.addresses["supplier2"]}).status_code == 200  # fmt: skip
    tier2 = service.call("supplier2", "POST", f"/v1/receivables/{passed}/split",
                         json={"amounts": ["20000000", "10000000"]}).json()["result"]  # fmt: skip
    return {
        "root": root["id"],
        "kept": kept,
        "passed": passed,
        "t2a": tier2[1]["id"],
        "t2b": tier2[2]["id"],
    }


def test_auditor_sees_full_trace_and_it_verifies(service: Service) -> None:
    ids = _tree(service)

    trace = service.call("auditor", "GET", f"/v1/receivables/{ids['t2a']}/trace").json()
    verdict = service.call("auditor", "POST", f"/v1/receivables/{ids['t2a']}/trace/verify").json()
    text = service.call(
        "auditor", "GET", f"/v1/receivables/{ids['t2a']}/trace", params={"format": "text"}
    )

    assert [n["id"] for n in trace["receivables"]] == [
        ids[k] for k in ("root", "kept", "passed", "t2a", "t2b")
    ]
    assert [s["kind"] for s in trace["steps"] if s["kind"] in ("registration", "confirmation", "split", "transfer")] == [
        "registration", "confirmation", "split", "transfer", "split"]  # fmt: skip
    assert all("raw" in s and s["block_timestamp"] for s in trace["steps"])
    assert verdict["verified"] is True
    assert {s["status"] for s in verdict["steps"]} == {"verified"}
    # Complete: the tree rebuilt from the node over the deployment record's contracts.
    complete = verdict["completeness"]
    assert complete["complete"] is True, complete
    assert complete["chain_steps"] == len(trace["steps"])
    assert complete["chain_receivables"] == 5
    assert complete["contracts"]["problems"] == []
    assert complete["rpc"]["requests"] >= 2
    assert trace["contracts"][trace["registry"]] == "ReceivableRegistry"
    assert trace["from_block"] <= trace["steps"][0]["block_number"]
    assert text.status_code == 200
    assert f"#{ids['t2a']} tier 2" in text.text


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def test_openapi_describes_every_field_of_a_trace_step(service: Service) -> None:
    ids = _tree(service)
    spec = service.call("auditor", "GET", "/openapi.json").json()
    full = service.call("auditor", "GET", f"/v1/receivables/{ids['t2a']}/trace").json()
    scoped = service.call("supplier2", "GET", f"/v1/receivables/{ids['t2a']}/trace").json()

    answer = spec["paths"]["/v1/receivables/{receivable_id}/trace"]["get"]["responses"]["200"]
    trace = _resolve(spec, answer["content"]["application/json"]["schema"])
    step = _resolve(spec, trace["properties"]["steps"]["items"])
    node = _resolve(spec, trace["properties"]["receivables"]["items"])
    amount = _resolve(spec, step["properties"]["amounts"]["items"])
    for shown in (full, scoped):
        for given in shown["steps"]:
            assert set(given) <= set(step["properties"]), set(given) - set(step["properties"])
            for money in given["amounts"]:
                assert set(money) == set(amount["properties"])
        for receivable in shown["receivables"]:
            assert set(receivable) <= set(node["properties"])
    assert {"seq", "kind", "actors", "amounts", "block_number", "block_hash", "tx_hash",
            "log_index", "block_timestamp", "details", "raw"} <= set(step["properties"])  # fmt: skip
    assert all(step["properties"][f].get("description") for f in ("kind", "actors", "details"))


def test_supplier2_sees_its_path_with_other_holders_masked(service: Service) -> None:
    ids = _tree(service)
    supplier, supplier2 = (service.addresses[n].lower() for n in ("supplier", "supplier2"))

    response = service.call("supplier2", "GET", f"/v1/receivables/{ids['t2a']}/trace")
    verdict = service.call("supplier2", "POST", f"/v1/receivables/{ids['t2a']}/trace/verify").json()
    # The whole tree's completeness verdict, counts only: no hidden step is named.
    assert verdict["verified"] is True
    assert verdict["completeness"]["complete"] is True
    assert verdict["completeness"]["missing_steps"] == 0
    assert "contracts" not in verdict["completeness"]

    assert response.status_code == 200, response.text
    trace = response.json()
    assert [n["id"] for n in trace["receivables"]] == [
        ids["root"],
        ids["passed"],
        ids["t2a"],
        ids["t2b"],
    ]
    root = trace["receivables"][0]
    assert root["debtor"] == service.addresses["core"].lower()  # the debtor it needs for financing
    assert root["holder"] == "masked"
    assert root["amount"] == "100000000"
    assert root["children"] == [ids["passed"]]  # the sibling subtree is not there
    assert all(s["receivable_id"] != ids["kept"] for s in trace["steps"])
    assert all("raw" not in s and "args" not in s for s in trace["steps"])
    # The transfer to it names who passed it on; steps it was no party to do not.
    transfer = next(s for s in trace["steps"] if s["kind"] == "transfer")
    assert transfer["actors"]["from"] == supplier
    registration = next(s for s in trace["steps"] if s["kind"] == "registration")
    assert registration["actors"]["creditor"] == "masked"
    split = next(
        s for s in trace["steps"] if s["kind"] == "split" and s["receivable_id"] == ids["root"]
    )
    assert [m["amount"] for m in split["amounts"]] == ["30000000"]
    others = {
        a for name, a in service.addresses.items() if name not in ("core", "supplier", "supplier2")
    }
    assert not {a.lower() for a in others} & set(json.dumps(trace).split('"'))
    assert supplier2 in json.dumps(trace)


def test_non_party_gets_404_and_supplier_not_sibling_trace(service: Service) -> None:
    ids = _tree(service)

    assert (
        service.call("financier", "GET", f"/v1/receivables/{ids['root']}/trace").status_code == 404
    )
    assert service.call("core2", "GET", f"/v1/receivables/{ids['root']}/trace").status_code == 404
    assert (
        service.call("supplier2", "GET", f"/v1/receivables/{ids['kept']}/trace").status_code == 404
    )
    assert service.call("core", "GET", f"/v1/receivables/{ids['kept']}/trace").status_code == 200
    assert service.call("auditor", "GET", "/v1/receivables/999999/trace").status_code == 404


def test_tier2_holder_reads_every_receivable_its_trace_shows_and_no_other(
    service: Service,
) -> None:
    ids = _tree(service)

    trace = service.call("supplier2", "GET", f"/v1/receivables/{ids['t2a']}/trace").json()
    listed = service.call("supplier2", "GET", "/v1/receivables",
                          params={"root_id": ids["root"]}).json()  # fmt: skip
    reads = {
        key: service.call("supplier2", "GET", f"/v1/receivables/{rid}").status_code
        for key, rid in ids.items()
    }

    shown = [n["id"] for n in trace["receivables"]]
    assert shown == [ids[k] for k in ("root", "passed", "t2a", "t2b")]
    # The root of its leaf is its provenance: the trace shows it, and so does the API.
    assert reads == {"root": 200, "kept": 404, "passed": 200, "t2a": 200, "t2b": 200}
    assert [r["id"] for r in listed["items"]] == shown


def test_sibling_holder_gets_404_and_the_sibling_is_not_in_its_trace(service: Service) -> None:
    ids = _tree(service)

    read = service.call("supplier2", "GET", f"/v1/receivables/{ids['kept']}")
    sibling_trace = service.call("supplier2", "GET", f"/v1/receivables/{ids['kept']}/trace")
    root_trace = service.call("supplier2", "GET", f"/v1/receivables/{ids['root']}/trace")

    assert read.status_code == 404
    assert sibling_trace.status_code == 404
    assert root_trace.status_code == 200, root_trace.text
    assert ids["kept"] not in [n["id"] for n in root_trace.json()["receivables"]]
    assert all(s["receivable_id"] != ids["kept"] for s in root_trace.json()["steps"])


def test_queries_activity_transaction_report_and_exposure(service: Service) -> None:
    ids = _tree(service)
    supplier2 = service.addresses["supplier2"]

    activity = service.call("regulator", "GET", f"/v1/audit/participants/{supplier2}/events",
                            params={"limit": 2}).json()  # fmt: skip
    tx = activity["items"][0]["tx_hash"]
    one_tx = service.call("auditor", "GET", f"/v1/audit/transactions/{tx}").json()
    report = service.call("auditor", "GET", "/v1/audit/receivables",
                          params={"debtor": service.addresses["core"], "status": "SPLIT"}).json()  # fmt: skip
    exposure = service.call("auditor", "GET", "/v1/audit/exposure")

    assert len(activity["items"]) == 2
    assert activity["next_cursor"]
    following = service.call("regulator", "GET", f"/v1/audit/participants/{supplier2}/events",
                             params={"after": activity["next_cursor"]}).json()  # fmt: skip
    assert following["items"][0]["block_number"] >= activity["items"][1]["block_number"]
    assert all(
        supplier2.lower() in json.dumps(e["args"]) for e in activity["items"] + following["items"]
    )
    assert [e["tx_hash"] for e in one_tx["events"]] == [tx] * len(one_tx["events"])
    assert ids["root"] in [r["id"] for r in report["items"]]
    assert int(report["totals"]["CNY"]["amount"]) == sum(int(r["amount"]) for r in report["items"])
    assert exposure.status_code == 200
    assert exposure.json()["items"] == []
    assert exposure.json()["as_of_block"] == int(exposure.headers["X-Ledger-Block"])
    assert service.call("supplier", "GET", "/v1/audit/exposure").status_code == 403


def test_exports_stream_csv_and_ndjson_and_reconcile_is_clean(service: Service) -> None:
    _tree(service)

    with service.http("auditor") as http:
        events = http.get("/v1/audit/exports/events", params={"format": "csv"})
        traces = http.get("/v1/audit/exports/traces", params={"format": "ndjson"})
        reconciled = http.get("/v1/reconcile")

    assert events.headers["content-type"].startswith("text/csv")
    assert events.text.splitlines()[0].startswith("block_number,block_timestamp")
    lines = [json.loads(x) for x in traces.text.splitlines()]
    assert lines
    assert all(t["receivables"][0]["parent_id"] == 0 for t in lines)
    body = reconciled.json()
    assert body["mismatches"] == []
    assert len(body["digest"]) == 64


def test_reconcile_before_deployment_is_409_and_a_malformed_block_422(service: Service) -> None:
    with service.http("auditor") as http:
        before = http.get("/v1/reconcile", params={"block": 0})
        malformed = http.get("/v1/reconcile", params={"block": -1})

    # Block 0 is a well-formed question the ledger's history cannot answer.
    assert (before.status_code, before.json()["error"]) == (409, "BlockBeforeDeployment")
    assert before.json()["args"]["field"] == "block"
    assert (malformed.status_code, malformed.json()["error"]) == (422, "ValidationFailed")


def test_access_log_records_every_request_including_refused(service: Service) -> None:
    marker = "/v1/receivables/424242/trace"
    service.call("supplier", "GET", marker)  # 404
    service.call("supplier", "GET", "/v1/audit/exposure")  # 403
    with service.http(key="not-a-key") as http:
        http.get(marker)  # 401

    log = service.call("auditor", "GET", "/v1/access-log", params={"path_prefix": marker}).json()[
        "items"
    ]
    refused = service.call("auditor", "GET", "/v1/access-log",
                           params={"participant": service.addresses["supplier"], "status": 403}).json()  # fmt: skip

    assert sorted(e["status"] for e in log) == [401, 404]
    assert {e["participant"] for e in log} == {None, service.addresses["supplier"].lower()}
    assert any(e["operation"] == "audit.exposure" for e in refused["items"])
    assert service.call("supplier", "GET", "/v1/access-log").status_code == 403


@contextmanager
def writer_lock_held(service: Service, at_most: float) -> Iterator[threading.Event]:
    """SQLite's one writer lock taken by another connection (as the indexer or a journal
    write takes it) for ``at_most`` seconds or until the block ends; the event is set
    when it is given back."""
    path = make_url(service.settings.database_url).database
    holder = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # the writer lock, until COMMIT
    released = threading.Event()
    done = threading.Event()

    def hold() -> None:
        done.wait(at_most)
        holder.execute("COMMIT")
        holder.close()
        released.set()

    keeper = threading.Thread(target=hold, daemon=True)
    keeper.start()
    try:
        yield released
    finally:
        done.set()
        keeper.join()


# The engine's busy timeout (ledger_app/db/engine.py): how long a writer waits for the lock.
BUSY_TIMEOUT = 5.0


def test_reads_are_answered_while_another_writer_holds_the_database(service: Service) -> None:
    # More reads than the engine's pool has connections (5 + 10 overflow): a read must not
    # wait for SQLite's writer lock, nor for a connection held by something that does.
    with writer_lock_held(service, at_most=BUSY_TIMEOUT - 1) as released:
        with service.http("auditor") as http:
            answers = [http.get("/v1/receivables", params={"limit": 1}) for _ in range(20)]
        answered_while_held = not released.is_set()

    assert [a.status_code for a in answers] == [200] * 20
    assert answered_while_held


def test_access_log_keeps_a_row_while_the_database_is_locked_longer_than_its_timeout(
    service: Service,
) -> None:
    marker = f"/v1/receivables/{time.time_ns() % 10**9}"
    with writer_lock_held(service, at_most=BUSY_TIMEOUT + 1.5) as released:
        assert service.call("supplier", "GET", marker).status_code == 404
        released.wait()

    deadline = time.monotonic() + 20
    while True:
        found = service.call("auditor", "GET", "/v1/access-log",
                             params={"path_prefix": marker}).json()["items"]  # fmt: skip
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [(e["path"], e["status"]) for e in found] == [(marker, 404)]


def test_no_route_edits_the_access_log(service: Service) -> None:
    engine = make_engine(service.settings.database_url)
    with engine.connect() as conn:
        before = [tuple(r) for r in conn.execute(select(access_log).order_by(access_log.c.id))]
    routes = api_routes(create_app(service.settings).routes)

    # Every route with every method it has, as the auditor and the operator, with junk.
    for route in routes:
        path = route.path
        for name in route.param_convertors:
            path = path.replace("{" + name + "}", "1")
        for who in ("auditor", "operator"):
            for method in route.methods:
                # The event stream would stay open its whole default life (10 minutes).
                params = {"max_seconds": 1} if path.endswith("/events/stream") else None
                service.call(who, method, path, json={}, params=params)

    with engine.connect() as conn:
        after = [tuple(r) for r in conn.execute(select(access_log).order_by(access_log.c.id))]
    engine.dispose()
    assert after[: len(before)] == before  # nothing changed or deleted...
    assert len(after) >= len(before) + len(routes)  # ...only appended
    assert all(r.methods <= {"GET", "HEAD"} for r in routes if "access-log" in r.path)
