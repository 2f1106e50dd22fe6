"""Properties of the financing desk and clearing, checked on many generated inputs.

(a) The Python twin `ledger_app.domain.financing.discount` equals `desk.discount`
    on more than a thousand inputs, edges included.
(b) Random sequences of request / offer / accept / reject / withdraw / expire /
    cancel / default / repay / redeem, with mints and burns in between, against a
    model of every balance: after every step each balance is what the model says,
    the escrow equals the open offers, clearing holds exactly what is unredeemed,
    and the sum of all balances equals what was minted minus what was burned.

LEDGER_FUZZ_EXAMPLES sets the number of sequences (b) tries (default 12).
"""

import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import ape
import pytest
import requests
from conftest import DAY
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from statuses import Status

from ledger_app.domain.financing import (
    UINT128_MAX,
    NoProceedsError,
    days_to_maturity,
    discount,
    offer_amounts,
)

ZERO = "0x0000000000000000000000000000000000000000"
FUZZ_EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "12"))
MIN_STEPS, MAX_STEPS = 5, 40


def batched_views(rpc_url: str, calls: list[tuple[str, str, tuple]]) -> list[int]:
    """Answers of (contract address, "fn(type,...)", args) view calls returning one uint,
    sent as one JSON-RPC batch of eth_calls: a thousand answers in well under a second,
    where a thousand separate calls through ape take ten. Arguments are static types
    (uint256 or address), so the ABI encoding is 32 bytes each."""

    def calldata(signature: str, args: tuple) -> str:
        words = (int(arg, 16) if isinstance(arg, str) else arg for arg in args)
        encoded = keccak(text=signature)[:4] + b"".join(w.to_bytes(32, "big") for w in words)
        return "0x" + encoded.hex()

    payload = [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "eth_call",
            "params": [{"to": to, "data": calldata(signature, args)}, "latest"],
        }
        for i, (to, signature, args) in enumerate(calls)
    ]
    answers = sorted(
        requests.post(rpc_url, json=payload, timeout=120).json(), key=lambda r: r["id"]
    )
    failed = [(calls[r["id"]], r["error"]) for r in answers if "error" in r]
    assert not failed, failed[:3]
    return [int(r["result"], 16) for r in answers]


# --- (a) discount: Python twin == contract ------------------------------------------------

EDGE_CASES = [
    # (face, advanceRateBps, discountRateBps, days, basis)
    (1_000_000_00, 8_000, 600, 0, 365),  # 0 days
    (1_000_000_00, 8_000, 600, 0, 360),
    (1_000_000_00, 1, 1, 90, 365),  # 1 bp advance, 1 bp rate
    (1_000_000_00, 1, 1, 90, 360),
    (1, 1, 1, 1, 365),  # everything minimal: floors to 0
    (1, 10_000, 65_535, 36_500, 360),
    (UINT128_MAX, 10_000, 65_535, 36_500, 365),  # max face, max uint16 rate, 100 years
    (UINT128_MAX, 10_000, 65_535, 2**64 // DAY, 360),  # the farthest uint64 due date
    (UINT128_MAX, 1, 1, 1, 365),
    (UINT128_MAX, 10_000, 10_000, 365, 365),  # exactly the face
    (UINT128_MAX, 10_000, 10_000, 360, 360),
    (10_000 * 10_000 * 365, 1, 1, 1, 365),  # exactly 1
    (10_000 * 10_000 * 365 - 1, 1, 1, 1, 365),  # just below 1
    (0, 10_000, 65_535, 36_500, 365),  # zero face
    (1_000_000_00, 0, 600, 90, 365),  # zero advance rate (the contract's pure fn allows it)
    (1_000_000_00, 8_000, 0, 90, 365),  # zero discount rate
]


def random_discount_cases(count: int, seed: int) -> list[tuple[int, int, int, int, int]]:
    """Log-uniform magnitudes, so small and huge faces and terms are all well covered."""
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        face = rng.randrange(1, 2 ** rng.randint(1, 128))
        adv = rng.choice([1, 10_000, rng.randint(1, 10_000)])
        rate = rng.choice([0, 1, 65_535, rng.randint(0, 3_000), rng.randint(0, 65_535)])
        days = rng.choice([0, 1, 360, 365, rng.randint(0, 730), rng.randint(0, 2**64 // DAY)])
        cases.append((face, adv, rate, days, rng.choice([360, 365])))
    # Unbounded uint256 arguments whose product still fits: the pure function takes them.
    for _ in range(count // 10):
        bits = [rng.randint(0, 60) for _ in range(4)]
        face, adv, rate, days = (rng.randrange(0, 2**b + 1) for b in bits)
        cases.append((face, adv, rate, days, rng.choice([360, 365, rng.randint(1, 2**32)])))
    return cases


def test_discount_python_twin_equals_contract_on_1000_plus_inputs(desk, chain):
    cases = EDGE_CASES + random_discount_cases(1_000, seed=4)
    assert len(cases) >= 1_000
    started = time.perf_counter()
    signature = "discount(uint256,uint256,uint256,uint256,uint256)"
    on_chain = batched_views(chain.provider.uri, [(desk.address, signature, c) for c in cases])
    elapsed = time.perf_counter() - started
    mismatches = [
        (case, chained, in_python)
        for case, chained in zip(cases, on_chain, strict=True)
        if chained != (in_python := discount(*case))
    ]
    assert mismatches == [], mismatches[:5]
    print(f"\n{len(cases)} discount inputs compared in {elapsed:.1f}s")


@pytest.mark.parametrize(
    "case",
    [
        (2**128, 2**128, 1, 1, 365),  # face x adv overflows
        (2**200, 10_000, 65_535, 2**40, 360),
        (2**255, 2, 1, 0, 365),  # overflows before the 0 days could matter
    ],
)
def test_discount_overflow_reverts_on_chain_and_raises_in_python(desk, case):
    with pytest.raises(OverflowError):
        discount(*case)
    with ape.reverts() as info:
        desk.discount(*case)
    assert "0x11" in str(info.value)  # Panic(0x11): arithmetic overflow


def test_discount_basis_zero_reverts_on_chain_and_raises_in_python(desk):
    with pytest.raises(ValueError, match="basis"):
        discount(100, 1, 1, 1, 0)
    with ape.reverts() as info:
        desk.discount(100, 1, 1, 1, 0)
    assert "0x12" in str(info.value)  # Panic(0x12): division by zero


# --- (b) token conservation over random sequences -----------------------------------------


@dataclass
class Offer:
    financier: str
    proceeds: int
    expiry: int
    grace: int
    open: bool = True


@dataclass
class Request:
    fid: int
    leaf: int
    supplier: str
    named: str
    status: str = "open"  # open | funded | defaulted | closed
    funder: str = ""
    grace: int = 0  # of the accepted offer
    offers: list[Offer] = field(default_factory=list)


@dataclass
class Leaf:
    root: int
    amount: int
    holder: str
    status: Status = Status.ACTIVE


@dataclass
class Model:
    """What every balance and status must be; the chain is compared with it each step."""

    now: int
    balances: dict[str, int]
    supply: int  # minted - burned
    leaves: dict[int, Leaf]
    roots: dict[int, dict]  # root id -> {"due", "amount", "repaid"}
    requests: list[Request] = field(default_factory=list)

    def move(self, source: str, target: str, amount: int) -> None:
        self.balances[source] -= amount
        self.balances[target] += amount

    def open_offers(self):
        for request in self.requests:
            if request.status == "open":
                for index, offer in enumerate(request.offers):
                    if offer.open:
                        yield request, index, offer


@pytest.fixture
def fuzz_world(
    receivables,
    desk,
    clearing,
    cny,
    active_receivable,
    funded,
    chain,
    core,
    supplier,
    supplier2,
    financier,
    financier2,
    bank,
    auditor,
):
    """Three roots at two tiers (one split, one child passed to supplier2), funded
    financiers and debtor; built once, each hypothesis example starts from it."""
    # Due within weeks, so that a sequence of a few dozen steps reaches maturity.
    r1 = active_receivable(amount=1_000_000_00, dueDate=chain.pending_timestamp + 10 * DAY)
    r2 = active_receivable(amount=500_000_00, dueDate=chain.pending_timestamp + 14 * DAY)
    c21 = receivables.lastId() + 1
    receivables.split(r2, [200_000_00, 300_000_00], sender=supplier)
    receivables.transfer(c21 + 1, supplier2, sender=supplier)
    r3 = active_receivable(
        amount=250_000_00, creditor=supplier2, dueDate=chain.pending_timestamp + 20 * DAY
    )
    actors = {
        "core": core,
        "supplier": supplier,
        "supplier2": supplier2,
        "financier": financier,
        "financier2": financier2,
        "bank": bank,
        "auditor": auditor,
    }
    leaves = {
        r1: (r1, supplier),
        c21: (r2, supplier),
        c21 + 1: (r2, supplier2),
        r3: (r3, supplier2),
    }
    return actors, leaves, [r1, r2, r3]


def test_tokens_are_conserved_across_random_financing_sequences(
    fuzz_world, receivables, desk, clearing, cny, chain, reverts
):
    actors, leaf_holders, roots = fuzz_world
    a = {name: account.address for name, account in actors.items()}
    by_address = {account.address: account for account in actors.values()}
    tracked = [*by_address, desk.address, clearing.address]
    suppliers, financiers = [a["supplier"], a["supplier2"]], [a["financier"], a["financier2"]]

    def fresh_model() -> Model:
        balances = {address: cny.balanceOf(address) for address in tracked}
        supply = cny.totalSupply()
        assert sum(balances.values()) == supply  # nobody else holds any
        leaves = {
            leaf: Leaf(root, receivables.summary(leaf).amount, holder.address)
            for leaf, (root, holder) in leaf_holders.items()
        }
        root_info = {}
        for root in roots:
            summary = receivables.summary(root)
            root_info[root] = {"due": summary.dueDate, "amount": summary.amount, "repaid": False}
        return Model(chain.blocks.head.timestamp + 1, balances, supply, leaves, root_info)

    def at(model: Model) -> None:
        """The next transaction is mined at the model's clock, which then ticks."""
        chain.pending_timestamp = model.now

    def tick(model: Model) -> None:
        model.now += 1

    # --- actions: each returns None when not possible now, else performs it ---

    def act_request(m: Model, data):
        candidates = [
            leaf
            for leaf, x in m.leaves.items()
            if x.status == Status.ACTIVE
            and x.holder in suppliers
            and m.now < m.roots[x.root]["due"]
        ]
        if not candidates:
            return None
        leaf = data.draw(st.sampled_from(candidates))
        named = data.draw(st.sampled_from([ZERO, *financiers]))
        at(m)
        desk.request(leaf, named, sender=by_address[m.leaves[leaf].holder])
        tick(m)
        fid = desk.lastFinancingId()
        m.requests.append(Request(fid, leaf, m.leaves[leaf].holder, named))
        m.leaves[leaf].status = Status.FINANCING
        return f"request {fid} on {leaf}"

    def act_offer(m: Model, data):
        candidates = [
            r
            for r in m.requests
            if r.status == "open"
            and len(r.offers) < 8
            and m.now < m.roots[m.leaves[r.leaf].root]["due"]
            and m.leaves[r.leaf].status == Status.FINANCING
        ]
        if not candidates:
            return None
        r = data.draw(st.sampled_from(candidates))
        funder = r.named if r.named != ZERO else data.draw(st.sampled_from(financiers))
        leaf = m.leaves[r.leaf]
        adv = data.draw(st.integers(1, 10_000))
        rate = data.draw(st.integers(0, 5_000))
        basis = data.draw(st.sampled_from([360, 365]))
        fee = data.draw(st.one_of(st.integers(0, 1_000_00), st.integers(0, leaf.amount)))
        expiry = m.now + data.draw(st.integers(0, 5 * DAY))
        grace = data.draw(st.integers(0, 3 * DAY))
        terms = (adv, rate, basis, data.draw(st.booleans()), grace, expiry, fee)
        days = days_to_maturity(m.roots[leaf.root]["due"], m.now)
        try:
            amounts = offer_amounts(leaf.amount, adv, rate, days, fee, basis)
        except NoProceedsError as refused:
            at(m)
            with reverts(desk.FinancingNoProceeds, discount=refused.discount, fee=fee):
                desk.offer(r.fid, terms, sender=by_address[funder])
            return f"offer on {r.fid} refused: no proceeds"
        at(m)
        desk.offer(r.fid, terms, sender=by_address[funder])
        tick(m)
        recorded = desk.offerOf(r.fid, len(r.offers))
        assert (recorded.advance, recorded.discount, recorded.proceeds) == amounts
        r.offers.append(Offer(funder, amounts.proceeds, expiry, grace))
        m.move(funder, desk.address, amounts.proceeds)
        return f"offer {len(r.offers) - 1} on {r.fid}: {amounts.proceeds}"

    def refund_open(m: Model, r: Request) -> None:
        for offer in r.offers:
            if offer.open:
                offer.open = False
                m.move(desk.address, offer.financier, offer.proceeds)

    def act_accept(m: Model, data):
        candidates = [
            (r, i, o) for r, i, o in m.open_offers() if m.leaves[r.leaf].status == Status.FINANCING
        ]
        if not candidates:
            return None
        r, index, offer = data.draw(st.sampled_from(candidates))
        at(m)
        if m.now > offer.expiry:
            with reverts(desk.FinancingOfferExpired, financingId=r.fid, offerIndex=index):
                desk.accept(r.fid, index, sender=by_address[r.supplier])
            return f"accept {r.fid}/{index} refused: expired"
        due = m.roots[m.leaves[r.leaf].root]["due"]
        if m.now >= due:
            with reverts(desk.FinancingReceivableDue, receivableId=r.leaf, dueDate=due):
                desk.accept(r.fid, index, sender=by_address[r.supplier])
            return f"accept {r.fid}/{index} refused: receivable due"
        desk.accept(r.fid, index, sender=by_address[r.supplier])
        tick(m)
        offer.open = False
        m.move(desk.address, r.supplier, offer.proceeds)
        refund_open(m, r)
        r.status, r.funder, r.grace = "funded", offer.financier, offer.grace
        m.leaves[r.leaf].holder, m.leaves[r.leaf].status = offer.financier, Status.FINANCED
        return f"accept {r.fid}/{index}"

    def close_one(m: Model, data, how: str):
        candidates = list(m.open_offers())
        if how == "expire":
            candidates = [(r, i, o) for r, i, o in candidates if m.now > o.expiry]
        if not candidates:
            return None
        r, index, offer = data.draw(st.sampled_from(candidates))
        at(m)
        if how == "reject":
            desk.rejectOffer(r.fid, index, sender=by_address[r.supplier])
        elif how == "withdraw":
            desk.withdrawOffer(r.fid, index, sender=by_address[offer.financier])
        else:
            desk.expireOffer(r.fid, index, sender=by_address[a["auditor"]])
        tick(m)
        offer.open = False
        m.move(desk.address, offer.financier, offer.proceeds)
        if not any(o.open for o in r.offers):
            # The last open offer gone: the request closes and frees its receivable.
            r.status = "closed"
            if m.leaves[r.leaf].status == Status.FINANCING:
                m.leaves[r.leaf].status = Status.ACTIVE
        return f"{how} {r.fid}/{index}"

    def act_cancel(m: Model, data):
        candidates = [
            r
            for r in m.requests
            if r.status == "open" and m.leaves[r.leaf].status == Status.FINANCING
        ]
        if not candidates:
            return None
        r = data.draw(st.sampled_from(candidates))
        at(m)
        desk.cancel(r.fid, sender=by_address[r.supplier])
        tick(m)
        refund_open(m, r)
        r.status = "closed"
        m.leaves[r.leaf].status = Status.ACTIVE
        return f"cancel {r.fid}"

    def act_default(m: Model, data):
        candidates = [
            r
            for r in m.requests
            if r.status == "funded"
            and m.leaves[r.leaf].status == Status.FINANCED
            and m.now > m.roots[m.leaves[r.leaf].root]["due"] + r.grace
        ]
        if not candidates:
            return None
        r = data.draw(st.sampled_from(candidates))
        at(m)
        root = m.leaves[r.leaf].root
        if m.roots[root]["repaid"]:  # paid into clearing: redemption pays the financier
            with reverts(receivables.ReceivableRootAlreadyRepaid, rootId=root):
                desk.declareDefault(r.fid, sender=by_address[r.funder])
            return f"default {r.fid} refused: root repaid"
        desk.declareDefault(r.fid, sender=by_address[r.funder])
        tick(m)
        r.status = "defaulted"
        m.leaves[r.leaf].status = Status.DEFAULTED
        return f"default {r.fid}"

    def act_repay(m: Model, data):
        candidates = [root for root, x in m.roots.items() if not x["repaid"] and m.now >= x["due"]]
        if not candidates:
            return None
        root = data.draw(st.sampled_from(candidates))
        at(m)
        clearing.repay(root, sender=by_address[a["core"]])
        tick(m)
        m.roots[root]["repaid"] = True
        m.move(a["core"], clearing.address, m.roots[root]["amount"])
        return f"repay {root}"

    def act_redeem(m: Model, data):
        candidates = [
            leaf
            for leaf, x in m.leaves.items()
            if m.roots[x.root]["repaid"] and x.status != Status.SETTLED
        ]
        if not candidates:
            return None
        leaf = data.draw(st.sampled_from(candidates))
        at(m)
        clearing.redeem(leaf, sender=by_address[a["auditor"]])
        tick(m)
        x = m.leaves[leaf]
        x.status = Status.SETTLED
        m.move(clearing.address, x.holder, x.amount)
        return f"redeem {leaf} to {x.holder}"

    def act_mint(m: Model, data):
        to = data.draw(st.sampled_from([a["core"], *suppliers, *financiers]))
        amount = data.draw(st.integers(1, 10**9))
        at(m)
        cny.mint(to, amount, sender=by_address[a["bank"]])
        tick(m)
        m.balances[to] += amount
        m.supply += amount
        return f"mint {amount}"

    def act_burn(m: Model, data):
        holders = [x for x in (a["core"], *suppliers, *financiers) if m.balances[x] > 0]
        if not holders:
            return None
        source = data.draw(st.sampled_from(holders))
        amount = data.draw(st.integers(1, min(m.balances[source], 10**9)))
        at(m)
        cny.transfer(a["bank"], amount, sender=by_address[source])  # deposit withdrawn...
        tick(m)
        at(m)
        cny.burn(amount, sender=by_address[a["bank"]])  # ...and the tokens retired
        tick(m)
        m.move(source, a["bank"], amount)
        m.balances[a["bank"]] -= amount
        m.supply -= amount
        return f"burn {amount}"

    def act_wait(m: Model, data):
        m.now += data.draw(st.sampled_from([3_600, DAY, 4 * DAY, 12 * DAY]))
        return "wait"

    actions = {
        "request": act_request,
        "offer": act_offer,
        "accept": act_accept,
        "reject": lambda m, d: close_one(m, d, "reject"),
        "withdraw": lambda m, d: close_one(m, d, "withdraw"),
        "expire": lambda m, d: close_one(m, d, "expire"),
        "cancel": act_cancel,
        "default": act_default,
        "repay": act_repay,
        "redeem": act_redeem,
        "mint": act_mint,
        "burn": act_burn,
        "wait": act_wait,
    }
    # Weights: the financing path is drawn more often than the ways out of it.
    weights = {"offer": 4, "redeem": 4, "request": 3, "accept": 3, "repay": 3, "default": 2}
    weights["wait"] = 2
    drawable = [name for name in sorted(actions) for _ in range(weights.get(name, 1))]

    def check(m: Model, step: str) -> None:
        answers = batched_views(
            chain.provider.uri,
            [(cny.address, "balanceOf(address)", (address,)) for address in tracked]
            + [(cny.address, "totalSupply()", ())]
            + [(clearing.address, "unredeemedAmount(uint256)", (root,)) for root in m.roots],
        )
        balances = dict(zip(tracked, answers, strict=False))
        total_supply, unredeemed = answers[len(tracked)], sum(answers[len(tracked) + 1 :])
        assert balances == m.balances, step
        assert sum(balances.values()) == m.supply == total_supply, step
        escrow = sum(o.proceeds for _, _, o in m.open_offers())
        assert balances[desk.address] == escrow, step
        assert balances[clearing.address] == unredeemed, step

    steps_taken = []
    performed = Counter()

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(data=st.data())
    def run(data):
        snapshot = chain.snapshot()
        try:
            model = fresh_model()
            history = []
            target = data.draw(st.integers(MIN_STEPS, MAX_STEPS), label="steps")
            for _ in range(4 * target):  # an impossible action is drawn again
                name = data.draw(st.sampled_from(drawable), label="action")
                done = actions[name](model, data)
                if done is None:
                    continue
                history.append(done)
                performed[done.split()[0]] += 1
                check(model, " -> ".join(history))
                if len(history) == target:
                    break
            steps_taken.append(len(history))
        finally:
            chain.restore(snapshot)

    started = time.perf_counter()
    run()
    print(
        f"\n{len(steps_taken)} sequences, {sum(steps_taken)} steps, "
        f"{time.perf_counter() - started:.1f}s: {dict(sorted(performed.items()))}"
    )
    assert sum(steps_taken) > 0
