"""The HTTP API on its own anvil and SQLite: write throughput, write-to-read latency,
trace and list latency. Set up the way tests/api/conftest.py does (real uvicorn, the
indexer in the service, participants onboarded through the API)."""

from __future__ import annotations

import itertools
import ssl
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from eth_account import Account

from bench.chain import BenchAnvil, free_port, start_anvil
from ledger_app import PROJECT_ROOT
from ledger_app.api.app import create_app
from ledger_app.api.auth import first_operator_key
from ledger_app.chain.abi import encode_function_call
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.deploy import ensure_deployed, load_plan
from ledger_app.chain.keys import anvil_dev_account
from ledger_app.db import migrate
from ledger_app.db.deployments import save_deployment
from ledger_app.db.engine import make_engine
from ledger_app.settings import Settings

_LEIS = itertools.count(1)
_INVOICES = itertools.count(1)


#: One TLS context for every client: httpx builds (and loads the CA bundle into) a new
#: one per Client otherwise, ~10 ms of CPU each, even for plain http. A burst of clients
#: made at once spent that in the benchmark's own process, and its reader threads, waiting
#: for the interpreter, timed the wait as the service's latency.
_TLS = ssl.create_default_context()


def _lei() -> str:
    base = f"BNCH{next(_LEIS):014d}"
    digits = int("".join(str(int(c, 36)) for c in base + "00"))
    return base + f"{98 - digits % 97:02d}"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100), nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


class Api:
    """The running service and authenticated clients of its cast."""

    def __init__(self, work: Path) -> None:
        self.node: BenchAnvil = start_anvil(work / "anvil")
        self.settings = Settings(
            rpc_url=self.node.rpc_url, managed_node=False, port=free_port(),
            state_dir=work / "var", database_url=f"sqlite:///{work}/var/ledger.db",
            deployment_file=work / "var" / "deployment.json",
            artifacts_file=PROJECT_ROOT / ".build" / "__local__.json",
            keystore_passphrase="bench-passphrase", keystore_scrypt_n=2**10,
            indexer_poll_interval=0.1, webhook_allow_http_loopback=True,
        )  # fmt: skip
        self.client = ChainClient(self.node.rpc_url, poll_interval=0.01)
        self.artifacts = Artifacts.load(self.settings.artifacts_file)
        outcome = ensure_deployed(self.client, anvil_dev_account(0), self.artifacts,
                                  load_plan(self.settings.deploy_plan),
                                  self.settings.deployment_file)  # fmt: skip
        self.record = outcome.record
        engine = make_engine(self.settings.database_url)
        migrate.upgrade(engine)
        save_deployment(engine, outcome.record)
        self.operator_key = first_operator_key(engine, outcome.record.operator).key
        engine.dispose()
        self.keys: dict[str, str] = {}
        self.addresses: dict[str, str] = {}
        self.tax_ids: dict[str, str | None] = {}
        self.external = Account.create()

    def http(self, who: str) -> httpx.Client:
        key = self.operator_key if who == "operator" else self.keys[who]
        return httpx.Client(base_url=self.base_url, headers={"X-API-Key": key}, timeout=300,
                            verify=_TLS)  # fmt: skip

    def onboard(self, name: str, roles: list[str], address: str | None = None) -> None:
        body: dict[str, Any] = {"lei": _lei(), "jurisdiction": "CN", "roles": roles, "label": name,
                                "kyc_expiry": (datetime.now(UTC) + timedelta(days=365)).isoformat()}  # fmt: skip
        if "SUPPLIER" in roles:
            body["tax_id"] = f"BENCH{name.upper()}{time.time_ns()}"[:64]
        if address:
            body["address"] = address
        with self.http("operator") as http:
            response = http.post("/v1/participants", json=body)
        response.raise_for_status()
        result = response.json()["result"]
        self.keys[name] = result["api_key"]["key"]
        self.addresses[name] = result["participant"]["address"]
        self.tax_ids[name] = result["participant"]["tax_id"]

    def registration(self) -> dict[str, Any]:
        return {"creditor": self.addresses["supplier"], "amount": "100000",
                "currency": "CNY", "due_date": (date.today() + timedelta(days=90)).isoformat(),
                "invoice": {"seller_tax_id": self.tax_ids["supplier"],
                            "number": f"BENCH-{time.time_ns()}-{next(_INVOICES)}"}}  # fmt: skip

    @contextmanager
    def serving(self):
        server = uvicorn.Server(uvicorn.Config(create_app(self.settings), host="127.0.0.1",
                                               port=self.settings.port, log_level="warning",
                                               log_config=None))  # fmt: skip
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 60
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not server.started:
            raise RuntimeError("the API did not start")
        self.base_url = f"http://127.0.0.1:{self.settings.port}"
        # The operator's role is read from the index: until the indexer has the deployment's
        # blocks, the operator's key is live but its role unknown (403).
        with self.http("operator") as http:
            while http.get("/v1/participants/me").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("the operator's role was not indexed in time")
                time.sleep(0.05)
        try:
            for name, roles in (("core", ["CORE_ENTERPRISE"]), ("supplier", ["SUPPLIER"]),
                                ("bank", ["SETTLEMENT_BANK"]), ("auditor", ["AUDITOR"])):  # fmt: skip
                self.onboard(name, roles)
            self.onboard("rawcore", ["CORE_ENTERPRISE"], address=self.external.address)
            with self.http("operator") as http:
                http.post("/v1/currencies", json={"currency": "CNY", "decimals": 2,
                                                  "issuer": self.addresses["bank"]}).raise_for_status()  # fmt: skip
            yield self
        finally:
            server.should_exit = True
            thread.join(timeout=30)
            self.node.stop()


def write_single(api: Api, count: int) -> float:
    """Receivables/s registered one per request, each answered mined and indexed."""
    with api.http("core") as http:
        started = time.perf_counter()
        for _ in range(count):
            http.post("/v1/receivables", json=api.registration()).raise_for_status()
        return count / (time.perf_counter() - started)


def _raw_registry_calls(api: Api, function: str, rows_per_tx: int, count: int) -> float:
    """Pre-signed raw transactions of the same registry call from a self-signing core
    enterprise, sent straight to anvil one after another, each awaited; receivables/s."""
    address = next(c.address for c in api.record.contracts.values()
                   if c.contract == "ReceivableRegistry")  # fmt: skip
    abi = api.artifacts["ReceivableRegistry"].abi
    supplier = api.addresses["supplier"]
    nonce = api.client.get_transaction_count(api.external.address)
    due = int(time.time()) + 90 * 86_400
    raws = []
    for i in range(count):
        rows = [(supplier, 100_000, b"CNY", due, Account.create().key, b"\x01" * 32, 0)
                for _ in range(rows_per_tx)]  # fmt: skip
        args = (rows[0],) if function == "register" else (rows,)
        tx = {"to": address, "data": encode_function_call(abi, function, args), "value": 0,
              "gas": 40_000_000, "gasPrice": 5 * 10**9, "nonce": nonce + i, "chainId": 31337}  # fmt: skip
        raws.append(api.external.sign_transaction(tx).raw_transaction)
    web3 = api.client.web3
    started = time.perf_counter()
    for raw in raws:
        tx_hash = web3.eth.send_raw_transaction(raw)
        if web3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.005)["status"] != 1:
            raise RuntimeError(f"raw {function} reverted")
    return count * rows_per_tx / (time.perf_counter() - started)


def write_batch(api: Api, rows: int, repeats: int) -> float:
    """Receivables/s through POST /v1/receivables/batch (median of ``repeats``)."""
    rates = []
    with api.http("core") as http:
        for _ in range(repeats):
            started = time.perf_counter()
            http.post("/v1/receivables/batch",
                      json={"items": [api.registration() for _ in range(rows)]}).raise_for_status()  # fmt: skip
            rates.append(rows / (time.perf_counter() - started))
    return statistics.median(rates)


def write_to_read(api: Api, samples: int, load_rate: float) -> list[float]:
    """ms from a registration's response to the receivable answering GET, while another
    client keeps up a steady load of ``load_rate`` registrations/s."""
    stop = threading.Event()

    def load() -> None:
        with api.http("core") as http:
            while not stop.is_set():
                http.post("/v1/receivables", json=api.registration())
                stop.wait(1 / load_rate)

    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    latencies = []
    try:
        with api.http("core") as writer, api.http("supplier") as reader:
            for _ in range(samples):
                response = writer.post("/v1/receivables", json=api.registration())
                answered = time.perf_counter()
                rid = (response.json().get("result") or {}).get("id")
                if rid is None:
                    continue  # answered 202 (not yet indexed): no id to read back
                while True:
                    if reader.get(f"/v1/receivables/{rid}").status_code == 200:
                        break
                    time.sleep(0.002)
                latencies.append((time.perf_counter() - answered) * 1000)
    finally:
        stop.set()
        loader.join(timeout=60)
    return latencies


def webhook_latency(api: Api, samples: int) -> list[float]:
    """ms from a notification's commit (its outbox row's ``created_at``, written in the
    indexed batch's transaction) to its webhook arriving at a local receiver, for
    ``samples`` registrations one after the other (each announces ``receivable.to_confirm``
    to the supplier)."""
    sys.path.insert(0, str(PROJECT_ROOT / "tests" / "fixtures"))
    from webhookkit import Receiver

    receiver = Receiver()
    try:
        with api.http("supplier") as http:
            http.post("/v1/webhooks", json={"url": receiver.url,
                                            "kinds": ["receivable.to_confirm"]}).raise_for_status()  # fmt: skip
        with api.http("core") as http:
            for _ in range(samples):
                http.post("/v1/receivables", json=api.registration()).raise_for_status()
                time.sleep(0.05)
        receiver.wait(lambda: len(receiver.answered(200)) >= samples, "every webhook", 120)
        return [
            (r["at"] - datetime.fromisoformat(r["json"]["created_at"]).timestamp()) * 1000
            for r in receiver.answered(200)
        ]
    finally:
        receiver.close()


def build_tree(api: Api, fanout: int, groups: int) -> int:
    """A root split into ``groups`` children, each split into ``fanout`` leaves."""
    with api.http("core") as core, api.http("supplier") as supplier:
        amount = groups * fanout * 100
        body = {**api.registration(), "amount": str(amount)}
        root = core.post("/v1/receivables", json=body).json()["result"]["id"]
        supplier.post(f"/v1/receivables/{root}/confirm").raise_for_status()
        split = supplier.post(f"/v1/receivables/{root}/split",
                              json={"amounts": [str(fanout * 100)] * groups})  # fmt: skip
        split.raise_for_status()
        children = supplier.get("/v1/receivables", params={"root_id": root, "limit": 500}).json()
        ids = [c["id"] for c in children["items"] if c["id"] != root]
        for child in ids[:groups]:
            supplier.post(f"/v1/receivables/{child}/split",
                          json={"amounts": ["100"] * fanout}).raise_for_status()  # fmt: skip
    return root


def query_latencies(api: Api, root: int, samples: int) -> tuple[list[float], list[float]]:
    """ms per trace of ``root`` (as the auditor) and per filtered list page (supplier)."""
    traces, pages = [], []
    with api.http("auditor") as auditor, api.http("supplier") as supplier:
        for _ in range(samples):
            started = time.perf_counter()
            auditor.get(f"/v1/receivables/{root}/trace").raise_for_status()
            traces.append((time.perf_counter() - started) * 1000)
        cursor = None
        for _ in range(samples):
            params = {"status": "ACTIVE", "currency": "CNY", "limit": 50}
            if cursor:
                params["cursor"] = cursor
            started = time.perf_counter()
            page = supplier.get("/v1/receivables", params=params)
            pages.append((time.perf_counter() - started) * 1000)
            page.raise_for_status()
            cursor = page.json()["next_cursor"]
    return traces, pages


def raw_single(api: Api, count: int) -> float:
    return _raw_registry_calls(api, "register", 1, count)


def raw_batch(api: Api, rows_per_tx: int, count: int) -> float:
    return _raw_registry_calls(api, "registerBatch", rows_per_tx, count)
