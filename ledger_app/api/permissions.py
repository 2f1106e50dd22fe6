"""Who may call what: the one table of operations and the roles allowed to call them.

Every route names its operation id (FastAPI's ``operation_id``) and takes the
``Actor`` dependency, which looks the operation up here: no key, an unknown
key or a revoked one is 401; a caller with none of the roles is 403; a write
(or a key issued, ``standing``) by a caller whose participant is not active
(suspended, KYC expired, frozen) is 403. ``party`` says the operation is on one object the caller must be a
party to; that check lives with the object's service (ledger_app/api/services)
and answers 404, so a non-party cannot tell an object exists. Auditors and
regulators (``READERS``) are parties to everything they may read.

The roles are the chain's: read from the participant's on-chain record through
the index. The contracts check them again; this table answers first, with a
clear 403, and sends nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger_app.domain.vocabulary import Role

#: Roles that read every object (and are therefore a party to all of them).
READERS = frozenset({Role.AUDITOR, Role.REGULATOR})
#: Roles a participant can be onboarded with through the API.
BUSINESS_ROLES = frozenset(Role) - {Role.OPERATOR}
EVERYONE = frozenset(Role)
#: Everyone who takes part in receivables (the operator runs the consortium, not its trade).
TRADERS = frozenset(
    {Role.CORE_ENTERPRISE, Role.SUPPLIER, Role.FINANCIER, Role.SETTLEMENT_BANK, Role.FX_PROVIDER}
)

#: Who may read credit lines: their parties (financier, obligor, programme supplier), the
#: readers and the operator.
LINE_READERS = (
    frozenset({Role.FINANCIER, Role.CORE_ENTERPRISE, Role.SUPPLIER, Role.OPERATOR}) | READERS
)


@dataclass(frozen=True)
class Permission:
    """Roles allowed to call an operation; ``party``: only on an object the caller is party to.

    ``write``: a ledger write (sent on chain). ``standing``: the caller must be active
    although nothing is sent on chain (issuing itself a key). Both refuse a caller that is
    not active with 403 ``ParticipantNotActive``.
    """

    roles: frozenset[Role]
    write: bool = False
    party: bool = False
    standing: bool = False

    @property
    def needs_standing(self) -> bool:
        """Whether only an active caller may call the operation."""
        return self.write or self.standing


def _read(roles: frozenset[Role], *, party: bool = False) -> Permission:
    return Permission(frozenset(roles), write=False, party=party)


def _write(*roles: Role, party: bool = False) -> Permission:
    return Permission(frozenset(roles), write=True, party=party)


PERMISSIONS: dict[str, Permission] = {
    # --- participants and their keys ---------------------------------------------------
    "participants.onboard": _write(Role.OPERATOR),
    "participants.list": _read(EVERYONE),
    "participants.show": _read(EVERYONE),
    "participants.me": _read(EVERYONE),
    "participants.suspend": _write(Role.OPERATOR),
    "participants.reinstate": _write(Role.OPERATOR),
    "participants.update_kyc": _write(Role.OPERATOR),
    "participants.record_tax_id": _write(Role.OPERATOR),
    "participants.freeze": _write(Role.REGULATOR),
    "participants.unfreeze": _write(Role.REGULATOR),
    # API keys are their owner's alone (the operator's own too; the service refuses anyone
    # else, the operator included, 403 ApiKeyOwnerOnly): not ledger writes, but a key is
    # issued (issue, rotate) only to an active participant. Revoking stays open to a
    # suspended one: taking a key out of use must never be refused.
    "api_keys.issue": Permission(EVERYONE, standing=True),
    "api_keys.list": _read(EVERYONE, party=True),
    "api_keys.rotate": Permission(EVERYONE, party=True, standing=True),
    "api_keys.revoke": Permission(EVERYONE, party=True),
    # The operator's one way to a participant's key: a request the participant's keys see
    # and may cancel, completed only after LEDGER_KEY_RECOVERY_DELAY, every step audited.
    # Parties: the participant and the operator; the readers (auditors, regulators) read.
    "key_recoveries.request": Permission(frozenset({Role.OPERATOR})),
    "key_recoveries.list": _read(EVERYONE, party=True),
    "key_recoveries.cancel": Permission(EVERYONE, party=True),
    "key_recoveries.complete": Permission(frozenset({Role.OPERATOR})),
    # --- settlement currencies -----------------------------------------------------------
    "currencies.create": _write(Role.OPERATOR),
    "currencies.list": _read(EVERYONE),
    # --- documents -----------------------------------------------------------------------
    "documents.upload": _write(Role.CORE_ENTERPRISE, Role.SUPPLIER),
    "documents.show": _read(TRADERS | READERS, party=True),
    # The document with its salt: whoever may read the document may prove what it commits.
    "documents.disclosure": _read(TRADERS | READERS, party=True),
    # An uploader's grants of its document (party: the uploader). Granting shares data: only
    # while active; a participant that is not may still list and revoke its grants.
    "documents.grant": _write(Role.CORE_ENTERPRISE, Role.SUPPLIER, party=True),
    "documents.grants": _read(frozenset({Role.CORE_ENTERPRISE, Role.SUPPLIER}), party=True),
    "documents.revoke": Permission(
        frozenset({Role.CORE_ENTERPRISE, Role.SUPPLIER}), write=False, party=True
    ),
    # --- receivables ---------------------------------------------------------------------
    "receivables.register": _write(Role.CORE_ENTERPRISE),
    "receivables.register_batch": _write(Role.CORE_ENTERPRISE),
    "receivables.list": _read(TRADERS | READERS),
    "receivables.show": _read(TRADERS | READERS, party=True),
    "receivables.confirm": _write(Role.SUPPLIER, party=True),
    "receivables.reject": _write(Role.SUPPLIER, party=True),
    "receivables.cancel": _write(Role.CORE_ENTERPRISE, party=True),
    "receivables.split": _write(Role.SUPPLIER, Role.FINANCIER, party=True),
    "receivables.transfer": _write(Role.SUPPLIER, Role.FINANCIER, party=True),
    "receivables.freeze": _write(Role.REGULATOR, party=True),
    "receivables.unfreeze": _write(Role.REGULATOR, party=True),
    # --- transactions (non-custodial signing, status of a write) ---------------------------
    "transactions.submit": _write(*(EVERYONE - {Role.AUDITOR}), party=True),
    "transactions.show": _read(EVERYONE, party=True),
    # --- audit (ledger_app/api/routes/audit.py) ------------------------------------------
    # A trace is for its parties (scoped, see ledger_app/audit/scope.py) and in full for readers.
    "audit.trace": _read(TRADERS | READERS, party=True),
    "audit.verify": _read(TRADERS | READERS, party=True),
    "audit.participant_events": _read(READERS),
    "audit.transaction": _read(READERS),
    "audit.receivables": _read(READERS),
    "audit.exposure": _read(READERS),
    "audit.export_events": _read(READERS),
    "audit.export_traces": _read(READERS),
    "audit.reconcile": _read(READERS | {Role.OPERATOR}),
    "audit.access_log": _read(READERS),
    # The operator too: its anchoring stops when the log no longer fits the last anchor.
    "audit.access_log_verify": _read(READERS | {Role.OPERATOR}),
    # --- settlement tokens (ledger_app/api/routes/tokens.py) -----------------------------
    # The contract checks the caller is that currency's issuer; the service checks first.
    "tokens.mint": _write(Role.SETTLEMENT_BANK),
    "tokens.burn": _write(Role.SETTLEMENT_BANK),
    "tokens.transfer": _write(*TRADERS),
    # One's own balances; readers anyone's (``party``: the account is the object).
    "tokens.balances": _read(EVERYONE, party=True),
    # --- financing (ledger_app/api/routes/financing.py) ----------------------------------
    # Parties: the supplier, the financier asked (or the funder), financiers that offered,
    # and every financier while a request is open to any (ledger_app/api/services/financing).
    "financing.request": _write(Role.SUPPLIER, party=True),  # party to the receivable
    "financing.list": _read(frozenset({Role.SUPPLIER, Role.FINANCIER}) | READERS),
    "financing.show": _read(frozenset({Role.SUPPLIER, Role.FINANCIER}) | READERS, party=True),
    "financing.quote": _read(frozenset({Role.FINANCIER}), party=True),
    "financing.offer": _write(Role.FINANCIER, party=True),
    "financing.accept": _write(Role.SUPPLIER, party=True),
    "financing.reject_offer": _write(Role.SUPPLIER, party=True),
    "financing.withdraw_offer": _write(Role.FINANCIER, party=True),
    "financing.expire_offer": _write(Role.SUPPLIER, Role.FINANCIER, party=True),
    "financing.cancel": _write(Role.SUPPLIER, party=True),
    "financing.declare_default": _write(Role.FINANCIER, party=True),
    "financing.pay_recourse": _write(Role.SUPPLIER, party=True),
    "financing.withdraw_recourse": _write(Role.SUPPLIER, party=True),
    "financing.offer_sale": _write(Role.FINANCIER, party=True),
    # Parties to a sale: its seller and its named buyer.
    "financing.buy_sale": _write(Role.FINANCIER, party=True),
    "financing.cancel_sale": _write(Role.FINANCIER, party=True),
    # --- maturity clearing (ledger_app/api/routes/clearing.py) ---------------------------
    # Parties are the receivable's. Any active party may push redemptions.
    "clearing.show": _read(TRADERS | READERS, party=True),
    "clearing.repay": _write(Role.CORE_ENTERPRISE, party=True),
    # The debtor pays in its own currency through an FX provider's quote (PvP into clearing).
    "clearing.repay_fx": _write(Role.CORE_ENTERPRISE, party=True),
    "clearing.redeem": _write(*TRADERS, party=True),
    "clearing.redeem_all": _write(*TRADERS, party=True),
    # Early payment (issue 20): the debtor offers and withdraws, the leaf's holder (a
    # supplier or its financier) accepts; partial repayment of leaves by the debtor.
    "clearing.early_payments": _read(TRADERS | READERS),
    "clearing.early_payment": _read(TRADERS | READERS, party=True),
    "clearing.offer_early_payment": _write(Role.CORE_ENTERPRISE, party=True),
    "clearing.withdraw_early_payment": _write(Role.CORE_ENTERPRISE, party=True),
    "clearing.accept_early_payment": _write(Role.SUPPLIER, Role.FINANCIER, party=True),
    "clearing.repay_leaves": _write(Role.CORE_ENTERPRISE, party=True),
    # --- cross-border (ledger_app/api/routes/fx.py, escrows.py) ---------------------------
    "fx.post_quote": _write(Role.FX_PROVIDER),
    "fx.sign_quote": _write(Role.FX_PROVIDER),
    "fx.settle": _write(*(TRADERS - {Role.FX_PROVIDER})),
    # Parties of a settlement: payer, payee, provider.
    "fx.show_settlement": _read(TRADERS | READERS, party=True),
    "fx.iso20022": _read(TRADERS | READERS, party=True),
    "fx.set_corridor": _write(Role.OPERATOR, Role.REGULATOR),
    "fx.set_daily_limit": _write(Role.OPERATOR, Role.REGULATOR),
    # Parties of an escrow: sender and recipient.
    "escrows.lock": _write(*TRADERS),
    "escrows.show": _read(TRADERS | READERS, party=True),
    "escrows.claim": _write(*TRADERS, party=True),
    "escrows.refund": _write(*TRADERS, party=True),
    # --- obligor risk (ledger_app/api/routes/risk.py) ------------------------------------
    # A core's caps: the operator, or the bank (FINANCIER) it named the core's cap manager
    # (the contract decides which: RiskNotCapSetter, 403). The trigger and managers: the
    # operator's. Any active participant may flag a root past the trigger (the contract
    # takes it only when true). Reads: the figures of every core (scores: a core its own).
    "risk.issuance_caps": _read(
        frozenset({Role.FINANCIER, Role.CORE_ENTERPRISE, Role.OPERATOR}) | READERS
    ),
    "risk.set_issuance_cap": _write(Role.OPERATOR, Role.FINANCIER),
    "risk.remove_issuance_cap": _write(Role.OPERATOR, Role.FINANCIER),
    "risk.set_cap_manager": _write(Role.OPERATOR),
    "risk.overdue_trigger": _read(EVERYONE),
    "risk.set_overdue_trigger": _write(Role.OPERATOR),
    "risk.flag_overdue": _write(*(EVERYONE - {Role.OPERATOR})),
    "risk.overdue_flags": _read(EVERYONE),
    "risk.warnings": _read(EVERYONE),
    "risk.scores": _read(
        frozenset({Role.FINANCIER, Role.CORE_ENTERPRISE, Role.OPERATOR}) | READERS
    ),
    "risk.score": _read(frozenset({Role.FINANCIER, Role.CORE_ENTERPRISE, Role.OPERATOR}) | READERS),
    "risk.exposure": _read(
        frozenset({Role.FINANCIER, Role.CORE_ENTERPRISE, Role.OPERATOR}) | READERS
    ),
    # --- credit lines (ledger_app/api/routes/credit_lines.py) ---------------------------
    # Parties to a line: its financier, its obligor, a supplier named on its programme (its
    # own sub-limit only); readers and the operator see all (api/services/credit_lines.py).
    "credit_lines.grant": _write(Role.FINANCIER),
    "credit_lines.list": _read(LINE_READERS),
    "credit_lines.show": _read(LINE_READERS, party=True),
    "credit_lines.amend": _write(Role.FINANCIER, party=True),
    "credit_lines.set_supplier_limit": _write(Role.FINANCIER, party=True),
    "credit_lines.remove_supplier": _write(Role.FINANCIER, party=True),
    "credit_lines.close": _write(Role.FINANCIER, party=True),
    "credit_lines.freeze": _write(Role.REGULATOR, party=True),
    "credit_lines.unfreeze": _write(Role.REGULATOR, party=True),
    # Party: the financier whose line the defaulted receivable drew on.
    "credit_lines.write_off": _write(Role.FINANCIER, party=True),
    # --- deferred payments (ledger_app/api/routes/claims.py) ----------------------------
    # What waits for the caller; readers see anyone's (?payee=). Any trader may be owed.
    "claims.list": _read(TRADERS | READERS),
    "claims.claim": _write(*TRADERS),
    # --- monitoring (ledger_app/api/routes/monitoring.py) -------------------------------
    # Regulators and auditors read all and work cases (not ledger writes: the service's
    # own records); only a regulator changes a rule; the operator loads the sanctions list.
    "monitoring.rules": _read(READERS),
    "monitoring.change_rule": Permission(frozenset({Role.REGULATOR}), standing=True),
    "monitoring.rule_changes": _read(READERS),
    "monitoring.alerts": _read(READERS),
    "monitoring.alert": _read(READERS),
    "monitoring.open_case": Permission(READERS, standing=True),
    "monitoring.cases": _read(READERS),
    "monitoring.case": _read(READERS),
    "monitoring.annotate_case": Permission(READERS, standing=True),
    "monitoring.close_case": Permission(READERS, standing=True),
    "monitoring.report": _read(READERS),
    "monitoring.summary": _read(READERS),
    "monitoring.load_sanctions": Permission(frozenset({Role.OPERATOR})),
    "monitoring.sanctions": _read(READERS | {Role.OPERATOR}),
    # --- notifications: each participant's own subscriptions and stream --------------------
    # Not ledger writes; a subscription is its owner's alone (404 to anyone else).
    "webhooks.create": Permission(TRADERS | READERS, standing=True),
    "webhooks.list": _read(TRADERS | READERS),
    "webhooks.show": _read(TRADERS | READERS, party=True),
    "webhooks.rotate_secret": Permission(TRADERS | READERS, party=True, standing=True),
    "webhooks.replay": Permission(TRADERS | READERS, party=True, standing=True),
    "webhooks.delete": _read(TRADERS | READERS, party=True),
    "webhooks.deliveries": _read(TRADERS | READERS, party=True),
    "events.stream": _read(TRADERS | READERS),
}


def permission(operation: str) -> Permission:
    """The permission of ``operation``; KeyError for an operation the table does not list."""
    return PERMISSIONS[operation]
