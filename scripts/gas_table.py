"""Gas per ledger operation, measured on a fresh local chain.

    ape run gas_table

deploys the contracts on the local network (anvil, through ape-foundry), performs
each operation and writes the gas it used to docs/gas.md (a Markdown table) and
docs/gas.json, both committed so that a change's cost shows in review.

Each entry of MEASUREMENTS is a function that takes the deployed `Ledger`, sets up
whatever state its operation needs and returns the `Row`s it measured. To add an
operation (financing, clearing, FX), write such a function and append it.

Gas used is deterministic for a given state, so the files change only when the
contracts, the compiler settings or a measurement change (and for the one wall time
they carry, that of clearing 5,000 leaves). Each measurement takes
a typical call, not the first one ever: the first write of a counter or of a
balance costs a one-off 20k gas more.
"""

import itertools
import json
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ape import accounts, chain, networks, project
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
    risk: object = None
    lines: object = None
    _keys: itertools.count = field(default_factory=lambda: itertools.count(1))

    def registration(self, amount: int = 1_000_000_00, creditor=None) -> tuple:
        """An IReceivableRegistry.Registration due in 90 days, with a fresh invoice ref."""
        return (
            (creditor or self.supplier).address,
            amount,
            b"CNY",
            chain.pending_timestamp + 90 * DAY,
            keccak(text=f"gas-table-invoice-{next(self._keys)}"),
            keccak(text="documents"),
            0,
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
    # The deployment plan's order (ledger_app/chain/deploy.py): the risk control bound
    # before the first registration, credit lines drawn by the desk and freed by clearing.
    risk = operator.deploy(project.RiskControl, participants, receivables, 30)
    receivables.bindRiskControl(risk, sender=operator)
    lines = operator.deploy(project.CreditLines, participants, receivables, risk)
    desk = operator.deploy(project.FinancingDesk, participants, receivables, lines)
    clearing = operator.deploy(project.MaturityClearing, participants, receivables, lines)
    for contract in (desk, clearing):
        participants.registerLedgerContract(contract, sender=operator)
    # Lines 1 and 2: each financier to the core in CNY, so that any financing measured
    # below has a line to draw on (an accept without one is refused).
    for lender in (financier, financier2):
        lines.grant(core, b"CNY", 2**120, chain.pending_timestamp + 10 * YEAR, sender=lender)
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
        risk=risk,
        lines=lines,
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


# Financing and clearing (issue 4) ------------------------------------------------

FUNDS = 10**15


def _fund(ledger: Ledger) -> None:
    """CNY for the financiers and the debtor; the desk and clearing may pull it."""
    for account in (ledger.financier, ledger.financier2, ledger.core):
        ledger.cny.mint(account, FUNDS, sender=ledger.bank)
    for account in (ledger.financier, ledger.financier2):
        ledger.cny.approve(ledger.desk, 2**256 - 1, sender=account)
    ledger.cny.approve(ledger.clearing, 2**256 - 1, sender=ledger.core)


def _terms(fee: int = 500_00) -> tuple:
    """IFinancingDesk.OfferTerms: 80% at 6% a year ACT/365, recourse, 7 days to accept."""
    return (8_000, 600, 365, True, 7 * DAY, chain.pending_timestamp + 7 * DAY, fee)


def _finance(ledger: Ledger, rid: int) -> int:
    desk = ledger.desk
    desk.request(rid, ledger.financier, sender=ledger.supplier)
    fid = desk.lastFinancingId()
    desk.offer(fid, _terms(), sender=ledger.financier)
    desk.accept(fid, 0, sender=ledger.supplier)
    return fid


def measure_financing(ledger: Ledger) -> list[Row]:
    _fund(ledger)
    desk, supplier = ledger.desk, ledger.supplier
    _finance(ledger, ledger.active_receivable())  # the desk's first financing ever
    rid = ledger.active_receivable()
    request = desk.request(rid, "0x" + "00" * 20, sender=supplier)
    fid = desk.lastFinancingId()
    desk.offer(fid, _terms(), sender=ledger.financier2)
    offer = desk.offer(fid, _terms(fee=400_00), sender=ledger.financier)
    reject = desk.rejectOffer(fid, 0, sender=supplier)
    accept = desk.accept(fid, 1, sender=supplier)

    crowded = ledger.active_receivable()
    desk.request(crowded, "0x" + "00" * 20, sender=supplier)
    fid = desk.lastFinancingId()
    for i in range(desk.MAX_OFFERS()):
        funder = ledger.financier if i % 2 else ledger.financier2
        desk.offer(fid, _terms(fee=100_00 + i), sender=funder)
    accept_crowded = desk.accept(fid, 0, sender=supplier)
    escrowed = "escrows the proceeds from the financier; the desk already holds escrow"
    return [
        Row("financing: request", request.gas_used, note="locks the receivable"),
        Row("financing: offer", offer.gas_used, note=escrowed),
        Row("financing: reject offer", reject.gas_used, note="refunds the escrow"),
        Row(
            "financing: accept",
            accept.gas_used,
            note="pays the supplier, the financier becomes holder; no other offer open",
        ),
        Row(
            "financing: accept, 7 other offers refunded",
            accept_crowded.gas_used,
            note=f"MAX_OFFERS = {desk.MAX_OFFERS()}",
        ),
    ]


def measure_clearing(ledger: Ledger) -> list[Row]:
    _fund(ledger)
    receivables, clearing, supplier = ledger.receivables, ledger.clearing, ledger.supplier
    roots = []
    for _ in range(2):
        root = ledger.active_receivable(amount=300_000_00)
        first = receivables.lastId() + 1
        receivables.split(root, [100_000_00] * 3, sender=supplier)
        roots.append((root, first))
    financed = ledger.active_receivable()
    _finance(ledger, financed)
    chain.pending_timestamp = receivables.summary(financed).dueDate
    clearing.repay(roots[0][0], sender=ledger.core)  # clearing now holds funds
    repay = clearing.repay(roots[1][0], sender=ledger.core)
    root, first = roots[1]
    clearing.redeem(first, sender=supplier)  # the root's first leaf starts its tally
    redeem = clearing.redeem(first + 1, sender=supplier)
    clearing.repay(financed, sender=ledger.core)
    redeem_financed = clearing.redeem(financed, sender=ledger.financier)
    return [
        Row("clearing: repay a root", repay.gas_used, note="the debtor pays the outstanding"),
        Row("clearing: redeem one leaf", redeem.gas_used, note="pays its holder, settles it"),
        Row(
            "clearing: redeem a financed receivable",
            redeem_financed.gas_used,
            note="unsplit root held by its financier; the root settles too",
        ),
    ]


def measure_early_payment(ledger: Ledger) -> list[Row]:
    """Issue 20: an early payment offered and accepted, leaves repaid ahead of their root,
    a late root's repayment with interest and a redemption with an interest share."""
    _fund(ledger)
    receivables, clearing, supplier, core = (
        ledger.receivables, ledger.clearing, ledger.supplier, ledger.core,
    )  # fmt: skip
    root = ledger.active_receivable(amount=400_000_00)
    first = receivables.lastId() + 1
    receivables.split(root, [100_000_00] * 4, sender=supplier)
    expiry = chain.pending_timestamp + 7 * DAY
    offer = clearing.offerEarlyPayment(first, 600, 365, expiry, sender=core)
    accept = clearing.acceptEarlyPayment(offer.return_value, sender=supplier)
    repay_one = clearing.repayLeaves([first + 1], sender=core)
    registration = list(ledger.registration(300_000_00))
    registration[6] = 1_825  # late interest: 5 bps a day
    late = receivables.register(tuple(registration), sender=core).return_value
    receivables.confirm(late, sender=supplier)
    late_first = receivables.lastId() + 1
    receivables.split(late, [100_000_00] * 3, sender=supplier)
    chain.pending_timestamp = receivables.summary(late).dueDate + 10 * DAY
    repay_late = clearing.repay(late, sender=core)
    clearing.redeem(late_first, sender=supplier)  # the root's first leaf starts its tally
    redeem_share = clearing.redeem(late_first + 1, sender=supplier)
    return [
        Row("clearing: offer early payment", offer.gas_used, note="the debtor's terms"),
        Row(
            "clearing: accept early payment",
            accept.gas_used,
            note="pays face - discount from the debtor, settles the leaf",
        ),
        Row("clearing: repay one leaf ahead of its root", repay_one.gas_used, items=1),
        Row(
            "clearing: repay a late root",
            repay_late.gas_used,
            note="outstanding + late interest into clearing",
        ),
        Row(
            "clearing: redeem one leaf with an interest share",
            redeem_share.gas_used,
            note="pays face + its pro-rata share of the interest",
        ),
    ]


@contextmanager
def _untraced_anvil():
    """A second anvil started like ape-foundry's but without --steps-tracing, in use for
    the block: ape-foundry's anvil keeps every EVM step of every transaction and cannot
    hold 5,000 redemptions (it grows past 20 GB)."""
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
        with networks.ethereum.local.use_provider("foundry", provider_settings=settings):
            yield
    finally:
        node.terminate()
        node.wait(timeout=30)


def measure_clearing_5000_leaves(_: Ledger) -> list[Row]:
    leaves, fanout = 5_000, 100
    with _untraced_anvil():
        ledger = deploy()
        _fund(ledger)
        receivables, clearing = ledger.receivables, ledger.clearing
        root = ledger.active_receivable(amount=leaves * 1_000_00)
        group = receivables.lastId() + 1
        receivables.split(root, [fanout * 1_000_00] * (leaves // fanout), sender=ledger.supplier)
        ids = []
        for offset in range(leaves // fanout):
            first = receivables.lastId() + 1
            receivables.split(group + offset, [1_000_00] * fanout, sender=ledger.supplier)
            ids.extend(range(first, first + fanout))
        chain.pending_timestamp = receivables.summary(root).dueDate
        batch = clearing.MAX_REDEEM_BATCH()
        started = time.perf_counter()
        gas = clearing.repay(root, sender=ledger.core).gas_used
        batches = [
            clearing.redeemBatch(ids[i : i + batch], sender=ledger.supplier).gas_used
            for i in range(0, leaves, batch)
        ]
        wall = time.perf_counter() - started
        assert receivables.summary(root).status == 8  # SETTLED
    return [
        Row(f"clearing: redeemBatch of {batch}", batches[1], items=batch),
        Row(
            f"clearing: {leaves:,} leaves in total",
            gas + sum(batches),
            items=leaves,
            note=f"repay + {len(batches)} redeemBatch of {batch}; about {wall:.0f} s wall time "
            "(ape + anvil without step tracing; varies with the machine)",
        ),
    ]


# Cross-border settlement (FxSettlement, HashTimeLock), deployed once per run on top of
# the ledger: an FX provider quotes CNY->USD, the core enterprise pays a supplier.
_cross_border: dict[int, dict] = {}
# Quotes and locks carry timestamps (and a quote's signature depends on them) in their
# calldata, whose gas depends on its zero bytes: measured at fixed times, well within
# the participants' KYC validity, the rows do not drift with the wall clock.
FX_TIME = 2_000_000_000
HTLC_TIME = FX_TIME + 10_000


def at(timestamp: int) -> None:
    """The next block is mined at `timestamp` (later than the chain's head)."""
    assert chain.blocks.head.timestamp < timestamp, "the chain is past the measurement time"
    chain.pending_timestamp = timestamp


def cross_border(ledger: Ledger) -> dict:
    """FxSettlement and HashTimeLock deployed and funded, with an onboarded FX provider."""
    if id(ledger) in _cross_border:
        return _cross_border[id(ledger)]
    operator, bank = ledger.operator, ledger.bank
    provider = accounts.test_accounts[8]
    ledger.participants.onboard(
        provider,
        keccak(text="LEI-FX"),
        b"HK",
        chain.pending_timestamp + 10 * YEAR,
        [role("FX_PROVIDER")],
        sender=operator,
    )
    fx = operator.deploy(project.FxSettlement, ledger.participants)
    htlc = operator.deploy(project.HashTimeLock, ledger.participants)
    for contract in (fx, htlc):
        ledger.participants.registerLedgerContract(contract, sender=operator)
    ledger.cny.mint(ledger.core, 10_000_000_00, sender=bank)
    ledger.usd.mint(provider, 10_000_000_00, sender=bank)
    ledger.cny.mint(provider, 1, sender=bank)  # the provider already holds CNY
    ledger.usd.mint(ledger.supplier2, 1, sender=bank)  # and the payee USD
    ledger.cny.approve(fx, 2**256 - 1, sender=ledger.core)
    ledger.usd.approve(fx, 2**256 - 1, sender=provider)
    ledger.cny.approve(htlc, 2**256 - 1, sender=ledger.core)
    _cross_border[id(ledger)] = {
        "fx": fx,
        "htlc": htlc,
        "provider": provider,
        "ids": itertools.count(1),
    }
    return _cross_border[id(ledger)]


def fx_quote(ledger: Ledger) -> tuple[dict, bytes]:
    """A fresh CNY->USD quote at 0.138 and the provider's EIP-712 signature of it."""
    from eth_account import Account
    from eth_account.messages import encode_typed_data

    setup = cross_border(ledger)
    now = FX_TIME
    quote = {
        "quoteId": keccak(text=f"gas-table-quote-{next(setup['ids'])}"),
        "provider": setup["provider"].address,
        "sellCurrency": b"CNY",
        "buyCurrency": b"USD",
        "rate": 138_000_000_000_000_000,
        "issuedAt": now,
        "validUntil": now + 600,
        "payer": "0x" + "00" * 20,
    }
    types = [
        ("quoteId", "bytes32"), ("provider", "address"), ("sellCurrency", "bytes3"),
        ("buyCurrency", "bytes3"), ("rate", "uint256"), ("issuedAt", "uint64"),
        ("validUntil", "uint64"), ("payer", "address"),
    ]  # fmt: skip
    message = encode_typed_data(
        full_message={
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Quote": [{"name": n, "type": t} for n, t in types],
            },
            "primaryType": "Quote",
            "domain": {
                "name": "LedgerFxSettlement",
                "version": "1",
                "chainId": chain.chain_id,
                "verifyingContract": setup["fx"].address,
            },
            "message": quote,
        }
    )
    signature = Account.sign_message(message, setup["provider"].private_key).signature
    return quote, bytes(signature)


def fx_payment(ledger: Ledger, amount: int = 100_000_00) -> dict:
    uetr = keccak(text=f"gas-table-uetr-{next(cross_border(ledger)['ids'])}")[:16]
    purpose = b"SUPP".ljust(32, b"\0")
    return {
        "uetr": uetr,
        "payee": ledger.supplier2.address,
        "sellAmount": amount,
        "purpose": purpose,
        "referenceId": 0,
    }


def measure_fx_settlement(ledger: Ledger) -> list[Row]:
    fx, provider = cross_border(ledger)["fx"], cross_border(ledger)["provider"]
    at(FX_TIME)
    quote, signature = fx_quote(ledger)
    fx.settle(fx_payment(ledger), quote, signature, sender=ledger.core)  # today's counters exist
    quote, signature = fx_quote(ledger)
    signed = fx.settle(fx_payment(ledger), quote, signature, sender=ledger.core)
    posted_quote, _ = fx_quote(ledger)
    post = fx.postQuote(posted_quote, sender=provider)
    posted = fx.settle(fx_payment(ledger), posted_quote, b"", sender=ledger.core)
    note = "CNY->USD, both legs and the compliance checks"
    return [
        Row("fx: post quote", post.gas_used),
        Row("fx: PvP settle at a signed quote", signed.gas_used, note=note),
        Row("fx: PvP settle at a posted quote", posted.gas_used, note=note),
    ]


def measure_htlc(ledger: Ledger) -> list[Row]:
    import hashlib

    htlc, core, supplier = cross_border(ledger)["htlc"], ledger.core, ledger.supplier
    secret = keccak(text="gas-table-secret")
    hashlock = hashlib.sha256(secret).digest()
    uetr = keccak(text="gas-table-htlc")[:16]

    def lock(timeout: int):
        return htlc.lock(ledger.cny, supplier, 100_000_00, hashlock, timeout, uetr, sender=core)

    at(HTLC_TIME)
    lock(HTLC_TIME + 3600)  # the first lock also initialises the id counter
    locked = lock(HTLC_TIME + 3600)
    claim = htlc.claim(locked.return_value, secret, sender=supplier)
    expiring = lock(HTLC_TIME + 1800)
    chain.mine(timestamp=HTLC_TIME + 1800)
    refund = htlc.refund(expiring.return_value, sender=core)
    return [
        Row("htlc: lock", locked.gas_used),
        Row("htlc: claim with the preimage", claim.gas_used),
        Row("htlc: refund after the timeout", refund.gas_used),
    ]


# Refunds that never block (issue 20) ----------------------------------------------------


def measure_deferred_payments(ledger: Ledger) -> list[Row]:
    """A refund (desk) and an HTLC payment kept for a frozen payee, and their claims."""
    import hashlib

    _fund(ledger)
    desk, participants, regulator = ledger.desk, ledger.participants, ledger.regulator
    rid = ledger.active_receivable()
    desk.request(rid, ledger.financier, sender=ledger.supplier)
    fid = desk.lastFinancingId()
    desk.offer(fid, _terms(), sender=ledger.financier)
    participants.freezeAccount(ledger.financier, sender=regulator)
    reject = desk.rejectOffer(fid, 0, sender=ledger.supplier)
    participants.unfreezeAccount(ledger.financier, sender=regulator)
    claim_desk = desk.claim(ledger.cny, sender=ledger.financier)

    htlc, core, supplier = cross_border(ledger)["htlc"], ledger.core, ledger.supplier
    secret = keccak(text="gas-table-deferred-secret")
    hashlock = hashlib.sha256(secret).digest()
    uetr = keccak(text="gas-table-deferred-htlc")[:16]
    timeout = chain.pending_timestamp + 3600
    locked = htlc.lock(ledger.cny, supplier, 100_000_00, hashlock, timeout, uetr, sender=core)
    participants.freezeAccount(supplier, sender=regulator)
    deferred = htlc.claim(locked.return_value, secret, sender=core)
    participants.unfreezeAccount(supplier, sender=regulator)
    claim_htlc = htlc.claim(ledger.cny, sender=supplier)
    return [
        Row(
            "financing: reject offer, refund deferred",
            reject.gas_used,
            note="its financier frozen: the refund is kept for it",
        ),
        Row("financing: claim a deferred refund", claim_desk.gas_used, note="claim(token)"),
        Row(
            "htlc: claim, payment deferred",
            deferred.gas_used,
            note="the recipient frozen: kept for it",
        ),
        Row("htlc: claim a deferred payment", claim_htlc.gas_used, note="claim(token)"),
    ]


# Credit lines and obligor risk control (issue 19) ------------------------------------

#: Figures of docs/gas.json measured before credit lines existed (commit e83bf9d), in the
#: same flows: what drawing a line at accept and freeing it at redemption add.
ACCEPT_BEFORE_LINES = 94_335
REDEEM_FINANCED_BEFORE_LINES = 105_353
REGISTER_BEFORE_RISK = 206_978


def measure_credit_lines(ledger: Ledger) -> list[Row]:
    _fund(ledger)
    lines, fin, core, supplier = ledger.lines, ledger.financier, ledger.core, ledger.supplier
    expiry = chain.pending_timestamp + YEAR
    grant = lines.grant(core, b"USD", 5_000_000_00, expiry, sender=fin)
    usd_line = grant.return_value
    amend = lines.amend(usd_line, 6_000_000_00, expiry + DAY, sender=fin)
    programme = lines.setSupplierLimit(usd_line, supplier, 1_000_000_00, sender=fin)
    close = lines.close(usd_line, sender=fin)
    freeze = lines.freeze(2, sender=ledger.regulator)
    lines.unfreeze(2, sender=ledger.regulator)

    # The flow of measure_financing's accept: a first financing warms the desk and the
    # line (utilised no longer 0), then two offers, the first rejected.
    _finance(ledger, ledger.active_receivable())
    rid = ledger.active_receivable()
    desk = ledger.desk
    desk.request(rid, "0x" + "00" * 20, sender=supplier)
    fid = desk.lastFinancingId()
    desk.offer(fid, _terms(), sender=ledger.financier2)
    desk.offer(fid, _terms(fee=400_00), sender=fin)
    desk.rejectOffer(fid, 0, sender=supplier)
    accept = desk.accept(fid, 1, sender=supplier)

    # Redemption of the financed leaf (its root repaid first), as in measure_clearing.
    other = ledger.active_receivable()
    chain.pending_timestamp = ledger.receivables.summary(other).dueDate  # both due
    ledger.clearing.repay(other, sender=core)  # clearing already holds funds
    ledger.clearing.repay(rid, sender=core)
    redeem = ledger.clearing.redeem(rid, sender=fin)

    # A defaulted financed receivable written off (grace of _terms: 7 days).
    bad = ledger.active_receivable()
    bad_fid = _finance(ledger, bad)
    chain.pending_timestamp = ledger.receivables.summary(bad).dueDate + 7 * DAY + 1
    desk.declareDefault(bad_fid, sender=fin)
    write_off = lines.writeOff(bad, ledger.receivables.summary(bad).amount, sender=fin)
    return [
        Row("credit line: grant", grant.gas_used, note="a financier's line to a core, one currency"),
        Row("credit line: amend", amend.gas_used, note="new limit and expiry"),
        Row(
            "credit line: setSupplierLimit",
            programme.gas_used,
            note="first sub-limit: the line becomes a programme",
        ),
        Row("credit line: close", close.gas_used, note="frees the (financier, obligor) key"),
        Row("credit line: freeze", freeze.gas_used, note="by a regulator"),
        Row(
            "financing: accept, drawing its line",
            accept.gas_used,
            note=f"{ACCEPT_BEFORE_LINES:,} before credit lines (the same flow)",
        ),
        Row(
            "credit line: consume at accept",
            accept.gas_used - ACCEPT_BEFORE_LINES,
            note="what drawing the line adds to an accept",
        ),
        Row(
            "clearing: redeem a financed receivable, freeing its line",
            redeem.gas_used,
            note=f"{REDEEM_FINANCED_BEFORE_LINES:,} before credit lines (the same flow)",
        ),
        Row(
            "credit line: release at redeem",
            redeem.gas_used - REDEEM_FINANCED_BEFORE_LINES,
            note="what freeing the line adds to a redemption",
        ),
        Row(
            "credit line: writeOff",
            write_off.gas_used,
            note="all of a defaulted financed receivable (the drawing kept for a recovery)",
        ),
    ]


def measure_after_funding(ledger: Ledger) -> list[Row]:
    """Issue 20: a sale of a funded financing, a partial write-off, and a buy-back under
    recourse in two payments (the second completes the claim: financier paid, receivable
    handed back, line freed)."""
    desk, lines, fin, fin2 = ledger.desk, ledger.lines, ledger.financier, ledger.financier2
    supplier = ledger.supplier
    ledger.cny.mint(supplier, FUNDS, sender=ledger.bank)
    ledger.cny.approve(desk, 2**256 - 1, sender=supplier)
    rid = ledger.active_receivable()
    fid = _finance(ledger, rid)
    expiry = chain.pending_timestamp + DAY
    offer_sale = desk.offerSale(fid, fin2, 700_000_00, expiry, sender=fin)
    buy_sale = desk.buySale(desk.lastSaleId(), sender=fin2)
    chain.pending_timestamp = ledger.receivables.summary(rid).dueDate + 7 * DAY + 1
    desk.declareDefault(fid, sender=fin2)
    partial = lines.writeOff(rid, 100_000_00, sender=fin2)
    claim = desk.financing(fid).recourseClaim
    first = desk.payRecourse(fid, claim // 2, sender=supplier)
    last = desk.payRecourse(fid, claim - claim // 2, sender=supplier)
    return [
        Row("financing: offerSale", offer_sale.gas_used, note="a funded financing, to a named financier"),
        Row(
            "financing: buySale",
            buy_sale.gas_used,
            note="price paid, holder and financier changed, seller's line freed, buyer's drawn",
        ),
        Row("credit line: writeOff, part", partial.gas_used, note="the first part written off"),
        Row("financing: payRecourse, part", first.gas_used, note="held by the desk"),
        Row(
            "financing: payRecourse, completing the claim",
            last.gas_used,
            note="buy-back: financier paid, receivable handed back, line freed",
        ),
    ]


def measure_risk_control(ledger: Ledger) -> list[Row]:
    risk, core, operator = ledger.risk, ledger.core, ledger.operator
    cap = risk.setIssuanceCap(core, b"CNY", 2**127, sender=operator)
    risk.setIssuanceCap(core, b"USD", 2**127, sender=operator)
    ledger.pending_receivable()  # a warm id counter, as in measure_register
    register = ledger.receivables.register(ledger.registration(), sender=core)
    root = ledger.active_receivable()
    chain.pending_timestamp = ledger.receivables.summary(root).dueDate + 30 * DAY + 1
    flag = risk.flagOverdue(root, sender=ledger.supplier)
    return [
        Row("risk: setIssuanceCap", cap.gas_used, note="first cap of a (core, currency)"),
        Row(
            "receivable: register, under an issuance cap",
            register.gas_used,
            note=f"{REGISTER_BEFORE_RISK:,} before the risk control",
        ),
        Row("risk: flagOverdue", flag.gas_used, note="the core's first flagged root"),
    ]


def measure_access_log_anchor(ledger: Ledger) -> list[Row]:
    anchor = ledger.operator.deploy(project.AccessLogAnchor, ledger.participants)
    first = anchor.anchor(120, keccak(text="access log head 1"), sender=ledger.operator)
    typical = anchor.anchor(480, keccak(text="access log head 2"), sender=ledger.operator)
    return [
        Row(
            "access log: anchor",
            typical.gas_used,
            note=f"any number of rows; the first anchor ever {first.gas_used:,}",
        ),
    ]


MEASUREMENTS: list[Callable[[Ledger], list[Row]]] = [
    measure_register,
    measure_register_batch,
    measure_confirm,
    measure_split,
    measure_transfer,
    measure_settlement_token,
    measure_financing,
    measure_clearing,
    measure_clearing_5000_leaves,
    measure_early_payment,
    measure_fx_settlement,
    measure_htlc,
    measure_deferred_payments,
    measure_credit_lines,
    measure_after_funding,
    measure_risk_control,
    measure_access_log_anchor,
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
