"""ReceivableRegistry: registration (single and batch), the creditor's answer, split,
transfer, overdue, regulator freezes, the ledger entry points, and DESIGN.md's
receivable invariants (each section names the invariant it checks)."""

import pytest
from eth_abi import encode
from eth_utils import keccak
from statuses import Status, mask

from ledger_app.domain.invoices import invoice_key

pytestmark = pytest.mark.usefixtures("quiet_reverts")  # hundreds of expected reverts

DAY = 86_400
CNY = b"CNY"
AMOUNT = 1_000_000_00
CORE_ENTERPRISE = keccak(text="CORE_ENTERPRISE")
SUPPLIER = keccak(text="SUPPLIER")
FINANCIER = keccak(text="FINANCIER")
REGULATOR = keccak(text="REGULATOR")
ACTIVE_ONLY = mask(Status.ACTIVE)
PENDING_ONLY = mask(Status.PENDING)


def logged(tx):
    """The receipt's events as (name, arguments), in log order."""
    return [(e.event_name, dict(e.event_arguments)) for e in tx.events]


def status_changed(rid, before, after, actor):
    return (
        "ReceivableStatusChanged",
        {"id": rid, "from": before, "to": after, "actor": actor.address},
    )


@pytest.fixture
def row(supplier, chain, invoice_refs):
    """One IReceivableRegistry.Registration tuple; keywords override fields."""

    def _row(**overrides):
        fields = {
            "creditor": supplier.address,
            "amount": AMOUNT,
            "currency": CNY,
            "dueDate": chain.pending_timestamp + 90 * DAY,
            "invoiceRef": invoice_refs(),
            "documentHash": keccak(text="invoice, purchase order, delivery note"),
            "lateInterestBps": 0,
        }
        fields.update(overrides)
        return tuple(fields.values())

    return _row


@pytest.fixture
def key(invoice_key_of):
    """The invoice key the registry derives for a registration tuple."""
    return lambda registration: invoice_key_of(registration[0], registration[4])


@pytest.fixture
def second_debtor(participants, operator, outsider, chain):
    """Another core enterprise (the never-onboarded account, onboarded now)."""
    participants.onboard(
        outsider,
        keccak(text="LEI-second-core"),
        b"CN",
        chain.pending_timestamp + 365 * DAY,
        [CORE_ENTERPRISE],
        sender=operator,
    )
    return outsider


# ------------------------------------------------------------------- registration


def test_register_records_pending_root_and_emits_events(
    receivables, core, supplier, row, key, chain
):
    registration = row(amount=123_45)
    tx = receivables.register(registration, sender=core)
    rid = tx.return_value
    assert rid == receivables.lastId() == 1

    r = receivables.receivable(rid)
    _, amount, currency, due_date, _, document_hash, _ = registration
    invoice_key = key(registration)
    assert (r.id, r.parentId, r.rootId) == (rid, 0, rid)
    assert (r.debtor, r.creditor, r.holder) == (core.address, supplier.address, supplier.address)
    assert (r.amount, r.currency, r.dueDate) == (amount, currency, due_date)
    assert (r.invoiceKey, r.documentHash) == (invoice_key, document_hash)
    assert r.issueDate == chain.blocks[tx.block_number].timestamp
    assert (r.status, r.frozen, r.childCount) == (Status.PENDING, False, 0)
    assert receivables.receivableByInvoiceKey(invoice_key) == rid
    assert receivables.outstanding(rid) == amount

    assert logged(tx) == [
        (
            "ReceivableRegistered",
            {
                "id": rid,
                "debtor": core.address,
                "creditor": supplier.address,
                "amount": amount,
                "currency": currency,
                "dueDate": due_date,
                "invoiceKey": invoice_key,
                "documentHash": document_hash,
                "lateInterestBps": 0,
            },
        ),
        status_changed(rid, Status.NONE, Status.PENDING, core),
    ]


def test_receivable_refuses_unknown_id(reverts, receivables):
    with reverts(receivables.ReceivableUnknown, id=1):
        receivables.receivable(1)


# Invariant 2: an invoice key is registered at most once, for ever, ledger-wide.


def test_register_refuses_duplicate_invoice_key(reverts, receivables, core, row, key):
    first = row()
    rid = receivables.register(first, sender=core).return_value
    again = row(invoiceRef=first[4], amount=1)
    with reverts(receivables.ReceivableDuplicateInvoice, invoiceKey=key(first), existingId=rid):
        receivables.register(again, sender=core)
    assert receivables.lastId() == rid


@pytest.mark.parametrize("answer", ["reject", "cancel"])
def test_register_refuses_invoice_key_of_withdrawn_receivable(
    reverts, receivables, core, supplier, row, key, answer
):
    first = row()
    rid = receivables.register(first, sender=core).return_value
    if answer == "reject":
        receivables.reject(rid, sender=supplier)
    else:
        receivables.cancel(rid, sender=core)
    with reverts(receivables.ReceivableDuplicateInvoice, invoiceKey=key(first), existingId=rid):
        receivables.register(first, sender=core)


def test_register_refuses_invoice_key_of_another_debtor(
    reverts, receivables, core, second_debtor, row, key
):
    first = row()
    rid = receivables.register(first, sender=core).return_value
    with reverts(receivables.ReceivableDuplicateInvoice, invoiceKey=key(first), existingId=rid):
        receivables.register(first, sender=second_debtor)


def test_register_refuses_invoice_key_of_split_receivable(
    reverts, receivables, core, supplier, row, key
):
    first = row()
    rid = receivables.register(first, sender=core).return_value
    receivables.confirm(rid, sender=supplier)
    receivables.split(rid, [AMOUNT // 2, AMOUNT // 2], sender=supplier)
    with reverts(receivables.ReceivableDuplicateInvoice, invoiceKey=key(first), existingId=rid):
        receivables.register(first, sender=core)


# Issue 17: the invoice key binds the invoice to the creditor's LEI, so a debtor can use up
# (register, then cancel) only invoice numbers of the creditor it names.


def test_register_squat_through_shell_creditor_leaves_victims_invoice_free(
    receivables, core, supplier, supplier2, second_debtor, row, key
):
    # The victim is `supplier`; `supplier2` plays the core's own shell supplier, named
    # as the creditor of the victim's next invoice number.
    squatted = row(creditor=supplier2.address)
    rid = receivables.register(squatted, sender=core).return_value
    receivables.cancel(rid, sender=core)  # burnt for ever, but only for the shell

    victims = row(creditor=supplier.address, invoiceRef=squatted[4])
    real = receivables.register(victims, sender=second_debtor).return_value
    assert key(victims) != key(squatted)
    assert receivables.receivable(real).invoiceKey == key(victims)
    assert receivables.receivableByInvoiceKey(key(squatted)) == rid


def test_invoice_key_of_equals_domain_derivation(receivables, participants, core, supplier, row):
    registration = row()
    rid = receivables.register(registration, sender=core).return_value
    lei = bytes(participants.leiOf(supplier))
    ref = registration[4]
    derived = invoice_key(lei, ref)
    assert derived == keccak(encode(["bytes32", "bytes32"], [lei, ref]))
    assert receivables.invoiceKeyOf(supplier, ref) == derived
    assert receivables.receivable(rid).invoiceKey == derived


def invalid_registrations(core, financier, outsider, chain):
    """(overrides, expected error name, its arguments, whose ABI holds it)."""
    now = chain.pending_timestamp
    return {
        "zero_amount": ({"amount": 0}, "ReceivableInvalidAmount", {"amount": 0}, "receivables"),
        "due_now": (
            {"dueDate": now - 1},
            "ReceivableInvalidDueDate",
            {"dueDate": now - 1},
            "receivables",
        ),
        "currency_not_listed": (
            {"currency": b"EUR"},
            "ReceivableUnknownCurrency",
            {"currency": b"EUR"},
            "receivables",
        ),
        "zero_invoice_ref": (
            {"invoiceRef": b"\x00" * 32},
            "ReceivableInvalidInvoiceRef",
            {},
            "receivables",
        ),
        "debtor_as_creditor": (
            {"creditor": core.address},
            "ReceivableSelfDealing",
            {"account": core.address},
            "receivables",
        ),
        "creditor_not_supplier": (
            {"creditor": financier.address},
            "RegistryMissingRole",
            {"account": financier.address, "role": SUPPLIER},
            "participants",
        ),
        "creditor_not_onboarded": (
            {"creditor": outsider.address},
            "RegistryUnknownParticipant",
            {"account": outsider.address},
            "participants",
        ),
    }


INVALID_REGISTRATIONS = [
    "zero_amount",
    "due_now",
    "currency_not_listed",
    "zero_invoice_ref",
    "debtor_as_creditor",
    "creditor_not_supplier",
    "creditor_not_onboarded",
]


@pytest.mark.parametrize("case", INVALID_REGISTRATIONS)
def test_register_refuses_invalid_registration(
    request, reverts, receivables, core, financier, outsider, row, chain, case
):
    overrides, error, arguments, source = invalid_registrations(core, financier, outsider, chain)[
        case
    ]
    contract = request.getfixturevalue(source)
    with reverts(getattr(contract, error), **arguments):
        receivables.register(row(**overrides), sender=core)
    assert receivables.lastId() == 0


@pytest.mark.parametrize("standing", ["suspended", "kyc_expired", "frozen"])
def test_register_refuses_creditor_in_bad_standing(
    reverts, receivables, core, supplier, row, deactivate, standing
):
    error, arguments = deactivate(supplier, standing)
    with reverts(error, **arguments):
        receivables.register(row(), sender=core)


# ---------------------------------------------------------------- batch registration


def test_register_batch_assigns_consecutive_ids(receivables, core, supplier, supplier2, row, key):
    receivables.register(row(), sender=core)
    rows = [
        row(creditor=(supplier if i % 2 else supplier2).address, amount=i + 1) for i in range(5)
    ]
    tx = receivables.registerBatch(rows, sender=core)
    assert tx.return_value == 2
    assert receivables.lastId() == 6
    expected = []
    for i, registration in enumerate(rows):
        rid = 2 + i
        r = receivables.receivable(rid)
        assert (r.rootId, r.debtor, r.creditor, r.amount) == (rid, core.address, *registration[:2])
        assert r.status == Status.PENDING
        assert receivables.receivableByInvoiceKey(key(registration)) == rid
        expected += ["ReceivableRegistered", "ReceivableStatusChanged"]
    assert [name for name, _ in logged(tx)] == expected
    assert [e.id for e in tx.events] == [rid for rid in range(2, 7) for _ in (0, 1)]


def bad_rows(row, existing_key, financier):
    """A batch of five with one bad row at a different place, by kind of fault."""
    rows = [row() for _ in range(5)]
    return {
        "zero_amount_last": ([*rows[:4], row(amount=0)], "ReceivableInvalidAmount"),
        "registered_key_middle": (
            [*rows[:2], row(invoiceRef=existing_key), *rows[2:4]],
            "ReceivableDuplicateInvoice",
        ),
        "repeated_key_within_batch": (
            [*rows[:4], row(invoiceRef=rows[1][4])],
            "ReceivableDuplicateInvoice",
        ),
        "creditor_not_supplier_first": (
            [row(creditor=financier.address), *rows[1:]],
            "RegistryMissingRole",
        ),
    }


@pytest.mark.parametrize(
    "fault",
    [
        "zero_amount_last",
        "registered_key_middle",
        "repeated_key_within_batch",
        "creditor_not_supplier_first",
    ],
)
def test_register_batch_writes_nothing_when_one_row_is_bad(
    reverts, receivables, participants, core, financier, row, key, fault
):
    existing = row()
    receivables.register(existing, sender=core)
    rows, error = bad_rows(row, existing[4], financier)[fault]
    contract = participants if error.startswith("Registry") else receivables
    with reverts(getattr(contract, error)):
        receivables.registerBatch(rows, sender=core)
    assert receivables.lastId() == 1
    good = [r for r in rows if r[1] and r[4] != existing[4] and r[0] != financier.address]
    good = list({r[4]: r for r in good}.values())  # drop the in-batch repeat
    for registration in good:
        assert receivables.receivableByInvoiceKey(key(registration)) == 0
    # The keys of the good rows were not used up: the same rows go through alone.
    receivables.registerBatch(good, sender=core)
    assert receivables.lastId() == 1 + len(good)


def test_register_batch_reports_duplicate_within_batch(reverts, receivables, core, row, key):
    rows = [row(), row(), row()]
    rows[2] = row(invoiceRef=rows[0][4])
    with reverts(receivables.ReceivableDuplicateInvoice, invoiceKey=key(rows[0]), existingId=1):
        receivables.registerBatch(rows, sender=core)


@pytest.mark.parametrize("size", [0, "max+1"])
def test_register_batch_refuses_size_outside_bounds(reverts, receivables, core, row, size):
    maximum = receivables.MAX_BATCH()
    count = maximum + 1 if size == "max+1" else 0
    rows = [row() for _ in range(count)]
    with reverts(receivables.ReceivableBatchSize, size=count, maxSize=maximum):
        receivables.registerBatch(rows, sender=core)


def test_register_batch_of_max_size_fits_in_a_block(receivables, core, row, chain):
    maximum = receivables.MAX_BATCH()
    tx = receivables.registerBatch([row() for _ in range(maximum)], sender=core)
    assert receivables.lastId() == maximum
    assert tx.gas_used < chain.blocks.head.gas_limit


# ------------------------------------------------------- the creditor's answer


@pytest.mark.parametrize(
    ("answer", "status"),
    [("confirm", Status.ACTIVE), ("reject", Status.REJECTED), ("cancel", Status.CANCELLED)],
)
def test_answer_moves_pending_receivable_and_emits_event(
    receivables, register, core, supplier, answer, status
):
    rid = register()
    actor = core if answer == "cancel" else supplier
    tx = getattr(receivables, answer)(rid, sender=actor)
    assert logged(tx) == [status_changed(rid, Status.PENDING, status, actor)]
    r = receivables.receivable(rid)
    assert (r.status, r.holder) == (status, supplier.address)


@pytest.mark.parametrize("first", ["confirm", "reject", "cancel"])
@pytest.mark.parametrize("second", ["confirm", "reject", "cancel"])
def test_answer_refuses_receivable_no_longer_pending(
    reverts, receivables, register, core, supplier, first, second
):
    rid = register()
    getattr(receivables, first)(rid, sender=core if first == "cancel" else supplier)
    status = receivables.receivable(rid).status
    with reverts(
        receivables.ReceivableInvalidStatus, id=rid, current=status, allowedStatusMask=PENDING_ONLY
    ):
        getattr(receivables, second)(rid, sender=core if second == "cancel" else supplier)


def test_confirm_refuses_creditor_who_lost_supplier_role(
    reverts, receivables, participants, operator, register, supplier
):
    rid = register()
    participants.revokeRole(SUPPLIER, supplier, sender=operator)
    with reverts(participants.RegistryMissingRole, account=supplier, role=SUPPLIER):
        receivables.confirm(rid, sender=supplier)


# ------------------------------------------------------------------------ split
# Invariant 1: children sum exactly to the parent and inherit debtor, currency,
# due date and root; the parent changes no more.


def test_split_creates_children_that_sum_to_parent_and_inherit_terms(
    receivables, active_receivable, core, supplier
):
    rid = active_receivable()
    parent = receivables.receivable(rid)
    amounts = [AMOUNT - 300_00 - 1, 300_00, 1]
    tx = receivables.split(rid, amounts, sender=supplier)
    first = tx.return_value
    assert first == rid + 1 == receivables.lastId() - 2

    assert logged(tx) == [
        status_changed(rid, Status.ACTIVE, Status.SPLIT, supplier),
        (
            "ReceivableSplit",
            {
                "parentId": rid,
                "holder": supplier.address,
                "firstChildId": first,
                "amounts": amounts,
            },
        ),
    ]
    split = receivables.receivable(rid)
    assert (split.status, split.amount, split.holder) == (Status.SPLIT, AMOUNT, supplier.address)
    assert (split.firstChildId, split.childCount) == (first, 3)
    assert receivables.children(rid) == [first, first + 1, first + 2]

    inherited = ("debtor", "creditor", "currency", "dueDate", "issueDate", "invoiceKey")
    for offset, amount in enumerate(amounts):
        child = receivables.receivable(first + offset)
        assert (child.parentId, child.rootId, child.amount) == (rid, rid, amount)
        assert (child.holder, child.status, child.frozen) == (
            supplier.address,
            Status.ACTIVE,
            False,
        )
        assert {f: getattr(child, f) for f in inherited} == {
            f: getattr(parent, f) for f in inherited
        }
        assert child.debtor == core.address
    assert sum(receivables.receivable(c).amount for c in receivables.children(rid)) == AMOUNT
    assert receivables.outstanding(rid) == AMOUNT


def test_split_of_child_by_new_holder_keeps_root_and_terms(
    receivables, active_receivable, supplier, supplier2, financier
):
    rid = active_receivable()
    first = receivables.split(rid, [600_000_00, 400_000_00], sender=supplier).return_value
    receivables.transfer(first, supplier2, sender=supplier)
    grand = receivables.split(first, [100_000_00] * 6, sender=supplier2).return_value
    receivables.transfer(grand, financier, sender=supplier2)
    great = receivables.split(grand, [50_000_00, 50_000_00], sender=financier).return_value

    root = receivables.receivable(rid)
    for cid, parent, holder, amount in [
        (grand + 1, first, supplier2, 100_000_00),
        (grand + 5, first, supplier2, 100_000_00),
        (great, grand, financier, 50_000_00),
        (great + 1, grand, financier, 50_000_00),
    ]:
        child = receivables.receivable(cid)
        assert (child.rootId, child.parentId, child.amount) == (rid, parent, amount)
        assert child.holder == holder.address
        assert (child.debtor, child.creditor) == (root.debtor, root.creditor)
        assert (child.currency, child.dueDate) == (root.currency, root.dueDate)
    assert receivables.outstanding(rid) == AMOUNT


def parent_actions(receivables, ledger, regulator, supplier, supplier2):
    return {
        "freeze": lambda rid: receivables.freeze(rid, sender=regulator),
        "split": lambda rid: receivables.split(rid, [AMOUNT // 2] * 2, sender=supplier),
        "transfer": lambda rid: receivables.transfer(rid, supplier2, sender=supplier),
        "lockForFinancing": lambda rid: receivables.lockForFinancing(rid, supplier, sender=ledger),
        "markOverdue": lambda rid: receivables.markOverdue(rid, sender=supplier),
        "settle": lambda rid: receivables.settle(rid, sender=ledger),
        "markDefaulted": lambda rid: receivables.markDefaulted(rid, sender=ledger),
        "confirm": lambda rid: receivables.confirm(rid, sender=supplier),
    }


@pytest.mark.parametrize(
    "action",
    [
        "split",
        "transfer",
        "lockForFinancing",
        "markOverdue",
        "settle",
        "markDefaulted",
        "confirm",
        "freeze",
    ],
)
def test_split_parent_changes_no_more(
    reverts, receivables, active_receivable, ledger, regulator, supplier, supplier2, chain, action
):
    rid = active_receivable(dueDate=chain.pending_timestamp + 1_000)
    receivables.split(rid, [AMOUNT // 2] * 2, sender=supplier)
    chain.mine(deltatime=2_000)  # past due, so only the status can refuse markOverdue
    before = receivables.receivable(rid)
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=Status.SPLIT):
        parent_actions(receivables, ledger, regulator, supplier, supplier2)[action](rid)
    assert receivables.receivable(rid) == before


@pytest.mark.parametrize(
    ("amounts", "total"),
    [
        ([AMOUNT // 2, AMOUNT // 2 - 1], AMOUNT - 1),
        ([AMOUNT // 2, AMOUNT // 2 + 1], AMOUNT + 1),
        ([AMOUNT], AMOUNT),
        ([], 0),
    ],
    ids=["short_by_one", "over_by_one", "single_part", "no_parts"],
)
def test_split_refuses_parts_not_summing_to_parent(
    reverts, receivables, active_receivable, supplier, amounts, total
):
    rid = active_receivable()
    with reverts(
        receivables.ReceivableInvalidSplit, id=rid, parts=len(amounts), sum=total, amount=AMOUNT
    ):
        receivables.split(rid, amounts, sender=supplier)
    assert receivables.receivable(rid).status == Status.ACTIVE


def test_split_refuses_zero_part(reverts, receivables, active_receivable, supplier):
    rid = active_receivable()
    with reverts(receivables.ReceivableInvalidAmount, amount=0):
        receivables.split(rid, [AMOUNT, 0], sender=supplier)


def test_split_refuses_more_than_max_parts(reverts, receivables, active_receivable, supplier):
    parts = receivables.MAX_SPLIT() + 1
    rid = active_receivable(amount=parts * 100)
    with reverts(receivables.ReceivableInvalidSplit, id=rid, parts=parts, sum=parts * 100):
        receivables.split(rid, [100] * parts, sender=supplier)


def test_split_into_max_parts_succeeds(receivables, active_receivable, supplier):
    parts = receivables.MAX_SPLIT()
    rid = active_receivable(amount=parts * 100)
    first = receivables.split(rid, [100] * parts, sender=supplier).return_value
    assert receivables.receivable(first + parts - 1).amount == 100
    assert receivables.receivable(first + parts - 1).parentId == rid


def test_split_refuses_pending_receivable(reverts, receivables, register, supplier):
    rid = register()
    with reverts(
        receivables.ReceivableInvalidStatus,
        id=rid,
        current=Status.PENDING,
        allowedStatusMask=ACTIVE_ONLY,
    ):
        receivables.split(rid, [AMOUNT // 2] * 2, sender=supplier)


# --------------------------------------------------------------------- transfer


def test_transfer_changes_holder_and_emits_event(
    reverts, receivables, active_receivable, supplier, supplier2, financier
):
    rid = active_receivable()
    tx = receivables.transfer(rid, supplier2, sender=supplier)
    assert logged(tx) == [
        (
            "ReceivableTransferred",
            {
                "id": rid,
                "from": supplier.address,
                "to": supplier2.address,
                "actor": supplier.address,
            },
        )
    ]
    r = receivables.receivable(rid)
    assert (r.holder, r.status, r.creditor) == (supplier2.address, Status.ACTIVE, supplier.address)

    with reverts(receivables.ReceivableNotHolder, id=rid, account=supplier, holder=supplier2):
        receivables.transfer(rid, financier, sender=supplier)
    receivables.transfer(rid, financier, sender=supplier2)
    assert receivables.receivable(rid).holder == financier.address


def test_transfer_refuses_holder_as_recipient(reverts, receivables, active_receivable, supplier):
    rid = active_receivable()
    with reverts(receivables.ReceivableSelfDealing, account=supplier):
        receivables.transfer(rid, supplier, sender=supplier)


@pytest.mark.parametrize(
    ("recipient", "error"),
    [
        ("core", "RegistryMissingRole"),
        ("bank", "RegistryMissingRole"),
        ("regulator", "RegistryMissingRole"),
        ("outsider", "RegistryUnknownParticipant"),
        ("operator", "RegistryUnknownParticipant"),
    ],
)
def test_transfer_refuses_recipient_neither_supplier_nor_financier(
    request, reverts, receivables, participants, active_receivable, supplier, recipient, error
):
    rid = active_receivable()
    account = request.getfixturevalue(recipient)
    with reverts(getattr(participants, error), account=account):
        receivables.transfer(rid, account, sender=supplier)
    assert receivables.receivable(rid).holder == supplier.address


@pytest.mark.parametrize("standing", ["suspended", "kyc_expired", "frozen"])
def test_transfer_refuses_recipient_in_bad_standing(
    reverts, receivables, active_receivable, supplier, supplier2, deactivate, standing
):
    rid = active_receivable()
    error, arguments = deactivate(supplier2, standing)
    with reverts(error, **arguments):
        receivables.transfer(rid, supplier2, sender=supplier)


def test_transfer_refuses_pending_receivable(reverts, receivables, register, supplier, supplier2):
    rid = register()
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=Status.PENDING):
        receivables.transfer(rid, supplier2, sender=supplier)


# ---------------------------------------------------------------------- overdue


def test_mark_overdue_refuses_before_due_date(reverts, receivables, active_receivable, supplier):
    rid = active_receivable()
    due = receivables.receivable(rid).dueDate
    with reverts(receivables.ReceivableNotDue, id=rid, dueDate=due):
        receivables.markOverdue(rid, sender=supplier)


@pytest.mark.parametrize("status", [Status.ACTIVE, Status.FINANCED])
def test_mark_overdue_after_due_date_emits_event(
    receivables, active_receivable, ledger, supplier, financier, chain, status
):
    rid = active_receivable(dueDate=chain.pending_timestamp + 1_000)
    if status == Status.FINANCED:
        receivables.lockForFinancing(rid, supplier, sender=ledger)
        receivables.completeFinancing(rid, financier, sender=ledger)
    chain.mine(deltatime=1_001)
    tx = receivables.markOverdue(rid, sender=financier)
    assert logged(tx) == [status_changed(rid, status, Status.OVERDUE, financier)]
    assert receivables.receivable(rid).status == Status.OVERDUE


def test_mark_overdue_refuses_pending_receivable(reverts, receivables, register, supplier, chain):
    rid = register(dueDate=chain.pending_timestamp + 1_000)
    chain.mine(deltatime=2_000)
    with reverts(
        receivables.ReceivableInvalidStatus,
        id=rid,
        current=Status.PENDING,
        allowedStatusMask=mask(Status.ACTIVE, Status.FINANCED),
    ):
        receivables.markOverdue(rid, sender=supplier)


# ------------------------------------------------------------- regulator freeze


def test_freeze_then_unfreeze_emit_events_and_keep_status(
    receivables, active_receivable, regulator, supplier, supplier2
):
    rid = active_receivable()
    tx = receivables.freeze(rid, sender=regulator)
    assert logged(tx) == [("ReceivableFrozen", {"id": rid, "regulator": regulator.address})]
    r = receivables.receivable(rid)
    assert (r.frozen, r.status) == (True, Status.ACTIVE)

    tx = receivables.unfreeze(rid, sender=regulator)
    assert logged(tx) == [("ReceivableUnfrozen", {"id": rid, "regulator": regulator.address})]
    assert not receivables.receivable(rid).frozen
    receivables.transfer(rid, supplier2, sender=supplier)  # moves again


def test_freeze_refuses_frozen_receivable(reverts, receivables, active_receivable, regulator):
    rid = active_receivable()
    receivables.freeze(rid, sender=regulator)
    with reverts(receivables.ReceivableFrozenError, id=rid):
        receivables.freeze(rid, sender=regulator)


def test_unfreeze_refuses_receivable_not_frozen(reverts, receivables, active_receivable, regulator):
    rid = active_receivable()
    with reverts(receivables.ReceivableNotFrozen, id=rid):
        receivables.unfreeze(rid, sender=regulator)


@pytest.mark.parametrize("action", ["freeze", "unfreeze"])
def test_freeze_refuses_unknown_receivable(reverts, receivables, regulator, action):
    with reverts(receivables.ReceivableUnknown, id=7):
        getattr(receivables, action)(7, sender=regulator)


# ------------------------------------------------------------ ledger entry points


def test_lock_for_financing_returns_summary_and_emits_event(
    receivables, active_receivable, ledger, core, supplier
):
    rid = active_receivable()
    tx = receivables.lockForFinancing(rid, supplier, sender=ledger)
    assert logged(tx) == [status_changed(rid, Status.ACTIVE, Status.FINANCING, supplier)]
    summary = tx.return_value
    r = receivables.receivable(rid)
    assert (summary.holder, summary.status, summary.amount) == (
        supplier.address,
        Status.FINANCING,
        AMOUNT,
    )
    assert (summary.rootId, summary.debtor, summary.currency) == (rid, core.address, CNY)
    assert summary.dueDate == r.dueDate
    assert receivables.summary(rid) == summary


def test_lock_for_financing_refuses_requester_not_holder(
    reverts, receivables, active_receivable, ledger, supplier, supplier2
):
    """Invariant 3: only the holder asks for financing."""
    rid = active_receivable()
    with reverts(receivables.ReceivableNotHolder, id=rid, account=supplier2, holder=supplier):
        receivables.lockForFinancing(rid, supplier2, sender=ledger)


def test_release_from_financing_reactivates_receivable(
    reverts, receivables, active_receivable, ledger, supplier, supplier2, desk
):
    rid = active_receivable()
    receivables.lockForFinancing(rid, supplier, sender=ledger)
    tx = receivables.releaseFromFinancing(rid, sender=ledger)
    assert logged(tx) == [status_changed(rid, Status.FINANCING, Status.ACTIVE, desk)]
    receivables.transfer(rid, supplier2, sender=supplier)
    with reverts(
        receivables.ReceivableInvalidStatus,
        id=rid,
        current=Status.ACTIVE,
        allowedStatusMask=mask(Status.FINANCING),
    ):
        receivables.releaseFromFinancing(rid, sender=ledger)


def test_complete_financing_makes_financier_holder(
    reverts, receivables, active_receivable, ledger, supplier, financier, desk
):
    rid = active_receivable()
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=Status.ACTIVE):
        receivables.completeFinancing(rid, financier, sender=ledger)
    receivables.lockForFinancing(rid, supplier, sender=ledger)
    tx = receivables.completeFinancing(rid, financier, sender=ledger)
    assert logged(tx) == [
        status_changed(rid, Status.FINANCING, Status.FINANCED, desk),
        (
            "ReceivableTransferred",
            {"id": rid, "from": supplier.address, "to": financier.address, "actor": desk.address},
        ),
    ]
    r = receivables.receivable(rid)
    assert (r.holder, r.status) == (financier.address, Status.FINANCED)


@pytest.mark.parametrize("before", [Status.FINANCED, Status.OVERDUE])
def test_mark_defaulted_from_financed_or_overdue(
    receivables, active_receivable, ledger, supplier, financier, desk, chain, before
):
    rid = active_receivable(dueDate=chain.pending_timestamp + 1_000)
    receivables.lockForFinancing(rid, supplier, sender=ledger)
    receivables.completeFinancing(rid, financier, sender=ledger)
    if before == Status.OVERDUE:
        chain.mine(deltatime=2_000)
        receivables.markOverdue(rid, sender=financier)
    tx = receivables.markDefaulted(rid, sender=ledger)
    assert logged(tx) == [status_changed(rid, before, Status.DEFAULTED, desk)]


def test_mark_defaulted_refuses_active_receivable(reverts, receivables, active_receivable, ledger):
    rid = active_receivable()
    with reverts(
        receivables.ReceivableInvalidStatus,
        id=rid,
        current=Status.ACTIVE,
        allowedStatusMask=mask(Status.FINANCED, Status.OVERDUE),
    ):
        receivables.markDefaulted(rid, sender=ledger)


def test_settle_unsplit_root_pays_holder_and_settles_it(
    receivables, active_receivable, ledger, supplier, desk
):
    rid = active_receivable()
    tx = receivables.settle(rid, sender=ledger)
    assert tx.return_value == (supplier.address, AMOUNT, rid)
    assert logged(tx) == [
        status_changed(rid, Status.ACTIVE, Status.SETTLED, desk),
        (
            "ReceivableSettled",
            {
                "id": rid,
                "rootId": rid,
                "holder": supplier.address,
                "amount": AMOUNT,
                "outstanding": 0,
            },
        ),
    ]
    assert receivables.outstanding(rid) == 0
    assert receivables.receivable(rid).status == Status.SETTLED


@pytest.mark.parametrize("status", [Status.PENDING, Status.SETTLED, Status.REJECTED])
def test_settle_refuses_receivable_not_payable(
    reverts, receivables, register, ledger, supplier, status
):
    rid = register()
    if status == Status.SETTLED:
        receivables.confirm(rid, sender=supplier)
        receivables.settle(rid, sender=ledger)
    elif status == Status.REJECTED:
        receivables.reject(rid, sender=supplier)
    with reverts(receivables.ReceivableInvalidStatus, id=rid, current=status):
        receivables.settle(rid, sender=ledger)


# Invariant 5: outstanding of a root = root amount - amount settled, at every block.


def test_outstanding_falls_by_each_settled_leaf_until_root_settles(
    receivables, active_receivable, ledger, supplier, supplier2, financier, desk
):
    rid = active_receivable()
    first = receivables.split(
        rid, [500_000_00, 300_000_00, 200_000_00], sender=supplier
    ).return_value
    grand = receivables.split(first, [250_000_00, 250_000_00], sender=supplier).return_value
    receivables.transfer(first + 1, supplier2, sender=supplier)
    receivables.lockForFinancing(first + 2, supplier, sender=ledger)
    receivables.completeFinancing(first + 2, financier, sender=ledger)

    settled = 0
    leaves = [
        (first + 1, supplier2),
        (grand, supplier),
        (first + 2, financier),
        (grand + 1, supplier),
    ]
    for position, (leaf, holder) in enumerate(leaves):
        amount = receivables.receivable(leaf).amount
        tx = receivables.settle(leaf, sender=ledger)
        settled += amount
        assert tx.return_value == (holder.address, amount, rid)
        event = next(e for e in tx.events if e.event_name == "ReceivableSettled")
        assert (event.id, event.rootId, event.holder, event.amount) == (
            leaf,
            rid,
            holder.address,
            amount,
        )
        assert event.outstanding == AMOUNT - settled == receivables.outstanding(rid)
        last = position == len(leaves) - 1
        root_changes = [
            e for e in tx.events if e.event_name == "ReceivableStatusChanged" and e.id == rid
        ]
        assert [(e["from"], e.to, e.actor) for e in root_changes] == (
            [(Status.SPLIT, Status.SETTLED, desk.address)] if last else []
        )
    assert receivables.receivable(rid).status == Status.SETTLED
    assert receivables.outstanding(rid) == 0


# Invariant 4: under financing, frozen, settled or defaulted: no split, transfer or
# financing again.


def put_in_state(state, receivables, rid, ledger, regulator, supplier, financier, chain):
    """Drives active receivable `rid` into `state`; returns who holds it then."""
    if state == "frozen":
        receivables.freeze(rid, sender=regulator)
        return supplier
    if state == "financing":
        receivables.lockForFinancing(rid, supplier, sender=ledger)
        return supplier
    if state == "settled":
        receivables.settle(rid, sender=ledger)
        return supplier
    if state == "overdue":
        chain.mine(deltatime=200 * DAY)
        receivables.markOverdue(rid, sender=supplier)
        return supplier
    receivables.lockForFinancing(rid, supplier, sender=ledger)
    receivables.completeFinancing(rid, financier, sender=ledger)
    if state == "defaulted":
        receivables.markDefaulted(rid, sender=ledger)
    return financier


STUCK_STATES = {
    "financing": Status.FINANCING,
    "frozen": None,
    "settled": Status.SETTLED,
    "defaulted": Status.DEFAULTED,
    "financed": Status.FINANCED,
    "overdue": Status.OVERDUE,
}


@pytest.mark.parametrize("action", ["split", "transfer", "finance"])
@pytest.mark.parametrize("state", list(STUCK_STATES))
def test_receivable_out_of_active_refuses_split_transfer_and_financing(
    reverts,
    receivables,
    active_receivable,
    ledger,
    regulator,
    supplier,
    supplier2,
    financier,
    financier2,
    chain,
    state,
    action,
):
    rid = active_receivable()
    holder = put_in_state(state, receivables, rid, ledger, regulator, supplier, financier, chain)
    before = receivables.receivable(rid)
    status = STUCK_STATES[state]
    if status is None:
        expected = {"error": receivables.ReceivableFrozenError, "id": rid}
    else:
        expected = {
            "error": receivables.ReceivableInvalidStatus,
            "id": rid,
            "current": status,
            "allowedStatusMask": ACTIVE_ONLY,
        }
    error = expected.pop("error")
    recipient = financier2 if holder == supplier else supplier2
    with reverts(error, **expected):
        if action == "split":
            receivables.split(rid, [AMOUNT // 2] * 2, sender=holder)
        elif action == "transfer":
            receivables.transfer(rid, recipient, sender=holder)
        else:
            receivables.lockForFinancing(rid, holder, sender=ledger)
    assert receivables.receivable(rid) == before


def test_financing_request_at_desk_locks_receivable(
    reverts, receivables, desk, active_receivable, supplier, supplier2, financier
):
    """Through the real financing desk: a requested receivable can be neither split,
    transferred nor requested again until the request closes."""
    rid = active_receivable()
    tx = desk.request(rid, financier, sender=supplier)
    assert status_changed(rid, Status.ACTIVE, Status.FINANCING, supplier) in logged(tx)
    locked = {"id": rid, "current": Status.FINANCING, "allowedStatusMask": ACTIVE_ONLY}
    with reverts(receivables.ReceivableInvalidStatus, **locked):
        receivables.split(rid, [AMOUNT // 2] * 2, sender=supplier)
    with reverts(receivables.ReceivableInvalidStatus, **locked):
        receivables.transfer(rid, supplier2, sender=supplier)
    with reverts(receivables.ReceivableInvalidStatus, **locked):
        desk.request(rid, financier, sender=supplier)


# Invariant 6: the event log alone reconstructs every receivable.


def replay(receipts):
    """Rebuilds {id: fields} from the registry's events alone."""
    ledger = {}
    for tx in receipts:
        for e in tx.events:
            name = e.event_name
            if name == "ReceivableRegistered":
                ledger[e.id] = {
                    "rootId": e.id,
                    "parentId": 0,
                    "holder": e.creditor,
                    "amount": e.amount,
                    "status": Status.NONE,
                    "frozen": False,
                }
            elif name == "ReceivableStatusChanged":
                assert ledger[e.id]["status"] == e["from"]
                ledger[e.id]["status"] = e.to
            elif name == "ReceivableSplit":
                parent = ledger[e.parentId]
                for offset, amount in enumerate(e.amounts):
                    ledger[e.firstChildId + offset] = {
                        "rootId": parent["rootId"],
                        "parentId": e.parentId,
                        "holder": e.holder,
                        "amount": amount,
                        "status": Status.ACTIVE,
                        "frozen": False,
                    }
            elif name == "ReceivableTransferred":
                assert ledger[e.id]["holder"] == e["from"]
                ledger[e.id]["holder"] = e.to
            elif name in ("ReceivableFrozen", "ReceivableUnfrozen"):
                ledger[e.id]["frozen"] = name == "ReceivableFrozen"
    return ledger


def test_event_log_alone_reconstructs_every_receivable(
    receivables, ledger, core, supplier, supplier2, financier, regulator, row
):
    receipts = [
        receivables.register(row(), sender=core),  # 1
        receivables.register(row(), sender=core),  # 2
        receivables.registerBatch([row(), row(), row()], sender=core),  # 3, 4, 5
        receivables.confirm(1, sender=supplier),
        receivables.reject(2, sender=supplier),
        receivables.cancel(3, sender=core),
        receivables.confirm(4, sender=supplier),
        receivables.confirm(5, sender=supplier),
        receivables.split(1, [AMOUNT // 4, AMOUNT // 4 * 3], sender=supplier),  # 6, 7
        receivables.transfer(7, supplier2, sender=supplier),
        receivables.split(7, [AMOUNT // 4] * 3, sender=supplier2),  # 8, 9, 10
        receivables.freeze(8, sender=regulator),
        receivables.freeze(6, sender=regulator),
        receivables.unfreeze(6, sender=regulator),
        receivables.lockForFinancing(6, supplier, sender=ledger),
        receivables.completeFinancing(6, financier, sender=ledger),
        receivables.settle(9, sender=ledger),
        receivables.lockForFinancing(4, supplier, sender=ledger),
        receivables.releaseFromFinancing(4, sender=ledger),
        receivables.settle(5, sender=ledger),
    ]
    rebuilt = replay(receipts)
    assert sorted(rebuilt) == list(range(1, receivables.lastId() + 1))
    for rid, fields in rebuilt.items():
        r = receivables.receivable(rid)
        assert {f: getattr(r, f) for f in fields} == fields, rid


# ------------------------------------------------------------- who may call what
# Invariants 3 and 7: each state-changing function, tried by every account that
# must not call it and by its rightful caller in bad standing.

EVERYONE = [
    "operator",
    "core",
    "supplier",
    "supplier2",
    "financier",
    "financier2",
    "bank",
    "regulator",
    "auditor",
    "outsider",
]
NOT_ONBOARDED = {"operator", "outsider"}

# function -> (rightful caller, what makes it rightful)
CALLERS = {
    "register": ("core", CORE_ENTERPRISE),
    "registerBatch": ("core", CORE_ENTERPRISE),
    "confirm": ("supplier", "creditor"),
    "reject": ("supplier", "creditor"),
    "cancel": ("core", "debtor"),
    "split": ("supplier", "holder"),
    "transfer": ("supplier", "holder"),
    "markOverdue": ("supplier", "participant"),
    "freeze": ("regulator", REGULATOR),
    "unfreeze": ("regulator", REGULATOR),
    "lockForFinancing": ("ledger", "ledger"),
    "releaseFromFinancing": ("ledger", "ledger"),
    "completeFinancing": ("ledger", "ledger"),
    "markDefaulted": ("ledger", "ledger"),
    "markRootRepaid": ("ledger", "ledger"),
    "settle": ("ledger", "ledger"),
}


@pytest.fixture
def prepared(
    receivables,
    register,
    active_receivable,
    row,
    ledger,
    regulator,
    supplier,
    supplier2,
    financier,
    chain,
):
    """prepared(function) -> (receivable id, call(sender)): the state `function` needs
    is set up by the rightful parties, so the call succeeds for its rightful caller."""

    def _prepared(function):
        rid = {"register": None, "registerBatch": None}.get(function, 0)
        if function in ("confirm", "reject", "cancel"):
            rid = register()
        elif function == "markOverdue":
            rid = active_receivable(dueDate=chain.pending_timestamp + 1_000)
            chain.mine(deltatime=2_000)
        elif rid == 0:
            rid = active_receivable()
        if function == "unfreeze":
            receivables.freeze(rid, sender=regulator)
        if function in ("releaseFromFinancing", "completeFinancing", "markDefaulted"):
            receivables.lockForFinancing(rid, supplier, sender=ledger)
        if function == "markDefaulted":
            receivables.completeFinancing(rid, financier, sender=ledger)
        registration = row()
        calls = {
            "register": lambda s: receivables.register(registration, sender=s),
            "registerBatch": lambda s: receivables.registerBatch([registration], sender=s),
            "split": lambda s: receivables.split(rid, [AMOUNT // 2] * 2, sender=s),
            "transfer": lambda s: receivables.transfer(rid, supplier2, sender=s),
            "lockForFinancing": lambda s: receivables.lockForFinancing(rid, supplier, sender=s),
            "completeFinancing": lambda s: receivables.completeFinancing(rid, financier, sender=s),
        }
        call = calls.get(function, lambda s: getattr(receivables, function)(rid, sender=s))
        return rid, call

    return _prepared


def refusal(function, account, rid, receivables, participants, names):
    """The error `function` answers `account` with, when it is not the rightful caller."""
    _, right = CALLERS[function]
    if right == "creditor":
        return receivables.ReceivableNotCreditor, {
            "id": rid,
            "account": account,
            "creditor": names["supplier"],
        }
    if right == "debtor":
        return receivables.ReceivableNotDebtor, {
            "id": rid,
            "account": account,
            "debtor": names["core"],
        }
    if right == "holder":
        return receivables.ReceivableNotHolder, {
            "id": rid,
            "account": account,
            "holder": names["supplier"],
        }
    if right == "ledger":
        return receivables.ReceivableNotLedgerContract, {"caller": account}
    if account.address in {names[n].address for n in NOT_ONBOARDED}:
        return participants.RegistryUnknownParticipant, {"account": account}
    return participants.RegistryMissingRole, {"account": account, "role": right}


def wrong_callers(function):
    rightful, right = CALLERS[function]
    if right == "participant":
        # Any active participant may record an overdue, and the operator (its keeper).
        return sorted(NOT_ONBOARDED - {"operator"})
    return [name for name in EVERYONE if name != rightful]


@pytest.mark.parametrize("function", list(CALLERS))
def test_function_succeeds_for_rightful_caller(request, receivables, prepared, function):
    """The control for the refusals below: the same call by the rightful caller goes through."""
    _rid, call = prepared(function)
    tx = call(request.getfixturevalue(CALLERS[function][0]))
    assert tx.events, function


@pytest.mark.parametrize("function", list(CALLERS))
def test_function_refuses_every_wrong_caller(
    request, reverts, receivables, participants, prepared, function
):
    """One setup per function, then every account that must not call it tries: a
    refused call changes nothing, so the next caller meets the same state."""
    rid, call = prepared(function)
    names = {n: request.getfixturevalue(n) for n in ("core", "supplier", *NOT_ONBOARDED)}
    before = receivables.lastId(), rid and receivables.receivable(rid)
    for caller in wrong_callers(function):
        account = request.getfixturevalue(caller)
        error, arguments = refusal(function, account, rid, receivables, participants, names)
        try:
            with reverts(error, **arguments):
                call(account)
        except AssertionError as failure:
            raise AssertionError(f"{function} by {caller}: {failure}") from failure
    assert (receivables.lastId(), rid and receivables.receivable(rid)) == before


@pytest.mark.parametrize("standing", ["suspended", "kyc_expired", "frozen"])
@pytest.mark.parametrize("function", list(CALLERS))
def test_function_refuses_rightful_caller_in_bad_standing(
    request, reverts, receivables, prepared, deactivate, supplier, function, standing
):
    rid, call = prepared(function)
    rightful = CALLERS[function][0]
    if rightful == "ledger":
        # A ledger contract has no standing to lose; a participant in bad standing
        # (here the holder) is no ledger contract either.
        deactivate(supplier, standing)
        error, arguments = receivables.ReceivableNotLedgerContract, {"caller": supplier}
        account = supplier
    else:
        account = request.getfixturevalue(rightful)
        error, arguments = deactivate(account, standing)
    before = receivables.lastId(), rid and receivables.receivable(rid)
    with reverts(error, **arguments):
        call(account)
    assert (receivables.lastId(), rid and receivables.receivable(rid)) == before


def test_mark_root_repaid_records_once_and_then_refuses_default(
    reverts, receivables, active_receivable, ledger, supplier, financier
):
    rid = active_receivable()
    receivables.lockForFinancing(rid, supplier, sender=ledger)
    receivables.completeFinancing(rid, financier, sender=ledger)
    tx = receivables.markRootRepaid(rid, sender=ledger)
    log = tx.decode_logs(receivables.ReceivableRootRepaid)[0]
    assert (log.rootId, log.actor) == (rid, ledger.address)
    assert receivables.rootRepaid(rid)
    with reverts(receivables.ReceivableRootAlreadyRepaid, rootId=rid):
        receivables.markRootRepaid(rid, sender=ledger)
    with reverts(receivables.ReceivableRootAlreadyRepaid, rootId=rid):
        receivables.markDefaulted(rid, sender=ledger)


def test_mark_root_repaid_refuses_a_child(
    reverts, receivables, active_receivable, ledger, supplier
):
    rid = active_receivable()
    first = receivables.split(rid, [AMOUNT // 2] * 2, sender=supplier).return_value
    with reverts(receivables.ReceivableUnknown, id=first):
        receivables.markRootRepaid(first, sender=ledger)
