"""SettlementToken: ERC-20 conformance, issuance by its settlement bank only, value
moving only between active participants and ledger contracts, regulator freezes."""

import pytest
from eth_utils import keccak

pytestmark = pytest.mark.usefixtures("quiet_reverts")  # hundreds of expected reverts

SETTLEMENT_BANK = keccak(text="SETTLEMENT_BANK")
UNLIMITED = 2**256 - 1
ZERO = "0x" + "00" * 20

# IParticipantRegistry.Standing
ACTIVE, NOT_ONBOARDED, SUSPENDED, KYC_EXPIRED, FROZEN = range(5)
STANDING = {"suspended": SUSPENDED, "kyc_expired": KYC_EXPIRED, "frozen": FROZEN}


@pytest.fixture
def minted(token, bank, supplier, supplier2):
    """1,000.00 CNY each for the supplier and the tier-2 supplier."""
    for account in (supplier, supplier2):
        token.mint(account, 1_000_00, sender=bank)
    return 1_000_00


def transfers(tx):
    return [
        (e.event_name, e["from"], e.to, e.value) for e in tx.events if e.event_name == "Transfer"
    ]


@pytest.fixture
def token(project, participants, operator, bank):
    """A fresh CNY token for each test here, so supply and balances start at zero
    whatever the session's fixtures minted on the listed `cny`."""
    return operator.deploy(project.SettlementToken, participants, b"CNY", 2, bank)


# ----------------------------------------------------------------- ERC-20 surface


def test_metadata_names_currency_and_minor_unit(project, participants, operator, bank, token):
    assert token.name() == "Tokenized deposit CNY"
    assert token.symbol() == "CNY"
    assert token.decimals() == 2
    assert token.currency() == b"CNY"
    assert token.issuer() == bank.address
    assert token.registry() == participants.address
    assert token.totalSupply() == 0
    jpy = operator.deploy(project.SettlementToken, participants, b"JPY", 0, bank)
    assert jpy.decimals() == 0


def test_transfer_moves_balance_and_emits_transfer(token, minted, supplier, supplier2):
    tx = token.transfer(supplier2, 250_00, sender=supplier)
    assert tx.return_value is True
    assert transfers(tx) == [("Transfer", supplier.address, supplier2.address, 250_00)]
    assert token.balanceOf(supplier) == minted - 250_00
    assert token.balanceOf(supplier2) == minted + 250_00
    assert token.totalSupply() == 2 * minted


def test_transfer_refuses_more_than_balance(reverts, token, minted, supplier, supplier2):
    with reverts(
        token.ERC20InsufficientBalance, sender=supplier, balance=minted, needed=minted + 1
    ):
        token.transfer(supplier2, minted + 1, sender=supplier)


def test_transfer_refuses_zero_address(reverts, token, minted, supplier):
    with reverts(token.ERC20InvalidReceiver, receiver=ZERO):
        token.transfer(ZERO, 1, sender=supplier)


def test_approve_sets_allowance_and_emits_approval(token, supplier, financier):
    tx = token.approve(financier, 300_00, sender=supplier)
    assert tx.return_value is True
    assert [(e.event_name, e.owner, e.spender, e.value) for e in tx.events] == [
        ("Approval", supplier.address, financier.address, 300_00)
    ]
    assert token.allowance(supplier, financier) == 300_00
    token.approve(financier, 0, sender=supplier)
    assert token.allowance(supplier, financier) == 0


def test_approve_refuses_zero_spender(reverts, token, supplier):
    with reverts(token.ERC20InvalidSpender, spender=ZERO):
        token.approve(ZERO, 1, sender=supplier)


def test_transfer_from_spends_allowance(token, minted, supplier, supplier2, financier):
    token.approve(financier, 300_00, sender=supplier)
    tx = token.transferFrom(supplier, supplier2, 100_00, sender=financier)
    assert tx.return_value is True
    assert transfers(tx) == [("Transfer", supplier.address, supplier2.address, 100_00)]
    assert token.allowance(supplier, financier) == 200_00
    assert token.balanceOf(supplier) == minted - 100_00
    assert token.balanceOf(supplier2) == minted + 100_00


def test_transfer_from_keeps_unlimited_allowance(token, minted, supplier, supplier2, financier):
    token.approve(financier, UNLIMITED, sender=supplier)
    token.transferFrom(supplier, supplier2, 100_00, sender=financier)
    assert token.allowance(supplier, financier) == UNLIMITED


def test_transfer_from_refuses_beyond_allowance(
    reverts, token, minted, supplier, supplier2, financier
):
    token.approve(financier, 99, sender=supplier)
    with reverts(token.ERC20InsufficientAllowance, spender=financier, allowance=99, needed=100):
        token.transferFrom(supplier, supplier2, 100, sender=financier)
    assert token.balanceOf(supplier2) == minted


# ------------------------------------------------------------ issuance (mint/burn)


def test_mint_credits_participant_and_emits_events(token, bank, supplier):
    tx = token.mint(supplier, 500_00, sender=bank)
    assert [e.event_name for e in tx.events] == ["Transfer", "SettlementTokenMinted"]
    assert transfers(tx) == [("Transfer", ZERO, supplier.address, 500_00)]
    minted = tx.events[1]
    assert (minted.issuer, minted.to, minted.amount) == (bank.address, supplier.address, 500_00)
    assert token.balanceOf(supplier) == 500_00
    assert token.totalSupply() == 500_00


def test_burn_debits_issuer_and_emits_events(token, minted, bank, supplier):
    token.transfer(
        bank, 400_00, sender=supplier
    )  # the holder withdraws: tokens go back to the bank
    tx = token.burn(300_00, sender=bank)
    assert [e.event_name for e in tx.events] == ["Transfer", "SettlementTokenBurned"]
    assert transfers(tx) == [("Transfer", bank.address, ZERO, 300_00)]
    assert (tx.events[1].issuer, tx.events[1].amount) == (bank.address, 300_00)
    assert token.balanceOf(bank) == 100_00
    assert token.totalSupply() == 2 * minted - 300_00


def test_burn_refuses_more_than_issuer_balance(reverts, token, minted, bank):
    with reverts(token.ERC20InsufficientBalance, sender=bank, balance=0, needed=1):
        token.burn(1, sender=bank)


@pytest.mark.parametrize("function", ["mint", "burn"])
def test_issuance_refuses_zero_amount(reverts, token, bank, supplier, function):
    with reverts(token.SettlementTokenInvalidAmount, amount=0):
        token.mint(supplier, 0, sender=bank) if function == "mint" else token.burn(0, sender=bank)


@pytest.mark.parametrize("to", ["outsider", "receivables"])
def test_mint_refuses_account_outside_ledger(request, reverts, token, bank, to):
    account = request.getfixturevalue(to)
    with reverts(token.SettlementTokenAccountRefused, account=account, standing=NOT_ONBOARDED):
        token.mint(account, 1, sender=bank)


@pytest.mark.parametrize("standing", ["suspended", "kyc_expired", "frozen"])
def test_mint_refuses_participant_in_bad_standing(
    reverts, token, bank, supplier, deactivate, standing
):
    deactivate(supplier, standing)
    with reverts(
        token.SettlementTokenAccountRefused, account=supplier, standing=STANDING[standing]
    ):
        token.mint(supplier, 1, sender=bank)


NON_ISSUERS = [
    "operator",
    "core",
    "supplier",
    "financier",
    "regulator",
    "auditor",
    "outsider",
]


@pytest.mark.parametrize("function", ["mint", "burn"])
@pytest.mark.parametrize("caller", NON_ISSUERS)
def test_issuance_refuses_everyone_but_issuer(
    request, reverts, token, bank, supplier, minted, function, caller
):
    account = request.getfixturevalue(caller)
    with reverts(token.SettlementTokenNotIssuer, account=account, issuer=bank):
        if function == "mint":
            token.mint(supplier, 1, sender=account)
        else:
            token.burn(1, sender=account)
    assert token.totalSupply() == 2 * minted


def test_mint_refuses_settlement_bank_of_another_token(
    reverts, project, participants, operator, bank, token, outsider, chain
):
    """Holding SETTLEMENT_BANK is not enough: only this token's issuer mints it."""
    participants.onboard(
        outsider,
        keccak(text="LEI-HK-bank"),
        b"HK",
        chain.pending_timestamp + 86_400,
        [SETTLEMENT_BANK],
        sender=operator,
    )
    hkd = operator.deploy(project.SettlementToken, participants, b"HKD", 2, outsider)
    hkd.mint(outsider, 1, sender=outsider)
    with reverts(token.SettlementTokenNotIssuer, account=outsider, issuer=bank):
        token.mint(outsider, 1, sender=outsider)


def test_mint_refuses_issuer_without_settlement_bank_role(
    reverts, project, participants, operator, supplier
):
    token = operator.deploy(project.SettlementToken, participants, b"EUR", 2, supplier)
    with reverts(participants.RegistryMissingRole, account=supplier, role=SETTLEMENT_BANK):
        token.mint(supplier, 1, sender=supplier)


@pytest.mark.parametrize("function", ["mint", "burn"])
@pytest.mark.parametrize("standing", ["suspended", "kyc_expired", "frozen"])
def test_issuance_refuses_issuer_in_bad_standing(
    reverts, token, bank, supplier, minted, deactivate, function, standing
):
    token.transfer(bank, 1, sender=supplier)
    error, arguments = deactivate(bank, standing)
    with reverts(error, **arguments):
        token.mint(supplier, 1, sender=bank) if function == "mint" else token.burn(1, sender=bank)


# ---------------------------------------------- only active participants move value


@pytest.mark.parametrize("standing", ["suspended", "kyc_expired", "frozen"])
@pytest.mark.parametrize("end", ["sender", "recipient"])
def test_transfer_refuses_participant_in_bad_standing(
    reverts, token, minted, supplier, supplier2, deactivate, standing, end
):
    stuck = supplier if end == "sender" else supplier2
    deactivate(stuck, standing)
    with reverts(token.SettlementTokenAccountRefused, account=stuck, standing=STANDING[standing]):
        token.transfer(supplier2, 1, sender=supplier)
    assert token.balanceOf(supplier2) == minted


@pytest.mark.parametrize("standing", ["suspended", "kyc_expired", "frozen"])
@pytest.mark.parametrize("end", ["owner", "recipient", "spender"])
def test_transfer_from_refuses_participant_in_bad_standing(
    reverts, token, minted, supplier, supplier2, financier, deactivate, standing, end
):
    token.approve(financier, UNLIMITED, sender=supplier)
    stuck = {"owner": supplier, "recipient": supplier2, "spender": financier}[end]
    deactivate(stuck, standing)
    with reverts(token.SettlementTokenAccountRefused, account=stuck, standing=STANDING[standing]):
        token.transferFrom(supplier, supplier2, 1, sender=financier)
    assert token.balanceOf(supplier2) == minted


def test_transfer_refuses_account_outside_ledger(reverts, token, minted, supplier, outsider):
    with reverts(token.SettlementTokenAccountRefused, account=outsider, standing=NOT_ONBOARDED):
        token.transfer(outsider, 1, sender=supplier)


def test_transfer_from_refuses_spender_outside_ledger(
    reverts, token, minted, supplier, supplier2, outsider
):
    token.approve(outsider, UNLIMITED, sender=supplier)
    with reverts(token.SettlementTokenAccountRefused, account=outsider, standing=NOT_ONBOARDED):
        token.transferFrom(supplier, supplier2, 1, sender=outsider)


def test_freeze_account_blocks_and_unfreeze_restores_transfers(
    reverts, token, participants, regulator, minted, supplier, supplier2
):
    participants.freezeAccount(supplier, sender=regulator)
    with reverts(token.SettlementTokenAccountRefused, account=supplier, standing=FROZEN):
        token.transfer(supplier2, 1, sender=supplier)
    with reverts(token.SettlementTokenAccountRefused, account=supplier, standing=FROZEN):
        token.transfer(supplier, 1, sender=supplier2)

    participants.unfreezeAccount(supplier, sender=regulator)
    token.transfer(supplier2, 1, sender=supplier)
    token.transfer(supplier, 2, sender=supplier2)
    assert token.balanceOf(supplier) == minted + 1


def test_reinstated_participant_moves_value_again(
    token, participants, operator, minted, supplier, supplier2
):
    participants.suspend(supplier, sender=operator)
    participants.reinstate(supplier, sender=operator)
    token.transfer(supplier2, 1, sender=supplier)
    assert token.balanceOf(supplier2) == minted + 1


def test_ledger_contract_holds_and_pays_out_tokens(
    token, minted, supplier, supplier2, desk, ledger
):
    token.transfer(desk, 100_00, sender=supplier)
    assert token.balanceOf(desk) == 100_00
    token.transfer(supplier2, 40_00, sender=ledger)
    assert token.balanceOf(desk) == 60_00
    assert token.balanceOf(supplier2) == minted + 40_00


def test_mint_credits_ledger_contract(token, bank, desk):
    token.mint(desk, 1, sender=bank)
    assert token.balanceOf(desk) == 1
