"""HashTimeLock: claim with the sha256 preimage before the timeout, refund from the
timeout on, never both."""

import hashlib
from contextlib import contextmanager

import pytest
from conftest import CNY, ZERO_ADDRESS
from eth_utils import keccak

SECRET = keccak(text="the secret that settles the other ledger's leg")
HASHLOCK = hashlib.sha256(SECRET).digest()
UETR = bytes.fromhex("8a562c67ca1649f1a0e6b1a4f4a0b1c2")
NONE, LOCKED, CLAIMED, REFUNDED = range(4)
ACTIVE, NOT_ONBOARDED, SUSPENDED, KYC_EXPIRED, FROZEN = range(5)


@pytest.fixture(scope="module", autouse=True)
def escrow_funded(htlc, cny, bank, core):
    cny.mint(core, 1_000_000_00, sender=bank)
    cny.approve(htlc, 2**256 - 1, sender=core)


@pytest.fixture
def lock(htlc, cny, core, supplier, chain):
    """Locks CNY of core for supplier under HASHLOCK for an hour; returns (lockId, timeout)."""

    def _lock(
        amount=250_000_00, recipient=None, token=None, hashlock=HASHLOCK, timeout=None, sender=None
    ):
        timeout = chain.pending_timestamp + 3600 if timeout is None else timeout
        tx = htlc.lock(
            token or cny,
            recipient or supplier,
            amount,
            hashlock,
            timeout,
            UETR,
            sender=sender or core,
        )
        return tx.return_value, timeout

    return _lock


@pytest.fixture
def balances(cny, core, supplier, htlc):
    def _balances():
        return {
            name: cny.balanceOf(account)
            for name, account in (("core", core), ("supplier", supplier), ("htlc", htlc))
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


def test_lock_moves_tokens_into_escrow(htlc, cny, lock, balances, core, supplier):
    before = balances()
    lock_id, timeout = lock(amount=250_000_00)

    after = balances()
    assert after["core"] == before["core"] - 250_000_00
    assert after["htlc"] == before["htlc"] + 250_000_00
    record = htlc.lockOf(lock_id)
    assert (record.sender, record.recipient, record.token) == (
        core.address,
        supplier.address,
        cny.address,
    )
    assert (record.amount, record.hashlock, record.timeout) == (250_000_00, HASHLOCK, timeout)
    assert (record.state, record.uetr) == (LOCKED, UETR)


def test_lock_emits_event_with_terms(htlc, cny, core, supplier, chain):
    timeout = chain.pending_timestamp + 60
    tx = htlc.lock(cny, supplier, 1_00, HASHLOCK, timeout, UETR, sender=core)
    [event] = tx.events.filter(htlc.HtlcLocked)
    assert (event.lockId, event.sender, event.recipient, event.token) == (
        tx.return_value,
        core.address,
        supplier.address,
        cny.address,
    )
    assert (event.amount, event.hashlock, event.timeout, event.uetr) == (
        1_00,
        HASHLOCK,
        timeout,
        UETR,
    )


def test_locks_get_distinct_ids(lock):
    first, _ = lock()
    second, _ = lock()
    assert second == first + 1


def test_claim_with_right_preimage_pays_recipient(htlc, lock, balances, supplier):
    lock_id, _ = lock(amount=250_000_00)
    before = balances()

    tx = htlc.claim(lock_id, SECRET, sender=supplier)

    after = balances()
    assert after["supplier"] == before["supplier"] + 250_000_00
    assert after["htlc"] == before["htlc"] - 250_000_00
    assert after["core"] == before["core"]
    assert htlc.lockOf(lock_id).state == CLAIMED
    [event] = tx.events.filter(htlc.HtlcClaimed)
    assert (event.lockId, event.recipient, event.preimage) == (lock_id, supplier.address, SECRET)


def test_claim_by_anyone_pays_the_recipient_only(htlc, lock, balances, outsider):
    lock_id, _ = lock(amount=1_00)
    before = balances()
    htlc.claim(lock_id, SECRET, sender=outsider)  # the preimage, not the caller, decides
    assert balances()["supplier"] == before["supplier"] + 1_00


def test_claim_just_before_timeout_accepted(htlc, lock, chain, supplier):
    lock_id, timeout = lock()
    chain.pending_timestamp = timeout - 1
    htlc.claim(lock_id, SECRET, sender=supplier)
    assert htlc.lockOf(lock_id).state == CLAIMED


def test_claim_with_wrong_preimage_refused(htlc, lock, refused, supplier):
    lock_id, _ = lock()
    with refused(htlc.HtlcWrongPreimage, lockId=lock_id):
        htlc.claim(lock_id, keccak(text="a guess"), sender=supplier)
    assert htlc.lockOf(lock_id).state == LOCKED


def test_claim_of_keccak_hashlock_refused(htlc, lock, refused, supplier):
    # The hashlock is sha256: a keccak256 commitment to the same secret opens nothing.
    lock_id, _ = lock(hashlock=keccak(SECRET))
    with refused(htlc.HtlcWrongPreimage, lockId=lock_id):
        htlc.claim(lock_id, SECRET, sender=supplier)


def test_claim_at_timeout_refused(htlc, lock, refused, chain, supplier):
    lock_id, timeout = lock()
    chain.pending_timestamp = timeout
    with refused(htlc.HtlcExpired, lockId=lock_id, timeout=timeout):
        htlc.claim(lock_id, SECRET, sender=supplier)


def test_claim_after_timeout_refused(htlc, lock, refused, chain, supplier):
    lock_id, timeout = lock()
    chain.mine(timestamp=timeout + 86_400)
    with refused(htlc.HtlcExpired, lockId=lock_id, timeout=timeout):
        htlc.claim(lock_id, SECRET, sender=supplier)


def test_refund_before_timeout_refused(htlc, lock, refused, chain, core):
    lock_id, timeout = lock()
    chain.pending_timestamp = timeout - 1
    with refused(htlc.HtlcNotExpired, lockId=lock_id, timeout=timeout):
        htlc.refund(lock_id, sender=core)


def test_refund_at_timeout_returns_tokens_to_sender(htlc, lock, balances, chain, core):
    lock_id, timeout = lock(amount=250_000_00)
    before = balances()
    chain.pending_timestamp = timeout

    tx = htlc.refund(lock_id, sender=core)

    after = balances()
    assert after["core"] == before["core"] + 250_000_00
    assert after["htlc"] == before["htlc"] - 250_000_00
    assert after["supplier"] == before["supplier"]
    assert htlc.lockOf(lock_id).state == REFUNDED
    [event] = tx.events.filter(htlc.HtlcRefunded)
    assert (event.lockId, event.sender) == (lock_id, core.address)


def test_refund_after_timeout_by_anyone_returns_tokens_to_sender(
    htlc, lock, balances, chain, outsider
):
    lock_id, timeout = lock(amount=5_00)
    before = balances()
    chain.mine(timestamp=timeout + 3600)
    htlc.refund(lock_id, sender=outsider)
    assert balances()["core"] == before["core"] + 5_00


def test_refund_after_claim_refused(htlc, lock, refused, chain, core, supplier):
    lock_id, timeout = lock()
    htlc.claim(lock_id, SECRET, sender=supplier)
    chain.mine(timestamp=timeout + 1)
    with refused(htlc.HtlcNotLocked, lockId=lock_id, state=CLAIMED):
        htlc.refund(lock_id, sender=core)


def test_claim_after_refund_refused(htlc, lock, refused, chain, core, supplier):
    lock_id, timeout = lock()
    chain.pending_timestamp = timeout
    htlc.refund(lock_id, sender=core)
    with refused(htlc.HtlcNotLocked, lockId=lock_id, state=REFUNDED):
        htlc.claim(lock_id, SECRET, sender=supplier)


def test_claim_twice_refused(htlc, lock, refused, supplier):
    lock_id, _ = lock()
    htlc.claim(lock_id, SECRET, sender=supplier)
    with refused(htlc.HtlcNotLocked, lockId=lock_id, state=CLAIMED):
        htlc.claim(lock_id, SECRET, sender=supplier)


def test_refund_twice_refused(htlc, lock, refused, chain, core):
    lock_id, timeout = lock()
    chain.pending_timestamp = timeout
    htlc.refund(lock_id, sender=core)
    with refused(htlc.HtlcNotLocked, lockId=lock_id, state=REFUNDED):
        htlc.refund(lock_id, sender=core)


def test_unknown_lock_refused(htlc, refused, supplier, reverts):
    with refused(htlc.HtlcUnknown, lockId=42):
        htlc.claim(42, SECRET, sender=supplier)
    with refused(htlc.HtlcUnknown, lockId=42):
        htlc.refund(42, sender=supplier)
    with reverts(htlc.HtlcUnknown, lockId=42):
        htlc.lockOf(42)


def test_lock_of_unlisted_token_refused(
    htlc, project, participants, operator, bank, core, supplier, chain, refused
):
    # A second CNY token of the same bank, never listed: not the ledger's CNY.
    shadow = operator.deploy(project.SettlementToken, participants, CNY, 2, bank)
    shadow.mint(core, 100_00, sender=bank)
    shadow.approve(htlc, 100_00, sender=core)
    with refused(htlc.HtlcTokenNotListed, token=shadow.address):
        htlc.lock(
            shadow, supplier, 100_00, HASHLOCK, chain.pending_timestamp + 60, UETR, sender=core
        )
    assert shadow.balanceOf(core) == 100_00


@pytest.mark.parametrize("token", ["account", "zero", "registry"])
def test_lock_of_something_not_a_token_refused(
    htlc, participants, refused, core, supplier, outsider, chain, token
):
    address = {"account": outsider.address, "zero": ZERO_ADDRESS, "registry": participants.address}[
        token
    ]
    with refused(htlc.HtlcTokenNotListed, token=address):
        htlc.lock(
            address, supplier, 100_00, HASHLOCK, chain.pending_timestamp + 60, UETR, sender=core
        )


@pytest.mark.parametrize("standing", ["suspended", "kyc_expired", "frozen"])
def test_lock_for_inactive_recipient_refused(
    htlc, cny, deactivate, refused, chain, core, supplier, standing
):
    deactivate(supplier, standing)
    code = {"suspended": SUSPENDED, "kyc_expired": KYC_EXPIRED, "frozen": FROZEN}[standing]
    with refused(htlc.HtlcRecipientRefused, recipient=supplier.address, standing=code):
        htlc.lock(
            cny, supplier, 100_00, HASHLOCK, chain.pending_timestamp + 3600, UETR, sender=core
        )


def test_lock_for_unknown_recipient_refused(htlc, cny, refused, chain, core, outsider):
    with refused(htlc.HtlcRecipientRefused, recipient=outsider.address, standing=NOT_ONBOARDED):
        htlc.lock(
            cny, outsider, 100_00, HASHLOCK, chain.pending_timestamp + 3600, UETR, sender=core
        )


def test_lock_by_frozen_sender_refused(
    htlc, cny, participants, refused, regulator, chain, core, supplier
):
    participants.freezeAccount(core, sender=regulator)
    with refused(cny.SettlementTokenAccountRefused, account=core.address, standing=FROZEN):
        htlc.lock(
            cny, supplier, 100_00, HASHLOCK, chain.pending_timestamp + 3600, UETR, sender=core
        )


def test_lock_with_invalid_terms_refused(htlc, cny, refused, chain, core, supplier):
    now = chain.pending_timestamp
    with refused(htlc.HtlcInvalidAmount, amount=0):
        htlc.lock(cny, supplier, 0, HASHLOCK, now + 3600, UETR, sender=core)
    with refused(htlc.HtlcInvalidHashlock):
        htlc.lock(cny, supplier, 100_00, b"\0" * 32, now + 3600, UETR, sender=core)
    chain.pending_timestamp = now + 10
    with refused(htlc.HtlcInvalidTimeout, timeout=now + 10):
        htlc.lock(cny, supplier, 100_00, HASHLOCK, now + 10, UETR, sender=core)


def test_lock_beyond_allowance_refused(htlc, cny, refused, chain, core, supplier):
    cny.approve(htlc, 99_99, sender=core)
    with refused(
        cny.ERC20InsufficientAllowance, spender=htlc.address, allowance=99_99, needed=100_00
    ):
        htlc.lock(
            cny, supplier, 100_00, HASHLOCK, chain.pending_timestamp + 3600, UETR, sender=core
        )


def test_claim_for_recipient_frozen_after_lock_goes_through_and_waits_for_it(
    htlc, cny, participants, lock, balances, reverts, regulator, chain, core, supplier
):
    # Once the other ledger revealed the preimage, the lock must not time out and go
    # back to the sender because the recipient was frozen meanwhile (issue 20).
    lock_id, timeout = lock(amount=100_00)
    participants.freezeAccount(supplier, sender=regulator)
    before = balances()
    htlc.claim(lock_id, SECRET, sender=supplier)
    assert balances() == before  # claimed, but kept for the recipient
    assert htlc.claimable(supplier, cny) == 100_00
    chain.pending_timestamp = timeout
    with reverts(htlc.HtlcNotLocked, lockId=lock_id, state=CLAIMED):
        htlc.refund(lock_id, sender=core)


def test_escrow_holds_exactly_the_open_locks(htlc, cny, lock, chain, core, supplier):
    claimed, _ = lock(amount=1_00)
    refunded, timeout = lock(amount=20_00)
    _open, _ = lock(amount=300_00, timeout=timeout + 3600)
    htlc.claim(claimed, SECRET, sender=supplier)
    chain.pending_timestamp = timeout
    htlc.refund(refunded, sender=core)
    assert cny.balanceOf(htlc) == 300_00
