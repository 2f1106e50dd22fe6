"""Fixtures for the contract suite (run by `ape test` against ape-foundry's anvil).

Only fixtures live here: role accounts, session-scoped deployments, and factories
(`register(**overrides)`, `active_receivable(...)`). ape reverts the chain to a
snapshot around every test, so session deployments are shared safely.
"""

import itertools

import pytest
from eth_utils import keccak

DAY = 86_400
YEAR = 365 * DAY
CNY = b"CNY"
USD = b"USD"


def role(name: str) -> bytes:
    """The on-chain role id: keccak256 of the role's name (contracts/Roles.sol)."""
    return keccak(text=name)


ROLES = {
    name: role(name)
    for name in (
        "OPERATOR",
        "CORE_ENTERPRISE",
        "SUPPLIER",
        "FINANCIER",
        "SETTLEMENT_BANK",
        "FX_PROVIDER",
        "AUDITOR",
        "REGULATOR",
        "LEDGER",
    )
}


@pytest.fixture(scope="session")
def operator(accounts):
    return accounts[0]


@pytest.fixture(scope="session")
def core(accounts):
    """A core enterprise: the debtor."""
    return accounts[1]


@pytest.fixture(scope="session")
def supplier(accounts):
    """Tier-1 supplier: the original creditor."""
    return accounts[2]


@pytest.fixture(scope="session")
def supplier2(accounts):
    """Tier-2 supplier."""
    return accounts[3]


@pytest.fixture(scope="session")
def financier(accounts):
    return accounts[4]


@pytest.fixture(scope="session")
def financier2(accounts):
    return accounts[5]


@pytest.fixture(scope="session")
def bank(accounts):
    """The CNY and USD settlement bank."""
    return accounts[6]


@pytest.fixture(scope="session")
def regulator(accounts):
    return accounts[7]


@pytest.fixture(scope="session")
def auditor(accounts):
    return accounts[8]


@pytest.fixture(scope="session")
def outsider(accounts):
    """An account that was never onboarded."""
    return accounts[9]


@pytest.fixture(scope="session")
def now(chain):
    def _now() -> int:
        return chain.pending_timestamp

    return _now


@pytest.fixture(scope="session")
def participants(project, operator, core, supplier, supplier2, financier, financier2, bank, regulator, auditor, chain):
    registry = operator.deploy(project.ParticipantRegistry, operator)
    kyc = chain.pending_timestamp + 10 * YEAR
    cast = [
        (core, b"CN", ["CORE_ENTERPRISE"]),
        (supplier, b"CN", ["SUPPLIER"]),
        (supplier2, b"VN", ["SUPPLIER"]),
        (financier, b"CN", ["FINANCIER"]),
        (financier2, b"SG", ["FINANCIER"]),
        (bank, b"CN", ["SETTLEMENT_BANK"]),
        (regulator, b"CN", ["REGULATOR"]),
        (auditor, b"CN", ["AUDITOR"]),
    ]
    for i, (account, jurisdiction, roles) in enumerate(cast):
        registry.onboard(
            account, keccak(text=f"LEI-{i}"), jurisdiction, kyc, [ROLES[r] for r in roles], sender=operator
        )
    return registry


@pytest.fixture(scope="session")
def cny(project, participants, operator, bank):
    token = operator.deploy(project.SettlementToken, participants, CNY, 2, bank)
    participants.listSettlementToken(CNY, token, sender=operator)
    return token


@pytest.fixture(scope="session")
def usd(project, participants, operator, bank):
    token = operator.deploy(project.SettlementToken, participants, USD, 2, bank)
    participants.listSettlementToken(USD, token, sender=operator)
    return token


@pytest.fixture(scope="session")
def receivables(project, participants, operator, cny, usd):
    return operator.deploy(project.ReceivableRegistry, participants)


@pytest.fixture(scope="session")
def desk(project, participants, receivables, operator):
    contract = operator.deploy(project.FinancingDesk, participants, receivables)
    participants.registerLedgerContract(contract, sender=operator)
    return contract


@pytest.fixture(scope="session")
def clearing(project, participants, receivables, operator):
    contract = operator.deploy(project.MaturityClearing, participants, receivables)
    participants.registerLedgerContract(contract, sender=operator)
    return contract


@pytest.fixture(scope="session")
def invoice_keys():
    counter = itertools.count(1)
    return lambda: keccak(text=f"invoice-{next(counter)}")


@pytest.fixture
def register(receivables, core, supplier, invoice_keys, chain):
    """Registers a receivable (PENDING); keyword arguments override any field."""

    def _register(sender=None, **overrides):
        fields = {
            "creditor": supplier.address,
            "amount": 1_000_000_00,
            "currency": CNY,
            "dueDate": chain.pending_timestamp + 90 * DAY,
            "invoiceKey": invoice_keys(),
            "documentHash": keccak(text="documents"),
        }
        fields.update(overrides)
        tx = receivables.register(tuple(fields.values()), sender=sender or core)
        return tx.return_value if tx.return_value else receivables.lastId()

    return _register


@pytest.fixture
def active_receivable(register, receivables, supplier):
    """Registers and confirms a receivable; returns its id."""

    def _active(**overrides):
        creditor = overrides.get("creditor", supplier)
        rid = register(**{**overrides, "creditor": getattr(creditor, "address", creditor)})
        receivables.confirm(rid, sender=creditor)
        return rid

    return _active
