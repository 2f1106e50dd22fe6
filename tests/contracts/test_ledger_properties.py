"""Property-based test of the whole ledger: every contract in one random sequence.

Hypothesis drives random interleavings of participant standing (suspend, reinstate,
KYC expiry and renewal, account freeze), receivables (register, confirm, reject,
cancel, split, transfer, freeze, overdue, someone else's move), financing (request,
offer, accept, reject, withdraw, expire, cancel, default; after funding: sale offer,
cancel and purchase, write-off of part or all, recourse payments and their
withdrawal, buy-back), clearing (repay, redeem),
token mint / burn / transfer, FX PvP at signed quotes and HTLC lock / claim / refund,
early payment (offer, withdraw, accept), partial repayment of leaves and late interest
(issue 20),
with time moving. A Python model predicts every outcome, down to each refusal's
custom error, and after EVERY step the test checks DESIGN.md's invariants:

1. children of a split sum to the parent and inherit root, debtor, currency, due date;
2. every invoice key maps to the one root registered with it;
3. only the debtor, creditor or holder acts: the `intruder` rule sends someone else;
4. nothing under financing, financed, overdue, defaulted, settled or frozen is split,
   transferred or financed again: the `move_locked` rule tries, as its holder;
5. outstanding(root) == root amount - settled == the unsettled leaves' sum;
6. the state rebuilt from the event logs alone (eth_getLogs from genesis, every
   contract) equals the contract views: receivables, financing requests, participant
   standing, every balance and supply, clearing and HTLC escrow;
7. a suspended, KYC-expired or frozen sender never gets a state change through;

plus token conservation: each balance is what the model moved (value only moves
between accounts as predicted) and the balances sum to totalSupply == minted - burned;
and each escrowing contract holds exactly what it owes, per currency: the desk its open
offers' escrow plus the refunds it deferred, the HTLC its open locks plus the payments it
deferred, clearing its unredeemed face and interest plus the payments it deferred (issue
20: a payment to a party not in good standing waits as claimable, so that party never
blocks another's action; the `claim` rule takes it); every settled root's leaves were
paid its face and all the late interest charged on it, and no leaf is paid twice; the
desk also holds the recourse payments not yet passed on; a financed receivable's holder
is its financing's financier; each credit line's utilisation is the face of the open
drawings on it less what was written off of them.

Each example starts from a chain snapshot and restores it. Examples and steps default
to 8 and 30; LEDGER_LEDGER_EXAMPLES and LEDGER_LEDGER_STEPS change them (`make fuzz`).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from types import SimpleNamespace

import pytest
import requests
from conftest import CNY, DAY, USD, YEAR, ZERO_ADDRESS
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from statuses import OfferStatus, SaleStatus, Status

from ledger_app.domain.clearing_amounts import days_late, early_payment_discount, late_interest

EXAMPLES = int(os.environ.get("LEDGER_LEDGER_EXAMPLES", "8"))
STEPS = int(os.environ.get("LEDGER_LEDGER_STEPS", "30"))
RATE_SCALE = 10**18
BPS = 10_000
OPEN_CORRIDORS = {(b"CN", b"VN"), (b"VN", b"CN")}
JURISDICTION = {
    "core": b"CN",
    "supplier": b"CN",
    "supplier2": b"VN",
    "financier": b"CN",
    "financier2": b"SG",
    "bank": b"CN",
    "regulator": b"CN",
    "auditor": b"CN",
    "provider": b"HK",
}
ROLE_OF = {
    "core": "CORE_ENTERPRISE",
    "supplier": "SUPPLIER",
    "supplier2": "SUPPLIER",
    "financier": "FINANCIER",
    "financier2": "FINANCIER",
    "bank": "SETTLEMENT_BANK",
    "regulator": "REGULATOR",
    "auditor": "AUDITOR",
    "provider": "FX_PROVIDER",
}
CONTRACTS = ("desk", "clearing", "fx", "htlc")
# Whose standing the operator and regulator play with: never themselves.
STANDING_TARGETS = ["core", "supplier", "supplier2", "financier", "financier2", "bank", "provider"]
SUPPLIERS = ["supplier", "supplier2"]
FINANCIERS = ["financier", "financier2"]
PAYABLE = {
    Status.ACTIVE,
    Status.SPLIT,
    Status.FINANCING,
    Status.FINANCED,
    Status.OVERDUE,
    Status.DEFAULTED,
}
LOCKED = {Status.FINANCING, Status.FINANCED, Status.OVERDUE, Status.DEFAULTED, Status.SETTLED}
SETTLEABLE = {Status.ACTIVE, Status.FINANCING, Status.FINANCED, Status.OVERDUE, Status.DEFAULTED}
REPAYABLE_LEAF = {Status.ACTIVE, Status.FINANCED, Status.OVERDUE, Status.DEFAULTED}
EARLY_PAYABLE = {Status.ACTIVE, Status.FINANCED}
_ids = itertools.count(1)

pytestmark = pytest.mark.usefixtures("quiet_reverts")  # many expected reverts


@dataclass
class Node:
    """What `receivables.receivable(id)` must say (and the events must rebuild)."""

    parent: int
    root: int
    debtor: str
    creditor: str
    holder: str
    amount: int
    currency: bytes
    due: int
    status: Status
    frozen: bool = False
    children: tuple = ()
    late_bps: int = 0  # the root's late interest, inherited by its children


@dataclass
class EarlyOffer:
    leaf: int
    rate: int
    basis: int
    expiry: int
    status: str = "OPEN"  # OPEN | WITHDRAWN | ACCEPTED


@dataclass
class Offer:
    financier: str
    proceeds: int
    expiry: int
    grace: int
    status: OfferStatus = OfferStatus.OPEN
    advance: int = 0  # the recourse claim on default, with recourse (model only)
    recourse: bool = False


@dataclass
class Request:
    leaf: int
    supplier: str
    named: str  # "" for any financier
    currency: bytes
    status: str = "REQUESTED"  # REQUESTED | OFFERED | FUNDED | DEFAULTED | CLOSED
    funder: str = ""
    grace: int = 0
    offers: list[Offer] = field(default_factory=list)
    # After funding (the model's; the replay follows the status and the funder):
    claim: int = 0  # recourse claim recorded at default
    paid: int = 0  # of it, held by the desk
    drawn: bool = False  # holds part of the funder's credit line
    written_off: int = 0
    sale: int = 0  # the open sale offer's id, 0 for none


@dataclass
class Lock:
    sender: str
    recipient: str
    currency: bytes
    amount: int
    preimage: bytes
    timeout: int
    state: str = "LOCKED"  # LOCKED | CLAIMED | REFUNDED


@dataclass
class Standing:
    suspended: bool = False
    frozen: bool = False
    kyc: int = 0


@dataclass
class Ledger:
    """The state both the model and the event replay keep, compared field by field."""

    nodes: dict[int, Node] = field(default_factory=dict)
    keys: dict[bytes, int] = field(default_factory=dict)
    settled: dict[int, int] = field(default_factory=dict)
    repaid: dict[int, int] = field(default_factory=dict)  # root -> amount paid into clearing
    unredeemed: dict[int, int] = field(default_factory=dict)
    requests: dict[int, Request] = field(default_factory=dict)
    standings: dict[str, Standing] = field(default_factory=dict)
    balances: dict[tuple[bytes, str], int] = field(default_factory=dict)
    supply: dict[bytes, int] = field(default_factory=dict)
    locks: dict[int, Lock] = field(default_factory=dict)
    # (contract, currency, payee) -> what the contract keeps for a payee it could not pay
    claimable: dict[tuple[str, bytes, str], int] = field(default_factory=dict)
    # Issue 20: late interest charged per root and not yet paid to its leaves; what each
    # paid leaf received (face, discount, interest); early payment offers.
    interest: dict[int, int] = field(default_factory=dict)
    interest_left: dict[int, int] = field(default_factory=dict)
    paid_in_interest: dict[int, int] = field(default_factory=dict)
    leaf_paid: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    early: dict[int, EarlyOffer] = field(default_factory=dict)
    sales: dict[int, dict] = field(default_factory=dict)  # sale id -> its terms and status


#: Who may have a payment deferred to it: financiers (desk refunds), HTLC parties, holders.
PAYEES = ["core", "supplier", "supplier2", "financier", "financier2"]
DEFERRING = ("desk", "htlc", "clearing")


class ViewBatch:
    """View calls sent as one JSON-RPC batch of eth_calls and decoded with eth_abi:
    a hundred answers in one round trip, where ape (or web3's own batching, which
    prepares each call with requests of its own) takes a round trip or more apiece.
    A struct comes back as a namespace of its fields."""

    def __init__(self, uri: str):
        self.uri = uri
        self.calls: list[tuple[str, str, object]] = []

    def add(self, contract, method: str, *args) -> None:
        abi = next(m for m in contract.contract_type.view_methods if m.name == method)
        types = [i.canonical_type for i in abi.inputs]
        data = keccak(text=abi.selector)[:4] + abi_encode(types, list(args))
        self.calls.append((contract.address, "0x" + data.hex(), abi.outputs))

    def execute(self) -> list:
        payload = [
            {
                "jsonrpc": "2.0",
                "id": i,
                "method": "eth_call",
                "params": [{"to": to, "data": d}, "latest"],
            }
            for i, (to, d, _) in enumerate(self.calls)
        ]
        replies = sorted(
            requests.post(self.uri, json=payload, timeout=120).json(), key=lambda r: r["id"]
        )
        failed = [(self.calls[r["id"]][:2], r["error"]) for r in replies if "error" in r]
        assert not failed, failed[:3]
        answers = []
        for (_, _, outputs), reply in zip(self.calls, replies, strict=True):
            raw = bytes.fromhex(reply["result"][2:])
            value = _checksummed(abi_decode([o.canonical_type for o in outputs], raw)[0])
            if outputs[0].components:
                value = SimpleNamespace(
                    **{c.name: v for c, v in zip(outputs[0].components, value, strict=True)}
                )
            answers.append(value)
        return answers


def _checksummed(value):
    """eth_abi's lower-case addresses, in the checksum form the rest of the test uses."""
    if isinstance(value, tuple):
        return tuple(_checksummed(v) for v in value)
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return to_checksum_address(value)
    return value


def replay(ledger: Ledger, logs, name_of, currency_of) -> None:
    """Applies decoded logs, in order, to an event-built Ledger."""
    for log in logs:
        e, name = dict(log.event_arguments), log.event_name
        e["_contract"] = log.contract_address
        who = lambda key, e=e: name_of.get(to_checksum_address(e[key]), e[key])  # noqa: E731
        if name == "Transfer":
            currency = currency_of[to_checksum_address(log.contract_address)]
            value = e["value"]
            if int(e["from"], 16) == 0:
                ledger.supply[currency] = ledger.supply.get(currency, 0) + value
            else:
                key = (currency, who("from"))
                ledger.balances[key] = ledger.balances.get(key, 0) - value
            if int(e["to"], 16) == 0:
                ledger.supply[currency] -= value
            else:
                key = (currency, who("to"))
                ledger.balances[key] = ledger.balances.get(key, 0) + value
        elif name == "ParticipantOnboarded":
            ledger.standings[who("account")] = Standing(kyc=e["kycExpiry"])
        elif name in ("ParticipantSuspended", "ParticipantReinstated"):
            ledger.standings[who("account")].suspended = name == "ParticipantSuspended"
        elif name == "ParticipantKycUpdated":
            ledger.standings[who("account")].kyc = e["kycExpiry"]
        elif name in ("AccountFrozen", "AccountUnfrozen"):
            ledger.standings[who("account")].frozen = name == "AccountFrozen"
        elif name.startswith("Receivable"):
            _replay_receivable(ledger, name, e, who)
        elif name.startswith("Financing") or name == "RecourseClaimRecorded":
            _replay_financing(ledger, name, e, who)
        elif name == "RootRepaid":
            ledger.repaid[e["rootId"]] = e["amount"]
            ledger.unredeemed[e["rootId"]] = e["amount"]
        elif name == "LeafRedeemed":
            ledger.unredeemed[e["rootId"]] -= e["amount"]
            _leaf_paid(ledger, e["leafId"], e["rootId"], e["amount"], 0, e["interest"])
            if e["interest"]:
                ledger.interest_left[e["rootId"]] -= e["interest"]
        elif name == "RootLateInterestCharged":
            ledger.interest[e["rootId"]] = e["interest"]
            ledger.interest_left[e["rootId"]] = e["interest"]
            root = e["rootId"]
            ledger.paid_in_interest[root] = ledger.paid_in_interest.get(root, 0) + e["interest"]
        elif name == "LeafRepaid":
            root = e["rootId"]
            ledger.paid_in_interest[root] = ledger.paid_in_interest.get(root, 0) + e["interest"]
            _leaf_paid(ledger, e["leafId"], root, e["amount"], 0, e["interest"])
        elif name == "EarlyPaymentOffered":
            ledger.early[e["offerId"]] = EarlyOffer(
                e["leafId"], e["annualRateBps"], e["dayCountBasis"], e["expiry"]
            )
        elif name == "EarlyPaymentWithdrawn":
            ledger.early[e["offerId"]].status = "WITHDRAWN"
        elif name == "EarlyPaymentAccepted":
            ledger.early[e["offerId"]].status = "ACCEPTED"
            root = ledger.nodes[e["leafId"]].root
            _leaf_paid(ledger, e["leafId"], root, e["face"], e["discount"], 0)
        elif name == "HtlcLocked":
            currency = currency_of[to_checksum_address(e["token"])]
            ledger.locks[e["lockId"]] = Lock(
                who("sender"), who("recipient"), currency, e["amount"], b"", e["timeout"]
            )
        elif name in ("HtlcClaimed", "HtlcRefunded"):
            lock = ledger.locks[e["lockId"]]
            assert lock.state == "LOCKED", (name, e["lockId"])
            lock.state = "CLAIMED" if name == "HtlcClaimed" else "REFUNDED"
        elif name in ("PaymentDeferred", "PaymentClaimed"):
            currency = currency_of[to_checksum_address(e["token"])]
            key = (name_of[to_checksum_address(log.contract_address)], currency, who("payee"))
            before = ledger.claimable.get(key, 0)
            if name == "PaymentDeferred":
                assert e["claimable"] == before + e["amount"], key
                ledger.claimable[key] = e["claimable"]
            else:
                assert e["amount"] == before, key  # a claim takes everything, once
                ledger.claimable[key] = 0


def _leaf_paid(ledger: Ledger, leaf: int, root: int, face: int, discount: int, interest: int):
    """No leaf is paid twice: its one payment, and the root's payment record."""
    assert leaf not in ledger.leaf_paid, ("leaf paid twice", leaf)
    assert ledger.nodes[leaf].root == root, (leaf, root)
    ledger.leaf_paid[leaf] = (face, discount, interest)


def _replay_receivable(ledger: Ledger, name, e, who) -> None:
    nodes = ledger.nodes
    if name == "ReceivableRegistered":
        nodes[e["id"]] = Node(
            0,
            e["id"],
            who("debtor"),
            who("creditor"),
            who("creditor"),
            e["amount"],
            bytes(e["currency"]),
            e["dueDate"],
            Status.NONE,
            late_bps=e["lateInterestBps"],
        )
        ledger.keys[bytes(e["invoiceKey"])] = e["id"]
    elif name == "ReceivableStatusChanged":
        assert nodes[e["id"]].status == e["from"], (e["id"], e["from"])
        nodes[e["id"]].status = Status(e["to"])
    elif name == "ReceivableSplit":
        parent = nodes[e["parentId"]]
        ids = tuple(range(e["firstChildId"], e["firstChildId"] + len(e["amounts"])))
        parent.children = ids
        for cid, amount in zip(ids, e["amounts"], strict=True):
            nodes[cid] = replace(
                parent, parent=e["parentId"], holder=who("holder"), amount=amount, children=()
            )
            nodes[cid].status, nodes[cid].frozen = Status.ACTIVE, False
    elif name == "ReceivableTransferred":
        assert nodes[e["id"]].holder == who("from")
        nodes[e["id"]].holder = who("to")
    elif name in ("ReceivableFrozen", "ReceivableUnfrozen"):
        nodes[e["id"]].frozen = name == "ReceivableFrozen"
    elif name == "ReceivableSettled":
        settled = ledger.settled.get(e["rootId"], 0) + e["amount"]
        ledger.settled[e["rootId"]] = settled
        assert e["outstanding"] == nodes[e["rootId"]].amount - settled


def _replay_financing(ledger: Ledger, name, e, who) -> None:
    if name == "FinancingRequested":
        named = "" if int(e["financier"], 16) == 0 else who("financier")
        leaf = ledger.nodes[e["receivableId"]]
        ledger.requests[e["financingId"]] = Request(
            e["receivableId"], who("supplier"), named, leaf.currency
        )
        return
    r = ledger.requests[e["financingId"]]
    if name == "FinancingOffered":
        terms = e["terms"]
        expiry, grace = (
            (terms.expiry, terms.gracePeriod) if hasattr(terms, "expiry") else (terms[5], terms[4])
        )
        r.offers.append(Offer(who("financier"), e["proceeds"], expiry, grace))
        r.status = "OFFERED"
    elif name == "FinancingOfferClosed":
        r.offers[e["offerIndex"]].status = OfferStatus(e["status"])
    elif name == "FinancingAccepted":
        r.offers[e["offerIndex"]].status = OfferStatus.ACCEPTED
        r.status, r.funder = "FUNDED", who("financier")
        r.grace = r.offers[e["offerIndex"]].grace
    elif name in ("FinancingClosed", "FinancingCancelled"):
        r.status = "CLOSED"
    elif name == "FinancingDefaulted":
        r.status = "DEFAULTED"
    elif name == "FinancingBoughtBack":
        r.status = "BOUGHT_BACK"
    elif name == "FinancingSold":
        r.funder = who("buyer")


@pytest.fixture(scope="module")
def whole_ledger(
    participants, cny, usd, receivables, desk, clearing, fx, htlc, bank, operator, core,
    supplier, supplier2, financier, financier2, fx_provider, invoice_refs, chain,
):  # fmt: skip
    """Balances in both currencies, approvals of every ledger contract, open corridors,
    and a few receivables to start from (two active roots, one split, one pending), so
    that short sequences reach financing and maturity."""
    grants = [
        (usd, core, 2_000_000_00),
        (usd, financier, 10**12),
        (usd, financier2, 10**12),
        (cny, supplier, 1_000_000_00),
        (cny, supplier2, 1_000_000_00),
        (usd, supplier2, 100_000_00),
        (cny, fx_provider, 5_000_000_00),
        (usd, fx_provider, 1_000_000_00),
    ]
    for token, account, amount in grants:
        token.mint(account, amount, sender=bank)
    for account in (core, supplier, supplier2, financier, financier2, fx_provider):
        for token in (cny, usd):
            for spender in (desk, clearing, fx, htlc):
                token.approve(spender, 2**256 - 1, sender=account)
    for source, target in OPEN_CORRIDORS:
        fx.setCorridor(source, target, True, sender=operator)
    now = chain.pending_timestamp
    starters = [
        (supplier, 400_000_00, CNY, 6 * DAY, True, 0),
        (supplier2, 300_000_00, USD, 9 * DAY, True, 1_825),  # late: 5 bps a day
        (supplier, 250_000_00, CNY, 4 * DAY, False, 0),
    ]
    for creditor, amount, currency, due_in, confirm, late_bps in starters:
        row = (
            creditor.address,
            amount,
            currency,
            now + due_in,
            invoice_refs(),
            b"\1" * 32,
            late_bps,
        )
        rid = receivables.register(row, sender=core).return_value
        if confirm:
            receivables.confirm(rid, sender=creditor)
    split_root = receivables.lastId() - 1  # the USD one, split by its holder
    receivables.split(split_root, [100_000_00, 200_000_00], sender=supplier2)
    # The CNY root up for financing, with two offers open on it.
    financing_id = desk.request(split_root - 1, ZERO_ADDRESS, sender=supplier).return_value
    for funder, advance in ((financier, 8_000), (financier2, 9_000)):
        terms = (advance, 500, 365, True, DAY, now + 5 * DAY, 100_00)
        desk.offer(financing_id, terms, sender=funder)


def test_random_operations_across_all_contracts_keep_every_invariant(
    whole_ledger, reverts, participants, cny, usd, receivables, desk, clearing, fx, htlc,
    credit_lines,
    operator, core, supplier, supplier2, financier, financier2, bank, regulator, auditor,
    outsider, fx_provider, sign_quote, invoice_refs, invoice_key_of, chain,
):  # fmt: skip
    people = {
        "operator": operator, "core": core, "supplier": supplier, "supplier2": supplier2,
        "financier": financier, "financier2": financier2, "bank": bank,
        "regulator": regulator, "auditor": auditor, "outsider": outsider,
        "provider": fx_provider,
    }  # fmt: skip
    contracts = {"desk": desk, "clearing": clearing, "fx": fx, "htlc": htlc}
    addresses = {name: a.address for name, a in {**people, **contracts}.items()}
    name_of = {address: name for name, address in addresses.items()}
    tokens = {CNY: cny, USD: usd}
    currency_of = {cny.address: CNY, usd.address: USD}
    holders = sorted(addresses)
    watched = [participants, cny, usd, receivables, desk, clearing, fx, htlc]
    event_abis = {abi.selector: abi for c in watched for abi in c.contract_type.events}.values()
    ecosystem = chain.provider.network.ecosystem
    web3 = chain.provider.web3

    views = {
        "receivables": receivables,
        "participants": participants,
        "desk": desk,
        "clearing": clearing,
        "htlc": htlc,
        "lines": credit_lines,
        CNY: cny,
        USD: usd,
    }
    #: The session's lines (conftest `credit_lines`): financier and currency -> line id.
    line_of = {("financier", CNY): 1, ("financier", USD): 2,
               ("financier2", CNY): 3, ("financier2", USD): 4}  # fmt: skip
    errors = {}  # ape builds error classes on each access: look each up once

    def error(contract, name):
        key = (contract.address, name)
        if key not in errors:
            errors[key] = getattr(contract, name)
        return errors[key]

    def logs_since(block: int) -> list:
        raw = web3.eth.get_logs(
            {"fromBlock": block, "toBlock": "latest", "address": [c.address for c in watched]}
        )
        return list(ecosystem.decode_logs([dict(r) for r in raw], *event_abis))

    genesis: dict = {}  # the event-built ledger at the snapshot, rebuilt once
    performed: Counter = Counter()
    checks: list[float] = []  # one per invariant check
    checking = [0.0]  # seconds spent checking
    steps_taken: list[int] = []

    class WholeLedger(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snapshot = chain.snapshot()
            self.t = chain.blocks.head.timestamp + 1
            self.next_block = chain.blocks.head.number + 1
            if not genesis:
                genesis["ledger"] = Ledger()
                replay(genesis["ledger"], logs_since(0), name_of, currency_of)
            self.replayed = copy.deepcopy(genesis["ledger"])
            # The model's own start: read once from the chain, then only predicted.
            self.m = Ledger()
            self.refs: list[bytes] = []  # invoice refs this run registered, any creditor
            kyc_now = {n: participants.participant(addresses[n]).kycExpiry for n in JURISDICTION}
            self.m.standings = {n: Standing(kyc=kyc_now[n]) for n in JURISDICTION}
            self.m.balances = {
                (c, n): tokens[c].balanceOf(addresses[n]) for c in tokens for n in holders
            }
            self.m.supply = {c: tokens[c].totalSupply() for c in tokens}
            # Payments kept for payees at the snapshot: as the events say (compared to
            # the chain's claimable views at the first check).
            self.m.claimable = dict(genesis["ledger"].claimable)
            # Receivables the fixture made: observed once, then only predicted.
            self.first_id, self.last_id = 1, receivables.lastId()
            for rid in range(1, self.last_id + 1):
                r = receivables.receivable(rid)
                self.m.nodes[rid] = Node(
                    r.parentId,
                    r.rootId,
                    name_of[r.debtor],
                    name_of[r.creditor],
                    name_of[r.holder],
                    r.amount,
                    bytes(r.currency),
                    r.dueDate,
                    Status(r.status),
                    r.frozen,
                    tuple(range(r.firstChildId, r.firstChildId + r.childCount)),
                    r.lateInterestBps,
                )
                if r.parentId == 0:
                    self.m.keys[bytes(r.invoiceKey)] = rid
            status_names = ["NONE", "REQUESTED", "OFFERED", "FUNDED", "DEFAULTED", "CLOSED"]
            for fid in range(1, desk.lastFinancingId() + 1):
                f = desk.financing(fid)
                named = "" if int(f.financier, 16) == 0 else name_of[f.financier]
                leaf = self.m.nodes[f.receivableId]
                request = Request(
                    f.receivableId,
                    name_of[f.supplier],
                    named,
                    leaf.currency,
                    status_names[f.status],
                )
                for index in range(f.offerCount):
                    o = desk.offerOf(fid, index)
                    request.offers.append(
                        Offer(
                            name_of[o.financier],
                            o.proceeds,
                            o.terms.expiry,
                            o.terms.gracePeriod,
                            OfferStatus(o.status),
                            o.advance,
                            o.terms.recourse,
                        )
                    )
                self.m.requests[fid] = request
            self.first_fid = 1
            self.next_offer = clearing.lastEarlyPaymentOfferId() + 1
            self.first_sale = desk.lastSaleId() + 1
            # What the lines carry already (the model adds what this run draws).
            self.line_base = {k: credit_lines.creditLine(v).utilised for k, v in line_of.items()}
            self.lock_ids: list[int] = []
            self.steps = 0

        def teardown(self):
            steps_taken.append(self.steps)
            chain.restore(self.snapshot)

        # ------------------------------------------------------------ helpers

        def standing(self, name: str, at: int | None = None) -> str:
            """Standing of `name` at time `at`: by default the block the next transaction
            lands in."""
            if name in CONTRACTS:
                return "ACTIVE"
            s = self.m.standings.get(name)
            if s is None:
                return "NOT_ONBOARDED"
            if s.suspended:
                return "SUSPENDED"
            if s.kyc < (self.t if at is None else at):
                return "KYC_EXPIRED"
            return "FROZEN" if s.frozen else "ACTIVE"

        def actor_error(self, name: str, role: str | None):
            """The error `requireActor(name, role)` reverts with, or None."""
            s = self.standing(name)
            if s == "ACTIVE":
                return None if role is None or ROLE_OF.get(name) == role else (
                    participants, "RegistryMissingRole"
                )  # fmt: skip
            return participants, {
                "NOT_ONBOARDED": "RegistryUnknownParticipant",
                "SUSPENDED": "RegistryParticipantSuspended",
                "KYC_EXPIRED": "RegistryKycExpired",
                "FROZEN": "RegistryAccountFrozen",
            }[s]

        def any_actor_error(self, name: str, role_a: str, role_b: str):
            """requireActorAny: the role it holds of the two, else the second."""
            return self.actor_error(name, role_a if ROLE_OF.get(name) == role_a else role_b)

        def token_error(self, currency: bytes, *names: str):
            """The token's refusal of a move touching accounts not in good standing."""
            for name in names:
                if self.standing(name) != "ACTIVE":
                    return tokens[currency], "SettlementTokenAccountRefused"
            return None

        def move(self, currency: bytes, source: str, target: str, amount: int) -> None:
            self.m.balances[(currency, source)] -= amount
            self.m.balances[(currency, target)] += amount

        def send(self, sender: str, expected, action):
            """Sends one transaction at the model's clock. `expected` is None (success)
            or (contract, error name). Invariant 7: a sender not in good standing is
            refused, whatever the call."""
            if sender != "operator" and self.standing(sender) != "ACTIVE":
                assert expected is not None, (
                    f"the model lets {sender} act while {self.standing(sender)}"
                )
            chain.pending_timestamp = self.t
            self.t += 1
            self.steps += 1
            if expected is None:
                return action()
            contract, name = expected
            with reverts(error(contract, name)):
                action()
            return None

        def count(self, what: str, expected) -> None:
            """Tallies a step by outcome: `what`, or `what!ErrorName` when refused."""
            performed[what if expected is None else f"{what}!{expected[1]}"] += 1

        def leaves(self, status=None, holder_in=None, frozen=None):
            return sorted(
                rid
                for rid, n in self.m.nodes.items()
                if not n.children
                and (status is None or n.status in status)
                and (holder_in is None or n.holder in holder_in)
                and (frozen is None or n.frozen == frozen)
            )

        def roots(self):
            return sorted(rid for rid, n in self.m.nodes.items() if n.parent == 0)

        # ------------------------------------------------------- participants

        @rule(
            target_name=st.sampled_from(STANDING_TARGETS),
            change=st.sampled_from(["suspend", "reinstate", "expire_kyc", "renew_kyc", "freeze"]),
        )
        def participant_standing(self, target_name, change):
            s = self.m.standings[target_name]
            account = people[target_name]
            if change == "suspend":
                expected = (participants, "RegistryParticipantSuspended") if s.suspended else None
                self.send(
                    "operator", expected, lambda: participants.suspend(account, sender=operator)
                )
                s.suspended = True
            elif change == "reinstate":
                expected = (
                    None if s.suspended else (participants, "RegistryParticipantNotSuspended")
                )
                self.send(
                    "operator", expected, lambda: participants.reinstate(account, sender=operator)
                )
                s.suspended = False
            elif change in ("expire_kyc", "renew_kyc"):
                expiry = self.t + (2 * 3_600 if change == "expire_kyc" else 10 * YEAR)
                expected = None
                self.send(
                    "operator",
                    expected,
                    lambda: participants.updateKyc(account, expiry, sender=operator),
                )
                s.kyc = expiry
            else:  # the regulator never has bad standing here: freeze flips
                expected = self.actor_error("regulator", "REGULATOR")
                action = participants.unfreezeAccount if s.frozen else participants.freezeAccount
                self.send("regulator", expected, lambda: action(account, sender=regulator))
                if expected is None:
                    s.frozen = not s.frozen
            self.count(f"participant.{change}", expected)

        @precondition(lambda self: self.open_offers())
        @rule(data=st.data(), change=st.sampled_from(["suspend", "freeze"]))
        def offering_financier_falls(self, data, change):
            """A financier with an offer open falls out of good standing (issue 20): what
            the supplier (or anyone) does next with that offer must still go through."""
            fid, index = data.draw(st.sampled_from(self.open_offers()))
            name = self.m.requests[fid].offers[index].financier
            s = self.m.standings[name]
            if (change == "suspend" and s.suspended) or (change == "freeze" and s.frozen):
                return
            self.participant_standing(name, change)

        # ---------------------------------------------------------- receivables

        @rule(
            creditor=st.sampled_from(SUPPLIERS),
            currency=st.sampled_from([CNY, USD]),
            amount=st.integers(2, 500_000_00),
            due_in=st.integers(DAY, 10 * DAY),
            reuse=st.sampled_from([False, False, False, True]),
            late_bps=st.sampled_from([0, 0, 1_825, 10_000]),
        )
        def register(self, creditor, currency, amount, due_in, reuse, late_bps):
            ref = invoice_refs()
            if reuse and self.refs:
                # An invoice number used before: a duplicate only for the same seller.
                ref = self.refs[amount % len(self.refs)]
            key = invoice_key_of(addresses[creditor], ref)
            due = self.t + due_in
            expected = (
                self.actor_error("core", "CORE_ENTERPRISE")
                or self.actor_error(creditor, "SUPPLIER")
                or ((receivables, "ReceivableDuplicateInvoice") if key in self.m.keys else None)
            )
            registration = (
                addresses[creditor], amount, currency, due, ref, keccak(text="docs"), late_bps
            )  # fmt: skip
            self.send("core", expected, lambda: receivables.register(registration, sender=core))
            self.count("register", expected)
            if expected is None:
                self.last_id += 1
                rid = self.last_id
                self.m.nodes[rid] = Node(
                    0, rid, "core", creditor, creditor, amount, currency, due, Status.PENDING,
                    late_bps=late_bps,
                )  # fmt: skip
                self.m.keys[key] = rid
                self.refs.append(ref)

        @precondition(lambda self: self.leaves({Status.PENDING}))
        @rule(data=st.data(), answer=st.sampled_from(["confirm", "confirm", "reject", "cancel"]))
        def answer(self, data, answer):
            rid = data.draw(st.sampled_from(self.leaves({Status.PENDING})))
            node = self.m.nodes[rid]
            sender = "core" if answer == "cancel" else node.creditor
            role = "CORE_ENTERPRISE" if answer == "cancel" else "SUPPLIER"
            expected = self.actor_error(sender, role)
            action = getattr(receivables, answer)
            self.send(sender, expected, lambda: action(rid, sender=people[sender]))
            self.count(answer, expected)
            if expected is None:
                node.status = {"confirm": Status.ACTIVE, "reject": Status.REJECTED}.get(
                    answer, Status.CANCELLED
                )

        @precondition(lambda self: self.leaves({Status.ACTIVE}))
        @rule(data=st.data(), parts=st.integers(2, 4))
        def split(self, data, parts):
            candidates = [
                r for r in self.leaves({Status.ACTIVE}) if self.m.nodes[r].amount >= parts
            ]
            if not candidates:
                return
            rid = data.draw(st.sampled_from(candidates))
            node = self.m.nodes[rid]
            cuts = sorted(
                data.draw(
                    st.lists(
                        st.integers(1, node.amount - 1),
                        min_size=parts - 1,
                        max_size=parts - 1,
                        unique=True,
                    )
                )
            )
            amounts = [b - a for a, b in itertools.pairwise([0, *cuts, node.amount])]
            expected = self.any_actor_error(node.holder, "SUPPLIER", "FINANCIER") or (
                (receivables, "ReceivableFrozenError") if node.frozen else None
            )
            self.send(
                node.holder,
                expected,
                lambda: receivables.split(rid, amounts, sender=people[node.holder]),
            )
            self.count("split", expected)
            if expected is None:
                ids = tuple(range(self.last_id + 1, self.last_id + 1 + len(amounts)))
                self.last_id = ids[-1]
                node.status, node.children = Status.SPLIT, ids
                for cid, amount in zip(ids, amounts, strict=True):
                    self.m.nodes[cid] = replace(
                        node, parent=rid, amount=amount, status=Status.ACTIVE, children=()
                    )

        @precondition(lambda self: self.leaves({Status.ACTIVE}))
        @rule(data=st.data(), to=st.sampled_from([*SUPPLIERS, *FINANCIERS, "core"]))
        def transfer(self, data, to):
            rid = data.draw(st.sampled_from(self.leaves({Status.ACTIVE})))
            node = self.m.nodes[rid]
            expected = (
                self.any_actor_error(node.holder, "SUPPLIER", "FINANCIER")
                or ((receivables, "ReceivableFrozenError") if node.frozen else None)
                or ((receivables, "ReceivableSelfDealing") if to == node.holder else None)
                or self.any_actor_error(to, "SUPPLIER", "FINANCIER")
            )
            self.send(
                node.holder,
                expected,
                lambda: receivables.transfer(rid, addresses[to], sender=people[node.holder]),
            )
            self.count("transfer", expected)
            if expected is None:
                node.holder = to

        @precondition(lambda self: self.m.nodes)
        @rule(data=st.data(), intruder=st.sampled_from(["supplier", "supplier2", "financier2"]))
        def intruder(self, data, intruder):
            """Invariant 3: someone other than the holder / creditor / debtor is refused."""
            rid = data.draw(st.sampled_from(sorted(self.m.nodes)))
            node = self.m.nodes[rid]
            what = data.draw(st.sampled_from(["split", "transfer", "confirm", "cancel", "repay"]))
            if what in ("split", "transfer") and intruder != node.holder:
                expected = (receivables, "ReceivableNotHolder")
                if what == "split":
                    action = lambda: receivables.split(rid, [1, 1], sender=people[intruder])  # noqa: E731
                else:
                    action = lambda: receivables.transfer(rid, core, sender=people[intruder])  # noqa: E731
            elif what == "confirm" and (node.parent or intruder != node.creditor):
                expected = (receivables, "ReceivableNotCreditor")
                action = lambda: receivables.confirm(rid, sender=people[intruder])  # noqa: E731
            elif what == "cancel":
                expected = (receivables, "ReceivableNotDebtor")
                action = lambda: receivables.cancel(rid, sender=people[intruder])  # noqa: E731
            elif what == "repay" and node.parent == 0:
                expected = (clearing, "ClearingNotDebtor")
                action = lambda: clearing.repay(rid, sender=people[intruder])  # noqa: E731
            else:
                return
            self.send(intruder, expected, action)
            self.count(f"intruder.{what}", expected)

        def locked(self):
            return self.leaves(LOCKED)

        @precondition(lambda self: self.locked())
        @rule(data=st.data(), what=st.sampled_from(["split", "transfer", "request"]))
        def move_locked(self, data, what):
            """Invariant 4: under financing, financed, overdue, defaulted or settled, a
            receivable is neither split, transferred nor financed again, by its holder."""
            rid = data.draw(st.sampled_from(self.locked()))
            node = self.m.nodes[rid]
            holder = people[node.holder]
            frozen = (receivables, "ReceivableFrozenError") if node.frozen else None
            refused = (receivables, "ReceivableInvalidStatus")
            if what == "request":
                expected = self.actor_error(node.holder, "SUPPLIER") or frozen or refused
                action = lambda: desk.request(rid, ZERO_ADDRESS, sender=holder)  # noqa: E731
            else:
                expected = (
                    self.any_actor_error(node.holder, "SUPPLIER", "FINANCIER") or frozen or refused
                )
                if what == "split" and node.amount >= 2:
                    parts = [1, node.amount - 1]
                    action = lambda: receivables.split(rid, parts, sender=holder)  # noqa: E731
                else:
                    to = supplier2 if node.holder != "supplier2" else supplier
                    action = lambda: receivables.transfer(rid, to, sender=holder)  # noqa: E731
            self.send(node.holder, expected, action)
            self.count(f"locked.{what}", expected)

        @precondition(lambda self: self.m.nodes)
        @rule(data=st.data())
        def freeze_receivable(self, data):
            rid = data.draw(st.sampled_from(sorted(self.m.nodes)))
            node = self.m.nodes[rid]
            expected = self.actor_error("regulator", "REGULATOR")
            if node.frozen:
                action = receivables.unfreeze
            else:
                action = receivables.freeze
                if expected is None and node.status == Status.SPLIT:
                    expected = (receivables, "ReceivableInvalidStatus")
            self.send("regulator", expected, lambda: action(rid, sender=regulator))
            self.count("freeze", expected)
            if expected is None:
                node.frozen = not node.frozen

        @precondition(
            lambda self: any(
                self.m.nodes[r].due < self.t for r in self.leaves({Status.ACTIVE, Status.FINANCED})
            )
        )
        @rule(data=st.data(), caller=st.sampled_from(["auditor", "supplier2", "outsider"]))
        def mark_overdue(self, data, caller):
            rid = data.draw(st.sampled_from(self.leaves({Status.ACTIVE, Status.FINANCED})))
            node = self.m.nodes[rid]
            expected = (
                self.actor_error(caller, None)
                or ((receivables, "ReceivableNotDue") if self.t <= node.due else None)
                # A paid root's leaves are redeemed, never overdue.
                or (
                    (receivables, "ReceivableRootAlreadyRepaid")
                    if node.root in self.m.repaid
                    else None
                )
            )
            self.send(caller, expected, lambda: receivables.markOverdue(rid, sender=people[caller]))
            self.count("overdue", expected)
            if expected is None:
                node.status = Status.OVERDUE

        # ------------------------------------------------------------ financing

        @precondition(lambda self: self.leaves({Status.ACTIVE}, holder_in=SUPPLIERS))
        @rule(data=st.data(), named=st.sampled_from(["", "", *FINANCIERS]))
        def request(self, data, named):
            rid = data.draw(st.sampled_from(self.leaves({Status.ACTIVE}, holder_in=SUPPLIERS)))
            node = self.m.nodes[rid]
            expected = (
                self.actor_error(node.holder, "SUPPLIER")
                or (self.actor_error(named, "FINANCIER") if named else None)
                or ((receivables, "ReceivableFrozenError") if node.frozen else None)
                or ((desk, "FinancingReceivableDue") if self.t >= node.due else None)
            )
            financier_address = addresses[named] if named else ZERO_ADDRESS
            self.send(
                node.holder,
                expected,
                lambda: desk.request(rid, financier_address, sender=people[node.holder]),
            )
            self.count("request", expected)
            if expected is None:
                fid = self.first_fid + len(self.m.requests)
                self.m.requests[fid] = Request(rid, node.holder, named, node.currency)
                node.status = Status.FINANCING

        def open_requests(self):
            return sorted(
                f for f, r in self.m.requests.items() if r.status in ("REQUESTED", "OFFERED")
            )

        @precondition(lambda self: self.open_requests())
        @rule(
            data=st.data(),
            advance=st.integers(5_000, 10_000),
            rate=st.integers(0, 3_000),
            fee=st.integers(0, 1_000_00),
            expiry_in=st.integers(0, 6 * DAY),
            grace=st.integers(0, 3 * DAY),
        )
        def offer(self, data, advance, rate, fee, expiry_in, grace):
            fid = data.draw(st.sampled_from(self.open_requests()))
            r = self.m.requests[fid]
            node = self.m.nodes[r.leaf]
            funder = r.named or data.draw(st.sampled_from(FINANCIERS))
            expiry = self.t + expiry_in
            face = node.amount
            adv_amount = face * advance // BPS
            days = max(node.due - self.t, 0) // DAY
            disc = face * advance * rate * days // (BPS * BPS * 365)
            proceeds = adv_amount - disc - fee
            expected = (
                self.actor_error(funder, "FINANCIER")
                or ((desk, "FinancingTooManyOffers") if len(r.offers) >= 8 else None)
                or ((desk, "FinancingReceivableDue") if self.t >= node.due else None)
                or ((desk, "FinancingNoProceeds") if proceeds <= 0 else None)
                or (
                    (tokens[r.currency], "ERC20InsufficientBalance")
                    if self.m.balances[(r.currency, funder)] < proceeds
                    else None
                )
            )
            terms = (advance, rate, 365, bool(grace % 2), grace, expiry, fee)
            self.send(funder, expected, lambda: desk.offer(fid, terms, sender=people[funder]))
            self.count("offer", expected)
            if expected is None:
                r.offers.append(
                    Offer(
                        funder,
                        proceeds,
                        expiry,
                        grace,
                        advance=adv_amount,
                        recourse=bool(grace % 2),
                    )
                )
                r.status = "OFFERED"
                self.move(r.currency, funder, "desk", proceeds)

        def open_offers(self):
            return [
                (fid, i)
                for fid in self.open_requests()
                for i, o in enumerate(self.m.requests[fid].offers)
                if o.status == OfferStatus.OPEN
            ]

        def pay_or_defer(self, contract: str, currency: bytes, payee: str, amount: int):
            """A contract's payment to a third party: paid if it is in good standing, else
            kept for it to claim (DeferredPayments._payOrDefer); never a refusal."""
            if self.standing(payee) == "ACTIVE":
                self.move(currency, contract, payee, amount)
            else:
                key = (contract, currency, payee)
                self.m.claimable[key] = self.m.claimable.get(key, 0) + amount
                performed[f"{contract}.deferred"] += 1

        def close_request_if_done(self, r: Request) -> None:
            if not any(o.status == OfferStatus.OPEN for o in r.offers):
                r.status = "CLOSED"
                if self.m.nodes[r.leaf].status == Status.FINANCING:
                    self.m.nodes[r.leaf].status = Status.ACTIVE

        @precondition(lambda self: self.open_offers())
        @rule(data=st.data())
        def accept(self, data):
            fid, index = data.draw(st.sampled_from(self.open_offers()))
            r = self.m.requests[fid]
            o, node = r.offers[index], self.m.nodes[r.leaf]
            expected = (
                self.actor_error(r.supplier, "SUPPLIER")
                or ((desk, "FinancingOfferExpired") if self.t > o.expiry else None)
                or ((desk, "FinancingReceivableDue") if self.t >= node.due else None)
                or ((receivables, "ReceivableFrozenError") if node.frozen else None)
                or (
                    (receivables, "ReceivableInvalidStatus")
                    if node.status != Status.FINANCING
                    else None
                )
                or self.token_error(r.currency, r.supplier)
            )  # the other offers' financiers' standing never blocks it (issue 20)
            self.send(
                r.supplier, expected, lambda: desk.accept(fid, index, sender=people[r.supplier])
            )
            self.count("accept", expected)
            if expected is None:
                o.status = OfferStatus.ACCEPTED
                self.move(r.currency, "desk", r.supplier, o.proceeds)
                for other in r.offers:
                    if other.status == OfferStatus.OPEN:
                        other.status = OfferStatus.SUPERSEDED
                        self.pay_or_defer("desk", r.currency, other.financier, other.proceeds)
                r.status, r.funder, r.grace = "FUNDED", o.financier, o.grace
                r.drawn = True
                node.holder, node.status = o.financier, Status.FINANCED

        @precondition(lambda self: self.open_offers())
        @rule(data=st.data(), how=st.sampled_from(["reject", "withdraw", "expire"]))
        def close_offer(self, data, how):
            fid, index = data.draw(st.sampled_from(self.open_offers()))
            r = self.m.requests[fid]
            o = r.offers[index]
            if how == "reject":
                sender, action = r.supplier, desk.rejectOffer
                expected = self.actor_error(sender, "SUPPLIER")
            elif how == "withdraw":
                sender, action = o.financier, desk.withdrawOffer
                expected = self.actor_error(sender, "FINANCIER")
            else:
                sender, action = "auditor", desk.expireOffer
                expected = ((desk, "FinancingOfferNotExpired") if self.t <= o.expiry else None) or (
                    self.actor_error(sender, None)
                )
            # A financier not in good standing cannot withdraw (actor_error); its offer
            # rejected or expired, the refund waits for it (issue 20).
            self.send(sender, expected, lambda: action(fid, index, sender=people[sender]))
            self.count(how, expected)
            if expected is None:
                o.status = {
                    "reject": OfferStatus.REJECTED,
                    "withdraw": OfferStatus.WITHDRAWN,
                    "expire": OfferStatus.EXPIRED,
                }[how]
                self.pay_or_defer("desk", r.currency, o.financier, o.proceeds)
                self.close_request_if_done(r)

        @precondition(lambda self: self.open_requests())
        @rule(data=st.data())
        def cancel_request(self, data):
            fid = data.draw(st.sampled_from(self.open_requests()))
            r = self.m.requests[fid]
            expected = self.actor_error(r.supplier, "SUPPLIER")
            self.send(r.supplier, expected, lambda: desk.cancel(fid, sender=people[r.supplier]))
            self.count("cancel_request", expected)
            if expected is None:
                for o in r.offers:
                    if o.status == OfferStatus.OPEN:
                        o.status = OfferStatus.SUPERSEDED
                        self.pay_or_defer("desk", r.currency, o.financier, o.proceeds)
                r.status = "CLOSED"
                if self.m.nodes[r.leaf].status == Status.FINANCING:
                    self.m.nodes[r.leaf].status = Status.ACTIVE

        @precondition(
            lambda self: any(
                r.status == "FUNDED" and self.m.nodes[r.leaf].due < self.t
                for r in self.m.requests.values()
            )
        )
        @rule(data=st.data())
        def declare_default(self, data):
            fid = data.draw(
                st.sampled_from(
                    sorted(f for f, r in self.m.requests.items() if r.status == "FUNDED")
                )
            )
            r = self.m.requests[fid]
            node = self.m.nodes[r.leaf]
            if data.draw(st.booleans()):  # often after the grace period has run out
                self.t = max(self.t, node.due + r.grace + 1)
                performed["wait"] += 1
            expected = (
                self.actor_error(r.funder, "FINANCIER")
                or ((desk, "FinancingDefaultTooEarly") if self.t < node.due + r.grace + 1 else None)
                or (
                    (receivables, "ReceivableRootAlreadyRepaid")
                    if node.root in self.m.repaid
                    else None
                )
                or (
                    (receivables, "ReceivableInvalidStatus")
                    if node.status not in (Status.FINANCED, Status.OVERDUE)
                    else None
                )
            )
            self.send(r.funder, expected, lambda: desk.declareDefault(fid, sender=people[r.funder]))
            self.count("default", expected)
            if expected is None:
                r.status = "DEFAULTED"
                node.status = Status.DEFAULTED
                accepted = next(o for o in r.offers if o.status == OfferStatus.ACCEPTED)
                r.claim = accepted.advance if accepted.recourse else 0

        # ------------------------------------------------- after funding (issue 20)

        def defaulted(self):
            return sorted(f for f, r in self.m.requests.items() if r.status == "DEFAULTED")

        @precondition(lambda self: self.defaulted())
        @rule(data=st.data(), share=st.sampled_from([0, 1, 2, 2, 4]))
        def pay_recourse(self, data, share):
            fid = data.draw(st.sampled_from(self.defaulted()))
            r = self.m.requests[fid]
            node = self.m.nodes[r.leaf]
            owed = r.claim - r.paid
            # All of it, half, a unit too many, or nothing.
            amount = {0: 0, 1: owed + 1, 2: owed, 4: max(owed // 2, 1)}[share]
            expected = (
                self.actor_error(r.supplier, "SUPPLIER")
                or ((desk, "FinancingNoRecourse") if r.claim == 0 else None)
                or ((desk, "FinancingRootRepaid") if node.root in self.m.repaid else None)
                or ((desk, "FinancingRecourseAmount") if not 0 < amount <= owed else None)
                or (
                    (tokens[r.currency], "ERC20InsufficientBalance")
                    if self.m.balances[(r.currency, r.supplier)] < amount
                    else None
                )
                or (
                    (receivables, "ReceivableFrozenError")
                    if amount == owed and node.frozen
                    else None
                )
            )
            # A financier in bad standing is paid later (it claims): it never blocks this.
            funder_active = self.standing(r.funder) == "ACTIVE"
            self.send(
                r.supplier,
                expected,
                lambda: desk.payRecourse(fid, amount, sender=people[r.supplier]),
            )
            self.count("pay_recourse", expected)
            if expected is None:
                r.paid += amount
                self.move(r.currency, r.supplier, "desk", amount)
                if r.paid == r.claim:  # bought back
                    r.status, r.drawn = "BOUGHT_BACK", False
                    node.holder, node.status = r.supplier, Status.OVERDUE
                    if funder_active:
                        self.move(r.currency, "desk", r.funder, r.claim)
                    else:
                        key = ("desk", r.currency, r.funder)
                        self.m.claimable[key] = self.m.claimable.get(key, 0) + r.claim
                        performed["desk.deferred"] += 1
                    r.paid = 0  # passed on (or kept for the financier to claim)
                    self.count("buy_back", None)

        @precondition(lambda self: any(self.m.requests[f].paid for f in self.defaulted()))
        @rule(data=st.data())
        def withdraw_recourse(self, data):
            fid = data.draw(
                st.sampled_from([f for f in self.defaulted() if self.m.requests[f].paid])
            )
            r = self.m.requests[fid]
            repaid = self.m.nodes[r.leaf].root in self.m.repaid
            expected = self.actor_error(r.supplier, "SUPPLIER") or (
                None if repaid else (desk, "FinancingNothingToWithdraw")
            )
            self.send(
                r.supplier, expected, lambda: desk.withdrawRecourse(fid, sender=people[r.supplier])
            )
            self.count("withdraw_recourse", expected)
            if expected is None:
                self.move(r.currency, "desk", r.supplier, r.paid)
                r.paid = 0

        @precondition(lambda self: any(self.m.requests[f].drawn for f in self.defaulted()))
        @rule(data=st.data(), share=st.sampled_from([1, 2, 2, 3]))
        def write_off(self, data, share):
            fid = data.draw(
                st.sampled_from([f for f in self.defaulted() if self.m.requests[f].drawn])
            )
            r = self.m.requests[fid]
            face = self.m.nodes[r.leaf].amount
            drawn = face - r.written_off
            amount = {1: drawn + 1, 2: drawn, 3: max(drawn // 3, 1)}[share]
            expected = self.actor_error(r.funder, "FINANCIER") or (
                (credit_lines, "CreditLineWriteOffAmount") if not 0 < amount <= drawn else None
            )
            self.send(
                r.funder,
                expected,
                lambda: credit_lines.writeOff(r.leaf, amount, sender=people[r.funder]),
            )
            self.count("write_off", expected)
            if expected is None:
                r.written_off += amount

        def funded(self):
            return sorted(f for f, r in self.m.requests.items() if r.status == "FUNDED")

        @precondition(lambda self: self.funded())
        @rule(data=st.data(), price=st.integers(0, 500_000_00), expiry_in=st.integers(0, 3 * DAY))
        def offer_sale(self, data, price, expiry_in):
            fid = data.draw(st.sampled_from(self.funded()))
            r = self.m.requests[fid]
            node = self.m.nodes[r.leaf]
            buyer = next(f for f in FINANCIERS if f != r.funder)
            expected = (
                self.actor_error(r.funder, "FINANCIER")
                or (
                    (desk, "FinancingReceivableNotSaleable")
                    if node.status != Status.FINANCED or node.frozen
                    else None
                )
                or ((desk, "FinancingReceivableDue") if self.t >= node.due else None)
                or self.actor_error(buyer, "FINANCIER")
                or ((desk, "FinancingSaleInvalid") if price == 0 else None)
                or ((desk, "FinancingSaleAlreadyOpen") if r.sale else None)
            )
            expiry = self.t + expiry_in
            self.send(
                r.funder,
                expected,
                lambda: desk.offerSale(
                    fid, addresses[buyer], price, expiry, sender=people[r.funder]
                ),
            )
            self.count("offer_sale", expected)
            if expected is None:
                sale_id = self.first_sale + len(self.m.sales)
                self.m.sales[sale_id] = {"fid": fid, "seller": r.funder, "buyer": buyer,
                                         "price": price, "expiry": expiry,
                                         "status": SaleStatus.OPEN}  # fmt: skip
                r.sale = sale_id

        def open_sales(self):
            return sorted(i for i, x in self.m.sales.items() if x["status"] == SaleStatus.OPEN)

        @precondition(lambda self: self.open_sales())
        @rule(data=st.data(), how=st.sampled_from(["buy", "buy", "buy", "cancel"]))
        def settle_sale(self, data, how):
            sale_id = data.draw(st.sampled_from(self.open_sales()))
            x = self.m.sales[sale_id]
            r = self.m.requests[x["fid"]]
            node = self.m.nodes[r.leaf]
            if how == "cancel":
                sender = x["seller"]
                expected = self.actor_error(sender, "FINANCIER")
                action = lambda: desk.cancelSale(sale_id, sender=people[sender])  # noqa: E731
            else:
                sender = x["buyer"]
                expected = (
                    self.actor_error(sender, "FINANCIER")
                    or ((desk, "FinancingSaleExpired") if self.t > x["expiry"] else None)
                    or ((desk, "FinancingInvalidStatus") if r.status != "FUNDED" else None)
                    or self.actor_error(x["seller"], "FINANCIER")
                    or (
                        (desk, "FinancingReceivableNotSaleable")
                        if node.status != Status.FINANCED or node.frozen
                        else None
                    )
                    or ((desk, "FinancingReceivableDue") if self.t >= node.due else None)
                    or (
                        (tokens[r.currency], "ERC20InsufficientBalance")
                        if self.m.balances[(r.currency, sender)] < x["price"]
                        else None
                    )
                )
                action = lambda: desk.buySale(sale_id, sender=people[sender])  # noqa: E731
            self.send(sender, expected, action)
            self.count(f"{how}_sale", expected)
            if expected is None:
                r.sale = 0
                if how == "cancel":
                    x["status"] = SaleStatus.CANCELLED
                    return
                x["status"] = SaleStatus.SOLD
                self.move(r.currency, sender, x["seller"], x["price"])
                r.funder, node.holder = sender, sender

        # ------------------------------------------------------------- clearing

        @precondition(lambda self: self.roots())
        @rule(data=st.data())
        def repay(self, data):
            # Mostly a root the debtor can pay, often after waiting for its due date
            # (maturity is where clearing starts); the refusals are the exception.
            payable = [
                r
                for r in self.roots()
                if self.m.nodes[r].status in PAYABLE and r not in self.m.repaid
            ]
            rid = data.draw(st.sampled_from(payable or self.roots()))
            if data.draw(st.integers(0, 3)) and self.m.nodes[rid].due > self.t:
                # At the due date, or (late interest) some whole days after it.
                self.t = self.m.nodes[rid].due + data.draw(st.sampled_from([0, 0, 3 * DAY + 5]))
                performed["wait"] += 1
            node = self.m.nodes[rid]
            outstanding = node.amount - self.m.settled.get(rid, 0)
            interest = late_interest(outstanding, node.late_bps, days_late(node.due, self.t))
            expected = (
                self.actor_error("core", "CORE_ENTERPRISE")
                or ((clearing, "ClearingNotPayable") if node.status not in PAYABLE else None)
                or ((clearing, "ClearingNotDue") if self.t < node.due else None)
                or ((clearing, "ClearingAlreadyRepaid") if rid in self.m.repaid else None)
                or (
                    (tokens[node.currency], "ERC20InsufficientBalance")
                    if self.m.balances[(node.currency, "core")] < outstanding + interest
                    else None
                )
            )
            self.send("core", expected, lambda: clearing.repay(rid, sender=core))
            self.count("repay" if not interest else "repay_late", expected)
            if expected is None:
                self.m.repaid[rid] = outstanding
                self.m.unredeemed[rid] = outstanding
                if interest:
                    self.m.interest[rid] = self.m.interest_left[rid] = interest
                    self.m.paid_in_interest[rid] = self.m.paid_in_interest.get(rid, 0) + interest
                self.move(node.currency, "core", "clearing", outstanding + interest)

        @precondition(lambda self: self.m.repaid)
        @rule(data=st.data(), caller=st.sampled_from(["auditor", "auditor", "outsider"]))
        def redeem(self, data, caller):
            owed = [
                leaf for leaf in self.leaves(SETTLEABLE) if self.m.nodes[leaf].root in self.m.repaid
            ]
            rid = data.draw(st.sampled_from(owed or sorted(self.m.nodes)))
            node = self.m.nodes[rid]
            # Clearing asks whether the root is repaid before the registry settles the leaf
            # (issue 20: settling a leaf of an unpaid root is a payment ahead of the root).
            expected = (
                self.actor_error(caller, None)
                or ((clearing, "ClearingNotRepaid") if node.root not in self.m.repaid else None)
                or ((receivables, "ReceivableFrozenError") if node.frozen else None)
                or (
                    (receivables, "ReceivableInvalidStatus")
                    if node.status not in SETTLEABLE
                    else None
                )
            )
            # Issue 20: a holder not in good standing no longer refuses its redemption (it
            # used to revert with the token's SettlementTokenAccountRefused): it is credited.
            active = self.standing(node.holder) == "ACTIVE"  # at the block, before send
            self.send(caller, expected, lambda: clearing.redeem(rid, sender=people[caller]))
            self.count("redeem" if active else "redeem_deferred", expected)
            if expected is None:
                face_left = self.m.unredeemed[node.root]
                left = self.m.interest_left.get(node.root, 0)
                share = left if node.amount == face_left else left * node.amount // face_left
                if left:
                    self.m.interest_left[node.root] = left - share
                self.m.unredeemed[node.root] -= node.amount
                self.settle_leaf(rid, node.amount, 0, share)
                self.clearing_pays(node.currency, node.holder, node.amount + share, active)

        def settle_leaf(self, rid: int, face: int, discount: int, interest: int) -> None:
            """Leaf `rid` is paid (once: no leaf twice) and settles; its root with its last."""
            node = self.m.nodes[rid]
            assert rid not in self.m.leaf_paid, ("the model pays a leaf twice", rid)
            self.m.leaf_paid[rid] = (face, discount, interest)
            node.status = Status.SETTLED
            settled = self.m.settled.get(node.root, 0) + node.amount
            self.m.settled[node.root] = settled
            for r in self.m.requests.values():  # a financed leaf frees its line
                if r.leaf == rid:
                    r.drawn = False
            root = self.m.nodes[node.root]
            if node.root != rid and settled == root.amount:
                root.status = Status.SETTLED

        def clearing_pays(self, currency: bytes, payee: str, amount: int, active: bool) -> None:
            """Clearing pays `payee` now if it is in good standing (`active`, judged at the
            transaction's block), else credits it."""
            if active:
                self.move(currency, "clearing", payee, amount)
            elif amount:
                key = ("clearing", currency, payee)
                self.m.claimable[key] = self.m.claimable.get(key, 0) + amount
                performed["clearing.deferred"] += 1

        # ---------------------------------------------- payment ahead of the root

        def early_open(self):
            return sorted(o for o, e in self.m.early.items() if e.status == "OPEN")

        @precondition(lambda self: self.leaves(EARLY_PAYABLE))
        @rule(
            data=st.data(),
            rate=st.sampled_from([0, 600, 10_000]),
            basis=st.sampled_from([365, 360]),
            open_for=st.sampled_from([DAY, 3 * DAY, 30 * DAY]),
        )
        def offer_early_payment(self, data, rate, basis, open_for):
            rid = data.draw(st.sampled_from(self.leaves(EARLY_PAYABLE)))
            node = self.m.nodes[rid]
            expiry = self.t + open_for
            expected = (
                ((clearing, "ClearingNotPayable") if node.status not in EARLY_PAYABLE else None)
                or ((receivables, "ReceivableFrozenError") if node.frozen else None)
                or ((clearing, "ClearingPastDue") if self.t >= node.due else None)
                or self.actor_error("core", "CORE_ENTERPRISE")
                or ((clearing, "ClearingInvalidEarlyPaymentTerms") if expiry >= node.due else None)
            )
            self.send(
                "core",
                expected,
                lambda: clearing.offerEarlyPayment(rid, rate, basis, expiry, sender=core),
            )
            self.count("offer_early", expected)
            if expected is None:
                self.m.early[self.next_offer] = EarlyOffer(rid, rate, basis, expiry)
                self.next_offer += 1

        @precondition(lambda self: self.m.early)
        @rule(data=st.data(), withdraw=st.sampled_from([False, False, False, True]))
        def accept_early_payment(self, data, withdraw):
            oid = data.draw(st.sampled_from(self.early_open() or sorted(self.m.early)))
            offer = self.m.early[oid]
            node = self.m.nodes[offer.leaf]
            not_open = (clearing, "ClearingEarlyPaymentNotOpen") if offer.status != "OPEN" else None
            if withdraw:
                expected = not_open or self.actor_error("core", "CORE_ENTERPRISE")
                self.send("core", expected, lambda: clearing.withdrawEarlyPayment(oid, sender=core))
                self.count("withdraw_early", expected)
                if expected is None:
                    offer.status = "WITHDRAWN"
                return
            caller = data.draw(st.sampled_from([node.holder, node.holder, "supplier2"]))
            days = (node.due - self.t) // DAY if node.due > self.t else 0
            discount = early_payment_discount(node.amount, offer.rate, days, offer.basis)
            paid = node.amount - discount
            expected = (
                not_open
                or ((clearing, "ClearingEarlyPaymentExpired") if self.t > offer.expiry else None)
                or ((clearing, "ClearingNotPayable") if node.status not in EARLY_PAYABLE else None)
                or ((receivables, "ReceivableFrozenError") if node.frozen else None)
                or ((clearing, "ClearingPastDue") if self.t >= node.due else None)
                or ((clearing, "ClearingNotHolder") if caller != node.holder else None)
                or self.any_actor_error(caller, "SUPPLIER", "FINANCIER")
                or (
                    (clearing, "ClearingEarlyPaymentNoProceeds")
                    if discount >= node.amount
                    else None
                )
                or self.token_error(node.currency, "core")
                or (
                    (tokens[node.currency], "ERC20InsufficientBalance")
                    if self.m.balances[(node.currency, "core")] < paid
                    else None
                )
            )
            self.send(
                caller, expected, lambda: clearing.acceptEarlyPayment(oid, sender=people[caller])
            )
            self.count("accept_early", expected)
            if expected is None:
                offer.status = "ACCEPTED"
                self.settle_leaf(offer.leaf, node.amount, discount, 0)
                self.move(node.currency, "core", node.holder, paid)

        @precondition(lambda self: self.leaves())
        @rule(data=st.data(), count=st.integers(1, 3))
        def repay_leaves(self, data, count):
            # Mostly leaves the debtor may pay ahead of their root; a few it may not.
            payable = [
                leaf
                for leaf in self.leaves(REPAYABLE_LEAF, frozen=False)
                if self.m.nodes[leaf].root not in self.m.repaid
            ]
            pool = payable if payable and data.draw(st.integers(0, 4)) else self.leaves()
            chosen = data.draw(st.lists(st.sampled_from(pool), min_size=1, max_size=count))
            expected = self.actor_error("core", "CORE_ENTERPRISE")
            seen: set[int] = set()
            payments = []
            for rid in chosen if expected is None else []:
                node = self.m.nodes[rid]
                status = Status.SETTLED if rid in seen else node.status
                late = late_interest(node.amount, node.late_bps, days_late(node.due, self.t))
                spent = sum(
                    p for _r, p, _i in payments if self.m.nodes[_r].currency == node.currency
                )
                held = self.m.balances[(node.currency, "core")] - spent
                expected = (
                    ((clearing, "ClearingNotPayable") if status not in REPAYABLE_LEAF else None)
                    or ((receivables, "ReceivableFrozenError") if node.frozen else None)
                    or ((clearing, "ClearingAlreadyRepaid") if node.root in self.m.repaid else None)
                    or (
                        (tokens[node.currency], "ERC20InsufficientBalance")
                        if held < node.amount + late
                        else None
                    )
                )
                if expected is not None:
                    break
                seen.add(rid)
                payments.append((rid, node.amount + late, late))
            active = {rid: self.standing(self.m.nodes[rid].holder) == "ACTIVE" for rid in chosen}
            self.send("core", expected, lambda: clearing.repayLeaves(chosen, sender=core))
            self.count("repay_leaves", expected)
            if expected is None:
                for rid, paid, late in payments:
                    node = self.m.nodes[rid]
                    self.m.paid_in_interest[node.root] = (
                        self.m.paid_in_interest.get(node.root, 0) + late
                    )
                    self.settle_leaf(rid, node.amount, 0, late)
                    self.move(node.currency, "core", "clearing", paid)
                    self.clearing_pays(node.currency, node.holder, paid, active[rid])

        # --------------------------------------------------------------- tokens

        @rule(
            currency=st.sampled_from([CNY, USD]),
            to=st.sampled_from(["core", "supplier", "supplier2", "financier2", "bank", "outsider"]),
            amount=st.integers(1, 10**9),
        )
        def mint(self, currency, to, amount):
            expected = self.actor_error("bank", "SETTLEMENT_BANK") or self.token_error(currency, to)
            self.send(
                "bank", expected, lambda: tokens[currency].mint(people[to], amount, sender=bank)
            )
            self.count("mint", expected)
            if expected is None:
                self.m.balances[(currency, to)] += amount
                self.m.supply[currency] += amount

        @precondition(lambda self: self.m.balances[(CNY, "bank")] or self.m.balances[(USD, "bank")])
        @rule(data=st.data(), currency=st.sampled_from([CNY, USD]))
        def burn(self, data, currency):
            # Deposits withdrawn come back to the bank first; at times one unit too many.
            amount = data.draw(st.integers(1, self.m.balances[(currency, "bank")] + 1))
            expected = self.actor_error("bank", "SETTLEMENT_BANK") or (
                (tokens[currency], "ERC20InsufficientBalance")
                if self.m.balances[(currency, "bank")] < amount
                else None
            )
            self.send("bank", expected, lambda: tokens[currency].burn(amount, sender=bank))
            self.count("burn", expected)
            if expected is None:
                self.m.balances[(currency, "bank")] -= amount
                self.m.supply[currency] -= amount

        @rule(
            currency=st.sampled_from([CNY, USD]),
            source=st.sampled_from(["core", "supplier", "supplier2", "financier", "financier2"]),
            receiver=st.sampled_from(["core", "supplier", "supplier2", "bank", "outsider"]),
            amount=st.one_of(st.integers(1, 10_000_00), st.integers(1, 10**13)),
        )
        def token_transfer(self, currency, source, receiver, amount):
            expected = self.token_error(currency, source, receiver) or (
                (tokens[currency], "ERC20InsufficientBalance")
                if self.m.balances[(currency, source)] < amount
                else None
            )
            self.send(
                source,
                expected,
                lambda: tokens[currency].transfer(people[receiver], amount, sender=people[source]),
            )
            self.count("transfer_token", expected)
            if expected is None:
                self.move(currency, source, receiver, amount)

        # ------------------------------------------------------------ FX and HTLC

        @rule(
            payer=st.sampled_from(["core", "supplier", "supplier2", "financier2"]),
            payee=st.sampled_from(["core", "supplier", "supplier2", "financier2"]),
            sell=st.sampled_from([CNY, USD]),
            amount=st.integers(1, 500_000_00),
            rate=st.integers(10**16, 10**19),
        )
        def pvp(self, payer, payee, sell, amount, rate):
            buy = USD if sell == CNY else CNY
            quote = {
                "quoteId": keccak(text=f"ledger-quote-{next(_ids)}"),
                "provider": fx_provider.address,
                "sellCurrency": sell,
                "buyCurrency": buy,
                "rate": rate,
                "issuedAt": self.t,
                "validUntil": self.t + 600,
                "payer": ZERO_ADDRESS,
            }
            signature = sign_quote(quote)
            payment = {
                "uetr": uuid.uuid4().bytes,
                "payee": addresses[payee],
                "sellAmount": amount,
                "purpose": b"SUPP".ljust(32, b"\0"),
                "referenceId": 0,
            }
            bought = amount * rate // RATE_SCALE
            corridor_open = JURISDICTION[payer] == JURISDICTION[payee] or (
                (JURISDICTION[payer], JURISDICTION[payee]) in OPEN_CORRIDORS
            )
            compliance = next(
                (n for n in (payer, payee, "provider") if self.standing(n) != "ACTIVE"), None
            )
            expected = (
                self.actor_error("provider", "FX_PROVIDER")
                or ((fx, "FxInvalidAmount") if bought == 0 else None)
                or ((fx, "FxComplianceStanding") if compliance else None)
                or ((fx, "FxComplianceCorridorClosed") if not corridor_open else None)
                or (
                    (tokens[sell], "ERC20InsufficientBalance")
                    if self.m.balances[(sell, payer)] < amount
                    else None
                )
                or (
                    (tokens[buy], "ERC20InsufficientBalance")
                    if self.m.balances[(buy, "provider")] < bought
                    else None
                )
            )
            self.send(
                payer, expected, lambda: fx.settle(payment, quote, signature, sender=people[payer])
            )
            self.count("pvp", expected)
            if expected is None:
                self.move(sell, payer, "provider", amount)
                self.move(buy, "provider", payee, bought)

        @rule(
            sender=st.sampled_from(["core", "supplier", "supplier2", "financier2"]),
            recipient=st.sampled_from(["core", "supplier", "supplier2", "financier2", "outsider"]),
            currency=st.sampled_from([CNY, USD]),
            amount=st.integers(1, 200_000_00),
            timeout_in=st.integers(60, 3 * DAY),
        )
        def lock(self, sender, recipient, currency, amount, timeout_in):
            preimage = keccak(text=f"ledger-secret-{next(_ids)}")
            timeout = self.t + timeout_in
            recipient_ok = self.standing(recipient) == "ACTIVE"
            expected = ((htlc, "HtlcRecipientRefused") if not recipient_ok else None) or (
                self.token_error(currency, sender)
                or (
                    (tokens[currency], "ERC20InsufficientBalance")
                    if self.m.balances[(currency, sender)] < amount
                    else None
                )
            )
            tx = self.send(
                sender,
                expected,
                lambda: htlc.lock(
                    tokens[currency],
                    people[recipient],
                    amount,
                    hashlib.sha256(preimage).digest(),
                    timeout,
                    uuid.uuid4().bytes,
                    sender=people[sender],
                ),
            )
            self.count("lock", expected)
            if expected is None:
                self.m.locks[tx.return_value] = Lock(
                    sender, recipient, currency, amount, preimage, timeout
                )
                self.move(currency, sender, "htlc", amount)

        @precondition(lambda self: self.m.locks)
        @rule(data=st.data(), right=st.booleans(), refund=st.booleans())
        def settle_lock(self, data, right, refund):
            lock_id = data.draw(st.sampled_from(sorted(self.m.locks)))
            lock = self.m.locks[lock_id]
            if lock.state != "LOCKED":
                expected = (htlc, "HtlcNotLocked")
            elif refund:  # a sender or recipient not in good standing has it deferred
                expected = (htlc, "HtlcNotExpired") if self.t < lock.timeout else None
            else:
                expected = ((htlc, "HtlcExpired") if self.t >= lock.timeout else None) or (
                    (htlc, "HtlcWrongPreimage") if not right else None
                )
            preimage = lock.preimage if right else keccak(lock.preimage)
            if refund:
                action = lambda: htlc.refund(lock_id, sender=auditor)  # noqa: E731
            else:
                action = lambda: htlc.claim(lock_id, preimage, sender=auditor)  # noqa: E731
            self.send("auditor", expected, action)
            what = "refund" if refund else "claim"
            self.count(what, expected)
            if expected is None:
                lock.state = "REFUNDED" if refund else "CLAIMED"
                payee = lock.sender if refund else lock.recipient
                self.pay_or_defer("htlc", lock.currency, payee, lock.amount)

        def waiting(self):
            return sorted(k for k, v in self.m.claimable.items() if v)

        @precondition(lambda self: self.waiting())
        @rule(data=st.data(), twice=st.booleans())
        def claim(self, data, twice):
            """A payee takes what a contract kept for it: refused while it is not in good
            standing (the token), and nothing is ever claimed twice."""
            contract, currency, payee = data.draw(st.sampled_from(self.waiting()))
            owed = self.m.claimable[(contract, currency, payee)]
            expected = self.token_error(currency, payee)
            action = lambda: contracts[contract].claim(  # noqa: E731
                tokens[currency], sender=people[payee]
            )
            self.send(payee, expected, action)
            self.count("claim_deferred", expected)
            if expected is None:
                self.m.claimable[(contract, currency, payee)] = 0
                self.move(currency, contract, payee, owed)
                if twice:
                    again = (contracts[contract], "DeferredNothingToClaim")
                    self.send(payee, again, action)
                    self.count("claim_deferred", again)

        # ------------------------------------------------------------- the clock

        @rule(seconds=st.sampled_from([600, 3 * 3_600, DAY, 0, 0]))
        def time_passes(self, seconds):
            """Some time, or (0) straight past the next due date, where clearing, overdue
            and default begin."""
            if seconds == 0:
                upcoming = [n.due for n in self.m.nodes.values() if n.due >= self.t]
                seconds = min(upcoming) - self.t + 1 if upcoming else 8 * DAY
            self.t += seconds
            performed["wait"] += 1

        # ----------------------------------------------------------- invariants

        @invariant()
        def every_invariant_holds(self):
            started = time.perf_counter()
            checks.append(started)
            replay(self.replayed, logs_since(self.next_block), name_of, currency_of)
            self.next_block = chain.blocks.head.number + 1
            chain_view = self.read_chain()
            self.check_model_equals_chain(chain_view)
            self.check_events_rebuild_chain(chain_view)
            self.check_design_invariants()
            checking[0] += time.perf_counter() - started

        def read_chain(self) -> dict:
            """One JSON-RPC batch of every view the checks compare."""
            ids = list(range(self.first_id, self.last_id + 1))
            roots = [rid for rid in ids if self.m.nodes[rid].parent == 0]
            fids = sorted(self.m.requests)
            names = sorted(JURISDICTION)
            keys = sorted(self.m.keys)
            batch = ViewBatch(chain.provider.uri)
            for rid in ids:
                batch.add(views["receivables"], "receivable", rid)
            for rid in roots:
                batch.add(views["receivables"], "outstanding", rid)
                batch.add(views["clearing"], "unredeemedAmount", rid)
                batch.add(views["clearing"], "lateInterestCharged", rid)
                batch.add(views["clearing"], "lateInterestUnredeemed", rid)
            offers = sorted(self.m.early)
            for oid in offers:
                batch.add(views["clearing"], "earlyPaymentOffer", oid)
            for key in keys:
                batch.add(views["receivables"], "receivableByInvoiceKey", key)
            for fid in fids:
                batch.add(views["desk"], "financing", fid)
            for name in names:
                batch.add(views["participants"], "participant", addresses[name])
                batch.add(views["participants"], "standing", addresses[name])
            for c in (CNY, USD):
                batch.add(views[c], "totalSupply")
                for n in holders:
                    batch.add(views[c], "balanceOf", addresses[n])
            for lock_id in sorted(self.m.locks):
                batch.add(views["htlc"], "lockOf", lock_id)
            owed_keys = [(k, c, n) for k in DEFERRING for c in (CNY, USD) for n in PAYEES]
            for k, c, n in owed_keys:
                batch.add(views[k], "claimable", addresses[n], tokens[c].address)
            for key in sorted(line_of):
                batch.add(views["lines"], "creditLine", line_of[key])
            answers = iter(batch.execute())
            view = {
                "nodes": {rid: next(answers) for rid in ids},
                "outstanding": {},
                "unredeemed": {},
            }
            view["interest"] = {}
            for rid in roots:
                view["outstanding"][rid] = next(answers)
                view["unredeemed"][rid] = next(answers)
                view["interest"][rid] = (next(answers), next(answers))
            view["early"] = {oid: next(answers) for oid in offers}
            view["keys"] = {key: next(answers) for key in keys}
            view["financing"] = {fid: next(answers) for fid in fids}
            view["participants"] = {n: (next(answers), next(answers)) for n in names}
            view["supply"], view["balances"] = {}, {}
            for c in (CNY, USD):
                view["supply"][c] = next(answers)
                for n in holders:
                    view["balances"][(c, n)] = next(answers)
            view["locks"] = {lock_id: next(answers) for lock_id in sorted(self.m.locks)}
            view["claimable"] = {key: next(answers) for key in owed_keys}
            view["lines"] = {key: next(answers) for key in sorted(line_of)}
            view["timestamp"] = web3.eth.get_block("latest")["timestamp"]
            return view

        def expected_node_view(self, ledger: Ledger, rid: int) -> tuple:
            n = ledger.nodes[rid]
            first = n.children[0] if n.children else 0
            return (
                rid,
                n.parent,
                n.root,
                addresses[n.debtor],
                addresses[n.creditor],
                addresses[n.holder],
                n.amount,
                n.currency,
                n.due,
                int(n.status),
                n.frozen,
                first,
                len(n.children),
                n.late_bps,
            )

        def actual_node_view(self, r) -> tuple:
            return (
                r.id,
                r.parentId,
                r.rootId,
                r.debtor,
                r.creditor,
                r.holder,
                r.amount,
                bytes(r.currency),
                r.dueDate,
                r.status,
                r.frozen,
                r.firstChildId,
                r.childCount,
                r.lateInterestBps,
            )

        def financing_status(self, ledger: Ledger, fid: int) -> str:
            r = ledger.requests[fid]
            if (
                r.status in ("FUNDED", "DEFAULTED")
                and ledger.nodes[r.leaf].status == Status.SETTLED
            ):
                return "REPAID"  # how the desk reads a funded request whose leaf settled
            return r.status

        def compare(self, ledger: Ledger, view: dict, source: str) -> None:
            """Asserts the chain's views equal `ledger` (the model's or the events')."""
            step = f"{source} vs chain after {self.steps} transactions"
            ids = sorted(view["nodes"])
            for rid in ids:
                assert self.actual_node_view(view["nodes"][rid]) == self.expected_node_view(
                    ledger, rid
                ), (step, rid)
            for rid, outstanding in view["outstanding"].items():
                assert outstanding == ledger.nodes[rid].amount - ledger.settled.get(rid, 0), step
                assert view["unredeemed"][rid] == ledger.unredeemed.get(rid, 0), (step, rid)
                charged, left = view["interest"][rid]
                assert charged == ledger.interest.get(rid, 0), (step, rid)
                assert left == ledger.interest_left.get(rid, 0), (step, rid)
            statuses = ["NONE", "OPEN", "WITHDRAWN", "ACCEPTED"]
            for oid, o in view["early"].items():
                e = ledger.early[oid]
                actual = (o.leafId, o.annualRateBps, o.dayCountBasis, o.expiry, statuses[o.status])
                assert actual == (e.leaf, e.rate, e.basis, e.expiry, e.status), (step, oid)
            for key, rid in view["keys"].items():
                assert ledger.keys[key] == rid, step
            status_names = [
                "NONE",
                "REQUESTED",
                "OFFERED",
                "FUNDED",
                "DEFAULTED",
                "CLOSED",
                "REPAID",
                "BOUGHT_BACK",
            ]
            for fid, f in view["financing"].items():
                assert status_names[f.status] == self.financing_status(ledger, fid), (step, fid)
                assert f.offerCount == len(ledger.requests[fid].offers), (step, fid)
            for name, (record, _standing) in view["participants"].items():
                s = ledger.standings[name]
                actual = (record.suspended, record.frozen, record.kycExpiry)
                assert actual == (s.suspended, s.frozen, s.kyc), (step, name)
            for (c, n), balance in view["balances"].items():
                assert balance == ledger.balances.get((c, n), 0), (step, c, n)
            for c, supply in view["supply"].items():
                assert supply == ledger.supply[c], (step, c)
            for lock_id, lock in view["locks"].items():
                states = ["NONE", "LOCKED", "CLAIMED", "REFUNDED"]
                assert states[lock.state] == ledger.locks[lock_id].state, (step, lock_id)
            for key, amount in view["claimable"].items():
                assert amount == ledger.claimable.get(key, 0), (step, key)

        def check_model_equals_chain(self, view: dict) -> None:
            self.compare(self.m, view, "model")
            # Each line carries the face of its open drawings less what was written off.
            drawn = dict(self.line_base)
            for r in self.m.requests.values():
                if r.drawn:
                    key = (r.funder, r.currency)
                    drawn[key] += self.m.nodes[r.leaf].amount - r.written_off
            for key, line in view["lines"].items():
                assert line.utilised == drawn[key], (key, line.utilised, drawn[key])
            # The model's standing verdicts (which drove every predicted refusal) are the chain's.
            codes = ["ACTIVE", "NOT_ONBOARDED", "SUSPENDED", "KYC_EXPIRED", "FROZEN"]
            head = view["timestamp"]
            for name, (_record, standing) in view["participants"].items():
                assert codes[standing] == self.standing(name, at=head), name

        def check_events_rebuild_chain(self, view: dict) -> None:
            self.compare(self.replayed, view, "event log")

        def check_design_invariants(self) -> None:
            m = self.m
            for rid, n in m.nodes.items():
                if n.children:  # 1: children sum to the parent and inherit its terms
                    kids = [m.nodes[c] for c in n.children]
                    assert sum(k.amount for k in kids) == n.amount, rid
                    for k in kids:
                        assert (k.root, k.debtor, k.currency, k.due) == (
                            n.root,
                            n.debtor,
                            n.currency,
                            n.due,
                        )
                    assert n.status in (Status.SPLIT, Status.SETTLED), rid
            # 2: one root per key, every root has its key
            assert sorted(m.keys.values()) == sorted(self.roots())
            # 5: outstanding = root amount - settled = the unsettled leaves' sum
            for root in self.roots():
                node = m.nodes[root]
                if node.status in (Status.PENDING, Status.REJECTED, Status.CANCELLED):
                    continue
                unsettled = sum(
                    m.nodes[leaf].amount
                    for leaf in self.leaves_of(root)
                    if m.nodes[leaf].status != Status.SETTLED
                )
                assert unsettled == node.amount - m.settled.get(root, 0), root
            # Conservation: balances sum to supply, escrows hold what the model owes.
            for c in (CNY, USD):
                total = sum(m.balances[(c, n)] for n in holders)
                assert total == m.supply[c], c
                escrow = sum(
                    o.proceeds
                    for r in m.requests.values()
                    if r.currency == c
                    for o in r.offers
                    if o.status == OfferStatus.OPEN
                )
                deferred = {
                    k: sum(v for (kk, cc, _), v in m.claimable.items() if (kk, cc) == (k, c))
                    for k in DEFERRING
                }
                held = sum(r.paid for r in m.requests.values() if r.currency == c)
                assert m.balances[(c, "desk")] == escrow + held + deferred["desk"], c
                owed = sum(v for rid, v in m.unredeemed.items() if m.nodes[rid].currency == c)
                owed += sum(v for rid, v in m.interest_left.items() if m.nodes[rid].currency == c)
                owed += deferred["clearing"]
                assert m.balances[(c, "clearing")] == owed, c
            # Issue 20: a settled root's leaves were paid exactly its face, and all the late
            # interest its debtor paid on it; a leaf paid early gave up only its discount.
            for root in self.roots():
                if m.nodes[root].status != Status.SETTLED:
                    continue
                paid = [m.leaf_paid[leaf] for leaf in self.leaves_of(root)]
                assert sum(face for face, _d, _i in paid) == m.nodes[root].amount, root
                interest = sum(i for _f, _d, i in paid)
                assert interest == m.paid_in_interest.get(root, 0), root
                assert m.interest_left.get(root, 0) == 0, root
                locked = sum(
                    lk.amount
                    for lk in m.locks.values()
                    if lk.currency == c and lk.state == "LOCKED"
                )
                assert m.balances[(c, "htlc")] == locked + deferred["htlc"], c

            # A financed receivable (funded or defaulted, not yet paid) is its financier's.
            for fid, r in m.requests.items():
                node = m.nodes[r.leaf]
                if r.status in ("FUNDED", "DEFAULTED") and node.status != Status.SETTLED:
                    assert node.holder == r.funder, (fid, node.holder, r.funder)

        def leaves_of(self, rid: int) -> list[int]:
            n = self.m.nodes[rid]
            if not n.children:
                return [rid]
            return [leaf for child in n.children for leaf in self.leaves_of(child)]

    started = time.perf_counter()
    run_state_machine_as_test(
        WholeLedger,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(
        f"\n{len(steps_taken)} sequences, {sum(performed.values())} steps, "
        f"{sum(steps_taken)} transactions, {len(checks)} invariant checks "
        f"({checking[0]:.0f}s of {time.perf_counter() - started:.0f}s): "
        f"{dict(sorted(performed.items()))}"
    )
    assert sum(steps_taken) > 0
