"""Property-based test of the receivable registry.

Hypothesis drives random sequences of register (single and batch), confirm, reject,
cancel, split, transfer, freeze, unfreeze and settle across several participants,
including refused moves (a reused invoice key, a duplicate inside a batch, parts
that do not sum, a frozen or someone else's receivable). A Python model predicts
every outcome. After every step:

- every receivable the step touched equals the model (holder, amount, status,
  parent, root, debtor, creditor, children), and so does one other in rotation;
- for every root: the model's unsettled leaves sum to root amount - settled, and
  the chain's `outstanding(root)` agrees (conservation, DESIGN.md invariant 5);
- every invoice key maps to the one receivable registered with it (invariant 2);
- the state rebuilt from the step's events alone equals the model (invariant 6).

Examples and steps per example default to 20 and 20; LEDGER_FUZZ_EXAMPLES and
LEDGER_FUZZ_STEPS raise them for a long run.
"""

import itertools
import os
from dataclasses import dataclass, field, replace

import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from statuses import Status

DAY = 86_400
EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "20"))
STEPS = int(os.environ.get("LEDGER_FUZZ_STEPS", "20"))
UNSETTLED = {Status.ACTIVE}  # a leaf still owed (this machine finances nothing)

pytestmark = pytest.mark.usefixtures("quiet_reverts")  # many expected reverts

amounts = st.integers(min_value=1, max_value=10**12)


@dataclass(frozen=True)
class Node:
    """What the model expects `receivables.receivable(id)` to say."""

    parent: int
    root: int
    debtor: str
    creditor: str
    holder: str
    amount: int
    status: Status
    frozen: bool = False
    first_child: int = 0
    child_count: int = 0
    children: tuple = field(default=())


def replay_events(model, settled, tx):
    """Applies one receipt's registry events to an event-built model, in place."""
    for e in tx.events:
        name = e.event_name
        if name == "ReceivableRegistered":
            model[e.id] = Node(0, e.id, e.debtor, e.creditor, e.creditor, e.amount, Status.NONE)
        elif name == "ReceivableStatusChanged":
            assert model[e.id].status == e["from"], (e.id, e["from"])
            model[e.id] = replace(model[e.id], status=Status(e.to))
        elif name == "ReceivableSplit":
            parent = model[e.parentId]
            ids = tuple(range(e.firstChildId, e.firstChildId + len(e.amounts)))
            model[e.parentId] = replace(
                parent, first_child=e.firstChildId, child_count=len(ids), children=ids
            )
            for cid, amount in zip(ids, e.amounts, strict=True):
                model[cid] = Node(
                    e.parentId,
                    parent.root,
                    parent.debtor,
                    parent.creditor,
                    e.holder,
                    amount,
                    Status.ACTIVE,
                )
        elif name == "ReceivableTransferred":
            assert model[e.id].holder == e["from"]
            model[e.id] = replace(model[e.id], holder=e.to)
        elif name in ("ReceivableFrozen", "ReceivableUnfrozen"):
            model[e.id] = replace(model[e.id], frozen=name == "ReceivableFrozen")
        elif name == "ReceivableSettled":
            settled[e.rootId] = settled.get(e.rootId, 0) + e.amount
            assert e.outstanding == model[e.rootId].amount - settled[e.rootId]


def test_random_operations_keep_ledger_consistent(
    reverts,
    receivables,
    ledger,
    core,
    supplier,
    supplier2,
    financier,
    financier2,
    regulator,
    invoice_refs,
    invoice_key_of,
    chain,
):
    # ape builds these classes on every attribute access: look them up once.
    duplicate_invoice = receivables.ReceivableDuplicateInvoice
    invalid_split = receivables.ReceivableInvalidSplit
    self_dealing = receivables.ReceivableSelfDealing
    not_holder = receivables.ReceivableNotHolder
    frozen_error = receivables.ReceivableFrozenError
    invalid_status = receivables.ReceivableInvalidStatus
    creditors = [supplier, supplier2]
    holders = [supplier, supplier2, financier, financier2]
    by_address = {a.address: a for a in holders}
    document = keccak(text="documents")

    class ReceivableLedger(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snapshot = chain.snapshot()
            self.model: dict[int, Node] = {}
            self.replayed: dict[int, Node] = {}
            self.settled: dict[int, int] = {}
            self.replayed_settled: dict[int, int] = {}
            self.keys: dict[bytes, int] = {}  # invoice key -> root id
            self.refs: dict[bytes, tuple] = {}  # invoice key -> (creditor, invoice ref)
            self.new_keys: list[bytes] = []  # registered by the current step
            self.last_id = receivables.lastId()
            self.touched: set[int] = set()
            self.step = 0

        def teardown(self):
            chain.restore(self.snapshot)

        # ------------------------------------------------------------ helpers

        def ids(self, status, frozen=None):
            return sorted(
                rid
                for rid, n in self.model.items()
                if n.status == status and (frozen is None or n.frozen == frozen)
            )

        def applied(self, tx):
            replay_events(self.replayed, self.replayed_settled, tx)
            return tx

        def set(self, rid, **changes):
            self.model[rid] = replace(self.model[rid], **changes)
            self.touched.add(rid)

        def registration(self, creditor, amount, ref):
            due = chain.pending_timestamp + 90 * DAY
            return (creditor.address, amount, b"CNY", due, ref, document, 0)

        def add_root(self, rid, creditor, amount, ref):
            key = invoice_key_of(creditor, ref)
            self.refs[key] = (creditor, ref)
            self.model[rid] = Node(
                0, rid, core.address, creditor.address, creditor.address, amount, Status.PENDING
            )
            self.keys[key] = rid
            self.new_keys.append(key)
            self.touched.add(rid)

        # -------------------------------------------------------------- rules

        @rule(creditor=st.sampled_from(creditors), amount=amounts)
        def register(self, creditor, amount):
            ref = invoice_refs()
            tx = self.applied(
                receivables.register(self.registration(creditor, amount, ref), sender=core)
            )
            self.last_id += 1
            assert tx.return_value == self.last_id
            self.add_root(self.last_id, creditor, amount, ref)

        @precondition(lambda self: self.keys)
        @rule(data=st.data(), amount=amounts)
        def register_reused_key(self, data, amount):
            key = data.draw(st.sampled_from(sorted(self.keys)))
            creditor, ref = self.refs[key]
            with reverts(duplicate_invoice, invoiceKey=key, existingId=self.keys[key]):
                receivables.register(self.registration(creditor, amount, ref), sender=core)

        @rule(
            rows=st.lists(st.tuples(st.sampled_from(creditors), amounts), min_size=1, max_size=5),
            repeat=st.sampled_from([None, None, None, 0]),
        )
        def register_batch(self, rows, repeat):
            refs = [invoice_refs() for _ in rows]
            if repeat is not None and len(rows) > 1:
                # The same invoice of the same seller twice in one batch.
                refs[-1] = refs[repeat]
                rows[-1] = (rows[repeat][0], rows[-1][1])
            batch = [self.registration(c, a, r) for (c, a), r in zip(rows, refs, strict=True)]
            keys = [invoice_key_of(c, r) for (c, _), r in zip(rows, refs, strict=True)]
            if len(set(keys)) < len(keys):
                with reverts(duplicate_invoice, invoiceKey=keys[repeat]):
                    receivables.registerBatch(batch, sender=core)
                for key in keys:  # all or nothing: not even the first rows stay
                    assert receivables.receivableByInvoiceKey(key) == 0
                return
            tx = self.applied(receivables.registerBatch(batch, sender=core))
            assert tx.return_value == self.last_id + 1
            for (creditor, amount), ref in zip(rows, refs, strict=True):
                self.last_id += 1
                self.add_root(self.last_id, creditor, amount, ref)

        @precondition(lambda self: self.ids(Status.PENDING))
        @rule(data=st.data(), answer=st.sampled_from(["confirm", "confirm", "reject", "cancel"]))
        def answer(self, data, answer):
            rid = data.draw(st.sampled_from(self.ids(Status.PENDING)))
            node = self.model[rid]
            sender = core if answer == "cancel" else by_address[node.creditor]
            self.applied(getattr(receivables, answer)(rid, sender=sender))
            after = {"confirm": Status.ACTIVE, "reject": Status.REJECTED}.get(
                answer, Status.CANCELLED
            )
            self.set(rid, status=after)

        def splittable(self):
            return [r for r in self.ids(Status.ACTIVE, False) if self.model[r].amount > 1]

        @precondition(lambda self: self.splittable())
        @rule(data=st.data())
        def split(self, data):
            rid = data.draw(st.sampled_from(self.splittable()))
            node = self.model[rid]
            cuts = data.draw(
                st.lists(st.integers(1, node.amount - 1), min_size=1, max_size=4, unique=True).map(
                    sorted
                )
            )
            edges = [0, *cuts, node.amount]
            parts = [b - a for a, b in itertools.pairwise(edges)]
            holder = by_address[node.holder]
            off = data.draw(st.sampled_from([0, 0, 0, 0, 1, -1]))
            if off:
                largest = parts.index(max(parts))  # so that no part becomes 0
                off = 1 if parts[largest] == 1 else off
                wrong = [*parts]
                wrong[largest] += off
                with reverts(
                    invalid_split,
                    id=rid,
                    parts=len(wrong),
                    sum=node.amount + off,
                    amount=node.amount,
                ):
                    receivables.split(rid, wrong, sender=holder)
                return
            tx = self.applied(receivables.split(rid, parts, sender=holder))
            first = self.last_id + 1
            assert tx.return_value == first
            ids = tuple(range(first, first + len(parts)))
            self.last_id = ids[-1]
            self.set(
                rid, status=Status.SPLIT, first_child=first, child_count=len(ids), children=ids
            )
            for cid, amount in zip(ids, parts, strict=True):
                self.model[cid] = Node(
                    rid, node.root, node.debtor, node.creditor, node.holder, amount, Status.ACTIVE
                )
                self.touched.add(cid)

        @precondition(lambda self: self.ids(Status.ACTIVE, False))
        @rule(data=st.data(), to=st.sampled_from(holders))
        def transfer(self, data, to):
            rid = data.draw(st.sampled_from(self.ids(Status.ACTIVE, False)))
            holder = by_address[self.model[rid].holder]
            if to == holder:
                with reverts(self_dealing, account=to):
                    receivables.transfer(rid, to, sender=holder)
                return
            self.applied(receivables.transfer(rid, to, sender=holder))
            self.set(rid, holder=to.address)

        @precondition(lambda self: self.ids(Status.ACTIVE))
        @rule(data=st.data(), intruder=st.sampled_from(holders))
        def move_refused(self, data, intruder):
            """Someone else's, or a frozen, receivable: neither split nor transferred."""
            rid = data.draw(st.sampled_from(self.ids(Status.ACTIVE)))
            node = self.model[rid]
            if intruder.address != node.holder:
                error, arguments = not_holder, {"account": intruder}
            elif node.frozen:
                error, arguments = frozen_error, {}
            else:
                return
            recipient = supplier2 if intruder != supplier2 else supplier
            with reverts(error, id=rid, **arguments):
                if data.draw(st.booleans()):
                    receivables.transfer(rid, recipient, sender=intruder)
                else:
                    receivables.split(rid, [1, node.amount], sender=intruder)

        @precondition(lambda self: self.model)
        @rule(data=st.data())
        def freeze_or_unfreeze(self, data):
            rid = data.draw(st.sampled_from(sorted(self.model)))
            frozen = self.model[rid].frozen
            if self.model[rid].status == Status.SPLIT:  # its children carry the value
                with reverts(invalid_status, id=rid, current=Status.SPLIT):
                    receivables.freeze(rid, sender=regulator)
                return
            action = receivables.unfreeze if frozen else receivables.freeze
            self.applied(action(rid, sender=regulator))
            self.set(rid, frozen=not frozen)

        @precondition(lambda self: self.ids(Status.ACTIVE, False))
        @rule(data=st.data())
        def settle(self, data):
            """The clearing pays a leaf at maturity (through the ledger entry point)."""
            rid = data.draw(st.sampled_from(self.ids(Status.ACTIVE, False)))
            node = self.model[rid]
            tx = self.applied(receivables.settle(rid, sender=ledger))
            assert tx.return_value == (node.holder, node.amount, node.root)
            self.set(rid, status=Status.SETTLED)
            self.settled[node.root] = self.settled.get(node.root, 0) + node.amount
            root = self.model[node.root]
            if node.root != rid and self.settled[node.root] == root.amount:
                self.set(node.root, status=Status.SETTLED)

        # --------------------------------------------------------- invariants

        def leaves(self, rid):
            node = self.model[rid]
            if not node.children:
                return [rid]
            return [leaf for child in node.children for leaf in self.leaves(child)]

        @invariant()
        def consistent(self):
            # One invariant, so the order is fixed: the chain checks use `touched`.
            self.events_rebuild_model()
            self.conserves_amounts()
            self.matches_chain()
            self.keys_are_unique()

        def matches_chain(self):
            self.step += 1
            others = sorted(set(self.model) - self.touched)
            rotation = {others[self.step * 7 % len(others)]} if others else set()
            for rid in sorted(self.touched | rotation):
                expected = self.model[rid]
                r = receivables.receivable(rid)
                actual = (
                    r.parentId,
                    r.rootId,
                    r.debtor,
                    r.creditor,
                    r.holder,
                    r.amount,
                    r.status,
                    r.frozen,
                    r.firstChildId,
                    r.childCount,
                )
                assert actual == (
                    expected.parent,
                    expected.root,
                    expected.debtor,
                    expected.creditor,
                    expected.holder,
                    expected.amount,
                    expected.status,
                    expected.frozen,
                    expected.first_child,
                    expected.child_count,
                ), rid
            if self.new_keys or any(self.model[rid].parent for rid in self.touched):
                assert receivables.lastId() == self.last_id  # ids were handed out
            roots = {self.model[rid].root for rid in self.touched}
            for root in roots:
                assert receivables.outstanding(root) == self.model[root].amount - self.settled.get(
                    root, 0
                )
            self.touched = set()

        def conserves_amounts(self):
            for rid, node in self.model.items():
                if node.parent:
                    continue
                if node.status in (Status.PENDING, Status.REJECTED, Status.CANCELLED):
                    assert self.leaves(rid) == [rid]
                    continue
                unsettled = sum(
                    self.model[leaf].amount
                    for leaf in self.leaves(rid)
                    if self.model[leaf].status in UNSETTLED
                )
                assert unsettled == node.amount - self.settled.get(rid, 0)
                children = node.children
                if children:
                    assert sum(self.model[c].amount for c in children) == node.amount

        def keys_are_unique(self):
            assert len(set(self.keys.values())) == len(self.keys)
            roots = {rid for rid, n in self.model.items() if not n.parent}
            assert set(self.keys.values()) == roots
            for key in self.new_keys:
                assert receivables.receivableByInvoiceKey(key) == self.keys[key]
            self.new_keys = []

        def events_rebuild_model(self):
            assert self.replayed == self.model
            assert self.replayed_settled == self.settled

    run_state_machine_as_test(
        ReceivableLedger,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
