"""FxSettlement: PvP at an FX provider's quote, both legs or neither.

Every refusal is checked twice: the custom error that names the rule, and that no
balance of any party moved (`refused(...)`).
"""

import uuid
from contextlib import contextmanager

import pytest
from conftest import CNY, DAY, USD, ZERO_ADDRESS
from eth_utils import keccak

RATE_SCALE = 10**18
SUPP = b"SUPP".ljust(32, b"\0")
ACTIVE, NOT_ONBOARDED, SUSPENDED, KYC_EXPIRED, FROZEN = range(5)


def new_uetr() -> bytes:
    return uuid.uuid4().bytes


def payment(payee, amount: int, uetr: bytes | None = None, reference: int = 0) -> dict:
    return {
        "uetr": new_uetr() if uetr is None else uetr,
        "payee": getattr(payee, "address", payee),
        "sellAmount": amount,
        "purpose": SUPP,
        "referenceId": reference,
    }


@pytest.fixture(scope="module", autouse=True)
def pvp_funded(fx, cny, usd, bank, core, supplier, fx_provider, operator):
    """Core holds CNY, the provider holds both currencies, both approved the PvP
    contract; the CN -> VN corridor is open (CN -> SG stays closed)."""
    cny.mint(core, 10_000_000_00, sender=bank)
    cny.mint(supplier, 1_000_000_00, sender=bank)
    cny.mint(fx_provider, 5_000_000_00, sender=bank)
    usd.mint(fx_provider, 5_000_000_00, sender=bank)
    for owner, token in ((core, cny), (supplier, cny), (fx_provider, cny), (fx_provider, usd)):
        token.approve(fx, 2**256 - 1, sender=owner)
    fx.setCorridor(b"CN", b"VN", True, sender=operator)


@pytest.fixture
def balances(cny, usd, core, supplier, supplier2, financier, financier2, fx_provider, fx):
    """Every balance a settlement could touch, keyed by (currency, account)."""

    def _balances() -> dict:
        holders = (core, supplier, supplier2, financier, financier2, fx_provider, fx)
        return {
            (token.symbol(), holder.address): token.balanceOf(holder)
            for token in (cny, usd)
            for holder in holders
        }

    return _balances


@pytest.fixture
def refused(balances, reverts):
    """`with refused(error, **inputs): ...` expects the custom error and no balance moved."""

    @contextmanager
    def _refused(error, **inputs):
        before = balances()
        with reverts(error, **inputs):
            yield
        assert balances() == before

    return _refused


@pytest.fixture
def settle(fx, sign_quote, core):
    """Settles `amount` at `quote`, signed by the provider unless `signature` is given
    (b"" presents a posted quote)."""

    def _settle(quote, amount, payee, payer=None, signature=None, uetr=None):
        signature = sign_quote(quote) if signature is None else signature
        return fx.settle(payment(payee, amount, uetr), quote, signature, sender=payer or core)

    return _settle


@pytest.fixture
def second_provider(accounts, participants, operator, chain):
    """Another onboarded FX provider, whose signature is valid for its own quotes only."""
    from conftest import ROLES, YEAR

    account = accounts.generate_test_account()
    account.balance = 10**21
    participants.onboard(
        account,
        keccak(text="LEI-FX-2"),
        b"SG",
        chain.pending_timestamp + 10 * YEAR,
        [ROLES["FX_PROVIDER"]],
        sender=operator,
    )
    return account


def start_of_next_day(chain) -> int:
    return (chain.pending_timestamp // DAY + 1) * DAY


# --- happy paths ---------------------------------------------------------------------


def test_settle_signed_quote_pays_both_legs(
    fx, settle, make_quote, balances, core, supplier2, fx_provider
):
    quote = make_quote(rate=138_000_000_000_000_000)
    uetr = new_uetr()
    before = balances()

    tx = settle(quote, 1_000_000_00, supplier2, uetr=uetr)

    after = balances()
    assert tx.return_value == 138_000_00
    assert after[("CNY", core.address)] == before[("CNY", core.address)] - 1_000_000_00
    assert (
        after[("CNY", fx_provider.address)] == before[("CNY", fx_provider.address)] + 1_000_000_00
    )
    assert after[("USD", fx_provider.address)] == before[("USD", fx_provider.address)] - 138_000_00
    assert after[("USD", supplier2.address)] == before[("USD", supplier2.address)] + 138_000_00
    moved = {key for key in after if after[key] != before[key]}
    assert moved == {
        ("CNY", core.address),
        ("CNY", fx_provider.address),
        ("USD", fx_provider.address),
        ("USD", supplier2.address),
    }
    assert after[("CNY", fx.address)] == after[("USD", fx.address)] == 0
    assert fx.uetrUsed(uetr)
    assert fx.quoteUsed(quote["quoteId"])
    assert fx.usedToday(core, CNY) == 1_000_000_00
    assert fx.usedToday(supplier2, USD) == 138_000_00
    [event] = tx.events.filter(fx.PvpSettled)
    assert event.uetr == uetr
    assert (event.payer, event.payee, event["provider"]) == (
        core.address,
        supplier2.address,
        fx_provider.address,
    )
    assert (event.sellCurrency, event.sellAmount) == (CNY, 1_000_000_00)
    assert (event.buyCurrency, event.buyAmount) == (USD, 138_000_00)
    assert event.quoteId == quote["quoteId"]
    assert event.purpose == SUPP


def test_settle_posted_quote_pays_both_legs(
    fx, settle, make_quote, balances, core, supplier2, fx_provider
):
    quote = make_quote(payer=core.address)
    tx = fx.postQuote(quote, sender=fx_provider)
    [event] = tx.events.filter(fx.FxQuotePosted)
    assert (event.quoteId, event["provider"]) == (quote["quoteId"], fx_provider.address)
    before = balances()

    settle(quote, 500_00, supplier2, signature=b"")

    after = balances()
    assert after[("CNY", core.address)] == before[("CNY", core.address)] - 500_00
    assert after[("CNY", fx_provider.address)] == before[("CNY", fx_provider.address)] + 500_00
    assert after[("USD", fx_provider.address)] == before[("USD", fx_provider.address)] - 69_00
    assert after[("USD", supplier2.address)] == before[("USD", supplier2.address)] + 69_00


def test_settle_usd_to_cny_pays_both_legs(
    fx, settle, make_quote, usd, bank, operator, balances, supplier2, core, fx_provider
):
    usd.mint(supplier2, 1_000_00, sender=bank)
    usd.approve(fx, 1_000_00, sender=supplier2)
    fx.setCorridor(b"VN", b"CN", True, sender=operator)
    quote = make_quote(sellCurrency=USD, buyCurrency=CNY, rate=7_250_000_000_000_000_000)
    before = balances()

    tx = settle(quote, 1_000_00, core, payer=supplier2)

    after = balances()
    assert tx.return_value == 7_250_00
    assert after[("USD", supplier2.address)] == before[("USD", supplier2.address)] - 1_000_00
    assert after[("USD", fx_provider.address)] == before[("USD", fx_provider.address)] + 1_000_00
    assert after[("CNY", fx_provider.address)] == before[("CNY", fx_provider.address)] - 7_250_00
    assert after[("CNY", core.address)] == before[("CNY", core.address)] + 7_250_00


def test_buy_amount_rounds_down_and_the_fraction_stays_with_provider(
    fx, settle, make_quote, balances, core, supplier2, fx_provider
):
    rate = 137_912_345_678_901_234
    sell = 1_234_567
    exact = sell * rate
    assert exact % RATE_SCALE != 0  # the buy amount has a fraction of a minor unit to drop
    quote = make_quote(rate=rate)
    before = balances()

    tx = settle(quote, sell, supplier2)

    assert tx.return_value == exact // RATE_SCALE == 170_262
    after = balances()
    assert after[("USD", supplier2.address)] - before[("USD", supplier2.address)] == 170_262
    assert before[("USD", fx_provider.address)] - after[("USD", fx_provider.address)] == 170_262


@pytest.mark.parametrize(
    ("sell", "rate"),
    [
        (1, 10**18),  # exact
        (3, 333_333_333_333_333_333),  # 0.999... -> 0
        (7, 142_857_142_857_142_858),  # 1.000000000000000006 -> 1
        (999_999, 1_500_000_000_000_000_001),  # fraction of 0.999999e-12 dropped
        (10**30, 7_123_456_789_012_345_678),  # large amounts: no overflow below 2**256
    ],
)
def test_buy_amount_for_is_floor_of_sell_times_rate(fx, sell, rate):
    assert fx.buyAmountFor(sell, rate) == sell * rate // RATE_SCALE


def test_settle_buy_amount_rounding_to_zero_refused(fx, settle, make_quote, refused, supplier2):
    quote = make_quote(rate=10**17)  # 9 fen buy 0.9 cent: nothing to pay
    with refused(fx.FxInvalidAmount, amount=0):
        settle(quote, 9, supplier2)


# --- quote refusals --------------------------------------------------------------------


def test_settle_expired_quote_refused(fx, settle, make_quote, refused, chain, supplier2):
    quote = make_quote(validUntil=chain.pending_timestamp + 60)
    chain.mine(deltatime=120)
    with refused(fx.FxQuoteExpired, quoteId=quote["quoteId"], validUntil=quote["validUntil"]):
        settle(quote, 100_00, supplier2)
    assert not fx.quoteUsed(quote["quoteId"])


def test_settle_at_valid_until_accepted(fx, settle, make_quote, chain, supplier2):
    quote = make_quote()
    chain.pending_timestamp = quote["validUntil"]
    settle(quote, 100_00, supplier2)
    assert fx.quoteUsed(quote["quoteId"])


def test_settle_stale_quote_refused(fx, settle, make_quote, refused, chain, supplier2):
    now = chain.pending_timestamp
    quote = make_quote(issuedAt=now - 15 * 60 - 1, validUntil=now + 600)  # valid, but too old
    with refused(
        fx.FxQuoteStale, quoteId=quote["quoteId"], issuedAt=quote["issuedAt"], maxQuoteAge=15 * 60
    ):
        settle(quote, 100_00, supplier2)


def test_settle_quote_issued_in_the_future_refused(
    fx, settle, make_quote, refused, chain, supplier2
):
    quote = make_quote(issuedAt=chain.pending_timestamp + 300)
    with refused(fx.FxQuoteStale, quoteId=quote["quoteId"]):
        settle(quote, 100_00, supplier2)


def test_settle_respects_max_quote_age_set_by_regulator(
    fx, settle, make_quote, refused, regulator, chain, supplier2
):
    fx.setMaxQuoteAge(60, sender=regulator)
    quote = make_quote(issuedAt=chain.pending_timestamp - 61)
    with refused(fx.FxQuoteStale, quoteId=quote["quoteId"], maxQuoteAge=60):
        settle(quote, 100_00, supplier2)
    settle(make_quote(issuedAt=chain.pending_timestamp - 30), 100_00, supplier2)


def test_settle_replayed_signed_quote_refused(fx, settle, make_quote, refused, supplier2):
    quote = make_quote()
    settle(quote, 100_00, supplier2)
    with refused(fx.FxQuoteAlreadyUsed, quoteId=quote["quoteId"]):
        settle(quote, 100_00, supplier2)


def test_settle_replayed_posted_quote_refused(
    fx, settle, make_quote, refused, fx_provider, supplier2, reverts
):
    quote = make_quote()
    fx.postQuote(quote, sender=fx_provider)
    settle(quote, 100_00, supplier2, signature=b"")
    with refused(fx.FxQuoteAlreadyUsed, quoteId=quote["quoteId"]):
        settle(quote, 100_00, supplier2, signature=b"")
    with reverts(fx.FxQuoteAlreadyUsed, quoteId=quote["quoteId"]):
        fx.postQuote(quote, sender=fx_provider)  # a used quote id cannot be posted again


def test_settle_quote_signed_by_other_key_refused(
    fx, settle, make_quote, sign_quote, refused, outsider, fx_provider, supplier2
):
    quote = make_quote()
    with refused(
        fx.FxQuoteBadSignature,
        quoteId=quote["quoteId"],
        signer=outsider.address,
        provider=fx_provider.address,
    ):
        settle(quote, 100_00, supplier2, signature=sign_quote(quote, signer=outsider))


def test_settle_quote_signed_by_other_provider_refused(
    fx, settle, make_quote, sign_quote, refused, second_provider, fx_provider, supplier2
):
    quote = make_quote()  # names fx_provider, who will have to pay the buy leg
    with refused(
        fx.FxQuoteBadSignature, signer=second_provider.address, provider=fx_provider.address
    ):
        settle(quote, 100_00, supplier2, signature=sign_quote(quote, signer=second_provider))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rate", 150_000_000_000_000_000),
        ("validUntil", 2**40),
        ("issuedAt", 0),
        ("buyCurrency", b"EUR"),
        ("payer", "core"),  # binding the quote to a payer after it was signed
        ("quoteId", keccak(text="another quote")),
    ],
)
def test_settle_tampered_quote_refused(
    fx, settle, make_quote, sign_quote, refused, core, fx_provider, supplier2, field, value
):
    quote = make_quote()
    signature = sign_quote(quote)
    if field == "issuedAt":
        value = quote["issuedAt"] - 1  # still fresh: only the signature can catch it
    if field == "payer":
        value = core.address
    tampered = {**quote, field: value}
    with refused(fx.FxQuoteBadSignature, quoteId=tampered["quoteId"], provider=fx_provider.address):
        settle(tampered, 100_00, supplier2, signature=signature)


@pytest.mark.parametrize(
    "domain",
    [
        {"chainId": 1},
        {"verifyingContract": "0x000000000000000000000000000000000000dEaD"},
        {"version": "2"},
        {"name": "OtherApp"},
    ],
)
def test_settle_quote_signed_for_other_domain_refused(
    fx, settle, make_quote, sign_quote, refused, fx_provider, supplier2, domain
):
    quote = make_quote()
    with refused(fx.FxQuoteBadSignature, quoteId=quote["quoteId"], provider=fx_provider.address):
        settle(quote, 100_00, supplier2, signature=sign_quote(quote, **domain))


def test_settle_garbage_signature_refused(fx, settle, make_quote, refused, fx_provider, supplier2):
    quote = make_quote()
    with refused(fx.FxQuoteBadSignature, signer=ZERO_ADDRESS, provider=fx_provider.address):
        settle(quote, 100_00, supplier2, signature=b"\x01" * 65)


def test_settle_quote_of_zero_provider_with_garbage_signature_refused(
    fx, settle, make_quote, refused, supplier2
):
    # tryRecover yields the zero address for a bad signature: it must not pass as "signed
    # by provider 0". Its recovery error refuses it as a bad signature, before standing.
    quote = make_quote(provider=ZERO_ADDRESS)
    with refused(fx.FxQuoteBadSignature, signer=ZERO_ADDRESS, provider=ZERO_ADDRESS):
        settle(quote, 100_00, supplier2, signature=b"\x01" * 65)


def test_settle_unposted_quote_without_signature_refused(
    fx, settle, make_quote, refused, supplier2
):
    quote = make_quote()
    with refused(fx.FxQuoteNotPosted, quoteId=quote["quoteId"]):
        settle(quote, 100_00, supplier2, signature=b"")


def test_settle_posted_quote_with_changed_terms_refused(
    fx, settle, make_quote, refused, fx_provider, supplier2
):
    quote = make_quote()
    fx.postQuote(quote, sender=fx_provider)
    with refused(fx.FxQuoteNotPosted, quoteId=quote["quoteId"]):
        settle({**quote, "rate": quote["rate"] * 2}, 100_00, supplier2, signature=b"")


def test_settle_quote_for_other_payer_refused(
    fx, settle, make_quote, refused, core, supplier, supplier2
):
    quote = make_quote(payer=core.address)
    with refused(
        fx.FxQuoteWrongPayer,
        quoteId=quote["quoteId"],
        payer=supplier.address,
        allowedPayer=core.address,
    ):
        settle(quote, 100_00, supplier2, payer=supplier)
    settle(quote, 100_00, supplier2, payer=core)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"quoteId": b"\0" * 32}, "quoteId"),
        ({"rate": 0}, "rate"),
        ({"buyCurrency": CNY}, "currencies"),
    ],
)
def test_settle_malformed_quote_refused(
    fx, settle, make_quote, refused, supplier2, overrides, field
):
    quote = make_quote(**overrides)
    with refused(fx.FxQuoteInvalid, field=field):
        settle(quote, 100_00, supplier2)


def test_settle_unlisted_currency_refused(fx, settle, make_quote, refused, supplier2):
    quote = make_quote(buyCurrency=b"EUR")
    with refused(fx.FxCurrencyNotListed, currency=b"EUR"):
        settle(quote, 100_00, supplier2)


# --- provider refusals -------------------------------------------------------------------


def test_settle_suspended_provider_refused(
    fx, participants, settle, make_quote, refused, operator, fx_provider, supplier2
):
    quote = make_quote()
    participants.suspend(fx_provider, sender=operator)
    with refused(participants.RegistryParticipantSuspended, account=fx_provider.address):
        settle(quote, 100_00, supplier2)


def test_settle_frozen_provider_refused(
    fx, participants, settle, make_quote, refused, regulator, fx_provider, supplier2
):
    quote = make_quote()
    participants.freezeAccount(fx_provider, sender=regulator)
    with refused(participants.RegistryAccountFrozen, account=fx_provider.address):
        settle(quote, 100_00, supplier2)


def test_settle_quote_of_account_without_fx_role_refused(
    fx, participants, settle, make_quote, sign_quote, refused, bank, supplier2
):
    quote = make_quote(provider=bank.address)  # the settlement bank is no FX provider
    with refused(participants.RegistryMissingRole, account=bank.address):
        settle(quote, 100_00, supplier2, signature=sign_quote(quote, signer=bank))


# --- standing of payer and payee ---------------------------------------------------------


@pytest.mark.parametrize("party", ["payer", "payee"])
def test_settle_frozen_party_refused(
    fx, participants, settle, make_quote, refused, regulator, core, supplier2, party
):
    account = core if party == "payer" else supplier2
    participants.freezeAccount(account, sender=regulator)
    with refused(fx.FxComplianceStanding, account=account.address, standing=FROZEN):
        settle(make_quote(), 100_00, supplier2)


def test_settle_suspended_payer_refused(
    fx, participants, settle, make_quote, refused, operator, core, supplier2
):
    participants.suspend(core, sender=operator)
    with refused(fx.FxComplianceStanding, account=core.address, standing=SUSPENDED):
        settle(make_quote(), 100_00, supplier2)


def test_settle_kyc_expired_payee_refused(
    fx, participants, settle, make_quote, refused, operator, chain, supplier2
):
    participants.updateKyc(supplier2, chain.pending_timestamp + 60, sender=operator)
    chain.mine(deltatime=120)
    with refused(fx.FxComplianceStanding, account=supplier2.address, standing=KYC_EXPIRED):
        settle(make_quote(), 100_00, supplier2)


def test_settle_to_unknown_payee_refused(fx, settle, make_quote, refused, outsider):
    with refused(fx.FxComplianceStanding, account=outsider.address, standing=NOT_ONBOARDED):
        settle(make_quote(), 100_00, outsider)


# --- corridors ---------------------------------------------------------------------------


def test_settle_closed_corridor_refused(fx, settle, make_quote, refused, financier2):
    assert not fx.corridorOpen(b"CN", b"SG")
    with refused(fx.FxComplianceCorridorClosed, fromJurisdiction=b"CN", toJurisdiction=b"SG"):
        settle(make_quote(), 100_00, financier2)


def test_regulator_opens_and_closes_corridor(
    fx, settle, make_quote, refused, balances, regulator, financier2
):
    tx = fx.setCorridor(b"CN", b"SG", True, sender=regulator)
    [event] = tx.events.filter(fx.CorridorSet)
    assert (event.fromJurisdiction, event.toJurisdiction, event.open, event.actor) == (
        b"CN",
        b"SG",
        True,
        regulator.address,
    )
    before = balances()
    settle(make_quote(), 100_00, financier2)
    assert balances()[("USD", financier2.address)] == before[("USD", financier2.address)] + 13_80

    fx.setCorridor(b"CN", b"SG", False, sender=regulator)
    with refused(fx.FxComplianceCorridorClosed, fromJurisdiction=b"CN", toJurisdiction=b"SG"):
        settle(make_quote(), 100_00, financier2)


def test_corridor_is_one_way(fx, regulator):
    fx.setCorridor(b"CN", b"SG", True, sender=regulator)
    assert fx.corridorOpen(b"CN", b"SG")
    assert not fx.corridorOpen(b"SG", b"CN")


def test_settle_domestic_needs_no_corridor(fx, settle, make_quote, regulator, balances, supplier):
    fx.setCorridor(b"CN", b"CN", False, sender=regulator)  # a domestic "corridor" cannot be closed
    before = balances()
    settle(make_quote(), 100_00, supplier)
    assert balances()[("USD", supplier.address)] == before[("USD", supplier.address)] + 13_80


# --- daily limits ------------------------------------------------------------------------


def test_settle_over_payer_daily_limit_refused(
    fx, settle, make_quote, refused, chain, regulator, core, supplier2
):
    chain.mine(timestamp=start_of_next_day(chain) + 10)
    fx.setDailyLimit(core, CNY, 1_000_00, sender=regulator)
    settle(make_quote(), 600_00, supplier2)
    with refused(
        fx.FxComplianceDailyLimit,
        account=core.address,
        currency=CNY,
        limit=1_000_00,
        usedToday=600_00,
        amount=400_01,
    ):
        settle(make_quote(), 400_01, supplier2)
    settle(make_quote(), 400_00, supplier2)  # exactly up to the limit
    assert fx.usedToday(core, CNY) == 1_000_00


def test_settle_over_payee_daily_limit_refused(
    fx, settle, make_quote, refused, chain, operator, supplier2
):
    chain.mine(timestamp=start_of_next_day(chain) + 10)
    fx.setDailyLimit(supplier2, USD, 100_00, sender=operator)
    with refused(
        fx.FxComplianceDailyLimit,
        account=supplier2.address,
        currency=USD,
        limit=100_00,
        usedToday=0,
        amount=138_00,
    ):
        settle(make_quote(), 1_000_00, supplier2)  # buys 138.00 USD for the payee


def test_daily_limit_resets_next_day(
    fx, settle, make_quote, refused, chain, regulator, core, supplier2
):
    chain.mine(timestamp=start_of_next_day(chain) + 10)
    fx.setDailyLimit(core, CNY, 1_000_00, sender=regulator)
    settle(make_quote(), 1_000_00, supplier2)
    with refused(fx.FxComplianceDailyLimit, account=core.address, usedToday=1_000_00, amount=100):
        settle(make_quote(), 100, supplier2)

    chain.mine(timestamp=start_of_next_day(chain))
    assert fx.usedToday(core, CNY) == 0
    settle(make_quote(), 1_000_00, supplier2)


def test_daily_limit_is_per_currency(fx, settle, make_quote, regulator, chain, core, supplier2):
    chain.mine(timestamp=start_of_next_day(chain) + 10)
    fx.setDailyLimit(core, USD, 1, sender=regulator)  # a USD limit does not bind CNY payments
    settle(make_quote(), 1_000_00, supplier2)


def test_zero_daily_limit_means_none(fx, settle, make_quote, regulator, core, supplier2):
    fx.setDailyLimit(core, CNY, 1, sender=regulator)
    fx.setDailyLimit(core, CNY, 0, sender=regulator)
    settle(make_quote(), 5_000_000_00, supplier2)


# --- balances and allowances ---------------------------------------------------------------


def test_settle_beyond_payer_balance_refused(fx, cny, settle, make_quote, refused, core, supplier2):
    balance = cny.balanceOf(core)
    with refused(
        cny.ERC20InsufficientBalance, sender=core.address, balance=balance, needed=balance + 1
    ):
        settle(make_quote(rate=10**16), balance + 1, supplier2)


def test_settle_beyond_payer_allowance_refused(
    fx, cny, settle, make_quote, refused, core, supplier2
):
    cny.approve(fx, 99_99, sender=core)
    with refused(
        cny.ERC20InsufficientAllowance, spender=fx.address, allowance=99_99, needed=100_00
    ):
        settle(make_quote(), 100_00, supplier2)


def test_settle_beyond_provider_balance_refused(
    fx, cny, usd, settle, make_quote, refused, core, fx_provider, supplier2
):
    # The payer's leg would succeed on its own: the provider's failing leg must undo it.
    balance = usd.balanceOf(fx_provider)
    sell = balance // 2 + 1  # at a rate of 2 this buys just over the provider's balance
    assert cny.balanceOf(core) >= sell
    with refused(
        usd.ERC20InsufficientBalance,
        sender=fx_provider.address,
        balance=balance,
        needed=2 * sell,
    ):
        settle(make_quote(rate=2 * 10**18), sell, supplier2)


def test_settle_beyond_provider_allowance_refused(
    fx, usd, settle, make_quote, refused, fx_provider, supplier2
):
    usd.approve(fx, 13_79, sender=fx_provider)
    with refused(usd.ERC20InsufficientAllowance, spender=fx.address, allowance=13_79, needed=13_80):
        settle(make_quote(), 100_00, supplier2)


# --- UETR and amount -----------------------------------------------------------------------


def test_settle_reused_uetr_refused(fx, settle, make_quote, refused, supplier2):
    uetr = new_uetr()
    settle(make_quote(), 100_00, supplier2, uetr=uetr)
    with refused(fx.FxDuplicateUetr, uetr=uetr):
        settle(make_quote(), 100_00, supplier2, uetr=uetr)


def test_settle_zero_uetr_refused(fx, settle, make_quote, refused, supplier2):
    with refused(fx.FxInvalidUetr, uetr=b"\0" * 16):
        settle(make_quote(), 100_00, supplier2, uetr=b"\0" * 16)


def test_settle_zero_amount_refused(fx, settle, make_quote, refused, supplier2):
    with refused(fx.FxInvalidAmount, amount=0):
        settle(make_quote(), 0, supplier2)


# --- posting quotes ------------------------------------------------------------------------


def test_post_quote_for_other_provider_refused(fx, make_quote, core, fx_provider, reverts):
    quote = make_quote()
    with reverts(fx.FxNotProvider, account=core.address, provider=fx_provider.address):
        fx.postQuote(quote, sender=core)


def test_post_quote_without_fx_role_refused(fx, participants, make_quote, bank, reverts):
    with reverts(participants.RegistryMissingRole, account=bank.address):
        fx.postQuote(make_quote(provider=bank.address), sender=bank)


def test_post_expired_quote_refused(fx, make_quote, chain, fx_provider, reverts):
    quote = make_quote(validUntil=chain.pending_timestamp - 1)
    with reverts(fx.FxQuoteExpired, quoteId=quote["quoteId"]):
        fx.postQuote(quote, sender=fx_provider)


def test_post_quote_twice_refused(fx, make_quote, fx_provider, reverts):
    quote = make_quote()
    fx.postQuote(quote, sender=fx_provider)
    with reverts(fx.FxQuoteAlreadyUsed, quoteId=quote["quoteId"]):
        fx.postQuote({**quote, "rate": 1}, sender=fx_provider)


def test_post_quote_by_suspended_provider_refused(
    fx, participants, make_quote, operator, fx_provider, reverts
):
    participants.suspend(fx_provider, sender=operator)
    with reverts(participants.RegistryParticipantSuspended, account=fx_provider.address):
        fx.postQuote(make_quote(), sender=fx_provider)


# --- rule setters --------------------------------------------------------------------------

RULE_SETTERS = {
    "corridor": lambda fx, sender: fx.setCorridor(b"CN", b"SG", True, sender=sender),
    "daily_limit": lambda fx, sender: fx.setDailyLimit(sender, CNY, 1, sender=sender),
    "max_quote_age": lambda fx, sender: fx.setMaxQuoteAge(1, sender=sender),
}


@pytest.mark.parametrize("rule", sorted(RULE_SETTERS))
@pytest.mark.parametrize(
    "who", ["core", "supplier", "financier", "bank", "fx_provider", "auditor", "outsider"]
)
def test_rule_setter_refused_for_other_roles(fx, request, rule, who, reverts):
    account = request.getfixturevalue(who)
    with reverts(fx.FxNotAuthorized, account=account.address):
        RULE_SETTERS[rule](fx, account)


@pytest.mark.parametrize("rule", sorted(RULE_SETTERS))
def test_rule_setter_refused_for_suspended_regulator(
    fx, participants, operator, regulator, rule, reverts
):
    participants.suspend(regulator, sender=operator)
    with reverts(fx.FxNotAuthorized, account=regulator.address):
        RULE_SETTERS[rule](fx, regulator)


@pytest.mark.parametrize("who", ["operator", "regulator"])
def test_rule_setters_accepted_for_operator_and_regulator(fx, request, core, who):
    account = request.getfixturevalue(who)
    tx = fx.setDailyLimit(core, CNY, 123, sender=account)
    [event] = tx.events.filter(fx.DailyLimitSet)
    assert (event.account, event.limit, event.actor) == (core.address, 123, account.address)
    fx.setMaxQuoteAge(60, sender=account)
    fx.setCorridor(b"CN", b"SG", True, sender=account)
    assert fx.dailyLimit(core, CNY) == 123
    assert fx.maxQuoteAge() == 60
    assert fx.corridorOpen(b"CN", b"SG")
