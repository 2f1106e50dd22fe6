"""Property-based test of credit lines and obligor risk control in one random sequence.

Hypothesis drives random interleavings of registrations (single and batch, CNY and USD),
confirm / reject / cancel, financing requests, offers, accepts, request cancellations,
repayments into clearing, redemptions, defaults, write-offs, line grants / amends /
closes / freezes / unfreezes, supplier sub-limits, issuance cap changes and overdue
flags, with time moving. A Python model predicts every outcome, each refusal down to
its custom error and values, and after EVERY step the test checks:

1. per (financier, obligor, currency): the lines' utilisation == the face amounts
   financed on them and not yet repaid, recovered or written off (counted from the
   receivables, not from the line model);
2. every line's utilisation and limit are the model's, and utilisation <= limit;
3. every programme supplier's drawn amount is the model's and within its sub-limit;
4. per (core, currency): payables outstanding and cap are the model's (and at every
   registration that got through, outstanding <= cap);
5. the core is restricted iff it has a flagged root not yet repaid, with that count.

Each example starts from a chain snapshot and restores it. Examples and steps default
to 4 and 40; LEDGER_RISK_EXAMPLES and LEDGER_RISK_STEPS change them (`make fuzz`).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest
from conftest import CNY, DAY, USD
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from statuses import Status

EXAMPLES = int(os.environ.get("LEDGER_RISK_EXAMPLES", "4"))
STEPS = int(os.environ.get("LEDGER_RISK_STEPS", "40"))
TRIGGER = 1  # days past due before a root may be flagged, set for the run
CURRENCIES = (CNY, USD)
FINANCIERS = ("financier", "financier2")
SUPPLIERS = ("supplier", "supplier2")
REPAID, RECOVERED, WRITTEN_OFF = 0, 1, 2
FUNDS = 10**15

pytestmark = pytest.mark.usefixtures("quiet_reverts")


@dataclass
class Root:
    creditor: str
    amount: int
    currency: bytes
    due: int
    status: Status = Status.PENDING
    repaid: bool = False
    flagged: bool = False
    financier: str = ""  # who financed it (holder after accept)
    drawn: bool = False  # holds part of a line: financed, not yet released
    written_off: int = 0  # of the face, by the financier's write-offs while drawn
    drawn_on: tuple = ()  # (line id, supplier, counted on its sub-limit)


@dataclass
class Line:
    financier: str
    currency: bytes
    limit: int
    expiry: int
    utilised: int = 0
    open: bool = True
    frozen: bool = False
    programme: bool = False
    subs: dict[str, list[int]] = field(default_factory=dict)  # supplier -> [limit, drawn]


@dataclass
class Request:
    rid: int
    supplier: str
    financier: str
    offered: bool = False
    status: str = "open"  # open | funded | defaulted | closed


@pytest.fixture
def risk_world(chain, risk, cny, usd, bank, core, financier, financier2, desk, clearing, operator):
    """USD funds and approvals beside the session's CNY ones, and a one-day trigger."""
    for account in (financier, financier2, core):
        usd.mint(account, FUNDS, sender=bank)
    for account in (financier, financier2):
        usd.approve(desk, 2**256 - 1, sender=account)
    usd.approve(clearing, 2**256 - 1, sender=core)
    risk.setOverdueTrigger(TRIGGER, sender=operator)


def test_lines_caps_and_trigger_hold_across_random_sequences(
    risk_world, chain, receivables, risk, credit_lines, desk, clearing, reverts, core,
    supplier, supplier2, financier, financier2, regulator, operator, auditor, invoice_refs,
):  # fmt: skip
    actors = {
        "core": core,
        "supplier": supplier,
        "supplier2": supplier2,
        "financier": financier,
        "financier2": financier2,
    }
    performed: Counter = Counter()
    steps_taken: list[int] = []

    def registration(creditor: str, amount: int, currency: bytes, due: int) -> tuple:
        return (actors[creditor].address, amount, currency, due, invoice_refs(), b"\x01" * 32, 0)

    class RiskLedger(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snapshot = chain.snapshot()
            self.t = chain.blocks.head.timestamp + 1
            self.steps = 0
            self.roots: dict[int, Root] = {}
            self.requests: dict[int, Request] = {}
            self.lines: dict[int, Line] = {}
            # What the fixtures left: read once, then only predicted.
            for lid in range(1, credit_lines.lastLineId() + 1):
                c = credit_lines.creditLine(lid)
                assert (c.obligor, c.utilised) == (core.address, 0)
                name = "financier" if c.financier == financier.address else "financier2"
                self.lines[lid] = Line(name, bytes(c.currency), c.limit, c.expiry, 0, c.status == 1)
            assert (receivables.lastId(), desk.lastFinancingId()) == (0, 0)
            self.payables = {c: 0 for c in CURRENCIES}
            self.caps: dict[bytes, int | None] = {c: None for c in CURRENCIES}
            for c in CURRENCIES:
                p = risk.payables(core, c)
                assert (p.outstanding, p.capped) == (0, False)

        def teardown(self):
            steps_taken.append(self.steps)
            chain.restore(self.snapshot)

        # ------------------------------------------------------------ helpers

        def send(self, kind: str):
            """The next transaction lands at the model's clock, which then ticks."""
            chain.pending_timestamp = self.t
            self.t += 1
            self.steps += 1
            performed[kind] += 1

        def refused(self, kind: str, error, **values):
            chain.pending_timestamp = self.t
            performed[kind + " refused"] += 1
            return reverts(error, **values)

        def open_line(self, fin: str, currency: bytes) -> int:
            for lid, line in self.lines.items():
                if line.open and line.financier == fin and line.currency == currency:
                    return lid
            return 0

        def flagged_count(self) -> int:
            return sum(1 for r in self.roots.values() if r.flagged)

        def restricted_error(self):
            return (risk.RiskObligorRestricted, {"core": core, "overdueRoots": self.flagged_count()})

        def issue(self, kind: str, rows: list[tuple[bytes, int]], send):
            """Predicts the risk control's answer to rows (currency, amount) registered in
            one transaction, run by run as the registry reports them."""
            if self.flagged_count():
                error, values = self.restricted_error()
                with self.refused(kind, error, **values):
                    send()
                return False
            added = dict.fromkeys(CURRENCIES, 0)
            runs: list[list] = []
            for currency, amount in rows:
                if runs and runs[-1][0] == currency:
                    runs[-1][1] += amount
                else:
                    runs.append([currency, amount])
            for currency, amount in runs:
                owed, cap = self.payables[currency] + added[currency], self.caps[currency]
                if cap is not None and owed + amount > cap:
                    with self.refused(
                        kind,
                        risk.RiskIssuanceCapExceeded,
                        currency=currency,
                        cap=cap,
                        outstanding=owed,
                        requested=amount,
                    ):
                        send()
                    return False
                added[currency] += amount
            self.send(kind)
            send()
            for currency in CURRENCIES:
                self.payables[currency] += added[currency]
                cap = self.caps[currency]
                # Never above a cap at a registration (a cap lowered since may be below).
                assert not added[currency] or cap is None or self.payables[currency] <= cap
            return True

        # ------------------------------------------------------------ receivables

        @initialize(
            rows=st.lists(
                st.tuples(st.sampled_from(SUPPLIERS), st.integers(100, 2_000_000)),
                min_size=2,
                max_size=4,
            ),
            days=st.integers(2, 6),
        )
        def start(self, rows, days):
            """Confirmed receivables in both currencies, so that every sequence (the
            simplest one Hypothesis tries first included) can finance from its first step."""
            due = self.t + days * DAY
            batch = [
                registration(s, a, CURRENCIES[i % 2], due) for i, (s, a) in enumerate(rows)
            ]
            self.send("registerBatch")
            receivables.registerBatch(batch, sender=core)
            for i, (s, a) in enumerate(rows):
                rid = i + 1
                self.roots[rid] = Root(s, a, CURRENCIES[i % 2], due, Status.ACTIVE)
                self.payables[CURRENCIES[i % 2]] += a
                self.send("confirm")
                receivables.confirm(rid, sender=actors[s])

        @rule(
            creditor=st.sampled_from(SUPPLIERS),
            amount=st.integers(100, 3_000_000),
            currency=st.sampled_from(CURRENCIES),
            days=st.integers(1, 12),
        )
        def register(self, creditor, amount, currency, days):
            row = registration(creditor, amount, currency, self.t + days * DAY)
            if self.issue("register", [(currency, amount)], lambda: receivables.register(row, sender=core)):
                self.roots[receivables.lastId()] = Root(creditor, amount, currency, row[3])

        @rule(
            rows=st.lists(
                st.tuples(
                    st.sampled_from(SUPPLIERS),
                    st.integers(100, 2_000_000),
                    st.sampled_from(CURRENCIES),
                ),
                min_size=2,
                max_size=4,
            ),
            days=st.integers(1, 12),
        )
        def register_batch(self, rows, days):
            due = self.t + days * DAY
            batch = [registration(s, a, c, due) for s, a, c in rows]
            done = self.issue(
                "registerBatch",
                [(c, a) for _, a, c in rows],
                lambda: receivables.registerBatch(batch, sender=core),
            )
            if done:
                first = receivables.lastId() - len(rows) + 1
                for i, (s, a, c) in enumerate(rows):
                    self.roots[first + i] = Root(s, a, c, due)

        def pending(self) -> list[int]:
            return [rid for rid, r in self.roots.items() if r.status == Status.PENDING]

        @precondition(lambda self: self.pending())
        @rule(data=st.data(), answer=st.sampled_from(["confirm", "confirm", "reject", "cancel"]))
        def answer(self, data, answer):
            rid = data.draw(st.sampled_from(self.pending()))
            r = self.roots[rid]
            self.send(answer)
            if answer == "cancel":
                receivables.cancel(rid, sender=core)
            else:
                getattr(receivables, answer)(rid, sender=actors[r.creditor])
            if answer == "confirm":
                r.status = Status.ACTIVE
            else:
                r.status = Status.REJECTED if answer == "reject" else Status.CANCELLED
                self.payables[r.currency] -= r.amount

        # ------------------------------------------------------------ financing

        def requestable(self) -> list[int]:
            return [
                rid
                for rid, r in self.roots.items()
                if r.status == Status.ACTIVE and not r.repaid and self.t < r.due
            ]

        @precondition(lambda self: self.requestable())
        @rule(data=st.data(), fin=st.sampled_from(FINANCIERS))
        def request(self, data, fin):
            rid = data.draw(st.sampled_from(self.requestable()))
            r = self.roots[rid]
            if self.flagged_count():
                error, values = self.restricted_error()
                with self.refused("request", error, **values):
                    desk.request(rid, actors[fin], sender=actors[r.creditor])
                return
            self.send("request")
            desk.request(rid, actors[fin], sender=actors[r.creditor])
            self.requests[desk.lastFinancingId()] = Request(rid, r.creditor, fin)
            r.status = Status.FINANCING

        def offerable(self) -> list[int]:
            return [
                fid
                for fid, q in self.requests.items()
                if q.status == "open" and not q.offered and self.t < self.roots[q.rid].due
            ]

        @precondition(lambda self: self.offerable())
        @rule(data=st.data())
        def offer(self, data):
            fid = data.draw(st.sampled_from(self.offerable()))
            q = self.requests[fid]
            # 80% advanced at 0% with no fee, no grace, open long past any due date.
            terms = (8_000, 0, 365, False, 0, self.t + 60 * DAY, 0)
            self.send("offer")
            desk.offer(fid, terms, sender=actors[q.financier])
            q.offered = True

        def acceptable(self) -> list[int]:
            return [
                fid
                for fid, q in self.requests.items()
                if q.status == "open" and q.offered and self.t < self.roots[q.rid].due
            ]

        @precondition(lambda self: self.acceptable())
        @rule(data=st.data())
        def accept(self, data):
            fid = data.draw(st.sampled_from(self.acceptable()))
            q = self.requests[fid]
            r = self.roots[q.rid]
            supplier_account = actors[q.supplier]

            def go():
                desk.accept(fid, 0, sender=supplier_account)

            if self.flagged_count():
                error, values = self.restricted_error()
                with self.refused("accept", error, **values):
                    go()
                return
            lid = self.open_line(q.financier, r.currency)
            if lid == 0:
                with self.refused(
                    "accept",
                    credit_lines.CreditLineMissing,
                    financier=actors[q.financier],
                    obligor=core,
                    currency=r.currency,
                ):
                    go()
                return
            line = self.lines[lid]
            if line.frozen:
                with self.refused("accept", credit_lines.CreditLineFrozenError, lineId=lid):
                    go()
                return
            if self.t > line.expiry:
                with self.refused("accept", credit_lines.CreditLineExpired, lineId=lid):
                    go()
                return
            if line.utilised + r.amount > line.limit:
                with self.refused(
                    "accept",
                    credit_lines.CreditLineExceeded,
                    lineId=lid,
                    limit=line.limit,
                    utilised=line.utilised,
                    requested=r.amount,
                ):
                    go()
                return
            sub = line.subs.get(q.supplier, [0, 0])
            if line.programme and sub[0] == 0:
                with self.refused(
                    "accept",
                    credit_lines.CreditLineSupplierNotEligible,
                    lineId=lid,
                    supplier=supplier_account,
                ):
                    go()
                return
            if line.programme and sub[1] + r.amount > sub[0]:
                with self.refused(
                    "accept",
                    credit_lines.CreditLineSubLimitExceeded,
                    lineId=lid,
                    limit=sub[0],
                    utilised=sub[1],
                    requested=r.amount,
                ):
                    go()
                return
            self.send("accept")
            go()
            line.utilised += r.amount
            if line.programme:
                line.subs[q.supplier][1] += r.amount
            r.drawn_on = (lid, q.supplier, line.programme)
            r.status, r.financier, r.drawn = Status.FINANCED, q.financier, True
            q.status = "funded"

        @precondition(lambda self: [f for f, q in self.requests.items() if q.status == "open"])
        @rule(data=st.data())
        def cancel_request(self, data):
            fid = data.draw(
                st.sampled_from([f for f, q in self.requests.items() if q.status == "open"])
            )
            q = self.requests[fid]
            self.send("cancel request")
            desk.cancel(fid, sender=actors[q.supplier])
            q.status = "closed"
            self.roots[q.rid].status = Status.ACTIVE

        def defaultable(self) -> list[int]:
            return [
                fid
                for fid, q in self.requests.items()
                if q.status == "funded"
                and self.t > self.roots[q.rid].due
                and not self.roots[q.rid].repaid
                and self.roots[q.rid].status != Status.SETTLED  # paid ahead: nothing owed
            ]

        @precondition(lambda self: self.defaultable())
        @rule(data=st.data())
        def default(self, data):
            fid = data.draw(st.sampled_from(self.defaultable()))
            q = self.requests[fid]
            self.send("default")
            desk.declareDefault(fid, sender=actors[q.financier])
            q.status = "defaulted"
            self.roots[q.rid].status = Status.DEFAULTED

        def release(self, r: Root, amount: int, ends: bool = True) -> None:
            lid, supplier_name, on_programme = r.drawn_on
            self.lines[lid].utilised -= amount
            if on_programme:
                self.lines[lid].subs[supplier_name][1] -= amount
            r.drawn = not ends

        def written_off(self) -> list[int]:
            return [
                rid
                for rid, r in self.roots.items()
                if r.status == Status.DEFAULTED and r.drawn and r.written_off < r.amount
            ]

        @precondition(lambda self: self.written_off())
        @rule(data=st.data())
        def write_off(self, data):
            rid = data.draw(st.sampled_from(self.written_off()))
            r = self.roots[rid]
            amount = data.draw(st.integers(1, r.amount - r.written_off))
            self.send("writeOff")
            tx = credit_lines.writeOff(rid, amount, sender=actors[r.financier])
            (log,) = tx.decode_logs(credit_lines.CreditLineReleased)
            assert (log.receivableId, log.cause, log.amount) == (rid, WRITTEN_OFF, amount)
            r.written_off += amount
            self.release(r, amount, ends=False)

        # ------------------------------------------------------------ clearing

        def repayable(self) -> list[int]:
            payable = (Status.ACTIVE, Status.FINANCED, Status.DEFAULTED)
            return [
                rid
                for rid, r in self.roots.items()
                if r.status in payable and not r.repaid and self.t >= r.due
            ]

        @precondition(lambda self: self.repayable())
        @rule(data=st.data())
        def repay(self, data):
            rid = data.draw(st.sampled_from(self.repayable()))
            r = self.roots[rid]
            self.send("repay")
            tx = clearing.repay(rid, sender=core)
            cured = tx.decode_logs(risk.RootOverdueCured)
            r.repaid = True
            self.payables[r.currency] -= r.amount
            if r.flagged:
                r.flagged = False
                (log,) = cured
                assert (log.rootId, log.overdueRoots) == (rid, self.flagged_count())
            else:
                assert cured == []

        def payable_ahead(self) -> list[int]:
            payable = (Status.ACTIVE, Status.FINANCED, Status.DEFAULTED)
            return [rid for rid, r in self.roots.items() if r.status in payable and not r.repaid]

        @precondition(lambda self: self.payable_ahead())
        @rule(data=st.data())
        def repay_ahead(self, data):
            """Issue 20: the debtor pays a root's (only) leaf ahead of the root, at any time:
            payables fall by its face, a flag is cured (its last leaf), its line is freed."""
            rid = data.draw(st.sampled_from(self.payable_ahead()))
            r = self.roots[rid]
            self.send("repayLeaves")
            tx = clearing.repayLeaves([rid], sender=core)
            cured = tx.decode_logs(risk.RootOverdueCured)
            released = tx.decode_logs(credit_lines.CreditLineReleased)
            self.payables[r.currency] -= r.amount
            if r.drawn:
                cause = RECOVERED if r.status == Status.DEFAULTED else REPAID
                (log,) = released
                assert (log.receivableId, log.cause, log.amount) == (rid, cause, r.amount)
                self.release(r, r.amount)
            else:
                assert released == []
            if r.flagged:
                r.flagged = False
                (log,) = cured
                assert (log.rootId, log.overdueRoots) == (rid, self.flagged_count())
            else:
                assert cured == []
            r.status = Status.SETTLED

        def redeemable(self) -> list[int]:
            return [rid for rid, r in self.roots.items() if r.repaid and r.status != Status.SETTLED]

        @precondition(lambda self: self.redeemable())
        @rule(data=st.data())
        def redeem(self, data):
            rid = data.draw(st.sampled_from(self.redeemable()))
            r = self.roots[rid]
            self.send("redeem")
            tx = clearing.redeem(rid, sender=auditor)
            released = tx.decode_logs(credit_lines.CreditLineReleased)
            if r.drawn:
                cause = RECOVERED if r.status == Status.DEFAULTED else REPAID
                (log,) = released
                rest = r.amount - r.written_off
                assert (log.receivableId, log.cause, log.amount) == (rid, cause, rest)
                self.release(r, rest)
            else:
                assert released == []
            r.status = Status.SETTLED

        # ------------------------------------------------------------ lines

        def grant(self, data):
            fin = data.draw(st.sampled_from(FINANCIERS))
            currency = data.draw(st.sampled_from(CURRENCIES))
            limit, days = data.draw(st.integers(1, 8_000_000)), data.draw(st.integers(1, 30))
            existing = self.open_line(fin, currency)
            expiry = self.t + days * DAY
            if existing:
                with self.refused("grant", credit_lines.CreditLineExists, lineId=existing):
                    credit_lines.grant(core, currency, limit, expiry, sender=actors[fin])
                return
            self.send("grant")
            lid = credit_lines.grant(core, currency, limit, expiry, sender=actors[fin]).return_value
            self.lines[lid] = Line(fin, currency, limit, expiry)

        def open_lines(self) -> list[int]:
            return [lid for lid, line in self.lines.items() if line.open]

        def amend(self, data):
            limit, days = data.draw(st.integers(1, 8_000_000)), data.draw(st.integers(1, 30))
            lid = data.draw(st.sampled_from(self.open_lines()))
            line = self.lines[lid]
            expiry = self.t + days * DAY
            fin = actors[line.financier]
            if limit < line.utilised:
                with self.refused(
                    "amend",
                    credit_lines.CreditLineBelowUtilisation,
                    lineId=lid,
                    limit=limit,
                    utilised=line.utilised,
                ):
                    credit_lines.amend(lid, limit, expiry, sender=fin)
                return
            self.send("amend")
            credit_lines.amend(lid, limit, expiry, sender=fin)
            line.limit, line.expiry = limit, expiry

        def set_supplier_limit(self, data):
            supplier_name = data.draw(st.sampled_from(SUPPLIERS))
            limit = data.draw(st.one_of(st.just(0), st.integers(1, 8_000_000)))
            lid = data.draw(st.sampled_from(self.open_lines()))
            line = self.lines[lid]
            fin, who = actors[line.financier], actors[supplier_name]
            drawn = line.subs.get(supplier_name, [0, 0])[1]
            if limit > line.limit:
                with self.refused(
                    "setSupplierLimit",
                    credit_lines.CreditLineSubLimitAboveLimit,
                    lineId=lid,
                    subLimit=limit,
                    limit=line.limit,
                ):
                    credit_lines.setSupplierLimit(lid, who, limit, sender=fin)
                return
            if limit < drawn:
                with self.refused(
                    "setSupplierLimit",
                    credit_lines.CreditLineSubLimitBelowUtilisation,
                    lineId=lid,
                    limit=limit,
                    utilised=drawn,
                ):
                    credit_lines.setSupplierLimit(lid, who, limit, sender=fin)
                return
            self.send("setSupplierLimit")
            credit_lines.setSupplierLimit(lid, who, limit, sender=fin)
            line.subs.setdefault(supplier_name, [0, 0])[0] = limit
            # Only a supplier named (a limit above 0) makes the line a programme.
            line.programme = line.programme or limit > 0

        def close(self, data):
            lid = data.draw(st.sampled_from(self.open_lines()))
            self.send("close")
            credit_lines.close(lid, sender=actors[self.lines[lid].financier])
            self.lines[lid].open = False

        def freeze_or_unfreeze(self, data):
            lid = data.draw(st.sampled_from(sorted(self.lines)))
            line = self.lines[lid]
            self.send("unfreeze" if line.frozen else "freeze")
            if line.frozen:
                credit_lines.unfreeze(lid, sender=regulator)
            else:
                credit_lines.freeze(lid, sender=regulator)
            line.frozen = not line.frozen

        # ------------------------------------------------------------ caps and flags

        def set_cap(self, data):
            currency = data.draw(st.sampled_from(CURRENCIES))
            cap = data.draw(st.one_of(st.just(0), st.integers(1_000_000, 60_000_000)))
            self.send("setIssuanceCap")
            risk.setIssuanceCap(core, currency, cap, sender=operator)
            self.caps[currency] = cap

        def remove_cap(self, data):
            currency = data.draw(st.sampled_from(CURRENCIES))
            if self.caps[currency] is None:
                with self.refused("removeIssuanceCap", risk.RiskCapNotSet, currency=currency):
                    risk.removeIssuanceCap(core, currency, sender=operator)
                return
            self.send("removeIssuanceCap")
            risk.removeIssuanceCap(core, currency, sender=operator)
            self.caps[currency] = None

        def flaggable(self) -> list[int]:
            open_statuses = (Status.ACTIVE, Status.FINANCING, Status.FINANCED, Status.DEFAULTED)
            return [
                rid
                for rid, r in self.roots.items()
                if r.status in open_statuses and not r.repaid and not r.flagged
            ]

        @precondition(lambda self: self.flaggable())
        @rule(data=st.data())
        def flag(self, data):
            rid = data.draw(st.sampled_from(self.flaggable()))
            r = self.roots[rid]
            earliest = r.due + TRIGGER * DAY + 1
            if self.t < earliest:
                with self.refused(
                    "flagOverdue",
                    risk.RiskRootNotPastTrigger,
                    rootId=rid,
                    flaggableFrom=earliest,
                    nowTimestamp=self.t,
                ):
                    risk.flagOverdue(rid, sender=auditor)
                return
            self.send("flagOverdue")
            risk.flagOverdue(rid, sender=auditor)
            r.flagged = True

        @rule(wait=st.sampled_from([3_600, DAY, 3 * DAY, 7 * DAY]))
        def wait(self, wait):
            self.t += wait

        # ------------------------------------------------------------ rules

        @rule(data=st.data())
        def risk_admin(self, data):
            """One of the financiers', the regulator's and the operator's actions on lines
            and caps (one rule, so that the financing path is drawn more often)."""
            actions = [self.grant, self.freeze_or_unfreeze, self.set_cap, self.remove_cap]
            if self.open_lines():
                actions += [self.amend, self.set_supplier_limit, self.close]
            data.draw(st.sampled_from(actions))(data)

        # The financing path again, so that it is drawn more often than the rest.
        @precondition(lambda self: self.pending())
        @rule(data=st.data())
        def confirm_more(self, data):
            self.answer(data, "confirm")

        @precondition(lambda self: self.requestable())
        @rule(data=st.data(), fin=st.sampled_from(FINANCIERS))
        def request_more(self, data, fin):
            self.request(data, fin)

        @precondition(lambda self: self.offerable())
        @rule(data=st.data())
        def offer_more(self, data):
            self.offer(data)

        @precondition(lambda self: self.acceptable())
        @rule(data=st.data())
        def accept_more(self, data):
            self.accept(data)

        @rule(wait=st.sampled_from([DAY, 2 * DAY, 5 * DAY]))
        def wait_more(self, wait):
            self.wait(wait)

        @precondition(lambda self: self.repayable())
        @rule(data=st.data())
        def repay_more(self, data):
            self.repay(data)

        @precondition(lambda self: self.flaggable())
        @rule(data=st.data())
        def flag_more(self, data):
            self.flag(data)

        # ------------------------------------------------------------ invariants

        @invariant()
        def lines_hold_what_was_financed(self):
            drawn_by_key: Counter = Counter()
            for r in self.roots.values():
                if r.drawn:
                    drawn_by_key[(r.financier, r.currency)] += r.amount - r.written_off
            on_chain: Counter = Counter()
            for lid, line in self.lines.items():
                c = credit_lines.creditLine(lid)
                assert (c.utilised, c.limit) == (line.utilised, line.limit), lid
                assert (c.status == 1, c.frozen, c.programme) == (
                    line.open,
                    line.frozen,
                    line.programme,
                ), lid
                assert c.utilised <= c.limit, lid
                on_chain[(line.financier, line.currency)] += c.utilised
                for name, (limit, drawn) in line.subs.items():
                    s = credit_lines.supplierLimit(lid, actors[name])
                    assert (s.limit, s.utilised) == (limit, drawn), (lid, name)
                    assert s.utilised <= s.limit, (lid, name)
            assert +on_chain == +drawn_by_key

        @invariant()
        def payables_and_restriction_are_the_models(self):
            for currency in CURRENCIES:
                p = risk.payables(core, currency)
                cap = self.caps[currency]
                assert p.outstanding == self.payables[currency], currency
                assert (p.capped, p.cap) == (cap is not None, cap or 0), currency
            flagged = self.flagged_count()
            assert risk.overdueRoots(core) == flagged
            assert risk.isRestricted(core) == (flagged > 0)

    started = time.perf_counter()
    run_state_machine_as_test(
        RiskLedger,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(
        f"\n{len(steps_taken)} sequences, {sum(steps_taken)} transactions "
        f"({time.perf_counter() - started:.0f}s): {dict(sorted(performed.items()))}"
    )
    assert sum(steps_taken) > 0
