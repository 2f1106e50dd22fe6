"""Cross-border maturity payment: the debtor pays a CNY root in USD through an FX
provider's quote; clearing receives CNY and the holders are redeemed in CNY."""

import uuid

from conftest import CNY_PER_USD, USD
from statuses import Status

CNY = b"CNY"
USD_PER_CNY = 138_000_000_000_000_000  # 0.138 USD per CNY, scaled by 1e18


def _due_root(active_receivable, receivables, chain, amount):
    root = active_receivable(amount=amount)
    chain.pending_timestamp = receivables.summary(root).dueDate
    return root


def test_repay_via_fx_pays_in_usd_and_holders_receive_cny(
    clearing, receivables, cny, usd, fx, fx_provider, active_receivable, usd_debtor,
    usd_quote, corridor_open, chain, supplier, core,
):  # fmt: skip
    amount = 1_000_000_01  # 1,000,000.01 CNY
    root = _due_root(active_receivable, receivables, chain, amount)
    quote, signature = usd_quote()
    usd_before, cny_core_before = usd.balanceOf(core), cny.balanceOf(core)
    provider_cny, provider_usd = cny.balanceOf(fx_provider), usd.balanceOf(fx_provider)

    tx = clearing.repayViaFx(root, fx, uuid.uuid4().bytes, tuple(quote.values()), signature,
                             sender=core)  # fmt: skip

    sell = -(-amount * 10**18 // CNY_PER_USD)  # ceil: the provider's floor covers the amount
    bought = sell * CNY_PER_USD // 10**18
    assert bought >= amount
    assert usd.balanceOf(core) == usd_before - sell
    assert usd.balanceOf(fx_provider) == provider_usd + sell
    assert cny.balanceOf(fx_provider) == provider_cny - bought
    assert cny.balanceOf(core) == cny_core_before + (bought - amount)  # rounding back to payer
    assert cny.balanceOf(clearing) == amount
    assert clearing.repaidAmount(root) == amount
    settled = tx.decode_logs(fx.PvpSettled)[0]
    assert (settled.payer, settled.payee, settled.referenceId) == (
        core.address,
        clearing.address,
        root,
    )
    repaid = tx.decode_logs(clearing.RootRepaid)[0]
    assert (repaid.rootId, repaid.debtor, repaid.amount) == (root, core.address, amount)

    supplier_before = cny.balanceOf(supplier)
    clearing.redeem(root, sender=supplier)
    assert cny.balanceOf(supplier) == supplier_before + amount
    assert receivables.summary(root).status == Status.SETTLED


def test_repay_via_fx_with_the_corridor_closed_moves_nothing(
    clearing, receivables, cny, usd, fx, active_receivable, usd_debtor, usd_quote, reverts,
    chain, core,
):  # fmt: skip
    root = _due_root(active_receivable, receivables, chain, 500_00)
    quote, signature = usd_quote()
    before = (usd.balanceOf(core), cny.balanceOf(clearing))
    with reverts(fx.FxComplianceCorridorClosed, fromJurisdiction=b"CN", toJurisdiction=b"HK"):
        clearing.repayViaFx(root, fx, uuid.uuid4().bytes, tuple(quote.values()), signature,
                            sender=core)  # fmt: skip
    assert (usd.balanceOf(core), cny.balanceOf(clearing)) == before
    assert clearing.repaidAmount(root) == 0


def test_repay_via_fx_refuses_a_quote_in_another_currency(
    clearing, receivables, fx, active_receivable, usd_debtor, make_quote, sign_quote,
    corridor_open, reverts, chain, core,
):  # fmt: skip
    root = _due_root(active_receivable, receivables, chain, 500_00)
    quote = make_quote(sellCurrency=CNY, buyCurrency=USD, rate=USD_PER_CNY)
    with reverts(clearing.ClearingFxCurrencyMismatch, rootId=root, expected=CNY, quoted=USD):
        clearing.repayViaFx(root, fx, uuid.uuid4().bytes, tuple(quote.values()),
                            sign_quote(quote), sender=core)  # fmt: skip


def test_repay_via_fx_refuses_an_fx_contract_that_is_not_the_ledgers(
    clearing, receivables, desk, active_receivable, usd_debtor, usd_quote, reverts, chain,
    core, project, operator, participants,
):  # fmt: skip
    root = _due_root(active_receivable, receivables, chain, 500_00)
    rogue = operator.deploy(project.FxSettlement, participants)  # never registered
    quote, signature = usd_quote()
    with reverts(clearing.ClearingUntrustedFx, fx=rogue.address):
        clearing.repayViaFx(root, rogue, uuid.uuid4().bytes, tuple(quote.values()), signature,
                            sender=core)  # fmt: skip


def test_repay_via_fx_before_the_due_date_or_by_another_is_refused(
    clearing, receivables, fx, active_receivable, usd_debtor, usd_quote, corridor_open,
    reverts, chain, core, supplier,
):  # fmt: skip
    root = active_receivable(amount=500_00)
    due = receivables.summary(root).dueDate
    quote, signature = usd_quote()
    with reverts(clearing.ClearingNotDue, rootId=root, dueDate=due):
        clearing.repayViaFx(root, fx, uuid.uuid4().bytes, tuple(quote.values()), signature,
                            sender=core)  # fmt: skip
    chain.pending_timestamp = due
    quote, signature = usd_quote()
    with reverts(clearing.ClearingNotDebtor, rootId=root, account=supplier, debtor=core):
        clearing.repayViaFx(root, fx, uuid.uuid4().bytes, tuple(quote.values()), signature,
                            sender=supplier)  # fmt: skip


def test_settle_for_is_refused_to_anyone_but_a_ledger_contract(
    fx, usd_debtor, usd_quote, corridor_open, reverts, core, supplier
):
    quote, signature = usd_quote()
    payment = (uuid.uuid4().bytes, supplier.address, 100_00, b"SUPP".ljust(32, b"\0"), 0)
    with reverts(fx.FxNotAuthorized, account=supplier):
        fx.settleFor(core, payment, tuple(quote.values()), signature, sender=supplier)


def test_repay_via_fx_twice_is_refused(
    clearing, receivables, fx, active_receivable, usd_debtor, usd_quote, corridor_open,
    reverts, chain, core,
):  # fmt: skip
    root = _due_root(active_receivable, receivables, chain, 500_00)
    quote, signature = usd_quote()
    clearing.repayViaFx(root, fx, uuid.uuid4().bytes, tuple(quote.values()), signature, sender=core)
    quote, signature = usd_quote()
    with reverts(clearing.ClearingAlreadyRepaid, rootId=root):
        clearing.repayViaFx(root, fx, uuid.uuid4().bytes, tuple(quote.values()), signature,
                            sender=core)  # fmt: skip
