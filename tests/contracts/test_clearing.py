"""MaturityClearing: the debtor repays a root once; each leaf is redeemed to its holder.

The tree tests follow the money: every holder of a leaf, at any tier, supplier or
financier, receives exactly its leaf amount, once.
"""

import time

import pytest
from conftest import DAY, ROLES
from eth_utils import keccak
from statuses import FinancingStatus, Status, mask

ZERO = "0x0000000000000000000000000000000000000000"
CNY = b"CNY"


def due_of(receivables, rid):
    return receivables.summary(rid).dueDate


# --- happy path: a tree held at several tiers ----------------------------------------


def test_clearing_pays_every_holder_of_a_multi_tier_tree(
    clearing,
    desk,
    receivables,
    cny,
    active_receivable,
    finance,
    chain,
    core,
    supplier,
    supplier2,
    financier,
    financier2,
    auditor,
):
    root = active_receivable(amount=100_000_000)
    a = receivables.split(root, [50_000_000, 30_000_000, 20_000_000], sender=supplier).return_value
    b, c = a + 1, a + 2
    receivables.transfer(b, supplier2, sender=supplier)  # tier 2
    b1 = receivables.split(b, [10_000_000, 20_000_000], sender=supplier2).return_value
    b2 = b1 + 1
    fid_b2 = finance(b2, holder=supplier2, funder=financier)  # tier 2 finances its child
    fid_a = finance(a, holder=supplier, funder=financier2)  # tier 1 finances its child
    receivables.transfer(c, financier, sender=supplier)  # a financier holds a plain leaf
    expected = {supplier2: 10_000_000, financier: 20_000_000 + 20_000_000, financier2: 50_000_000}
    before = {holder: cny.balanceOf(holder) for holder in (*expected, supplier, core)}

    chain.pending_timestamp = due_of(receivables, root)
    tx = clearing.repay(root, sender=core)
    assert tx.return_value == 100_000_000
    (log,) = tx.decode_logs(clearing.RootRepaid)
    assert (log.rootId, log.debtor, log.currency, log.amount) == (
        root,
        core.address,
        CNY,
        100_000_000,
    )
    assert cny.balanceOf(core) == before[core] - 100_000_000
    assert cny.balanceOf(clearing) == clearing.repaidAmount(root) == 100_000_000

    clearing.redeem(b1, sender=supplier2)
    tx = clearing.redeemBatch([a, b2], sender=auditor)  # anyone active may push
    assert [
        (r.leafId, r.rootId, r.holder, r.amount) for r in tx.decode_logs(clearing.LeafRedeemed)
    ] == [
        (a, root, financier2.address, 50_000_000),
        (b2, root, financier.address, 20_000_000),
    ]
    assert receivables.summary(root).status == Status.SPLIT  # C still unpaid
    assert receivables.outstanding(root) == clearing.unredeemedAmount(root) == 20_000_000
    clearing.redeem(c, sender=core)

    for holder, amount in expected.items():
        assert cny.balanceOf(holder) == before[holder] + amount, holder
    assert cny.balanceOf(supplier) == before[supplier]  # sold or passed on all it had
    assert cny.balanceOf(clearing) == clearing.unredeemedAmount(root) == 0
    assert receivables.outstanding(root) == 0
    for leaf in (a, b1, b2, c, root):
        assert receivables.summary(leaf).status == Status.SETTLED, leaf
    assert receivables.summary(b).status == Status.SPLIT  # an inner node is never paid
    assert desk.financing(fid_a).status == FinancingStatus.REPAID
    assert desk.financing(fid_b2).status == FinancingStatus.REPAID


def test_root_settles_only_with_its_last_leaf(
    clearing, receivables, active_receivable, funded, chain, core, supplier
):
    root = active_receivable(amount=300)
    first = receivables.split(root, [100, 100, 100], sender=supplier).return_value
    chain.pending_timestamp = due_of(receivables, root)
    clearing.repay(root, sender=core)
    for leaf in (first, first + 1):
        clearing.redeem(leaf, sender=supplier)
        assert receivables.summary(root).status == Status.SPLIT
    tx = clearing.redeem(first + 2, sender=supplier)
    assert receivables.summary(root).status == Status.SETTLED
    changes = [(s.id, s.to) for s in tx.decode_logs(receivables.ReceivableStatusChanged)]
    assert changes == [(first + 2, Status.SETTLED), (root, Status.SETTLED)]


def test_unsplit_root_is_redeemed_as_its_own_leaf(
    clearing, receivables, cny, active_receivable, funded, chain, core, supplier
):
    root = active_receivable(amount=12_345)
    chain.pending_timestamp = due_of(receivables, root)
    clearing.repay(root, sender=core)
    before = cny.balanceOf(supplier)
    clearing.redeem(root, sender=supplier)
    assert cny.balanceOf(supplier) == before + 12_345
    assert receivables.summary(root).status == Status.SETTLED


def test_late_payment_after_default_still_settles(
    clearing, desk, receivables, cny, active_receivable, finance, chain, core, financier
):
    root = active_receivable(amount=100_000_000)
    fid = finance(root, recourse=True, gracePeriod=DAY)
    due = due_of(receivables, root)
    chain.pending_timestamp = due + DAY + 1
    desk.declareDefault(fid, sender=financier)
    assert receivables.summary(root).status == Status.DEFAULTED

    chain.pending_timestamp = due + 40 * DAY
    clearing.repay(root, sender=core)
    before = cny.balanceOf(financier)
    clearing.redeem(root, sender=financier)

    assert cny.balanceOf(financier) == before + 100_000_000
    assert receivables.summary(root).status == Status.SETTLED
    f = desk.financing(fid)
    assert f.status == FinancingStatus.REPAID
    assert f.recourseClaim == desk.offerOf(fid, 0).advance  # recorded; settled by payment


def test_leaf_under_an_open_request_is_paid_to_its_holder_and_the_escrow_recovered(
    clearing,
    desk,
    receivables,
    cny,
    active_receivable,
    terms,
    funded,
    reverts,
    chain,
    core,
    supplier,
    financier,
):
    root = active_receivable(amount=1_000_000)
    due = due_of(receivables, root)
    fid = desk.request(root, financier, sender=supplier).return_value
    desk.offer(fid, terms(expiry=due + DAY), sender=financier)
    chain.pending_timestamp = due
    clearing.repay(root, sender=core)
    before = cny.balanceOf(supplier)
    clearing.redeem(root, sender=supplier)
    assert cny.balanceOf(supplier) == before + 1_000_000
    # The paid receivable can no longer be handed to the financier...
    with reverts(desk.FinancingReceivableDue, receivableId=root, dueDate=due):
        desk.accept(fid, 0, sender=supplier)
    # ...the financier still gets its escrow back, and the request closes while the
    # receivable stays SETTLED (nothing tries to unlock it).
    escrow = desk.offerOf(fid, 0).proceeds
    funds = cny.balanceOf(financier)
    desk.withdrawOffer(fid, 0, sender=financier)
    assert cny.balanceOf(financier) == funds + escrow
    assert cny.balanceOf(desk) == 0
    assert receivables.summary(root).status == Status.SETTLED
    assert desk.activeFinancingOf(root) == 0


# --- refusals: repay -------------------------------------------------------------------


def test_repay_before_the_due_date_is_refused(
    clearing, receivables, active_receivable, funded, reverts, chain, core
):
    root = active_receivable()
    due = due_of(receivables, root)
    chain.pending_timestamp = due - 1
    with reverts(clearing.ClearingNotDue, rootId=root, dueDate=due, nowTimestamp=due - 1):
        clearing.repay(root, sender=core)
    chain.pending_timestamp = due
    clearing.repay(root, sender=core)  # at the due date itself: allowed


def test_repay_by_another_than_the_debtor_is_refused(
    clearing, receivables, active_receivable, funded, reverts, chain, core, supplier, financier
):
    root = active_receivable()
    chain.pending_timestamp = due_of(receivables, root)
    for payer in (supplier, financier):
        with reverts(clearing.ClearingNotDebtor, rootId=root, account=payer, debtor=core):
            clearing.repay(root, sender=payer)


def test_repay_of_a_child_is_refused(
    clearing, receivables, active_receivable, funded, reverts, chain, core, supplier
):
    root = active_receivable(amount=100)
    child = receivables.split(root, [30, 70], sender=supplier).return_value
    chain.pending_timestamp = due_of(receivables, root)
    with reverts(clearing.ClearingNotRoot, id=child, rootId=root):
        clearing.repay(child, sender=core)


def test_repay_twice_is_refused(
    clearing, receivables, cny, active_receivable, funded, reverts, chain, core, supplier
):
    root = active_receivable(amount=100)
    first = receivables.split(root, [30, 70], sender=supplier).return_value
    chain.pending_timestamp = due_of(receivables, root)
    clearing.repay(root, sender=core)
    paid = cny.balanceOf(core)
    with reverts(clearing.ClearingAlreadyRepaid, rootId=root):
        clearing.repay(root, sender=core)
    clearing.redeemBatch([first, first + 1], sender=supplier)
    with reverts(clearing.ClearingNotPayable, rootId=root, status=Status.SETTLED):
        clearing.repay(root, sender=core)
    assert cny.balanceOf(core) == paid


def test_repay_of_an_unconfirmed_root_is_refused(
    clearing, receivables, register, funded, reverts, chain, core
):
    root = register()
    chain.pending_timestamp = due_of(receivables, root)
    with reverts(clearing.ClearingNotPayable, rootId=root, status=Status.PENDING):
        clearing.repay(root, sender=core)


def test_repay_of_an_unconfirmed_root_names_the_payable_statuses(
    clearing, receivables, register, funded, reverts, chain, core
):
    root = register()
    chain.pending_timestamp = due_of(receivables, root)
    payable = (Status.ACTIVE, Status.SPLIT, Status.FINANCING, Status.FINANCED, Status.OVERDUE,
               Status.DEFAULTED)  # fmt: skip
    with reverts(
        clearing.ClearingNotPayable,
        rootId=root,
        status=Status.PENDING,
        allowedStatusMask=mask(*payable),
    ):
        clearing.repay(root, sender=core)


def test_repay_of_an_unknown_root_is_refused(clearing, receivables, funded, reverts, core):
    with reverts(receivables.ReceivableUnknown, id=4242):
        clearing.repay(4242, sender=core)


def test_repay_without_allowance_is_refused(
    clearing, receivables, cny, active_receivable, funded, reverts, chain, core
):
    root = active_receivable()
    cny.approve(clearing, 0, sender=core)
    chain.pending_timestamp = due_of(receivables, root)
    with reverts(cny.ERC20InsufficientAllowance, spender=clearing):
        clearing.repay(root, sender=core)
    assert clearing.repaidAmount(root) == 0


def test_repay_by_a_suspended_debtor_is_refused(
    clearing, participants, operator, receivables, active_receivable, funded, reverts, chain, core
):
    root = active_receivable()
    participants.suspend(core, sender=operator)
    chain.pending_timestamp = due_of(receivables, root)
    with reverts(participants.RegistryParticipantSuspended, account=core):
        clearing.repay(root, sender=core)


# --- refusals: redeem ------------------------------------------------------------------


@pytest.fixture
def repaid_tree(clearing, receivables, active_receivable, funded, chain, core, supplier):
    """A root of 600 split in three leaves of 100, 200 and 300 held by `supplier`, repaid."""
    root = active_receivable(amount=600)
    first = receivables.split(root, [100, 200, 300], sender=supplier).return_value
    chain.pending_timestamp = due_of(receivables, root)
    clearing.repay(root, sender=core)
    return root, [first, first + 1, first + 2]


def test_redeem_before_repay_is_refused(
    clearing, receivables, active_receivable, funded, reverts, chain, supplier
):
    root = active_receivable(amount=100)
    first = receivables.split(root, [30, 70], sender=supplier).return_value
    chain.pending_timestamp = due_of(receivables, root)
    with reverts(clearing.ClearingNotRepaid, rootId=root):
        clearing.redeem(first, sender=supplier)
    assert receivables.summary(first).status == Status.ACTIVE


def test_redeem_twice_is_refused_and_pays_once(
    clearing, receivables, cny, repaid_tree, reverts, supplier
):
    _, leaves = repaid_tree
    before = cny.balanceOf(supplier)
    clearing.redeem(leaves[0], sender=supplier)
    with reverts(receivables.ReceivableInvalidStatus, id=leaves[0], current=Status.SETTLED):
        clearing.redeem(leaves[0], sender=supplier)
    assert cny.balanceOf(supplier) == before + 100
    assert cny.balanceOf(clearing) == 500


def test_redeem_batch_with_a_leaf_twice_pays_nothing(
    clearing, receivables, cny, repaid_tree, reverts, supplier
):
    _, leaves = repaid_tree
    before = cny.balanceOf(supplier)
    with reverts(receivables.ReceivableInvalidStatus, id=leaves[1], current=Status.SETTLED):
        clearing.redeemBatch([leaves[1], leaves[2], leaves[1]], sender=supplier)
    assert cny.balanceOf(supplier) == before
    assert receivables.summary(leaves[1]).status == Status.ACTIVE


def test_redeem_batch_with_an_already_redeemed_leaf_pays_nothing(
    clearing, receivables, cny, repaid_tree, reverts, supplier
):
    _, leaves = repaid_tree
    clearing.redeem(leaves[2], sender=supplier)
    before = cny.balanceOf(supplier)
    with reverts(receivables.ReceivableInvalidStatus, id=leaves[2], current=Status.SETTLED):
        # First in the batch: ape's error decoding walks the whole step trace of a
        # reverted call, seconds per thousand steps; the duplicate test above shows
        # that leaves before the refused one are not paid either.
        clearing.redeemBatch([leaves[2], leaves[0], leaves[1]], sender=supplier)
    assert cny.balanceOf(supplier) == before
    clearing.redeemBatch(leaves[:2], sender=supplier)
    assert cny.balanceOf(supplier) == before + 300


def test_redeem_of_an_inner_node_is_refused(clearing, receivables, repaid_tree, reverts, supplier):
    root, _ = repaid_tree
    with reverts(receivables.ReceivableInvalidStatus, id=root, current=Status.SPLIT):
        clearing.redeem(root, sender=supplier)


def test_redeem_of_a_frozen_leaf_is_refused_until_unfrozen(
    clearing, receivables, cny, repaid_tree, reverts, regulator, supplier
):
    root, leaves = repaid_tree
    receivables.freeze(leaves[1], sender=regulator)
    with reverts(receivables.ReceivableFrozenError, id=leaves[1]):
        clearing.redeem(leaves[1], sender=supplier)
    with reverts(receivables.ReceivableFrozenError, id=leaves[1]):
        clearing.redeemBatch(leaves, sender=supplier)
    clearing.redeemBatch([leaves[0], leaves[2]], sender=supplier)
    assert receivables.summary(root).status == Status.SPLIT
    assert clearing.unredeemedAmount(root) == 200
    receivables.unfreeze(leaves[1], sender=regulator)
    clearing.redeem(leaves[1], sender=supplier)
    assert receivables.summary(root).status == Status.SETTLED
    assert cny.balanceOf(clearing) == 0


def test_redeem_by_an_outsider_is_refused(clearing, participants, repaid_tree, reverts, outsider):
    _, leaves = repaid_tree
    with reverts(participants.RegistryUnknownParticipant, account=outsider):
        clearing.redeem(leaves[0], sender=outsider)
    with reverts(participants.RegistryUnknownParticipant, account=outsider):
        clearing.redeemBatch(leaves, sender=outsider)


def test_redeem_to_a_suspended_holder_defers_its_payment_until_it_claims(
    clearing, participants, operator, receivables, cny, repaid_tree, reverts, auditor, supplier
):
    # Issue 20: a holder that may not receive now no longer blocks its leaf's (or anyone
    # else's) redemption: the leaf settles and the payment waits for the holder to claim.
    _, leaves = repaid_tree
    amount = receivables.summary(leaves[0]).amount
    participants.suspend(supplier, sender=operator)
    tx = clearing.redeem(leaves[0], sender=auditor)
    assert [(d.payee, d.amount) for d in tx.decode_logs(clearing.PaymentDeferred)] == [
        (supplier.address, amount)
    ]
    assert receivables.summary(leaves[0]).status == Status.SETTLED
    with reverts(cny.SettlementTokenAccountRefused, account=supplier):
        clearing.claim(cny, sender=supplier)  # the token refuses it while suspended
    participants.reinstate(supplier, sender=operator)
    before = cny.balanceOf(supplier)
    clearing.claim(cny, sender=supplier)
    assert cny.balanceOf(supplier) == before + amount


@pytest.mark.parametrize("size", [0, 251])
def test_redeem_batch_size_is_bounded(clearing, repaid_tree, reverts, supplier, size):
    _, leaves = repaid_tree
    assert clearing.MAX_REDEEM_BATCH() == 250
    with reverts(clearing.ClearingBatchSize, size=size, maxSize=250):
        clearing.redeemBatch((leaves * 100)[:size], sender=supplier)


# --- thousands of leaves ---------------------------------------------------------------

LEAVES = 5_000
FANOUT = 100  # the registry's MAX_SPLIT


def deploy_for_clearing(project, chain, operator, core, supplier, supplier2, bank, auditor):
    """The contracts clearing needs, wired as in conftest, on the current provider."""
    participants = operator.deploy(project.ParticipantRegistry, operator)
    kyc = chain.pending_timestamp + 10 * 365 * DAY
    for i, (account, role) in enumerate(
        [
            (core, "CORE_ENTERPRISE"),
            (supplier, "SUPPLIER"),
            (supplier2, "SUPPLIER"),
            (bank, "SETTLEMENT_BANK"),
            (auditor, "AUDITOR"),
        ]
    ):
        lei = keccak(text=f"LEI-{i}")
        participants.onboard(account, lei, b"CN", kyc, [ROLES[role]], sender=operator)
    cny = operator.deploy(project.SettlementToken, participants, CNY, 2, bank)
    participants.listSettlementToken(CNY, cny, sender=operator)
    receivables = operator.deploy(project.ReceivableRegistry, participants)
    risk = operator.deploy(project.RiskControl, participants, receivables, 30)
    receivables.bindRiskControl(risk, sender=operator)
    lines = operator.deploy(project.CreditLines, participants, receivables, risk)
    clearing = operator.deploy(project.MaturityClearing, participants, receivables, lines)
    participants.registerLedgerContract(clearing, sender=operator)
    return cny, receivables, clearing


@pytest.mark.slow
def test_root_with_5000_leaves_clears_in_bounded_batches(
    untraced_chain, project, chain, reverts, operator, core, supplier, supplier2, bank, auditor
):
    started = time.perf_counter()
    cny, receivables, clearing = deploy_for_clearing(
        project, chain, operator, core, supplier, supplier2, bank, auditor
    )
    leaf_amounts = [1_000 + i for i in range(LEAVES)]  # distinct, to catch any mix-up
    groups = [leaf_amounts[i : i + FANOUT] for i in range(0, LEAVES, FANOUT)]
    total = sum(leaf_amounts)
    cny.mint(core, total, sender=bank)
    cny.approve(clearing, total, sender=core)
    root = receivables.register(
        (
            supplier,
            total,
            CNY,
            chain.pending_timestamp + 90 * DAY,
            keccak(text="big"),
            b"\0" * 32,
            0,
        ),
        sender=core,
    ).return_value
    receivables.confirm(root, sender=supplier)
    first_group = receivables.lastId() + 1
    receivables.split(root, [sum(g) for g in groups], sender=supplier)
    receivables.transfer(first_group, supplier2, sender=supplier)  # a second holder
    leaves = []
    for offset, amounts in enumerate(groups):
        first = receivables.lastId() + 1
        receivables.split(
            first_group + offset, amounts, sender=supplier2 if offset == 0 else supplier
        )
        leaves.extend(range(first, first + FANOUT))
    built = time.perf_counter()

    chain.pending_timestamp = receivables.summary(root).dueDate
    repay = clearing.repay(root, sender=core)
    batch = clearing.MAX_REDEEM_BATCH()
    paid = {}
    gas = repay.gas_used
    for i in range(0, LEAVES, batch):
        tx = clearing.redeemBatch(leaves[i : i + batch], sender=auditor)
        gas += tx.gas_used
        for log in tx.decode_logs(clearing.LeafRedeemed):
            assert log.leafId not in paid, f"leaf {log.leafId} paid twice"
            paid[log.leafId] = log.amount
    cleared = time.perf_counter()

    assert paid == dict(zip(leaves, leaf_amounts, strict=True))
    assert cny.balanceOf(supplier2) == sum(groups[0])
    assert cny.balanceOf(supplier) == total - sum(groups[0])
    assert receivables.summary(root).status == Status.SETTLED
    assert clearing.unredeemedAmount(root) == receivables.outstanding(root) == 0
    assert cny.balanceOf(clearing) == cny.balanceOf(core) == 0
    with reverts(receivables.ReceivableInvalidStatus, current=Status.SETTLED):
        clearing.redeemBatch(leaves[:batch], sender=auditor)
    print(
        f"\n5,000 leaves: tree built in {built - started:.1f}s; repay + "
        f"{LEAVES // batch} batches of {batch}: {gas:,} gas, {cleared - built:.1f}s"
    )
