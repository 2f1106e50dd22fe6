"""Gas per ledger operation, measured on a fresh local chain.

    ape run gas_table

deploys the contracts on the local network (anvil, through ape-foundry), performs
each operation and writes the gas it used to docs/gas.md (a Markdown table) and
docs/gas.json, both committed so that a change's cost shows in review.

Each entry of MEASUREMENTS is a function that takes the deployed `Ledger`, sets up
whatever state its operation needs and returns the `Row`s it measured. To add an
operation (financing, clearing, FX), write such a function and append it.

Gas used is deterministic for a given state, so the files change only when the
contracts, the compiler settings or a measurement change. Each measurement takes
a typical call, not the first one ever: the first write of a counter or of a
balance costs a one-off 20k gas more.
"""

import itertools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ape import accounts, chain, project
from eth_utils import keccak

DAY = 86_400
YEAR = 365 * DAY
DOCS = Path(__file__).resolve().parent.parent / "docs"


def role(name: str) -> bytes:
    """The on-chain role id (contracts/Roles.sol)."""
    return keccak(text=name)


@dataclass
class Row:
    """One measured operation; `items` > 1 for an operation over many receivables."""

    operation: str
    gas: int
    items: int = 1
    note: str = ""

    @property
    def gas_per_item(self) -> int | None:
        return self.gas // self.items if self.items > 1 else None


@dataclass
class Ledger:
    """The deployed contracts and the cast of participants, with small helpers."""

    operator: object
    core: object
    supplier: object
    supplier2: object
    financier: object
    financier2: object
    bank: object
    regulator: object
    participants: object
    cny: object
    usd: object
    receivables: object
    desk: object
    clearing: object
    _keys: itertools.count = field(default_factory=lambda: itertools.count(1))

    def registration(self, amount: int = 1_000_000_00, creditor=None) -> tuple:
        """An IReceivableRegistry.Registration due in 90 days, with a fresh invoice key."""
        return (
            (creditor or self.supplier).address,
            amount,
            b"CNY",
            chain.pending_timestamp + 90 * DAY,
            keccak(text=f"gas-table-invoice-{next(self._keys)}"),
            keccak(text="documents"),
        )

    def pending_receivable(self, amount: int = 1_000_000_00) -> int:
        return self.receivables.register(self.registration(amount), sender=self.core).return_value

    def active_receivable(self, amount: int = 1_000_000_00) -> int:
        rid = self.pending_receivable(amount)
        self.receivables.confirm(rid, sender=self.supplier)
        return rid


def deploy() -> Ledger:
    """Deploys and wires every contract the way tests/contracts/conftest.py does."""
    cast = accounts.test_accounts
    operator, core, supplier, supplier2, financier, financier2, bank, regulator = cast[:8]
    participants = operator.deploy(project.ParticipantRegistry, operator)
    kyc = chain.pending_timestamp + 10 * YEAR
    for i, (account, roles) in enumerate(
        [
            (core, ["CORE_ENTERPRISE"]),
            (supplier, ["SUPPLIER"]),
            (supplier2, ["SUPPLIER"]),
            (financier, ["FINANCIER"]),
            (financier2, ["FINANCIER"]),
            (bank, ["SETTLEMENT_BANK"]),
            (regulator, ["REGULATOR"]),
        ]
    ):
        participants.onboard(
            account,
            keccak(text=f"LEI-{i}"),
            b"CN",
            kyc,
            [role(r) for r in roles],
            sender=operator,
        )
    tokens = {}
    for code in (b"CNY", b"USD"):
        tokens[code] = operator.deploy(project.SettlementToken, participants, code, 2, bank)
        participants.listSettlementToken(code, tokens[code], sender=operator)
    receivables = operator.deploy(project.ReceivableRegistry, participants)
    desk = operator.deploy(project.FinancingDesk, participants, receivables)
    clearing = operator.deploy(project.MaturityClearing, participants, receivables)
    for contract in (desk, clearing):
        participants.registerLedgerContract(contract, sender=operator)
    return Ledger(
        operator,
        core,
        supplier,
        supplier2,
        financier,
        financier2,
        bank,
        regulator,
        participants,
        tokens[b"CNY"],
        tokens[b"USD"],
        receivables,
        desk,
        clearing,
    )


# ------------------------------------------------------------------ measurements


def measure_register(ledger: Ledger) -> list[Row]:
    ledger.pending_receivable()  # the first one also initialises the id counter
    tx = ledger.receivables.register(ledger.registration(), sender=ledger.core)
    return [Row("receivable: register", tx.gas_used)]


def measure_register_batch(ledger: Ledger) -> list[Row]:
    rows = [ledger.registration() for _ in range(100)]
    tx = ledger.receivables.registerBatch(rows, sender=ledger.core)
    return [Row("receivable: registerBatch of 100", tx.gas_used, items=100)]


def measure_confirm(ledger: Ledger) -> list[Row]:
    rid = ledger.pending_receivable()
    tx = ledger.receivables.confirm(rid, sender=ledger.supplier)
    return [Row("receivable: confirm", tx.gas_used)]


def measure_split(ledger: Ledger) -> list[Row]:
    rows = []
    for parts in (2, 10):
        rid = ledger.active_receivable(amount=parts * 100_000_00)
        tx = ledger.receivables.split(rid, [100_000_00] * parts, sender=ledger.supplier)
        rows.append(Row(f"receivable: split into {parts}", tx.gas_used, items=parts))
    return rows


def measure_transfer(ledger: Ledger) -> list[Row]:
    rid = ledger.active_receivable()
    tx = ledger.receivables.transfer(rid, ledger.supplier2, sender=ledger.supplier)
    return [Row("receivable: transfer", tx.gas_used)]


def measure_settlement_token(ledger: Ledger) -> list[Row]:
    cny, bank = ledger.cny, ledger.bank
    cny.mint(ledger.supplier2, 1, sender=bank)  # both ends already hold a balance below
    cny.mint(ledger.supplier, 1_000_00, sender=bank)
    mint = cny.mint(ledger.supplier, 1_000_00, sender=bank)
    transfer = cny.transfer(ledger.supplier2, 100_00, sender=ledger.supplier)
    note = "to an account that already holds tokens"
    return [
        Row("settlement token: mint", mint.gas_used, note=note),
        Row("settlement token: transfer", transfer.gas_used, note=note),
    ]


MEASUREMENTS: list[Callable[[Ledger], list[Row]]] = [
    measure_register,
    measure_register_batch,
    measure_confirm,
    measure_split,
    measure_transfer,
    measure_settlement_token,
]


# ----------------------------------------------------------------------- output


def settings_line() -> str:
    solidity = project.config.get_config("solidity")
    return (
        f"solc {solidity.version}, optimizer {'on' if solidity.optimize else 'off'}, "
        f"EVM {solidity.evm_version}"
    )


def markdown(rows: list[Row]) -> str:
    lines = [
        "# Gas per operation",
        "",
        "Written by `ape run gas_table` (scripts/gas_table.py) on a fresh local anvil chain;",
        f"{settings_line()}. Do not edit by hand: rerun the script after changing a contract.",
        "",
        "| operation | gas | gas per item | note |",
        "|---|---:|---:|---|",
    ]
    for row in rows:
        per_item = f"{row.gas_per_item:,}" if row.gas_per_item is not None else ""
        lines.append(f"| {row.operation} | {row.gas:,} | {per_item} | {row.note} |")
    return "\n".join(lines) + "\n"


def main():
    ledger = deploy()
    rows = [row for measure in MEASUREMENTS for row in measure(ledger)]
    DOCS.mkdir(exist_ok=True)
    (DOCS / "gas.md").write_text(markdown(rows))
    document = {
        "settings": settings_line(),
        "operations": [{**asdict(row), "gas_per_item": row.gas_per_item} for row in rows],
    }
    (DOCS / "gas.json").write_text(json.dumps(document, indent=2) + "\n")
    print(markdown(rows))
