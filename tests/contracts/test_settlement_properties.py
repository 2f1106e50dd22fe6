"""Property-based test of cross-border settlement: FxSettlement and HashTimeLock.

Hypothesis drives random sequences of PvP settlements at signed or posted quotes
(valid, and flawed: expired, stale, replayed, wrongly signed, tampered, bound to
another payer, a reused UETR, amounts past a balance or a daily limit, closed
corridors), HTLC lock / claim / refund (right and wrong preimages, before and after
the timeout), freezes, mints and burns, and the passing of time. A Python model
predicts every outcome, down to the custom error of each refusal. After every step,
for each settlement token:

- every balance equals the model's;
- the balances of the model's holders (all accounts that can hold tokens here, the
  escrow included) sum to totalSupply, which equals minted - burned: no value is
  created or lost, whatever was refused;
- the escrow holds exactly the amounts of the locks still LOCKED.

Each example runs from a chain snapshot and restores it. Examples and steps default
to 15 and 15; LEDGER_FUZZ_EXAMPLES and LEDGER_FUZZ_STEPS change them.
"""

import hashlib
import itertools
import os
import uuid
from dataclasses import dataclass

import pytest
from conftest import CNY, DAY, USD, ZERO_ADDRESS
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

EXAMPLES = int(os.environ.get("LEDGER_FUZZ_EXAMPLES", "15"))
STEPS = int(os.environ.get("LEDGER_FUZZ_STEPS", "15"))
RATE_SCALE = 10**18
MAX_QUOTE_AGE = 15 * 60
LIMITS = {("supplier2", USD): 20_000_00, ("core", CNY): 2_000_000_00}  # daily, per account
OPEN_CORRIDORS = {(b"CN", b"VN"), (b"VN", b"CN")}
JURISDICTION = {"core": b"CN", "supplier": b"CN", "supplier2": b"VN", "financier2": b"SG"}
FLAWS = [
    "none",
    "none",
    "none",
    "expired",
    "stale",
    "replay",
    "wrong_signer",
    "tampered",
    "wrong_payer",
    "reused_uetr",
]
_ids = itertools.count(1)


@dataclass
class Lock:
    lock_id: int
    sender: str
    recipient: str
    currency: bytes
    amount: int
    preimage: bytes
    timeout: int
    state: str = "LOCKED"


@pytest.fixture(scope="module")
def cross_border(
    fx, htlc, cny, usd, bank, operator, core, supplier, supplier2, financier2, fx_provider
):
    """Balances, approvals of both ledger contracts, corridors and daily limits."""
    grants = [
        (cny, core, 5_000_000_00),
        (cny, supplier, 1_000_000_00),
        (usd, supplier2, 100_000_00),
        (usd, financier2, 100_000_00),
        (cny, fx_provider, 2_000_000_00),
        (usd, fx_provider, 500_000_00),
    ]
    for token, account, amount in grants:
        token.mint(account, amount, sender=bank)
    for account in (core, supplier, supplier2, financier2, fx_provider):
        for token in (cny, usd):
            token.approve(fx, 2**256 - 1, sender=account)
            token.approve(htlc, 2**256 - 1, sender=account)
    for source, target in OPEN_CORRIDORS:
        fx.setCorridor(source, target, True, sender=operator)
    accounts = {"core": core, "supplier2": supplier2}
    for (name, currency), limit in LIMITS.items():
        fx.setDailyLimit(accounts[name], currency, limit, sender=operator)


def test_random_settlements_and_escrows_conserve_every_token(
    cross_border,
    reverts,
    fx,
    htlc,
    cny,
    usd,
    participants,
    bank,
    regulator,
    core,
    supplier,
    supplier2,
    financier2,
    fx_provider,
    outsider,
    sign_quote,
    chain,
):
    parties = {"core": core, "supplier": supplier, "supplier2": supplier2, "financier2": financier2}
    holders = {**parties, "provider": fx_provider, "bank": bank, "htlc": htlc}
    tokens = {CNY: cny, USD: usd}

    class CrossBorderLedger(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snapshot = chain.snapshot()
            self.t = chain.blocks.head.timestamp + 1
            self.balances = {
                (c, name): tokens[c].balanceOf(account)
                for c in tokens
                for name, account in holders.items()
            }
            self.minted = {c: tokens[c].totalSupply() for c in tokens}
            # Held by accounts this machine never touches (the session's funding of other
            # financiers, escrow left in the desk or clearing): constant through a run.
            self.outside = {
                c: self.minted[c] - sum(self.balances[(c, name)] for name in holders)
                for c in tokens
            }
            self.burned = dict.fromkeys(tokens, 0)
            self.used_quotes: list[dict] = []
            self.posted: set[bytes] = set()
            self.uetrs: list[bytes] = []
            self.used_today: dict[tuple[str, bytes, int], int] = {}
            self.frozen: set[str] = set()
            self.locks: list[Lock] = []
            # What the lock keeps for a party it could not pay (issue 20): (currency, name).
            self.owed: dict[tuple[bytes, str], int] = {}

        def teardown(self):
            chain.restore(self.snapshot)

        # ------------------------------------------------------------ helpers

        def send(self, expected, action):
            """Sends one transaction in a block at the model's clock; expected is None
            or (contract, error name)."""
            chain.pending_timestamp = self.t
            self.t += 1
            if expected is None:
                return action()
            contract, name = expected
            with reverts(getattr(contract, name)):
                action()
            return None

        def standing_ok(self, name):
            return name not in self.frozen

        def move(self, currency, source, target, amount):
            self.balances[(currency, source)] -= amount
            self.balances[(currency, target)] += amount

        def quote(self, sell, buy, rate, issued, valid_until, payer=ZERO_ADDRESS):
            return {
                "quoteId": keccak(text=f"property-quote-{next(_ids)}"),
                "provider": fx_provider.address,
                "sellCurrency": sell,
                "buyCurrency": buy,
                "rate": rate,
                "issuedAt": issued,
                "validUntil": valid_until,
                "payer": payer,
            }

        # ------------------------------------------------------------ PvP

        @rule(
            payer=st.sampled_from(sorted(parties)),
            payee=st.sampled_from(sorted(parties)),
            sell=st.sampled_from([CNY, USD]),
            amount=st.one_of(st.integers(0, 2_000_00), st.integers(0, 3_000_000_00)),
            rate=st.one_of(st.just(138_000_000_000_000_000), st.integers(10**16, 10**19)),
            posted=st.booleans(),
            flaw=st.sampled_from(FLAWS),
        )
        def settle(self, payer, payee, sell, amount, rate, posted, flaw):
            buy = USD if sell == CNY else CNY
            if flaw == "replay" and not self.used_quotes:
                flaw = "none"
            if flaw == "reused_uetr" and not self.uetrs:
                flaw = "none"
            bound = (
                parties["supplier"].address
                if flaw == "wrong_payer" and payer != "supplier"
                else ZERO_ADDRESS
            )
            if flaw == "wrong_payer" and payer == "supplier":
                bound = parties["core"].address
            issued = self.t - MAX_QUOTE_AGE - 1 if flaw == "stale" else self.t
            valid_until = self.t + 1 if flaw == "expired" else self.t + 600
            quote = self.quote(sell, buy, rate, issued, valid_until, bound)
            if flaw == "replay":
                quote = self.used_quotes[-1]
            if posted and flaw != "replay":
                self.send(None, lambda: fx.postQuote(quote, sender=fx_provider))
                self.posted.add(quote["quoteId"])
            if flaw == "expired":
                self.t = valid_until + 1
            signature = (
                b""
                if posted
                else sign_quote(quote, signer=outsider if flaw == "wrong_signer" else None)
            )
            presented = {**quote, "rate": quote["rate"] + 1} if flaw == "tampered" else quote
            uetr = self.uetrs[-1] if flaw == "reused_uetr" else uuid.uuid4().bytes
            payment = {
                "uetr": uetr,
                "payee": parties[payee].address,
                "sellAmount": amount,
                "purpose": b"SUPP".ljust(32, b"\0"),
                "referenceId": 0,
            }
            expected = self.predict_settle(
                payer, payee, presented, quote, posted, flaw, uetr, amount
            )
            self.send(
                expected, lambda: fx.settle(payment, presented, signature, sender=parties[payer])
            )
            if expected is None:
                self.apply_settle(payer, payee, quote, uetr, amount)

        def predict_settle(self, payer, payee, presented, quote, posted, flaw, uetr, amount):
            now = self.t
            q = presented
            if any(q["quoteId"] == u["quoteId"] for u in self.used_quotes):
                return fx, "FxQuoteAlreadyUsed"
            if now > q["validUntil"]:
                return fx, "FxQuoteExpired"
            if q["issuedAt"] > now or now - q["issuedAt"] > MAX_QUOTE_AGE:
                return fx, "FxQuoteStale"
            if q["payer"] not in (ZERO_ADDRESS, parties[payer].address):
                return fx, "FxQuoteWrongPayer"
            if posted and flaw == "tampered":
                return fx, "FxQuoteNotPosted"
            if not posted and flaw in ("wrong_signer", "tampered"):
                return fx, "FxQuoteBadSignature"
            if uetr in self.uetrs:
                return fx, "FxDuplicateUetr"
            buy_amount = amount * q["rate"] // RATE_SCALE
            if amount == 0 or buy_amount == 0:
                return fx, "FxInvalidAmount"
            for name in (payer, payee):
                if not self.standing_ok(name):
                    return fx, "FxComplianceStanding"
            if (
                JURISDICTION[payer] != JURISDICTION[payee]
                and (JURISDICTION[payer], JURISDICTION[payee]) not in OPEN_CORRIDORS
            ):
                return fx, "FxComplianceCorridorClosed"
            day = now // DAY
            for name, currency, value in (
                (payer, q["sellCurrency"], amount),
                (payee, q["buyCurrency"], buy_amount),
            ):
                limit = LIMITS.get((name, currency), 0)
                if limit and self.used_today.get((name, currency, day), 0) + value > limit:
                    return fx, "FxComplianceDailyLimit"
            if self.balances[(q["sellCurrency"], payer)] < amount:
                return tokens[q["sellCurrency"]], "ERC20InsufficientBalance"
            provider_buy = self.balances[(q["buyCurrency"], "provider")]
            if provider_buy < buy_amount:
                return tokens[q["buyCurrency"]], "ERC20InsufficientBalance"
            return None

        def apply_settle(self, payer, payee, quote, uetr, amount):
            now = self.t - 1
            buy_amount = amount * quote["rate"] // RATE_SCALE
            self.move(quote["sellCurrency"], payer, "provider", amount)
            self.move(quote["buyCurrency"], "provider", payee, buy_amount)
            self.used_quotes.append(quote)
            self.uetrs.append(uetr)
            day = now // DAY
            for key, value in (
                ((payer, quote["sellCurrency"], day), amount),
                ((payee, quote["buyCurrency"], day), buy_amount),
            ):
                self.used_today[key] = self.used_today.get(key, 0) + value

        # ------------------------------------------------------------ HTLC

        @rule(
            sender=st.sampled_from(sorted(parties)),
            recipient=st.sampled_from(sorted(parties)),
            currency=st.sampled_from([CNY, USD]),
            amount=st.one_of(st.just(0), st.integers(1, 200_000_00), st.integers(1, 10_000_000_00)),
            timeout_in=st.integers(-60, 3 * DAY),
        )
        def lock(self, sender, recipient, currency, amount, timeout_in):
            preimage = keccak(text=f"secret-{next(_ids)}")
            timeout = max(self.t + timeout_in, 0)
            hashlock = hashlib.sha256(preimage).digest()
            expected = self.predict_lock(sender, recipient, currency, amount, timeout)
            token = tokens[currency]
            tx = self.send(
                expected,
                lambda: htlc.lock(
                    token,
                    parties[recipient],
                    amount,
                    hashlock,
                    timeout,
                    uuid.uuid4().bytes,
                    sender=parties[sender],
                ),
            )
            if expected is None:
                self.locks.append(
                    Lock(tx.return_value, sender, recipient, currency, amount, preimage, timeout)
                )
                self.move(currency, sender, "htlc", amount)

        def predict_lock(self, sender, recipient, currency, amount, timeout):
            if amount == 0:
                return htlc, "HtlcInvalidAmount"
            if timeout <= self.t:
                return htlc, "HtlcInvalidTimeout"
            if not self.standing_ok(recipient):
                return htlc, "HtlcRecipientRefused"
            if not self.standing_ok(sender):
                return tokens[currency], "SettlementTokenAccountRefused"
            if self.balances[(currency, sender)] < amount:
                return tokens[currency], "ERC20InsufficientBalance"
            return None

        @precondition(lambda self: self.locks)
        @rule(
            pick=st.integers(0, 10**6),
            right_preimage=st.booleans(),
            caller=st.sampled_from(["recipient", "outsider"]),
        )
        def claim(self, pick, right_preimage, caller):
            lock = self.locks[pick % len(self.locks)]
            preimage = lock.preimage if right_preimage else keccak(lock.preimage)
            if lock.state != "LOCKED":
                expected = (htlc, "HtlcNotLocked")
            elif self.t >= lock.timeout:
                expected = (htlc, "HtlcExpired")
            elif not right_preimage:
                expected = (htlc, "HtlcWrongPreimage")
            else:
                expected = None  # a recipient not in good standing has it deferred
            who = parties[lock.recipient] if caller == "recipient" else outsider
            self.send(expected, lambda: htlc.claim(lock.lock_id, preimage, sender=who))
            if expected is None:
                lock.state = "CLAIMED"
                self.pay_or_defer(lock.currency, lock.recipient, lock.amount)

        @precondition(lambda self: self.locks)
        @rule(pick=st.integers(0, 10**6))
        def refund(self, pick):
            lock = self.locks[pick % len(self.locks)]
            if lock.state != "LOCKED":
                expected = (htlc, "HtlcNotLocked")
            elif self.t < lock.timeout:
                expected = (htlc, "HtlcNotExpired")
            else:
                expected = None  # a sender not in good standing has it deferred
            self.send(expected, lambda: htlc.refund(lock.lock_id, sender=outsider))
            if expected is None:
                lock.state = "REFUNDED"
                self.pay_or_defer(lock.currency, lock.sender, lock.amount)

        def pay_or_defer(self, currency, payee, amount):
            if self.standing_ok(payee):
                self.move(currency, "htlc", payee, amount)
            else:
                self.owed[(currency, payee)] = self.owed.get((currency, payee), 0) + amount

        @rule(
            name=st.sampled_from(["supplier", "supplier2", "core"]),
            currency=st.sampled_from([CNY, USD]),
        )
        def claim_deferred(self, name, currency):
            owed = self.owed.get((currency, name), 0)
            if owed == 0:
                expected = (htlc, "DeferredNothingToClaim")
            elif not self.standing_ok(name):
                expected = (tokens[currency], "SettlementTokenAccountRefused")
            else:
                expected = None
            self.send(expected, lambda: htlc.claim(tokens[currency], sender=parties[name]))
            if expected is None:
                self.owed[(currency, name)] = 0
                self.move(currency, "htlc", name, owed)

        # ------------------------------------------------------------ the world

        @rule(seconds=st.one_of(st.integers(1, 900), st.integers(1, 2 * DAY)))
        def time_passes(self, seconds):
            self.t += seconds

        @rule(name=st.sampled_from(["supplier", "supplier2"]))
        def freeze_or_unfreeze(self, name):
            if name in self.frozen:
                self.send(
                    None, lambda: participants.unfreezeAccount(parties[name], sender=regulator)
                )
                self.frozen.discard(name)
            else:
                self.send(None, lambda: participants.freezeAccount(parties[name], sender=regulator))
                self.frozen.add(name)

        @rule(
            currency=st.sampled_from([CNY, USD]),
            to=st.sampled_from(["bank", "provider", "core"]),
            amount=st.integers(1, 10**9),
        )
        def mint(self, currency, to, amount):
            self.send(None, lambda: tokens[currency].mint(holders[to], amount, sender=bank))
            self.balances[(currency, to)] += amount
            self.minted[currency] += amount

        @rule(currency=st.sampled_from([CNY, USD]), amount=st.integers(1, 10**9))
        def burn(self, currency, amount):
            enough = self.balances[(currency, "bank")] >= amount
            expected = None if enough else (tokens[currency], "ERC20InsufficientBalance")
            self.send(expected, lambda: tokens[currency].burn(amount, sender=bank))
            if enough:
                self.balances[(currency, "bank")] -= amount
                self.burned[currency] += amount

        # ------------------------------------------------------------ invariants

        @invariant()
        def every_token_is_conserved(self):
            for currency, token in tokens.items():
                on_chain = {name: token.balanceOf(account) for name, account in holders.items()}
                assert on_chain == {name: self.balances[(currency, name)] for name in holders}
                supply = token.totalSupply()
                assert (
                    sum(on_chain.values()) + self.outside[currency]
                    == supply
                    == self.minted[currency] - self.burned[currency]
                )
                escrowed = sum(
                    lock.amount
                    for lock in self.locks
                    if lock.currency == currency and lock.state == "LOCKED"
                )
                owed = sum(v for (c, _name), v in self.owed.items() if c == currency)
                assert on_chain["htlc"] == escrowed + owed
                for name in ("supplier", "supplier2", "core"):
                    assert htlc.claimable(parties[name], token) == self.owed.get(
                        (currency, name), 0
                    )

    run_state_machine_as_test(
        CrossBorderLedger,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
