"""Fixtures for the contract suite (run by `ape test` against ape-foundry's anvil).

Only fixtures live here: role accounts, session-scoped deployments, and factories
(`register(**overrides)`, `active_receivable(...)`). ape reverts the chain to a
snapshot around every test, so session deployments are shared safely.
"""

import itertools

import pytest
from eth_utils import keccak

from ledger_app.domain.invoices import invoice_key

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
def participants(
    project,
    operator,
    core,
    supplier,
    supplier2,
    financier,
    financier2,
    bank,
    regulator,
    auditor,
    chain,
):
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
            account,
            keccak(text=f"LEI-{i}"),
            jurisdiction,
            kyc,
            [ROLES[r] for r in roles],
            sender=operator,
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


#: The overdue trigger the session's risk control starts with (days past due).
TRIGGER_DAYS = 30
#: What the session's credit lines allow: room for any financing a test does, unless the
#: test amends the line (`credit_lines.amend`) to test the limit itself.
LINE_LIMIT = 2**120


@pytest.fixture(scope="session")
def receivables(project, participants, operator, cny, usd):
    """The registry, bound to its risk control (it registers nothing unbound)."""
    registry = operator.deploy(project.ReceivableRegistry, participants)
    risk = operator.deploy(project.RiskControl, participants, registry, TRIGGER_DAYS)
    registry.bindRiskControl(risk, sender=operator)
    return registry


@pytest.fixture(scope="session")
def risk(project, receivables):
    """The risk control bound to the registry (issuance caps, overdue trigger)."""
    return project.RiskControl.at(receivables.riskControl())


@pytest.fixture(scope="session")
def credit_lines(
    project, participants, receivables, risk, operator, core, financier, financier2, chain
):
    """Credit lines, with an open line (LINE_LIMIT, ten years) from each financier to
    the core in CNY and USD, so that financing tests are not about lines; lines 1-4."""
    contract = operator.deploy(project.CreditLines, participants, receivables, risk)
    expiry = chain.pending_timestamp + 10 * YEAR
    for lender in (financier, financier2):
        for currency in (CNY, USD):
            contract.grant(core, currency, LINE_LIMIT, expiry, sender=lender)
    return contract


@pytest.fixture(scope="session")
def desk(project, participants, receivables, credit_lines, operator):
    contract = operator.deploy(project.FinancingDesk, participants, receivables, credit_lines)
    participants.registerLedgerContract(contract, sender=operator)
    return contract


@pytest.fixture(scope="session")
def clearing(project, participants, receivables, credit_lines, operator):
    contract = operator.deploy(project.MaturityClearing, participants, receivables, credit_lines)
    participants.registerLedgerContract(contract, sender=operator)
    return contract


@pytest.fixture(scope="session")
def invoice_refs():
    """Fresh invoice refs (what the service derives from an invoice number and type)."""
    counter = itertools.count(1)
    return lambda: keccak(text=f"invoice-{next(counter)}")


@pytest.fixture(scope="session")
def invoice_key_of(participants):
    """The invoice key the registry derives for ``ref`` sold by ``creditor``, by the
    service's twin (test_invoice_key_of_equals_domain_derivation compares the two)."""

    def _key(creditor, ref) -> bytes:
        lei = bytes(participants.leiOf(getattr(creditor, "address", creditor)))
        return invoice_key(lei, bytes(ref))

    return _key


@pytest.fixture
def register(receivables, core, supplier, invoice_refs, chain):
    """Registers a receivable (PENDING); keyword arguments override any field."""

    def _register(sender=None, **overrides):
        fields = {
            "creditor": supplier.address,
            "amount": 1_000_000_00,
            "currency": CNY,
            "dueDate": chain.pending_timestamp + 90 * DAY,
            "invoiceRef": invoice_refs(),
            "documentHash": keccak(text="documents"),
            "lateInterestBps": 0,
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


@pytest.fixture
def ledger(accounts, desk):
    """The financing desk's address as a signer, to drive the receivable registry's
    LEDGER entry points directly (the desk is a registered ledger contract)."""
    account = accounts[desk.address]
    account.balance = 10**20  # gas money: the contract itself never holds ether
    return account


@pytest.fixture
def deactivate(participants, operator, regulator, chain):
    """Puts a participant in bad standing: "suspended", "kyc_expired" or "frozen".

    Returns the registry error every ledger contract must answer it with, and the
    error's arguments, ready for `ape.reverts(error, **arguments)`.
    """

    def _deactivate(account, standing: str):
        if standing == "suspended":
            participants.suspend(account, sender=operator)
            return participants.RegistryParticipantSuspended, {"account": account.address}
        if standing == "kyc_expired":
            expiry = chain.pending_timestamp + 60
            participants.updateKyc(account, expiry, sender=operator)
            chain.mine(deltatime=120)
            arguments = {"account": account.address, "kycExpiry": expiry}
            return participants.RegistryKycExpired, arguments
        if standing == "frozen":
            participants.freezeAccount(account, sender=regulator)
            return participants.RegistryAccountFrozen, {"account": account.address}
        raise ValueError(standing)

    return _deactivate


@pytest.fixture
def quiet_reverts(monkeypatch):
    """Stops ape-foundry printing the call trace of every reverted transaction, for
    tests that provoke hundreds of expected refusals: building and printing it takes
    most of a revert's time. The error is still decoded (ape does that first)."""
    from ape_ethereum.trace import Trace

    monkeypatch.setattr(Trace, "show", lambda self, *args, **kwargs: None)


# --- financing desk and maturity clearing -------------------------------------------

FUNDS = 10**15  # minor units minted to each financier and the debtor by `funded`


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than about a minute (large trees)")


@pytest.fixture(scope="session")
def reverts():
    """`with reverts(contract.SomeError, **inputs):` like ape.reverts, but strict.

    ape decodes a custom error against the ABI of the contract it guesses raised it;
    when an error bubbles up through two contracts it can guess wrong, and then
    `ape.reverts(SomeError)` accepts any revert at all. This decodes the revert data
    against the expected error itself, so another error (or none) fails the test.
    """
    from contextlib import contextmanager

    import ape
    from ape.exceptions import CustomError
    from eth_abi import decode
    from eth_utils import to_checksum_address
    from hexbytes import HexBytes

    def _abi_type(component) -> str:
        return component.canonical_type

    def _decoded(exc, error) -> tuple[str, dict]:
        if isinstance(exc, CustomError):
            return exc.abi.name, dict(exc.inputs)
        data = exc.revert_message or ""
        if data.startswith("custom error 0x"):
            # How anvil words a custom error from an eth_call (a view): the selector in
            # hex, then the arguments as text when they happen to be valid UTF-8, else
            # in hex (which long data may have trimmed with an ellipsis).
            selector, _, arguments = data.removeprefix("custom error ").partition(": ")
            if "…" in arguments:  # trimmed: only the selector survives
                raw = HexBytes(selector)
            elif len(arguments) % 2 == 0 and all(c in "0123456789abcdef" for c in arguments):
                raw = HexBytes(selector) + bytes.fromhex(arguments)
            else:
                raw = HexBytes(selector) + arguments.encode("utf-8")
        elif data.startswith("0x"):
            raw = HexBytes(data)
        else:
            return f"<not a custom error: {data!r}>", {}
        if raw[:4] != keccak(text=error.abi.selector)[:4]:
            return f"<other custom error, selector {raw[:4].hex()}>", {}
        if len(raw) == 4 and error.abi.inputs:
            return error.abi.name, {}
        values = decode([_abi_type(i) for i in error.abi.inputs], raw[4:])
        return error.abi.name, {i.name: v for i, v in zip(error.abi.inputs, values, strict=True)}

    def _normalised(value):
        if hasattr(value, "address"):
            return value.address
        if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
            return to_checksum_address(value)
        return value

    @contextmanager
    def _reverts(error, **inputs):
        with ape.reverts() as info:
            yield info
        name, actual = _decoded(info.value, error)
        assert name == error.abi.name, f"expected {error.abi.name}, reverted with {name}"
        for key, expected in inputs.items():
            assert key in actual, f"{name} has no input {key!r}: {sorted(actual)}"
            assert _normalised(actual[key]) == _normalised(expected), (
                f"{name}.{key}: expected {expected!r}, got {actual[key]!r}"
            )

    return _reverts


@pytest.fixture(scope="session")
def funded(cny, bank, core, financier, financier2, desk, clearing):
    """Mints FUNDS CNY to both financiers and the debtor; financiers approve the desk
    (offers escrow from them) and the debtor approves clearing (repayment), without limit.
    Returns FUNDS."""
    unlimited = 2**256 - 1
    for account in (financier, financier2, core):
        cny.mint(account, FUNDS, sender=bank)
    for account in (financier, financier2):
        cny.approve(desk, unlimited, sender=account)
    cny.approve(clearing, unlimited, sender=core)
    return FUNDS


@pytest.fixture(scope="session")
def terms(chain):
    """Builds an IFinancingDesk.OfferTerms tuple: 80% advanced at 6% a year on ACT/365,
    with recourse, 7 days' grace, open 7 days, 500.00 fee; keywords override."""

    def _terms(**overrides):
        fields = {
            "advanceRateBps": 8_000,
            "discountRateBps": 600,
            "dayCountBasis": 365,
            "recourse": True,
            "gracePeriod": 7 * DAY,
            "expiry": chain.pending_timestamp + 7 * DAY,
            "fee": 500_00,
        }
        unknown = set(overrides) - set(fields)
        if unknown:
            raise TypeError(f"unknown offer terms: {sorted(unknown)}")
        fields.update(overrides)
        return tuple(fields.values())

    return _terms


@pytest.fixture
def untraced_chain(chain, networks):
    """Switches ape, for one test, to a second anvil started exactly like ape-foundry's
    but without --steps-tracing, and yields its provider; deploy what the test needs
    inside it. ape-foundry's anvil records every EVM step of every transaction and
    keeps it: clearing 5,000 leaves there grows it past 20 GB and it is killed."""
    import socket
    import subprocess
    import time

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [arg for arg in chain.provider.build_command() if arg != "--steps-tracing"]
    command[command.index("--port") + 1] = str(port)
    node = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if node.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"untraced anvil did not start: {command}")
            time.sleep(0.1)
        settings = {"host": f"http://127.0.0.1:{port}"}
        with networks.ethereum.local.use_provider("foundry", provider_settings=settings) as p:
            yield p
    finally:
        node.terminate()
        node.wait(timeout=30)


@pytest.fixture
def finance(desk, terms, supplier, financier, funded):
    """Requests, offers and accepts: `holder` finances receivable `rid` with
    `funder` on `terms(**overrides)`. Returns the financing id."""

    def _finance(rid, holder=supplier, funder=financier, **overrides):
        financing_id = desk.request(rid, funder, sender=holder).return_value
        desk.offer(financing_id, terms(**overrides), sender=funder)
        desk.accept(financing_id, 0, sender=holder)
        return financing_id

    return _finance


# --- credit lines and risk control (issue 19) --------------------------------------------


@pytest.fixture
def registration(supplier, chain, invoice_refs):
    """One IReceivableRegistry.Registration tuple (what `register` sends), for
    `registerBatch`; keywords override fields."""

    def _registration(**overrides):
        fields = {
            "creditor": supplier.address,
            "amount": 1_000_000_00,
            "currency": CNY,
            "dueDate": chain.pending_timestamp + 90 * DAY,
            "invoiceRef": invoice_refs(),
            "documentHash": keccak(text="documents"),
            "lateInterestBps": 0,
        }
        fields.update(overrides)
        return tuple(fields.values())

    return _registration


@pytest.fixture
def offered_financing(desk, active_receivable, terms, supplier, financier, funded):
    """A fresh receivable of `amount` held by `holder`, requested from `funder`, with
    its offer 0 (`terms(**overrides)`) open: returns (receivable id, financing id)."""

    def _offered(amount=1_000_000_00, holder=supplier, funder=financier, **overrides):
        rid = active_receivable(amount=amount, creditor=holder)
        fid = desk.request(rid, funder, sender=holder).return_value
        desk.offer(fid, terms(**overrides), sender=funder)
        return rid, fid

    return _offered


@pytest.fixture
def defaulted_financing(desk, receivables, active_receivable, finance, chain, financier):
    """A receivable of `amount` financed by `financier` (line 1) and declared in default
    a day past its due date: returns (receivable id, financing id)."""

    def _defaulted(amount=1_000_000_00):
        rid = active_receivable(amount=amount)
        fid = finance(rid, gracePeriod=DAY)
        chain.pending_timestamp = receivables.summary(rid).dueDate + DAY + 1
        desk.declareDefault(fid, sender=financier)
        return rid, fid

    return _defaulted


# --- Cross-border settlement (issue 5): FX provider, PvP contract, HTLC, quote signing ---

ZERO_ADDRESS = "0x" + "00" * 20
QUOTE_TYPES = [
    {"name": "quoteId", "type": "bytes32"},
    {"name": "provider", "type": "address"},
    {"name": "sellCurrency", "type": "bytes3"},
    {"name": "buyCurrency", "type": "bytes3"},
    {"name": "rate", "type": "uint256"},
    {"name": "issuedAt", "type": "uint64"},
    {"name": "validUntil", "type": "uint64"},
    {"name": "payer", "type": "address"},
]
_quote_ids = itertools.count(1)


@pytest.fixture(scope="session")
def fx_provider(accounts, participants, operator, chain):
    """An FX liquidity provider (jurisdiction HK) holding FX_PROVIDER: a fresh test
    account, since accounts 0-9 all play other parts."""
    account = accounts.generate_test_account()
    account.balance = 10**21  # gas money: only accounts 0-9 are funded by the node
    participants.onboard(
        account,
        keccak(text="LEI-FX-PROVIDER"),
        b"HK",
        chain.pending_timestamp + 10 * YEAR,
        [ROLES["FX_PROVIDER"]],
        sender=operator,
    )
    return account


@pytest.fixture(scope="session")
def fx(project, participants, operator, cny, usd):
    """FxSettlement: PvP at an FX provider's quote. It holds no tokens, but it spends
    allowances, and settlement tokens only let ledger contracts (or active participants) spend."""
    contract = operator.deploy(project.FxSettlement, participants)
    participants.registerLedgerContract(contract, sender=operator)
    return contract


@pytest.fixture(scope="session")
def htlc(project, participants, operator, cny, usd):
    """HashTimeLock escrow; registered as a ledger contract because it holds tokens."""
    contract = operator.deploy(project.HashTimeLock, participants)
    participants.registerLedgerContract(contract, sender=operator)
    return contract


@pytest.fixture
def make_quote(fx_provider, chain):
    """A fresh CNY->USD quote of `fx_provider` (dict in the Quote struct's field order),
    issued now and valid ten minutes, for any payer; keyword arguments override."""

    def _make(**overrides) -> dict:
        now = chain.pending_timestamp
        quote = {
            "quoteId": keccak(text=f"quote-{next(_quote_ids)}"),
            "provider": fx_provider.address,
            "sellCurrency": CNY,
            "buyCurrency": USD,
            "rate": 138_000_000_000_000_000,  # 0.138 USD per CNY, scaled by 1e18
            "issuedAt": now,
            "validUntil": now + 600,
            "payer": ZERO_ADDRESS,
        }
        quote.update(overrides)
        return quote

    return _make


@pytest.fixture(scope="session")
def sign_quote(fx, fx_provider, chain):
    """Signs a quote as EIP-712 typed data of FxSettlement's domain, by default with the
    FX provider's key: `sign_quote(quote, signer=None, **domain_overrides) -> bytes`."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    def _sign(quote: dict, signer=None, **domain_overrides) -> bytes:
        domain = {
            "name": "LedgerFxSettlement",
            "version": "1",
            "chainId": chain.chain_id,
            "verifyingContract": fx.address,
            **domain_overrides,
        }
        message = encode_typed_data(
            full_message={
                "types": {
                    "EIP712Domain": [
                        {"name": "name", "type": "string"},
                        {"name": "version", "type": "string"},
                        {"name": "chainId", "type": "uint256"},
                        {"name": "verifyingContract", "type": "address"},
                    ],
                    "Quote": QUOTE_TYPES,
                },
                "primaryType": "Quote",
                "domain": domain,
                "message": quote,
            }
        )
        key = (signer or fx_provider).private_key
        return bytes(Account.sign_message(message, key).signature)

    return _sign


@pytest.fixture(scope="session", autouse=True)
def _ledger_deployed_before_any_test(
    participants, cny, usd, receivables, desk, clearing, fx, htlc, fx_provider, funded
):
    """Creates every session deployment (and the session's funding) at session start.

    A session fixture first created inside a test is made within that test's snapshot:
    ape reverts the chain after the test but pytest keeps the fixture, so later tests
    would see a contract or balances that no longer exist on chain.
    """


# --- Maturity payment in another currency (clearing.repayViaFx) ---------------------------

CNY_PER_USD = 7_250_000_000_000_000_000  # 7.25 CNY per USD, scaled by 1e18


@pytest.fixture
def usd_debtor(usd, cny, bank, core, fx, fx_provider):
    """The core enterprise holds USD and approves FxSettlement; the provider holds CNY
    liquidity and approves FxSettlement for its leg."""
    usd.mint(core, FUNDS, sender=bank)
    usd.approve(fx, 2**256 - 1, sender=core)
    cny.mint(fx_provider, FUNDS, sender=bank)
    cny.approve(fx, 2**256 - 1, sender=fx_provider)
    return core


@pytest.fixture
def usd_quote(make_quote, sign_quote):
    def _quote(**overrides):
        quote = make_quote(sellCurrency=USD, buyCurrency=CNY, rate=CNY_PER_USD, **overrides)
        return quote, sign_quote(quote)

    return _quote


@pytest.fixture
def corridor_open(fx, regulator):
    fx.setCorridor(b"CN", b"HK", True, sender=regulator)
