"""Webhooks and the event stream against a real service and a local receiver: signatures
verify with the README's snippet, a 500 and a timeout are retried, order holds per
subscription, a subscription is disabled after repeated failures and replayed, no
participant hears what it may not read (every kind), SSRF and unknown kinds are refused,
the stream resumes with Last-Event-ID missing nothing and repeating nothing, and a
compliance alert a rule raises reaches the regulators' and auditors' streams and webhooks
once and no one else (issue 23)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from apikit import OFFER_TERMS, Service, make_lei, onboard, running_service
from webhookkit import Receiver, verify

from ledger_app.api.keeper import OverdueKeeper
from ledger_app.db.engine import make_engine
from ledger_app.db.outbox import announce
from ledger_app.domain.notifications import ALERT_RAISED, KINDS, role_audience


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(
        tmp_path_factory.mktemp("webhooks"),
        webhook_allow_http_loopback=True,
        webhook_timeout=1.0,
        webhook_backoff_base=0.2,
        webhook_backoff_max=1.0,
        webhook_max_failures=3,
        webhook_due_soon_interval=0.3,
        webhook_delivery_interval=0.1,
        event_stream_heartbeat=0.5,
    ) as svc:
        yield svc


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def subscribe(service: Service, who: str, url: str, kinds: list[str] | None = None) -> dict:
    if kinds is None:
        kinds = list(KINDS)
    made = service.call(who, "POST", "/v1/webhooks", json={"url": url, "kinds": kinds})
    assert made.status_code == 201, made.text
    return made.json()


def test_delivery_is_signed_and_verifies_with_the_readme_snippet(service, receiver) -> None:
    sub = subscribe(service, "supplier", receiver.url, ["receivable.to_confirm"])
    assert sub["secret"].startswith("whsec_")
    shown = service.call("supplier", "GET", f"/v1/webhooks/{sub['id']}").json()
    assert shown["secret"] is None  # shown once
    registered = service.register()
    got = receiver.wait(lambda: receiver.answered(200), "the to-confirm notification")[0]
    assert got["json"]["kind"] == "receivable.to_confirm"
    assert got["json"]["data"]["receivable_id"] == registered["id"]
    assert got["json"]["id"] == got["event_id"]
    assert verify(sub["secret"], got["signature"], got["body"])
    assert not verify(sub["secret"], got["signature"], got["body"] + b" ")
    assert not verify("whsec_wrong", got["signature"], got["body"])
    # A rotated secret signs what follows; the old one no longer verifies.
    rotated = service.call("supplier", "POST", f"/v1/webhooks/{sub['id']}/rotate-secret").json()
    assert rotated["secret"] != sub["secret"]
    service.register()
    later = receiver.wait(lambda: receiver.answered(200)[1:], "the next notification")[0]
    assert verify(rotated["secret"], later["signature"], later["body"])
    assert not verify(sub["secret"], later["signature"], later["body"])


def test_a_500_and_a_timeout_are_retried_with_the_same_event_id(service, receiver) -> None:
    receiver.script = [500, "hang"]
    sub = subscribe(service, "supplier", receiver.url, ["receivable.to_confirm"])
    service.register()
    ok = receiver.wait(lambda: receiver.answered(200), "delivered after a 500 and a timeout")
    assert [r["status"] for r in receiver.received] == [500, "hang", 200]
    assert len({r["event_id"] for r in receiver.received}) == 1
    gaps = [
        b["at"] - a["at"] for a, b in zip(receiver.received, receiver.received[1:], strict=False)
    ]
    assert gaps[0] >= 0.1  # backed off (base 0.2 s, jitter down to half)
    log = service.call("supplier", "GET", f"/v1/webhooks/{sub['id']}/deliveries").json()
    assert [(d["attempt"], d["ok"]) for d in reversed(log)] == [(1, False), (2, False), (3, True)]
    assert log[1]["error"].startswith("no answer in")
    assert log[2]["status_code"] == 500
    assert ok[0]["event_id"] == log[0]["event_id"]


def test_order_holds_per_subscription(service, receiver) -> None:
    receiver.script = [500]  # the head fails once: the later ones wait behind it
    subscribe(service, "supplier", receiver.url, ["receivable.to_confirm"])
    made = [service.register()["id"] for _ in range(4)]
    receiver.wait(lambda: len(receiver.answered(200)) == 4, "four delivered")
    delivered = [r["json"]["data"]["receivable_id"] for r in receiver.answered(200)]
    assert delivered == made
    ids = [r["event_id"] for r in receiver.answered(200)]
    assert ids == sorted(ids)


def test_disabled_after_repeated_failures_then_replayed(service, receiver) -> None:
    receiver.default = 503
    sub = subscribe(service, "supplier", receiver.url, ["receivable.to_confirm"])
    service.register()
    url = f"/v1/webhooks/{sub['id']}"
    receiver.wait(lambda: service.call("supplier", "GET", url).json()["status"] == "DISABLED",
                  "disabled")  # fmt: skip
    shown = service.call("supplier", "GET", url).json()
    assert "3 consecutive failed deliveries" in shown["disabled_reason"]
    assert len(receiver.received) == 3
    receiver.default = 200
    replayed = service.call("supplier", "POST", f"{url}/replay", json={})
    assert replayed.status_code == 200
    assert replayed.json()["status"] == "ACTIVE"
    receiver.wait(lambda: receiver.answered(200), "delivered after the replay")
    # A replay from an earlier id delivers again, with the same ids, in order.
    first = receiver.answered(200)[0]["event_id"]
    service.call("supplier", "POST", f"{url}/replay", json={"after": first - 1})
    receiver.wait(lambda: len(receiver.answered(200)) >= 2, "replayed")
    assert receiver.answered(200)[1]["event_id"] == first


def test_every_kind_reaches_its_party_and_no_one_else(service) -> None:
    """supplier2, financier2 and core2 are parties to nothing here: subscribed to every
    kind, they get nothing, while the parties get each kind the story makes."""
    parties, strangers = Receiver(), Receiver()
    try:
        for who in ("supplier", "financier", "core", "regulator"):
            subscribe(service, who, parties.url)
        for who in ("supplier2", "financier2", "core2"):
            subscribe(service, who, strangers.url)
        service.mint("financier", 10**12)
        line = service.credit_line(limit=110_000_000)  # 80 % crossed by a 100 000 000 draw
        soon = (date.today() + timedelta(days=3)).isoformat()
        receivable = service.active(due_date=soon)
        asked = service.call("supplier", "POST", "/v1/financings",
                             json={"receivable_id": receivable["id"],
                                   "financier": service.addresses["financier"]})  # fmt: skip
        assert asked.status_code == 201, asked.text
        fid = asked.json()["result"]["id"]
        offered = service.call("financier", "POST", f"/v1/financings/{fid}/offers",
                               json=OFFER_TERMS)  # fmt: skip
        assert offered.status_code == 201, offered.text
        accepted = service.call("supplier", "POST", f"/v1/financings/{fid}/offers/0/accept")
        assert accepted.status_code == 200, accepted.text
        engine = make_engine(service.settings.database_url)
        with engine.begin() as conn:  # what the compliance rules call for an alert
            announce(conn, ALERT_RAISED, role_audience("REGULATOR"), {"rule": "test"},
                     f"alert:{time.time_ns()}")  # fmt: skip
        engine.dispose()
        wanted = {"receivable.to_confirm", "financing.offer_received", "financing.accepted",
                  "payment.due_soon", "credit_line.threshold", "alert.raised"}  # fmt: skip
        parties.wait(lambda: wanted <= {r["json"]["kind"] for r in parties.received},
                     f"every kind of {wanted}")  # fmt: skip
        time.sleep(1.0)  # the strangers' subscriptions had every chance
        assert strangers.received == []
        by_kind = {r["json"]["kind"]: r for r in parties.received}
        assert by_kind["credit_line.threshold"]["json"]["data"]["line_id"] == line["line_id"]
        assert line
    finally:
        parties.close()
        strangers.close()


@pytest.mark.parametrize(
    ("body", "field", "error"),
    [
        ({"url": "ftp://example.com/hook", "kinds": ["receivable.to_confirm"]}, "url",
         "WebhookUrlScheme"),
        ({"url": "https://192.168.1.10/hook", "kinds": ["receivable.to_confirm"]}, "url",
         "WebhookUrlPrivate"),
        ({"url": "https://169.254.169.254/latest", "kinds": ["receivable.to_confirm"]}, "url",
         "WebhookUrlPrivate"),
        ({"url": "http://10.1.2.3/hook", "kinds": ["receivable.to_confirm"]}, "url",
         "WebhookUrlScheme"),
        ({"url": "https://no-such-host.invalid/hook", "kinds": ["receivable.to_confirm"]},
         "url", "WebhookUrlUnresolvable"),
        ({"url": "http://127.0.0.1:9/hook", "kinds": ["receivable.confirmed"]}, "kinds",
         "UnknownNotificationKind"),
    ],
)  # fmt: skip
def test_bad_subscriptions_are_refused_naming_the_field(service, body, field, error) -> None:
    refused = service.call("supplier", "POST", "/v1/webhooks", json=body)
    assert refused.status_code == 422, refused.text
    text = refused.text
    assert error in text
    assert field in text


def test_a_subscription_is_its_owners_alone(service, receiver) -> None:
    sub = subscribe(service, "supplier", receiver.url, ["receivable.to_confirm"])
    for path in ("", "/deliveries"):
        assert (
            service.call("supplier2", "GET", f"/v1/webhooks/{sub['id']}{path}").status_code == 404
        )
    assert service.call("supplier2", "POST", f"/v1/webhooks/{sub['id']}/replay").status_code == 404
    assert sub["id"] not in {
        s["id"] for s in service.call("supplier2", "GET", "/v1/webhooks").json()
    }


def _read_events(response: httpx.Response, count: int, timeout: float = 30) -> list[dict]:
    events, current = [], {}
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if line == "":
            if "id" in current:
                events.append(current)
                if len(events) == count:
                    return events
            current = {}
        elif not line.startswith(":") and ":" in line:
            name, value = line.split(":", 1)
            current[name] = value.strip()
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"{len(events)} of {count} events: {events}")


def test_event_stream_resumes_with_last_event_id(service) -> None:
    with service.http("supplier") as http, http.stream("GET", "/v1/events/stream") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        first = service.register()["id"]
        got = _read_events(stream, 1)
    assert json.loads(got[0]["data"])["data"]["receivable_id"] == first
    assert got[0]["event"] == "receivable.to_confirm"
    last = got[0]["id"]
    more = [service.register()["id"] for _ in range(3)]  # while no one listens
    with (
        service.http("supplier") as http,
        http.stream("GET", "/v1/events/stream", headers={"Last-Event-ID": last}) as stream,
    ):
        again = _read_events(stream, 3)
    assert [json.loads(e["data"])["data"]["receivable_id"] for e in again] == more
    assert [int(e["id"]) for e in again] == sorted(int(e["id"]) for e in again)
    assert int(again[0]["id"]) > int(last)
    # Scoped: supplier2 is a party to none of them.
    with (
        service.http("supplier2") as http,
        http.stream("GET", "/v1/events/stream", params={"after": 0}) as stream,
    ):
        lines = []
        for line in stream.iter_lines():
            lines.append(line)
            if line == ": heartbeat":
                break
    assert not any(line.startswith("id:") for line in lines)


def test_event_streams_per_key_are_bounded(service) -> None:
    streams = []
    with service.http("financier2") as http:
        try:
            for _ in range(service.settings.event_streams_per_key):
                s = http.stream("GET", "/v1/events/stream")
                streams.append(s)
                assert s.__enter__().status_code == 200
            over = http.get("/v1/events/stream")
            assert over.status_code == 429, over.text
        finally:
            for s in streams:
                s.__exit__(None, None, None)


def _events_after(response: httpx.Response, since: float, timeout: float = 30) -> list[dict]:
    """The stream's events up to the first heartbeat sent at least 1 s after ``since``
    (the monotonic time by which what is looked for was committed): by then the service
    has polled the outbox past it, so what is missing is not coming and a repeat would
    be here."""
    events, current = [], {}
    deadline = time.monotonic() + timeout
    for line in response.iter_lines():
        if line == ": heartbeat" and time.monotonic() >= since + 1.0:
            return events
        if line == "":
            if "id" in current:
                events.append({**current, "data": json.loads(current["data"])})
            current = {}
        elif not line.startswith(":") and ":" in line:
            name, value = line.split(":", 1)
            current[name] = value.strip()
        if time.monotonic() > deadline:
            break
    raise AssertionError(f"no heartbeat within {timeout} s; events {events}")


def test_a_raised_alert_reaches_regulators_and_auditors_once(service, receiver) -> None:
    """Onboarding a participant whose LEI is on the loaded sanctions list trips the
    screening rule: the regulator's and the auditor's live streams carry one alert.raised
    with the alert's id, the regulator's webhook gets it once, suppliers hear nothing."""
    listed = make_lei()
    loaded = service.call("operator", "PUT", "/v1/monitoring/sanctions",
                          content=f"id,lei,name,aliases\nW1,{listed},Webhook Shadow Ltd,\n",
                          headers={"Content-Type": "text/csv"})  # fmt: skip
    assert loaded.status_code == 200, loaded.text
    subscribe(service, "regulator", receiver.url, ["alert.raised"])
    with (
        service.http("regulator") as regulator_http,
        service.http("auditor") as auditor_http,
        service.http("supplier") as supplier_http,
        regulator_http.stream("GET", "/v1/events/stream") as regulator,
        auditor_http.stream("GET", "/v1/events/stream") as auditor,
        supplier_http.stream("GET", "/v1/events/stream") as supplier,
    ):
        assert {s.status_code for s in (regulator, auditor, supplier)} == {200}
        shadow = onboard(service, "alert_shadow", ["SUPPLIER"], lei=listed)
        committed = time.monotonic()
        [alert] = [a for a in service.call("regulator", "GET", "/v1/monitoring/alerts",
                                           params={"rule": "sanctions"}).json()["alerts"]
                   if a["subjects"] == [shadow["address"].lower()]]  # fmt: skip
        streams = {"regulator": regulator, "auditor": auditor, "supplier": supplier}
        with ThreadPoolExecutor(len(streams)) as pool:  # read together: none lags behind
            reading = {who: pool.submit(_events_after, s, committed) for who, s in streams.items()}
            heard = {who: future.result() for who, future in reading.items()}
    for who in ("regulator", "auditor"):
        raised = [e for e in heard[who] if e["event"] == "alert.raised"]
        assert [e["data"]["data"]["alert_id"] for e in raised] == [alert["id"]], heard[who]
        assert raised[0]["data"]["data"]["rule"] == "sanctions"
    assert heard["supplier"] == []
    # The listed participant itself, a supplier, is not told either (from the beginning).
    with (
        service.http("alert_shadow") as http,
        http.stream("GET", "/v1/events/stream", params={"after": 0}) as stream,
    ):
        assert _events_after(stream, time.monotonic() - 1.0) == []
    got = receiver.wait(lambda: [r for r in receiver.answered(200)
                                 if r["json"]["data"]["alert_id"] == alert["id"]],
                        "the alert.raised webhook")  # fmt: skip
    assert got[0]["json"]["kind"] == "alert.raised"
    time.sleep(1.0)  # a second delivery had every chance (deliveries run every 0.1 s)
    assert [r["json"]["data"]["alert_id"] for r in receiver.received] == [alert["id"]]


def test_overdue_and_payment_reach_their_parties_and_no_one_else(service) -> None:
    """Last in the module: it moves the chain's clock 40 days on. The keeper marks a
    receivable overdue and flags its root; the debtor pays late, the holder is paid."""
    parties, strangers = Receiver(), Receiver()
    kinds = ["receivable.overdue", "payment.received"]
    try:
        for who in ("supplier", "core"):
            subscribe(service, who, parties.url, kinds)
        for who in ("supplier2", "core2", "financier2"):  # party to nothing in this module
            subscribe(service, who, strangers.url, kinds)
        service.mint("core", 10**10)
        now = int(service.client.get_block("latest")["timestamp"])
        due = datetime.fromtimestamp(now + 2 * 86_400, UTC).date().isoformat()
        receivable = service.active(due_date=due)
        for method, params in (("evm_increaseTime", [40 * 86_400]), ("evm_mine", [])):
            answer = httpx.post(service.settings.rpc_url,
                                json={"jsonrpc": "2.0", "id": 1, "method": method,
                                      "params": params})  # fmt: skip
            assert "error" not in answer.json(), answer.text
        runtime = service.app.state.runtime
        assert runtime.wait_indexed(service.client.block_number(), 30) is not None
        report = OverdueKeeper(runtime).run_once()
        assert receivable["id"] in report.marked, report.as_dict()
        repaid = service.call("core", "POST", f"/v1/clearing/{receivable['id']}/repay")
        assert repaid.status_code == 200, repaid.text
        redeemed = service.call("supplier", "POST", f"/v1/clearing/{receivable['id']}/redeem")
        assert redeemed.status_code == 200, redeemed.text

        def told(kind: str) -> set[int]:
            return {r["event_id"] for r in parties.received if r["json"]["kind"] == kind
                    and r["json"]["data"]["receivable_id"] == receivable["id"]}  # fmt: skip

        parties.wait(lambda: told("receivable.overdue") and told("payment.received"),
                     "overdue and payment received")  # fmt: skip
        paid = [r for r in parties.received if r["json"]["kind"] == "payment.received"]
        assert {r["json"]["data"]["paid_by"] for r in paid} == {"clearing"}
        time.sleep(1.0)  # the strangers' subscriptions had every chance
        assert strangers.received == []
    finally:
        parties.close()
        strangers.close()
