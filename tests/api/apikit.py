"""The API suite's helpers: the cast, LEIs, the `Service` client and the service under
real uvicorn. A module of its own (not conftest) so that test modules import it by a name
that no other test directory uses (two conftest modules cannot both be `conftest`)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger_app import PROJECT_ROOT
from ledger_app.api.app import create_app
from ledger_app.api.auth import first_operator_key
from ledger_app.api.index_state import wait_for_block
from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient
from ledger_app.chain.contracts import LedgerContracts
from ledger_app.chain.deploy import ensure_deployed, load_plan
from ledger_app.chain.keys import anvil_dev_account
from ledger_app.chain.node import AnvilNode, find_anvil
from ledger_app.db import migrate
from ledger_app.db.deployments import save_deployment
from ledger_app.db.engine import make_engine
from ledger_app.settings import Settings

#: name -> roles of the participants every module's service onboards.
CAST: dict[str, list[str]] = {
    "core": ["CORE_ENTERPRISE"],
    "core2": ["CORE_ENTERPRISE"],
    "supplier": ["SUPPLIER"],
    "supplier2": ["SUPPLIER"],
    "financier": ["FINANCIER"],
    "financier2": ["FINANCIER"],
    "bank": ["SETTLEMENT_BANK"],
    "fx": ["FX_PROVIDER"],
    "auditor": ["AUDITOR"],
    "regulator": ["REGULATOR"],
}
#: Seconds before an operator's key recovery can complete (72 h in production).
RECOVERY_DELAY = 2.0
#: LEIs with valid ISO 7064 check digits, one per participant.
_LEI_BASES = itertools.count(1)


_TAX_IDS = itertools.count(1)


def make_tax_id() -> str:
    """A fresh seller tax id (unified-social-credit-code shaped, 18 characters)."""
    return f"9131{next(_TAX_IDS):012d}TX"


def make_lei() -> str:
    """A fresh LEI-shaped identifier with correct check digits."""
    base = f"TEST{next(_LEI_BASES):014d}"
    digits = int("".join(str(int(c, 36)) for c in base + "00"))
    return base + f"{98 - digits % 97:02d}"


def free_tcp_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Service:
    """The running API and what the tests need to check it against the chain."""

    base_url: str
    settings: Settings
    client: ChainClient
    contracts: LedgerContracts
    operator_key: str
    operator_address: str
    keys: dict[str, str] = field(default_factory=dict)  # cast name -> API key
    addresses: dict[str, str] = field(default_factory=dict)  # cast name -> address
    external: dict[str, LocalAccount] = field(default_factory=dict)  # self-signing accounts
    tax_ids: dict[str, str] = field(default_factory=dict)  # address (lower) -> its tax id
    app: Any = None  # the FastAPI application served (its runtime: app.state.runtime)
    _invoices: Any = field(default_factory=lambda: itertools.count(1))

    def http(self, who: str | None = None, key: str | None = None) -> httpx.Client:
        """An HTTP client authenticated as cast member ``who`` (or with ``key``)."""
        headers = {}
        if who == "operator":
            key = self.operator_key
        elif who is not None:
            key = self.keys[who]
        if key is not None:
            headers["X-API-Key"] = key
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=120)

    def call(self, who: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request as ``who``."""
        with self.http(who) as http:
            return http.request(method, path, **kwargs)

    def token_view(self, currency: str, function: str, *args: Any) -> Any:
        """A view of the settlement token of ``currency``, straight from the chain."""
        listed = self.call("operator", "GET", "/v1/currencies").json()
        token = next(c["token"] for c in listed if c["currency"] == currency)
        abi = self.contracts.abi("SettlementToken")
        return self.client.call_function(token, abi, function, *args)[0]

    def balance(self, who: str, currency: str = "CNY") -> int:
        """The chain's token balance of cast member ``who``."""
        return int(self.token_view(currency, "balanceOf", self.addresses[who]))

    def mint(self, who: str, amount: int, currency: str = "CNY", bank: str = "bank") -> None:
        """``bank`` (the currency's issuer) mints ``amount`` to ``who`` through the API."""
        response = self.call(bank, "POST", f"/v1/tokens/{currency}/mint",
                             json={"to": self.addresses[who], "amount": str(amount)})  # fmt: skip
        assert response.status_code == 200, response.text

    def view(self, name: str, function: str, *args: Any) -> Any:
        """A view of a deployed contract, straight from the chain."""
        return self.contracts.view(self.client, name, function, *args)

    def nonce(self, who: str) -> int:
        """The chain's transaction count of a cast member."""
        return self.client.get_transaction_count(self.addresses[who])

    def credit_line(
        self,
        financier: str = "financier",
        obligor: str = "core",
        currency: str = "CNY",
        limit: int = 10**15,
    ) -> dict[str, Any]:
        """``financier``'s open credit line to ``obligor`` in ``currency``, granted through
        the API (``limit``, ten years on the chain's clock) if it has none: a financier
        funds only within a line it granted."""
        wanted = {"financier": self.addresses[financier], "obligor": self.addresses[obligor],
                  "currency": currency, "status": "OPEN"}  # fmt: skip
        listed = self.call(financier, "GET", "/v1/credit-lines", params=wanted)
        assert listed.status_code == 200, listed.text
        if listed.json()["items"]:
            return listed.json()["items"][0]
        now = int(self.client.get_block("latest")["timestamp"])
        expiry = datetime.fromtimestamp(now + 10 * 365 * 86_400, UTC).isoformat()
        granted = self.call(financier, "POST", "/v1/credit-lines",
                            json={"obligor": self.addresses[obligor], "currency": currency,
                                  "limit": str(limit), "expiry": expiry})  # fmt: skip
        assert granted.status_code == 201, granted.text
        return granted.json()["result"]

    def registration(self, **overrides: Any) -> dict[str, Any]:
        """A valid registration body owed by ``core`` to ``supplier`` (or the ``creditor``
        given), the invoice's seller tax id the creditor's."""
        creditor = overrides.get("creditor", self.addresses["supplier"])
        seller = self.tax_ids.get(creditor.lower(), "91310000MA1FL0001X")
        body = {
            "creditor": self.addresses["supplier"],
            "amount": "100000000",
            "currency": "CNY",
            "due_date": (date.today() + timedelta(days=90)).isoformat(),
            "invoice": {"seller_tax_id": seller,
                        "number": f"INV-{time.time_ns()}-{next(self._invoices)}"},
        }  # fmt: skip
        body.update(overrides)
        return body

    def register(self, who: str = "core", **overrides: Any) -> dict[str, Any]:
        """Register a receivable through the API; returns it as the API answers it."""
        response = self.call(who, "POST", "/v1/receivables", json=self.registration(**overrides))
        assert response.status_code == 201, response.text
        return response.json()["result"]

    def active(self, **overrides: Any) -> dict[str, Any]:
        """A receivable registered by ``core`` and confirmed by its creditor."""
        receivable = self.register(**overrides)
        creditor = next(n for n, a in self.addresses.items() if a == receivable["creditor"])
        response = self.call(creditor, "POST", f"/v1/receivables/{receivable['id']}/confirm")
        assert response.status_code == 200, response.text
        return response.json()["result"]


def onboard(
    service: Service, name: str, roles: list[str], address: str | None = None, **extra: Any
) -> dict[str, Any]:
    """Onboard a participant through the API as the operator (a supplier with a fresh tax
    id); returns the onboarded participant."""
    body: dict[str, Any] = {
        "lei": make_lei(),
        "jurisdiction": "CN",
        "kyc_expiry": (datetime.now(UTC) + timedelta(days=365)).isoformat(),
        "roles": roles,
        "label": name,
    }
    if "SUPPLIER" in roles:
        body["tax_id"] = make_tax_id()
    if address is not None:
        body["address"] = address
    body.update(extra)
    response = service.call("operator", "POST", "/v1/participants", json=body)
    assert response.status_code == 201, response.text
    result = response.json()["result"]
    service.keys[name] = result["api_key"]["key"]
    service.addresses[name] = result["participant"]["address"]
    if result["participant"].get("tax_id"):
        service.tax_ids[service.addresses[name].lower()] = result["participant"]["tax_id"]
    return result["participant"]


@contextmanager
def serving(settings: Settings, log_level: str = "warning", app: Any = None) -> Iterator[str]:
    """The app (default: a new one for ``settings``) under real uvicorn on ``settings.port``
    for the duration of the block (uvicorn's loggers at ``log_level``; handlers are the
    test's to add)."""
    server = uvicorn.Server(
        uvicorn.Config(
            app or create_app(settings),
            host="127.0.0.1",
            port=settings.port,
            log_level=log_level,
            log_config=None,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not server.started:
        pytest.fail("the API did not start")
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def running_service(
    tmp: Path,
    log_level: str = "warning",
    key_recovery_delay: float = RECOVERY_DELAY,
    **settings_overrides: Any,
) -> Iterator[Service]:
    """Anvil, the deployed ledger, the API with its indexer, the cast and CNY listed
    (``settings_overrides``: settings of the service other than the suite's)."""
    node = AnvilNode(
        binary=find_anvil(),
        port=free_tcp_port(),
        chain_id=31337,
        state_file=tmp / "anvil" / "state.json",
        log_file=tmp / "anvil" / "anvil.log",
    )
    node.start()
    try:
        settings = Settings(
            rpc_url=node.rpc_url,
            managed_node=False,
            port=free_tcp_port(),
            state_dir=tmp / "var",
            database_url=f"sqlite:///{tmp}/var/ledger.db",
            deployment_file=tmp / "var" / "deployment.json",
            artifacts_file=PROJECT_ROOT / ".build" / "__local__.json",
            keystore_passphrase="api-test-passphrase",
            keystore_scrypt_n=2**10,  # fast to unlock; the default is 2**15
            indexer_poll_interval=0.1,
            key_recovery_delay=key_recovery_delay,
            # Tests move the chain's clock: the overdue keeper runs only where one asks.
            # Nor the access log's anchors: the operator's anchor transaction, every 300 s,
            # moved the nonce test_authorization checks the operator's refusals by.
            **{"keeper_interval": 0.0, "access_log_anchor_interval": 0.0, **settings_overrides},
        )
        client = ChainClient(node.rpc_url, poll_interval=0.01)
        artifacts = Artifacts.load(settings.artifacts_file)
        outcome = ensure_deployed(client, anvil_dev_account(0), artifacts,
                                  load_plan(settings.deploy_plan), settings.deployment_file)  # fmt: skip
        engine = make_engine(settings.database_url)
        migrate.upgrade(engine)
        save_deployment(engine, outcome.record)
        operator_key = first_operator_key(engine, outcome.record.operator)
        assert operator_key is not None
        deployed = client.block_number()
        app = create_app(settings)
        with serving(settings, log_level, app) as base_url:
            # The operator's role reaches the API through the index: onboarding before the
            # indexer has the deployment's blocks is refused (403), so wait for them.
            reached = wait_for_block(engine, client.chain_id(), deployed, timeout=120)
            engine.dispose()
            assert reached is not None, "the indexer did not reach the deployment in 120 s"
            svc = Service(
                base_url=base_url,
                settings=settings,
                client=client,
                contracts=LedgerContracts(artifacts, outcome.record),
                operator_key=operator_key.key,
                operator_address=outcome.record.operator,
                app=app,
            )
            for name, roles in CAST.items():
                onboard(svc, name, roles)
            svc.external["bank2"] = Account.create()
            onboard(svc, "bank2", ["SETTLEMENT_BANK", "SUPPLIER"],
                    address=svc.external["bank2"].address)  # fmt: skip
            listed = svc.call("operator", "POST", "/v1/currencies",
                              json={"currency": "CNY", "decimals": 2,
                                    "issuer": svc.addresses["bank"]})  # fmt: skip
            assert listed.status_code == 201, listed.text
            yield svc
    finally:
        node.stop()


def trade_objects(service: Service) -> dict[str, Any]:
    """A financing named to ``financier`` with an offer, a receivable free to finance, a
    PvP settlement (supplier pays core at fx's quote) and an escrow (supplier to core)."""
    service.mint("financier", 10**9)
    service.mint("supplier", 10**9)
    listed = service.call("operator", "POST", "/v1/currencies",
                          json={"currency": "USD", "issuer": service.addresses["bank"]})  # fmt: skip
    assert listed.status_code == 201, listed.text
    service.mint("fx", 10**9, currency="USD")
    asked = service.call("supplier", "POST", "/v1/financings",
                         json={"receivable_id": service.active()["id"],
                               "financier": service.addresses["financier"]}).json()  # fmt: skip
    financing_id = asked["result"]["id"]
    offered = service.call("financier", "POST", f"/v1/financings/{financing_id}/offers",
                           json=OFFER_TERMS)  # fmt: skip
    assert offered.status_code == 201, offered.text
    quote = service.call("fx", "POST", "/v1/fx/quotes",
                         json={"sell_currency": "CNY", "buy_currency": "USD",
                               "rate": "138000000000000000", "liquidity": "1000000"}).json()  # fmt: skip
    settled = service.call("supplier", "POST", "/v1/fx/settlements",
                           json={"quote": quote["result"]["quote"], "sell_amount": "1000",
                                 "payee": service.addresses["core"]})  # fmt: skip
    assert settled.status_code == 201, settled.text
    locked = service.call("supplier", "POST", "/v1/escrows",
                          json={"currency": "CNY", "recipient": service.addresses["core"],
                                "amount": "100", "hashlock": "0x" + "ab" * 32,
                                "timeout": "2099-01-01T00:00:00Z"})  # fmt: skip
    assert locked.status_code == 201, locked.text
    return {
        "financing_id": financing_id,
        "offer_index": 0,
        "financeable_id": service.active()["id"],
        "currency": "CNY",
        "root_id": asked["result"]["receivable_id"],
        "leaf_id": asked["result"]["receivable_id"],
        "uetr": settled.json()["result"]["uetr"],
        "lock_id": locked.json()["result"]["lock_id"],
    }


OFFER_TERMS = {"advance_rate_bps": 9000, "discount_rate_bps": 500,
               "expires_at": "2099-01-01T00:00:00Z"}  # fmt: skip
