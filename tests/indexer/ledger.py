"""A deployed ledger on a test anvil, and the business scenario the indexer tests index.

Plain helpers (no fixtures): conftest.py builds one per test.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from ledger_app.chain.artifacts import Artifacts
from ledger_app.chain.client import ChainClient, Receipt
from ledger_app.chain.keys import anvil_dev_account

DAY = 86_400
YEAR = 365 * DAY
MAX_UINT = 2**256 - 1

CAST = {  # name -> (dev account index, jurisdiction, roles)
    "core": (1, b"CN", ["CORE_ENTERPRISE"]),
    "supplier": (2, b"CN", ["SUPPLIER"]),
    "supplier2": (3, b"VN", ["SUPPLIER"]),
    "financier": (4, b"CN", ["FINANCIER"]),
    "financier2": (5, b"SG", ["FINANCIER"]),
    "bank": (6, b"CN", ["SETTLEMENT_BANK"]),
    "regulator": (7, b"CN", ["REGULATOR"]),
    "fxdesk": (8, b"SG", ["FX_PROVIDER"]),
}
RATE_SCALE = 10**18
OVERDUE_TRIGGER_DAYS = 30  # FxSettlement's rate: buy minor units per sell minor unit, * 1e18


def role(name: str) -> bytes:
    """The on-chain role id (contracts/Roles.sol)."""
    return keccak(text=name)


@dataclass
class Ledger:
    """The contracts of one deployment and the accounts that act on them."""

    client: ChainClient
    artifacts: Artifacts
    operator: LocalAccount = field(default_factory=lambda: anvil_dev_account(0))
    accounts: dict[str, LocalAccount] = field(default_factory=dict)
    addresses: dict[str, str] = field(default_factory=dict)  # plan name -> address
    kinds: dict[str, str] = field(default_factory=dict)  # plan name -> contract type
    deployment_block: int = 0
    _keys: Any = field(default_factory=lambda: itertools.count(1))

    # --- plumbing ---------------------------------------------------------------------

    def rpc(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC call (anvil_*, evm_*)."""
        response = self.client.web3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response.get("result")

    def send(self, who: str | LocalAccount, name: str, function: str, *args: Any) -> Receipt:
        """``who`` calls ``function(*args)`` on contract ``name``."""
        account = self.accounts[who] if isinstance(who, str) else who
        kind = self.kinds[name]
        return self.client.transact(
            account, self.addresses[name], self.artifacts[kind].abi, function, args
        )

    def view(self, name: str, function: str, *args: Any, block: int | str = "latest") -> Any:
        """A view function's (first) output."""
        kind = self.kinds[name]
        abi = self.artifacts[kind].abi
        return self.client.call_function(self.addresses[name], abi, function, *args, block=block)[0]

    def now(self) -> int:
        """Timestamp of the latest block."""
        return int(self.client.get_block("latest")["timestamp"])

    def warp(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block."""
        self.rpc("evm_increaseTime", [seconds])
        self.rpc("evm_mine", [])

    def head(self) -> int:
        """The latest block number."""
        return self.client.block_number()

    def contracts(self) -> dict[str, str]:
        """Address -> kind of the fixed contracts (tokens come from the registry's events)."""
        return {
            self.addresses[n].lower(): k for n, k in self.kinds.items() if k != "SettlementToken"
        }

    # --- deployment -------------------------------------------------------------------

    def deploy(self) -> Ledger:
        """Deploy the ledger and onboard the cast."""
        self.accounts = {name: anvil_dev_account(i) for name, (i, _, _) in CAST.items()}
        self.accounts["operator"] = self.operator
        self._deploy("participants", "ParticipantRegistry", self.operator.address)
        registry = self.addresses["participants"]
        self._deploy("receivables", "ReceivableRegistry", registry)
        receivables = self.addresses["receivables"]
        # As the deployment plan: risk control bound before the first registration, the
        # credit lines drawn by the desk and freed by clearing.
        self._deploy("risk", "RiskControl", registry, receivables, OVERDUE_TRIGGER_DAYS)
        self.send("operator", "receivables", "bindRiskControl", self.addresses["risk"])
        self._deploy("lines", "CreditLines", registry, receivables, self.addresses["risk"])
        lines = self.addresses["lines"]
        self._deploy("desk", "FinancingDesk", registry, receivables, lines)
        self._deploy("clearing", "MaturityClearing", registry, receivables, lines)
        self._deploy("fx", "FxSettlement", registry)
        self._deploy("htlc", "HashTimeLock", registry)
        for name in ("desk", "clearing", "fx", "htlc"):
            self.send("operator", "participants", "registerLedgerContract", self.addresses[name])
        kyc = self.now() + 10 * YEAR
        for i, (name, (_, jurisdiction, roles)) in enumerate(CAST.items()):
            self.send(
                "operator",
                "participants",
                "onboard",
                self.accounts[name].address,
                keccak(text=f"LEI-{i}"),
                jurisdiction,
                kyc,
                [role(r) for r in roles],
            )
        return self

    def _deploy(self, name: str, kind: str, *args: Any) -> None:
        receipt = self.client.deploy(self.operator, self.artifacts.deployable(kind), args)
        assert receipt.contract_address is not None
        self.addresses[name] = receipt.contract_address
        self.kinds[name] = kind
        if len(self.addresses) == 1:
            self.deployment_block = receipt.block_number

    def list_token(self, currency: bytes = b"CNY") -> str:
        """Deploy and list the settlement token of ``currency``; returns its plan name."""
        name = currency.decode().lower()
        self._deploy(name, "SettlementToken", self.addresses["participants"], currency, 2,
                     self.accounts["bank"].address)  # fmt: skip
        self.send("operator", "participants", "listSettlementToken", currency, self.addresses[name])
        return name

    # --- business actions -------------------------------------------------------------

    def register(self, amount: int = 1_000_000_00, *, due_in: int = 90 * DAY) -> int:
        """The core enterprise registers a receivable owed to the supplier; returns its id."""
        registration = (
            self.accounts["supplier"].address,
            amount,
            b"CNY",
            self.now() + due_in,
            keccak(text=f"invoice-{next(self._keys)}-{self.addresses['receivables']}"),
            keccak(text="documents"),
            0,
        )
        self.send("core", "receivables", "register", registration)
        return int(self.view("receivables", "lastId"))

    def register_batch(self, count: int, amount: int = 100) -> None:
        """``count`` receivables in one transaction (two events each)."""
        due = self.now() + 90 * DAY
        rows = [
            (
                self.accounts["supplier"].address,
                amount,
                b"CNY",
                due,
                keccak(text=f"invoice-{next(self._keys)}-{self.addresses['receivables']}"),
                keccak(text="documents"),
                0,
            )
            for _ in range(count)
        ]
        self.send("core", "receivables", "registerBatch", rows)

    def grant_line(
        self, financier: str = "financier", limit: int = 5_000_000_00, *, expires_in: int = YEAR
    ) -> int:
        """``financier`` grants the core a CNY credit line; returns its id."""
        core = self.accounts["core"].address
        self.send(financier, "lines", "grant", core, b"CNY", limit, self.now() + expires_in)
        return int(self.view("lines", "lastLineId"))

    def scenario(self) -> dict[str, int]:
        """Onboard, list CNY, mint, grant lines, register, confirm, split, transfer,
        finance, repay, redeem."""
        self.list_token(b"CNY")
        self.send("bank", "cny", "mint", self.accounts["core"].address, 10_000_000_00)
        self.send("bank", "cny", "mint", self.accounts["financier"].address, 10_000_000_00)
        self.send("bank", "cny", "mint", self.accounts["financier2"].address, 10_000_000_00)
        self.grant_line("financier")
        self.grant_line("financier2")
        root = self.register(1_000_000_00)
        self.send("supplier", "receivables", "confirm", root)
        self.send("supplier", "receivables", "split", root, [600_000_00, 300_000_00, 100_000_00])
        first = root + 1
        self.send(
            "supplier", "receivables", "transfer", first + 1, self.accounts["supplier2"].address
        )
        financing = self._finance(first)
        rejected = self.register(5_000_00)
        self.send("supplier", "receivables", "reject", rejected)
        self.send("regulator", "receivables", "freeze", first + 2)
        self.send("regulator", "receivables", "unfreeze", first + 2)
        self.warp(91 * DAY)
        self.send("core", "cny", "approve", self.addresses["clearing"], MAX_UINT)
        self.send("core", "clearing", "repay", root)
        for leaf in (first, first + 1):
            self.send("supplier", "clearing", "redeem", leaf)
        return {"root": root, "first_child": first, "financing": financing}

    def fx_and_htlc(self) -> dict[str, Any]:
        """A CNY->USD PvP at a posted quote, a second quote left unused, and three HTLCs:
        one claimed, one refunded after its timeout, one still locked."""
        if "cny" not in self.addresses:
            self.list_token(b"CNY")
        self.list_token(b"USD")
        self.send("bank", "cny", "mint", self.accounts["core"].address, 5_000_000_00)
        self.send("bank", "usd", "mint", self.accounts["fxdesk"].address, 1_000_000_00)
        # core (CN) pays supplier2 (VN): the regulator opens the corridor.
        self.send("regulator", "fx", "setCorridor", b"CN", b"VN", True)
        used, spare = self._post_quote(14 * 10**16), self._post_quote(13 * 10**16)
        self.send("core", "cny", "approve", self.addresses["fx"], MAX_UINT)
        self.send("fxdesk", "usd", "approve", self.addresses["fx"], MAX_UINT)
        uetr = keccak(text=f"uetr-{next(self._keys)}")[:16]
        payment = (uetr, self.accounts["supplier2"].address, 1_000_000, b"SUPP".ljust(32, b"\0"), 7)
        self.send("core", "fx", "settle", payment, used, b"")

        self.send("core", "cny", "approve", self.addresses["htlc"], MAX_UINT)
        secrets = [keccak(text=f"secret-{i}-{self.addresses['htlc']}") for i in range(3)]
        timeout = self.now() + DAY
        for secret, recipient, amount in zip(
            secrets, ("supplier", "supplier2", "financier"), (500_00, 700_00, 900_00), strict=True
        ):
            hashlock = hashlib.sha256(secret).digest()
            lock_uetr = keccak(secret)[:16]
            self.send("core", "htlc", "lock", self.addresses["cny"],
                      self.accounts[recipient].address, amount, hashlock, timeout, lock_uetr)  # fmt: skip
        self.send("supplier", "htlc", "claim", 1, secrets[0])
        self.warp(DAY + 1)
        self.send("core", "htlc", "refund", 2)
        return {"quote": used[0], "spare_quote": spare[0], "uetr": uetr, "preimage": secrets[0]}

    def risk_story(self, step: Callable[[str], None] = lambda _name: None) -> dict[str, int]:
        """Credit lines, an issuance cap and the overdue trigger at work, calling
        ``step(name)`` after each stage (a test indexes and reconciles there):

        financier grants line 1 (2,000,000.00, a year) and names supplier on it with a
        1,500,000.00 sub-limit; financier2 grants line 2 (500,000.00, 60 days). The
        operator names financier core's cap manager, which caps core at 5,000,000.00.
        Root A (1,000,000.00, due in 90 days) is confirmed and split 600,000 / 400,000;
        root B (300,000.00) is rejected, root C (50,000.00) cancelled; the 600,000 part
        is financed on line 1 (a programme drawing), root D (200,000.00, due in 10 days)
        on line 2. 41 days on, D is flagged past the 30-day trigger; line 1 is raised and
        line 2 frozen and unfrozen; core repays D (the flag is cured) and D is redeemed
        (line 2 freed). At A's maturity line 2 has expired; core repays A and its parts
        are redeemed (line 1 freed).
        """
        core = self.accounts["core"].address
        self.list_token(b"CNY")
        for who in ("core", "financier", "financier2"):
            self.send("bank", "cny", "mint", self.accounts[who].address, 10_000_000_00)
        line1 = self.grant_line("financier", 2_000_000_00)
        self.send("financier", "lines", "setSupplierLimit", line1,
                  self.accounts["supplier"].address, 1_500_000_00)  # fmt: skip
        line2 = self.grant_line("financier2", 500_000_00, expires_in=60 * DAY)
        self.send("operator", "risk", "setCapManager", core, self.accounts["financier"].address)
        self.send("financier", "risk", "setIssuanceCap", core, b"CNY", 5_000_000_00)
        step("lines and cap")
        root_a = self.register(1_000_000_00, due_in=90 * DAY)
        self.send("supplier", "receivables", "confirm", root_a)
        root_b = self.register(300_000_00)
        self.send("supplier", "receivables", "reject", root_b)
        root_c = self.register(50_000_00)
        self.send("core", "receivables", "cancel", root_c)
        self.send("supplier", "receivables", "split", root_a, [600_000_00, 400_000_00])
        kept = int(self.view("receivables", "lastId"))  # split parts take the next ids
        part = kept - 1
        root_d = self.register(200_000_00, due_in=10 * DAY)
        self.send("supplier", "receivables", "confirm", root_d)
        step("registered")
        financing_a = self._finance(part, accepted="financier")
        financing_d = self._finance(root_d, accepted="financier2")
        step("financed")
        self.warp(41 * DAY)
        self.send("supplier2", "risk", "flagOverdue", root_d)
        self.send("financier", "lines", "amend", line1, 3_000_000_00, self.now() + YEAR)
        self.send("regulator", "lines", "freeze", line2)
        self.send("regulator", "lines", "unfreeze", line2)
        step("flagged")
        self.send("core", "cny", "approve", self.addresses["clearing"], MAX_UINT)
        self.send("core", "clearing", "repay", root_d)
        self.send("financier2", "clearing", "redeem", root_d)
        step("D repaid")
        self.warp(50 * DAY)
        self.send("core", "clearing", "repay", root_a)
        self.send("financier", "clearing", "redeem", part)
        self.send("supplier", "clearing", "redeem", kept)
        step("A repaid")
        return {"line1": line1, "line2": line2, "root_a": root_a, "root_b": root_b,
                "root_c": root_c, "root_d": root_d, "part": part, "kept": kept,
                "financing_a": financing_a, "financing_d": financing_d}  # fmt: skip

    def _post_quote(self, rate: int) -> tuple[Any, ...]:
        now = self.now()
        quote = (
            keccak(text=f"quote-{next(self._keys)}-{self.addresses['fx']}"),
            self.accounts["fxdesk"].address,
            b"CNY",
            b"USD",
            rate,
            now,
            now + 600,
            "0x" + "00" * 20,  # any payer
        )
        self.send("fxdesk", "fx", "postQuote", quote)
        return quote

    def _finance(self, receivable: int, accepted: str = "financier") -> int:
        """Both financiers offer on the supplier's request; ``accepted``'s offer is taken."""
        self.send("supplier", "desk", "request", receivable, "0x" + "00" * 20)
        financing = int(self.view("desk", "lastFinancingId"))
        expiry = self.now() + 30 * DAY
        terms = (9_000, 800, 365, False, 7 * DAY, expiry, 1_000)
        offerors = ("financier", "financier2")
        for financier in offerors:
            self.send(financier, "cny", "approve", self.addresses["desk"], MAX_UINT)
            self.send(financier, "desk", "offer", financing, terms)
        self.send("supplier", "desk", "accept", financing, offerors.index(accepted))
        return financing
