"""ParticipantRegistry: onboarding, standing, regulator freezes, ledger contracts,
settlement-token listing, and who may call what."""

import pytest
from eth_utils import keccak

pytestmark = pytest.mark.usefixtures("quiet_reverts")  # hundreds of expected reverts

DAY = 86_400
OPERATOR = keccak(text="OPERATOR")
SUPPLIER = keccak(text="SUPPLIER")
FINANCIER = keccak(text="FINANCIER")
REGULATOR = keccak(text="REGULATOR")
LEDGER = keccak(text="LEDGER")

# IParticipantRegistry.Standing
ACTIVE, NOT_ONBOARDED, SUSPENDED, KYC_EXPIRED, FROZEN = range(5)

# Every fixture account but the operator; `outsider` was never onboarded.
NON_OPERATORS = [
    "core",
    "supplier",
    "supplier2",
    "financier",
    "bank",
    "regulator",
    "auditor",
    "outsider",
]
NON_REGULATORS = ["operator", "core", "supplier", "financier", "bank", "auditor", "outsider"]


def onboard(participants, operator, account, chain, roles=(SUPPLIER,), **overrides):
    fields = {
        "lei": keccak(text=f"LEI-{account.address}"),
        "jurisdiction": b"DE",
        "kycExpiry": chain.pending_timestamp + 365 * DAY,
    }
    fields.update(overrides)
    return participants.onboard(account, *fields.values(), list(roles), sender=operator)


def event_names(tx):
    return [e.event_name for e in tx.events]


# --------------------------------------------------------------------- onboarding


def test_onboard_records_participant_roles_and_events(participants, operator, outsider, chain):
    expiry = chain.pending_timestamp + 365 * DAY
    tx = onboard(
        participants, operator, outsider, chain, roles=[SUPPLIER, FINANCIER], kycExpiry=expiry
    )

    p = participants.participant(outsider)
    assert p.lei == keccak(text=f"LEI-{outsider.address}")
    assert p.jurisdiction == b"DE"
    assert p.kycExpiry == expiry
    assert (p.onboarded, p.suspended, p.frozen) == (True, False, False)
    assert participants.standing(outsider) == ACTIVE
    assert participants.canAct(outsider, SUPPLIER)
    assert participants.canAct(outsider, FINANCIER)
    assert not participants.canAct(outsider, REGULATOR)

    assert event_names(tx) == ["ParticipantOnboarded", "RoleGranted", "RoleGranted"]
    onboarded = tx.events[0]
    assert onboarded.account == outsider.address
    assert onboarded.operator == operator.address
    assert onboarded.kycExpiry == expiry
    assert [(e.role, e.account, e.sender) for e in tx.events[1:]] == [
        (SUPPLIER, outsider.address, operator.address),
        (FINANCIER, outsider.address, operator.address),
    ]


def test_onboard_refuses_existing_participant(reverts, participants, operator, supplier, chain):
    with reverts(participants.RegistryParticipantExists, account=supplier.address):
        onboard(participants, operator, supplier, chain)


# Issue 17: one legal entity, one account. An LEI onboarded twice would give a second
# account the first one's invoice keys (the registry binds them to the creditor's LEI).
def test_onboard_refuses_lei_held_by_another_participant(
    reverts, participants, operator, supplier, outsider, chain
):
    held = participants.leiOf(supplier)
    assert participants.participantByLei(held) == supplier.address
    with reverts(participants.RegistryDuplicateLei, lei=held, holder=supplier.address):
        onboard(participants, operator, outsider, chain, lei=held)
    assert not participants.participant(outsider).onboarded


def test_participant_by_lei_names_onboarded_account(participants, operator, outsider, chain):
    lei = keccak(text="LEI-new-entity")
    assert participants.participantByLei(lei) == "0x" + "00" * 20
    onboard(participants, operator, outsider, chain, lei=lei)
    assert participants.participantByLei(lei) == outsider.address
    assert participants.leiOf(outsider) == lei


def test_onboard_refuses_zero_address(reverts, participants, operator, chain):
    with reverts(participants.RegistryInvalidAccount):
        participants.onboard(
            "0x" + "00" * 20,
            keccak(text="x"),
            b"DE",
            chain.pending_timestamp + DAY,
            [],
            sender=operator,
        )


def test_onboard_refuses_zero_lei(reverts, participants, operator, outsider, chain):
    with reverts(participants.RegistryInvalidLei):
        onboard(participants, operator, outsider, chain, lei=b"\x00" * 32)


@pytest.mark.parametrize("jurisdiction", [b"de", b"D1", b"\x00\x00", b"[A"])
def test_onboard_refuses_malformed_jurisdiction(
    reverts, participants, operator, outsider, chain, jurisdiction
):
    with reverts(participants.RegistryInvalidJurisdiction, jurisdiction=jurisdiction):
        onboard(participants, operator, outsider, chain, jurisdiction=jurisdiction)


def test_onboard_refuses_kyc_expiry_not_in_future(reverts, participants, operator, outsider, chain):
    expiry = chain.blocks.head.timestamp
    with reverts(participants.RegistryInvalidKycExpiry, kycExpiry=expiry):
        onboard(participants, operator, outsider, chain, kycExpiry=expiry)


def test_onboard_refuses_ledger_role_for_person(reverts, participants, operator, outsider, chain):
    with reverts(participants.RegistryInvalidAccount, account=outsider.address):
        onboard(participants, operator, outsider, chain, roles=[LEDGER])
    assert not participants.participant(outsider).onboarded


# ------------------------------------------------------------ suspension and KYC


def test_suspend_blocks_and_reinstate_restores_standing(reverts, participants, operator, supplier):
    tx = participants.suspend(supplier, sender=operator)
    assert event_names(tx) == ["ParticipantSuspended"]
    assert (tx.events[0].account, tx.events[0].operator) == (supplier.address, operator.address)
    assert participants.standing(supplier) == SUSPENDED
    assert not participants.isActive(supplier)
    assert not participants.canAct(supplier, SUPPLIER)
    with reverts(participants.RegistryParticipantSuspended, account=supplier.address):
        participants.requireActor(supplier, SUPPLIER)

    tx = participants.reinstate(supplier, sender=operator)
    assert event_names(tx) == ["ParticipantReinstated"]
    assert (tx.events[0].account, tx.events[0].operator) == (supplier.address, operator.address)
    assert participants.standing(supplier) == ACTIVE
    assert participants.canAct(supplier, SUPPLIER)


def test_suspend_refuses_suspended_participant(reverts, participants, operator, supplier):
    participants.suspend(supplier, sender=operator)
    with reverts(participants.RegistryParticipantSuspended, account=supplier.address):
        participants.suspend(supplier, sender=operator)


def test_reinstate_refuses_participant_not_suspended(reverts, participants, operator, supplier):
    with reverts(participants.RegistryParticipantNotSuspended, account=supplier.address):
        participants.reinstate(supplier, sender=operator)


@pytest.mark.parametrize("action", ["suspend", "reinstate", "freezeAccount", "unfreezeAccount"])
def test_account_action_refuses_unknown_participant(
    reverts, participants, operator, regulator, outsider, action
):
    sender = regulator if "Account" in action else operator
    with reverts(participants.RegistryUnknownParticipant, account=outsider.address):
        getattr(participants, action)(outsider, sender=sender)


def test_update_kyc_refuses_unknown_participant(reverts, participants, operator, outsider, chain):
    with reverts(participants.RegistryUnknownParticipant, account=outsider.address):
        participants.updateKyc(outsider, chain.pending_timestamp + DAY, sender=operator)


def test_kyc_expiry_makes_participant_inactive_until_renewed(
    reverts, participants, operator, supplier, chain
):
    expiry = chain.pending_timestamp + 100
    tx = participants.updateKyc(supplier, expiry, sender=operator)
    assert event_names(tx) == ["ParticipantKycUpdated"]
    assert (tx.events[0].account, tx.events[0].kycExpiry, tx.events[0].operator) == (
        supplier.address,
        expiry,
        operator.address,
    )
    assert participants.standing(supplier) == ACTIVE

    chain.mine(deltatime=200)
    assert participants.standing(supplier) == KYC_EXPIRED
    with reverts(participants.RegistryKycExpired, account=supplier.address, kycExpiry=expiry):
        participants.requireActor(supplier, SUPPLIER)

    participants.updateKyc(supplier, chain.pending_timestamp + DAY, sender=operator)
    assert participants.standing(supplier) == ACTIVE


def test_update_kyc_refuses_expiry_in_past(reverts, participants, operator, supplier, chain):
    expiry = chain.blocks.head.timestamp - 1
    with reverts(participants.RegistryInvalidKycExpiry, kycExpiry=expiry):
        participants.updateKyc(supplier, expiry, sender=operator)


# ------------------------------------------------------------- regulator freezes


def test_freeze_account_blocks_and_unfreeze_restores_standing(
    reverts, participants, regulator, supplier
):
    tx = participants.freezeAccount(supplier, sender=regulator)
    assert event_names(tx) == ["AccountFrozen"]
    assert (tx.events[0].account, tx.events[0].regulator) == (supplier.address, regulator.address)
    assert participants.participant(supplier).frozen
    assert participants.standing(supplier) == FROZEN
    with reverts(participants.RegistryAccountFrozen, account=supplier.address):
        participants.requireActor(supplier, SUPPLIER)

    tx = participants.unfreezeAccount(supplier, sender=regulator)
    assert event_names(tx) == ["AccountUnfrozen"]
    assert (tx.events[0].account, tx.events[0].regulator) == (supplier.address, regulator.address)
    assert participants.standing(supplier) == ACTIVE


def test_freeze_account_refuses_frozen_account(reverts, participants, regulator, supplier):
    participants.freezeAccount(supplier, sender=regulator)
    with reverts(participants.RegistryAccountFrozen, account=supplier.address):
        participants.freezeAccount(supplier, sender=regulator)


def test_unfreeze_account_refuses_account_not_frozen(reverts, participants, regulator, supplier):
    with reverts(participants.RegistryAccountNotFrozen, account=supplier.address):
        participants.unfreezeAccount(supplier, sender=regulator)


def test_standing_reports_suspension_before_kyc_and_freeze(
    participants, operator, regulator, supplier, chain
):
    participants.freezeAccount(supplier, sender=regulator)
    participants.updateKyc(supplier, chain.pending_timestamp + 10, sender=operator)
    chain.mine(deltatime=60)
    assert participants.standing(supplier) == KYC_EXPIRED
    participants.suspend(supplier, sender=operator)
    assert participants.standing(supplier) == SUSPENDED


def test_require_actor_names_missing_role(reverts, participants, supplier, outsider):
    with reverts(participants.RegistryMissingRole, account=supplier.address, role=FINANCIER):
        participants.requireActor(supplier, FINANCIER)
    with reverts(participants.RegistryUnknownParticipant, account=outsider.address):
        participants.requireActor(outsider, SUPPLIER)


def test_require_actor_any_accepts_either_role(reverts, participants, supplier, financier, core):
    participants.requireActorAny(supplier, SUPPLIER, FINANCIER)
    participants.requireActorAny(financier, SUPPLIER, FINANCIER)
    with reverts(participants.RegistryMissingRole, account=core.address, role=FINANCIER):
        participants.requireActorAny(core, SUPPLIER, FINANCIER)


# ------------------------------------------------------------ ledger contracts


def test_register_ledger_contract_grants_ledger_role_and_standing(
    participants, operator, receivables
):
    assert participants.standing(receivables) == NOT_ONBOARDED
    tx = participants.registerLedgerContract(receivables, sender=operator)
    assert event_names(tx) == ["RoleGranted", "LedgerContractRegistered"]
    assert (tx.events[1].ledgerContract, tx.events[1].operator) == (
        receivables.address,
        operator.address,
    )
    assert participants.isLedgerContract(receivables)
    assert participants.hasRole(LEDGER, receivables)
    assert participants.standing(receivables) == ACTIVE


def test_register_ledger_contract_refuses_account_without_code(
    reverts, participants, operator, outsider
):
    with reverts(participants.RegistryInvalidAccount, account=outsider.address):
        participants.registerLedgerContract(outsider, sender=operator)


def test_grant_role_refuses_ledger_role_for_person(reverts, participants, operator, supplier):
    with reverts(participants.RegistryInvalidAccount, account=supplier.address):
        participants.grantRole(LEDGER, supplier, sender=operator)
    assert not participants.isLedgerContract(supplier)


def test_grant_role_lets_participant_act_in_new_role(participants, operator, supplier):
    assert not participants.canAct(supplier, FINANCIER)
    tx = participants.grantRole(FINANCIER, supplier, sender=operator)
    assert [(e.event_name, e.role, e.account, e.sender) for e in tx.events] == [
        ("RoleGranted", FINANCIER, supplier.address, operator.address)
    ]
    assert participants.canAct(supplier, FINANCIER)


# ----------------------------------------------------------- settlement tokens


def test_list_settlement_token_names_token_for_currency(project, participants, operator, bank, cny):
    eur = operator.deploy(project.SettlementToken, participants, b"EUR", 2, bank)
    assert participants.settlementToken(b"EUR") == "0x" + "00" * 20
    tx = participants.listSettlementToken(b"EUR", eur, sender=operator)
    assert [(e.event_name, e.currency, e.token, e.operator) for e in tx.events] == [
        ("SettlementTokenListed", b"EUR", eur.address, operator.address)
    ]
    assert participants.settlementToken(b"EUR") == eur.address
    assert participants.settlementToken(b"CNY") == cny.address


def test_list_settlement_token_refuses_listed_currency(
    reverts, project, participants, operator, bank, cny
):
    second = operator.deploy(project.SettlementToken, participants, b"CNY", 2, bank)
    with reverts(participants.RegistryCurrencyAlreadyListed, currency=b"CNY", token=cny.address):
        participants.listSettlementToken(b"CNY", second, sender=operator)
    assert participants.settlementToken(b"CNY") == cny.address


def test_list_settlement_token_refuses_currency_mismatch(
    reverts, project, participants, operator, bank
):
    jpy = operator.deploy(project.SettlementToken, participants, b"JPY", 0, bank)
    with reverts(participants.RegistryTokenCurrencyMismatch, expected=b"EUR", actual=b"JPY"):
        participants.listSettlementToken(b"EUR", jpy, sender=operator)


@pytest.mark.parametrize("code", [b"eur", b"EU1", b"\x00\x00\x00"])
def test_list_settlement_token_refuses_malformed_currency(
    reverts, participants, operator, cny, code
):
    with reverts(participants.RegistryInvalidCurrency, currency=code):
        participants.listSettlementToken(code, cny, sender=operator)


# ------------------------------------------------------------- who may call what


def operator_calls(project, participants, receivables, operator, bank, target, chain):
    """Each operator-only function, with arguments that would make it succeed; `target`
    is the participant acted upon (never the caller)."""
    fresh = "0x" + "ab" * 20
    later = chain.pending_timestamp + 365 * DAY

    def reinstate(sender):
        participants.suspend(target, sender=operator)
        participants.reinstate(target, sender=sender)

    def list_token(sender):
        eur = operator.deploy(project.SettlementToken, participants, b"EUR", 2, bank)
        participants.listSettlementToken(b"EUR", eur, sender=sender)

    return {
        "onboard": lambda s: participants.onboard(
            fresh, keccak(text="x"), b"DE", later, [SUPPLIER], sender=s
        ),
        "suspend": lambda s: participants.suspend(target, sender=s),
        "reinstate": reinstate,
        "updateKyc": lambda s: participants.updateKyc(target, later, sender=s),
        "registerLedgerContract": lambda s: participants.registerLedgerContract(
            receivables, sender=s
        ),
        "listSettlementToken": list_token,
        "grantRole": lambda s: participants.grantRole(SUPPLIER, target, sender=s),
        "revokeRole": lambda s: participants.revokeRole(FINANCIER, target, sender=s),
    }


OPERATOR_FUNCTIONS = [
    "onboard",
    "suspend",
    "reinstate",
    "updateKyc",
    "registerLedgerContract",
    "listSettlementToken",
    "grantRole",
    "revokeRole",
]


@pytest.mark.parametrize("function", OPERATOR_FUNCTIONS)
def test_operator_function_succeeds_for_operator(
    project, participants, receivables, operator, bank, financier2, chain, function
):
    """The control for the refusals below: the same call by the operator goes through."""
    operator_calls(project, participants, receivables, operator, bank, financier2, chain)[function](
        operator
    )


@pytest.mark.parametrize("function", OPERATOR_FUNCTIONS)
@pytest.mark.parametrize("caller", NON_OPERATORS)
def test_operator_function_refuses_other_roles(
    reverts,
    request,
    project,
    participants,
    receivables,
    operator,
    bank,
    financier2,
    chain,
    function,
    caller,
):
    account = request.getfixturevalue(caller)
    call = operator_calls(project, participants, receivables, operator, bank, financier2, chain)[
        function
    ]
    with reverts(
        participants.AccessControlUnauthorizedAccount, account=account.address, neededRole=OPERATOR
    ):
        call(account)


@pytest.mark.parametrize("function", OPERATOR_FUNCTIONS)
@pytest.mark.parametrize("standing", ["suspended", "kyc_expired"])
def test_operator_function_refuses_inactive_participant(
    reverts,
    project,
    participants,
    receivables,
    operator,
    bank,
    financier2,
    supplier2,
    chain,
    deactivate,
    function,
    standing,
):
    deactivate(supplier2, standing)
    call = operator_calls(project, participants, receivables, operator, bank, financier2, chain)[
        function
    ]
    with reverts(
        participants.AccessControlUnauthorizedAccount,
        account=supplier2.address,
        neededRole=OPERATOR,
    ):
        call(supplier2)


def regulator_calls(participants, regulator, target):
    """Each regulator function with arguments that would make it succeed (unfreeze gets
    a frozen account); `target` is the account acted upon (never the caller)."""

    def unfreeze(sender):
        participants.freezeAccount(target, sender=regulator)
        participants.unfreezeAccount(target, sender=sender)

    return {
        "freezeAccount": lambda s: participants.freezeAccount(target, sender=s),
        "unfreezeAccount": unfreeze,
    }


@pytest.mark.parametrize("function", ["freezeAccount", "unfreezeAccount"])
def test_regulator_function_succeeds_for_regulator(participants, regulator, financier2, function):
    """The control for the refusals below: the same call by the regulator goes through."""
    regulator_calls(participants, regulator, financier2)[function](regulator)
    assert participants.participant(financier2).frozen == (function == "freezeAccount")


@pytest.mark.parametrize("function", ["freezeAccount", "unfreezeAccount"])
@pytest.mark.parametrize("caller", NON_REGULATORS)
def test_regulator_function_refuses_other_roles(
    reverts, request, participants, regulator, financier2, function, caller
):
    account = request.getfixturevalue(caller)
    call = regulator_calls(participants, regulator, financier2)[function]
    if caller in ("operator", "outsider"):  # never onboarded as participants
        expected, arguments = participants.RegistryUnknownParticipant, {"account": account.address}
    else:
        expected, arguments = (
            participants.RegistryMissingRole,
            {"account": account.address, "role": REGULATOR},
        )
    with reverts(expected, **arguments):
        call(account)


@pytest.mark.parametrize("function", ["freezeAccount", "unfreezeAccount"])
@pytest.mark.parametrize("standing", ["suspended", "kyc_expired"])
def test_regulator_function_refuses_inactive_regulator(
    reverts, participants, regulator, supplier, deactivate, function, standing
):
    if function == "unfreezeAccount":
        participants.freezeAccount(supplier, sender=regulator)
    error, arguments = deactivate(regulator, standing)
    with reverts(error, **arguments):
        getattr(participants, function)(supplier, sender=regulator)
    assert participants.participant(supplier).frozen == (function == "unfreezeAccount")
