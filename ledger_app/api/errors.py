"""The one place where an error becomes an HTTP status and a JSON body.

Handlers raise errors from ledger_app.errors, or let a domain rule's ``Refusal``
(ledger_app/domain/refusals.py) through, and nothing else. The body is
always ``{"error": <name>, "args": {...}, "message": <text>}``: for a contract
revert, ``error`` is the custom error's name, ``args`` its values in the API's
terms (status and role names, ISO times and codes; ints as decimal strings, so
that uint256 survives JSON), led by ``field`` (what it is about) when its row names
one, and ``message`` its row's wording in ``REFUSALS`` (never the node's words); for a request error, the name it was raised with; for a
pydantic validation failure, ``ValidationFailed`` with the fields at fault in
``args.fields``; for a body that is not JSON text, ``MalformedJson`` with
``args.position`` (the character) and ``reason``.

``REFUSALS`` is the one refusal table: error name -> HTTP status (and, for a contract's
custom error, its wording). It has a row for every custom error of every contract (a
test reads contracts/interfaces/ and the ABIs: none may be missing), for every name a
request error is raised with and every domain rule's ``Refusal`` (a test reads the
source: none may be missing, none may be stale), and for the request error classes
themselves (the name of one raised without its own). So a pre-check and the revert it
anticipates answer alike. 422 is for what the request itself gets wrong; 409 for what
the ledger's state refuses; 404 for a thing it does not know; 403 for the caller's own
role or standing.

How a status is decided (``status_for``), in this order:

1. a contract revert (``TransactionReverted``): its error name's row. Standing errors
   (unknown, suspended, KYC expired, frozen, missing role) are refined by whom they are
   about: 403 when the account is the caller itself; about another account named in
   the request, 404 for one not onboarded and 409 otherwise (``STANDING_ERRORS``). A
   revert the table lacks (a contract newer than this table; the tests make it
   impossible for the contracts in contracts/) or one without a name is answered by the
   ``TransactionReverted`` row: 409, "the ledger refused this: <name>";
2. a request error (``RequestError``, or a domain ``Refusal`` turned into one by
   ``refused``): its name's row; a ``BatchRefused`` the status its rows share, 422 when
   they differ;
3. anything else is no refusal (the chain unavailable, a timeout, the database down, a
   write still pending, a misconfiguration): its class (``STATUS_BY_ERROR``).

Starlette's own 404 (no such route) and 405 (a method the path does not take, with
``Allow`` listing every method it does) get the same body.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ledger_app.api.wording import (
    EARLY_PAYMENT,
    FINANCING,
    FINANCING_MASK,
    LOCK,
    OFFER,
    RECEIVABLE,
    RECEIVABLE_MASK,
    SALE,
    STANDING_WORD,
    Words,
    lei,
    role,
    spoken,
    word_args,
)
from ledger_app.domain.refusals import Refusal as DomainRefusal
from ledger_app.errors import (
    ChainError,
    ChainTimeout,
    ChainUnavailable,
    ConfigurationError,
    Conflict,
    DatabaseError,
    Forbidden,
    InvalidInput,
    LedgerError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestError,
    TransactionLost,
    TransactionPending,
    TransactionReverted,
    Unauthenticated,
    UnsupportedMediaType,
)


class ErrorBody(BaseModel):
    """Every error answer: ``error`` names it for machines, ``args`` carries the values."""

    error: str = Field(examples=["ReceivableDuplicateInvoice"])
    args: dict[str, Any] = Field(
        description="the offending values; ValidationFailed: fields; MalformedJson: position"
    )
    message: str
    transaction_hash: str | None = Field(default=None, description="a revert's transaction")


# The errors that are no refusal: the request was fine, the service or its chain was not
# (or the write is under way). Most specific first: the first class the error is an
# instance of wins. Refusals (reverts and request errors) are answered by REFUSALS.
STATUS_BY_ERROR: tuple[tuple[type[LedgerError], int], ...] = (
    (TransactionPending, 202),  # not an error to the caller: the write is under way
    (ChainTimeout, 504),
    (TransactionLost, 502),
    (ChainUnavailable, 503),
    (DatabaseError, 503),
    (ChainError, 502),
    (ConfigurationError, 500),
    (LedgerError, 500),
)


class Refusal(NamedTuple):
    """How the API answers one named error: its HTTP status and, for a contract's custom
    error, its message (``str.format`` over the args as ``words`` put them, see
    ledger_app/api/wording.py). A service's own pre-check carries its message itself."""

    status: int
    wording: str | None = None
    words: Words = MappingProxyType({})
    #: For a contract's custom error: what it is about, answered as ``args.field`` (the
    #: request field, or the object the ledger refused, e.g. ``line_id``) unless the error
    #: names its field itself (``CreditLineInvalidTerms``).
    field: str | None = None


# The statuses. 422: the request itself is wrong, whatever the ledger holds (a malformed
# or out-of-range value, terms that leave nothing, parts that do not sum to what they
# split, a wrong preimage or signature). 409: a well-formed request the ledger's state
# refuses (a status, a listing, another account's role or standing, the clock, a limit).
# 404: a thing the ledger does not know. 403: the caller's own role, standing or place.
R = Refusal
REFUSALS: dict[str, Refusal] = {
    # --- ReceivableRegistry
    "ReceivableUnknown": R(404, "no receivable {id}"),
    "ReceivableInvalidStatus": R(
        409,
        "receivable {id} is {current}; this needs it {allowed}",
        {"current": RECEIVABLE, "allowedStatusMask": ("allowed", RECEIVABLE_MASK)},
    ),
    "ReceivableFrozenError": R(409, "receivable {id} is frozen by the regulator"),
    "ReceivableNotFrozen": R(409, "receivable {id} is not frozen"),
    "ReceivableNotDebtor": R(403, "{account} is not the debtor {debtor} of receivable {id}"),
    "ReceivableNotCreditor": R(403, "{account} is not the creditor {creditor} of receivable {id}"),
    "ReceivableNotHolder": R(403, "{account} is not the holder {holder} of receivable {id}"),
    # Its existingId stays in args, for a party to that receivable only (the receivables
    # service's ``disclosed``): the message names no receivable.
    "ReceivableDuplicateInvoice": R(409, "this invoice is already registered"),
    "ReceivableInvalidInvoiceRef": R(422, "the invoice ref may not be zero"),
    "ReceivableInvalidAmount": R(422, "amount {amount} is not a positive amount in range"),
    "ReceivableInvalidDueDate": R(
        422, "due date {dueDate} is not after the ledger's time {nowTimestamp}"
    ),
    "ReceivableNotDue": R(409, "receivable {id} is due at {dueDate}, not yet ({nowTimestamp})"),
    "ReceivableUnknownCurrency": R(409, "no settlement token is listed for {currency}"),
    "ReceivableSelfDealing": R(422, "{account} cannot be both debtor and creditor"),
    "ReceivableInvalidSplit": R(
        422,
        "the {parts} parts of receivable {id} sum to {sum}; they must sum to {amount}, "
        "each above zero",
    ),
    "ReceivableBatchSize": R(422, "a batch of {size} rows; at most {maxSize}"),
    "ReceivableNotLedgerContract": R(403, "{caller} is not one of the ledger's contracts"),
    "ReceivableRootAlreadyRepaid": R(409, "root {rootId} is repaid already"),
    "ReceivableNotOperator": R(403, "{account} is not the operator"),
    "ReceivableRiskControlUnbound": R(409, "the registry has no risk control bound yet"),
    "ReceivableRiskControlAlreadyBound": R(409, "risk control {riskControl} is bound already"),
    "ReceivableInvalidLateInterest": R(
        422,
        "late interest of {lateInterestBps} bps a year is above the maximum {maxBps}",
        field="late_interest_bps",
    ),
    # --- RiskControl
    "RiskNotOperator": R(403, "{account} is not the operator"),
    "RiskNotCapSetter": R(
        403, "{account} may not set the caps of {core}: the operator or its manager {manager}"
    ),
    "RiskNotRegistry": R(403, "{account} is not the receivable registry"),
    "RiskInvalidTriggerDays": R(422, "{triggerDays} days is out of range (0..3650)"),
    "RiskCurrencyNotListed": R(409, "no settlement token is listed for {currency}"),
    "RiskCapNotSet": R(409, "{core} has no issuance cap in {currency}"),
    "RiskIssuanceCapExceeded": R(
        409,
        "{core} owes {outstanding} {currency} of its cap {cap}; {requested} more would exceed it",
        field="amount",
    ),
    "RiskNotRoot": R(422, "receivable {id} is a part of root {rootId}, not a root"),
    "RiskRootNotOpen": R(409, "root {rootId} is paid, voided or not confirmed: nothing to flag"),
    "RiskRootNotPastTrigger": R(
        409, "root {rootId} may be flagged from {flaggableFrom}, not yet ({nowTimestamp})"
    ),
    "RiskRootAlreadyFlagged": R(409, "root {rootId} is flagged already"),
    # --- ParticipantRegistry (and its AccessControl)
    "RegistryInvalidAccount": R(422, "{account} cannot be a participant"),
    "RegistryParticipantExists": R(409, "{account} is a participant already"),
    "RegistryDuplicateLei": R(409, "LEI {lei} is participant {holder}'s already", {"lei": lei}),
    "RegistryUnknownParticipant": R(404, "{account} is not a participant"),
    "RegistryParticipantSuspended": R(409, "participant {account} is suspended"),
    "RegistryParticipantNotSuspended": R(409, "participant {account} is not suspended"),
    "RegistryKycExpired": R(409, "the KYC of participant {account} expired at {kycExpiry}"),
    "RegistryInvalidKycExpiry": R(422, "KYC expiry {kycExpiry} is not in the future"),
    "RegistryMissingRole": R(409, "{account} does not hold the role {role}", {"role": role}),
    "RegistryAccountFrozen": R(409, "account {account} is frozen by the regulator"),
    "RegistryAccountNotFrozen": R(409, "account {account} is not frozen"),
    "RegistryInvalidLei": R(422, "{lei} is not an LEI", {"lei": lei}),
    "RegistryInvalidJurisdiction": R(
        422, "{jurisdiction} is not an ISO 3166-1 alpha-2 jurisdiction"
    ),
    "RegistryInvalidCurrency": R(422, "{currency} is not an ISO 4217 currency code"),
    "RegistryCurrencyAlreadyListed": R(409, "{currency} is listed already, as token {token}"),
    "RegistryTokenCurrencyMismatch": R(
        409, "token {token} is of currency {actual}, not {expected}"
    ),
    "AccessControlUnauthorizedAccount": R(
        403, "{account} does not hold the role {neededRole}", {"neededRole": role}
    ),
    "AccessControlBadConfirmation": R(403, "only an account itself may renounce its role"),
    # --- SettlementToken (and OpenZeppelin's ERC-20)
    "SettlementTokenNotIssuer": R(403, "{account} is not the issuer {issuer} of this currency"),
    "SettlementTokenAccountRefused": R(
        409,
        "account {account} may not hold or move tokens: it is {standing}",
        {"standing": STANDING_WORD},
    ),
    "SettlementTokenInvalidAmount": R(422, "amount {amount} is not a positive amount"),
    "ERC20InsufficientBalance": R(409, "{sender} holds {balance}; this needs {needed}"),
    "ERC20InsufficientAllowance": R(
        409, "{spender} may spend {allowance} for the account; this needs {needed}"
    ),
    "ERC20InvalidApprover": R(422, "{approver} cannot approve"),
    "ERC20InvalidReceiver": R(422, "{receiver} cannot receive tokens"),
    "ERC20InvalidSender": R(422, "{sender} cannot send tokens"),
    "ERC20InvalidSpender": R(422, "{spender} cannot be approved"),
    # --- FinancingDesk
    "FinancingUnknown": R(404, "no financing {financingId}"),
    "FinancingUnknownOffer": R(404, "financing {financingId} has no offer {offerIndex}"),
    "FinancingInvalidStatus": R(
        409,
        "financing {financingId} is {current}; this needs it {allowed}",
        {"current": FINANCING, "allowedStatusMask": ("allowed", FINANCING_MASK)},
    ),
    "FinancingOfferNotOpen": R(
        409,
        "offer {offerIndex} of financing {financingId} is {current}, not OPEN",
        {"current": OFFER},
    ),
    "FinancingNotSupplier": R(
        403, "{account} is not the supplier {supplier} of financing {financingId}"
    ),
    "FinancingNotFinancier": R(
        403, "{account} is not the financier {financier} of financing {financingId}"
    ),
    "FinancingTooManyOffers": R(409, "financing {financingId} has {maxOffers} offers already"),
    "FinancingInvalidTerms": R(422, "the offer's {field} {value} is out of range"),
    "FinancingNoProceeds": R(
        422, "discount {discount} and fee {fee} leave nothing of the advance {advance}"
    ),
    "FinancingOfferExpired": R(
        409, "offer {offerIndex} of financing {financingId} expired at {expiry}"
    ),
    "FinancingOfferNotExpired": R(
        409, "offer {offerIndex} of financing {financingId} is open until {expiry}"
    ),
    "FinancingReceivableDue": R(409, "receivable {receivableId} is due already ({dueDate})"),
    "FinancingDefaultTooEarly": R(
        409, "financing {financingId} may be declared in default from {earliest}, not yet"
    ),
    "FinancingCurrencyNotListed": R(409, "no settlement token is listed for {currency}"),
    # Recourse and sales (the field: the request field or the object at fault)
    "FinancingNoRecourse": R(
        409,
        "financing {financingId} was funded without recourse: there is no claim to pay",
        field="financing_id",
    ),
    "FinancingRecourseAmount": R(
        409,
        "a recourse payment of {amount}; {outstanding} remains of financing {financingId}'s claim",
        field="amount",
    ),
    "FinancingRootRepaid": R(
        409,
        "root {rootId} of financing {financingId} is paid into clearing: the financier is "
        "paid there",
        field="financing_id",
    ),
    "FinancingNothingToWithdraw": R(
        409,
        "financing {financingId}: {paid} paid of its claim, root paid into clearing: "
        "{rootRepaid}; nothing to take back",
        field="financing_id",
    ),
    "FinancingSaleUnknown": R(404, "no sale {saleId}", field="sale_id"),
    "FinancingSaleNotOpen": R(
        409, "sale {saleId} is {current}, not OPEN", {"current": SALE}, field="sale_id"
    ),
    "FinancingSaleExpired": R(409, "sale {saleId} expired at {expiry}", field="sale_id"),
    "FinancingSaleInvalid": R(422, "the sale's {field} {value} is out of range"),
    "FinancingSaleAlreadyOpen": R(
        409,
        "financing {financingId} is offered for sale already (sale {saleId})",
        field="financing_id",
    ),
    "FinancingNotBuyer": R(403, "{account} is not the buyer {buyer} of sale {saleId}"),
    "FinancingReceivableNotSaleable": R(
        409,
        "receivable {receivableId} is {status} (frozen: {frozen}); only a FINANCED receivable "
        "not frozen changes hands",
        {"status": RECEIVABLE},
        field="financing_id",
    ),
    # --- MaturityClearing
    "ClearingNotRoot": R(422, "receivable {id} is a part of root {rootId}, not a root"),
    "ClearingNotDebtor": R(403, "{account} is not the debtor {debtor} of root {rootId}"),
    "ClearingNotDue": R(409, "root {rootId} is due at {dueDate}, not yet ({nowTimestamp})"),
    "ClearingAlreadyRepaid": R(409, "root {rootId} is repaid already"),
    "ClearingNotRepaid": R(409, "root {rootId} is not repaid yet"),
    "ClearingNotPayable": R(
        409,
        "receivable {rootId} is {status}; it can be paid only when {allowed}",
        {"status": RECEIVABLE, "allowedStatusMask": ("allowed", RECEIVABLE_MASK)},
    ),
    "ClearingBatchSize": R(422, "a batch of {size} leaves; at most {maxSize}"),
    "ClearingCurrencyNotListed": R(409, "no settlement token is listed for {currency}"),
    "ClearingUntrustedFx": R(409, "{fx} is not the ledger's FX settlement"),
    "ClearingFxCurrencyMismatch": R(
        422, "root {rootId} is owed in {expected}; the quote buys {quoted}"
    ),
    "ClearingFxShortfall": R(
        409, "the FX leg paid {received} into root {rootId}'s clearing; it owes {amount}"
    ),
    "ClearingInvalidEarlyPaymentTerms": R(
        422, "the early payment's {field} {value} is out of range"
    ),
    "ClearingEarlyPaymentUnknown": R(404, "no early payment offer {offerId}", field="offer_id"),
    "ClearingEarlyPaymentNotOpen": R(
        409,
        "early payment offer {offerId} is {status}, no longer open",
        {"status": EARLY_PAYMENT},
        field="offer_id",
    ),
    "ClearingEarlyPaymentExpired": R(
        409,
        "early payment offer {offerId} expired at {expiry} (now {nowTimestamp})",
        field="offer_id",
    ),
    "ClearingEarlyPaymentNotOfferor": R(
        403, "{account} is not the debtor {debtor} that made early payment offer {offerId}"
    ),
    "ClearingEarlyPaymentNoProceeds": R(
        409,
        "early payment offer {offerId}: the discount {discount} would take the whole face {face}",
    ),
    "ClearingNotHolder": R(403, "{account} is not the holder {holder} of receivable {leafId}"),
    "ClearingPastDue": R(
        409, "receivable {leafId} is due at {dueDate}: too late to pay it early ({nowTimestamp})"
    ),
    # --- FxSettlement (and OpenZeppelin's EIP-712 strings)
    "FxQuoteExpired": R(409, "quote {quoteId} expired at {validUntil} (now {nowTimestamp})"),
    "FxQuoteStale": R(
        409, "quote {quoteId} was issued at {issuedAt}, more than {maxQuoteAge} s ago"
    ),
    "FxQuoteAlreadyUsed": R(409, "quote {quoteId} is used already"),
    "FxQuoteNotPosted": R(409, "quote {quoteId} is not posted and carries no signature"),
    "FxQuoteBadSignature": R(
        422, "quote {quoteId} is signed by {signer}, not by its provider {provider}"
    ),
    "FxQuoteWrongPayer": R(403, "quote {quoteId} is for payer {allowedPayer}, not {payer}"),
    "FxQuoteInvalid": R(422, "quote {quoteId}: {field} is out of range"),
    "FxNotProvider": R(403, "{account} is not the quote's provider {provider}"),
    "FxNotAuthorized": R(403, "{account} may not settle this"),
    "FxDuplicateUetr": R(409, "UETR {uetr} is used already"),
    "FxInvalidUetr": R(422, "{uetr} is not a usable UETR"),
    "FxInvalidAmount": R(422, "amount {amount} is not a positive amount in range"),
    "FxComplianceStanding": R(
        409, "{account} may not take part now: it is {standing}", {"standing": STANDING_WORD}
    ),
    "FxComplianceCorridorClosed": R(
        409, "the corridor {fromJurisdiction} to {toJurisdiction} is not open"
    ),
    "FxComplianceDailyLimit": R(
        409,
        "{account} has used {usedToday} of its daily {currency} limit {limit}; "
        "{amount} more would exceed it",
    ),
    "FxCurrencyNotListed": R(409, "no settlement token is listed for {currency}"),
    "InvalidShortString": R(422, "a name too long for the quote domain"),
    "StringTooLong": R(422, "{str} is too long"),
    # --- AccessLogAnchor (only the service's anchoring sends to it)
    "AnchorNotOperator": R(403, "{account} is not the operator: only it anchors the access log"),
    "AnchorCountNotGrowing": R(
        409, "the access log is anchored up to row {lastCount} already, not after {count}"
    ),
    "AnchorZeroHead": R(422, "an access log anchor's head may not be zero"),
    # --- HashTimeLock
    "HtlcUnknown": R(404, "no escrow {lockId}"),
    "HtlcNotLocked": R(409, "escrow {lockId} is {state}, not LOCKED", {"state": LOCK}),
    "HtlcWrongPreimage": R(422, "the preimage does not match escrow {lockId}'s hashlock"),
    "HtlcExpired": R(409, "escrow {lockId} timed out at {timeout}"),
    "HtlcNotExpired": R(409, "escrow {lockId} may be refunded from {timeout}, not yet"),
    "HtlcInvalidTimeout": R(422, "timeout {timeout} is not in the future"),
    "HtlcInvalidAmount": R(422, "amount {amount} is not a positive amount"),
    "HtlcInvalidHashlock": R(422, "the hashlock may not be zero"),
    "HtlcTokenNotListed": R(409, "token {token} is not a listed settlement token"),
    "HtlcRecipientRefused": R(
        409, "{recipient} may not receive now: it is {standing}", {"standing": STANDING_WORD}
    ),
    # --- CreditLines (the field: the request field or the line at fault)
    "CreditLineUnknown": R(404, "no credit line {lineId}", field="line_id"),
    "CreditLineNotFinancier": R(
        403, "{account} is not the financier {financier} of credit line {lineId}", field="line_id"
    ),
    # Its own ``field`` names the term: limit or expiry.
    "CreditLineInvalidTerms": R(422, "the line's {field} {value} is out of range"),
    "CreditLineCurrencyNotListed": R(
        409, "no settlement token is listed for {currency}", field="currency"
    ),
    "CreditLineExists": R(
        409,
        "{financier} has an open line {lineId} to {obligor} in {currency} already",
        field="obligor",
    ),
    "CreditLineMissing": R(
        409, "{financier} has no open credit line to {obligor} in {currency}", field="line_id"
    ),
    "CreditLineClosedError": R(409, "credit line {lineId} is closed", field="line_id"),
    "CreditLineExpired": R(
        409, "credit line {lineId} expired at {expiry} (now {nowTimestamp})", field="line_id"
    ),
    "CreditLineFrozenError": R(
        409, "credit line {lineId} is frozen by the regulator", field="line_id"
    ),
    "CreditLineNotFrozen": R(409, "credit line {lineId} is not frozen", field="line_id"),
    "CreditLineExceeded": R(
        409,
        "credit line {lineId} has {utilised} of its limit {limit} used; {requested} more "
        "would exceed it",
        field="line_id",
    ),
    "CreditLineBelowUtilisation": R(
        409,
        "a limit of {limit} is below the {utilised} credit line {lineId} has used",
        field="limit",
    ),
    "CreditLineSupplierNotEligible": R(
        409, "{supplier} is not on the programme of credit line {lineId}", field="supplier"
    ),
    "CreditLineSubLimitExceeded": R(
        409,
        "{supplier} has {utilised} of its sub-limit {limit} on credit line {lineId} used; "
        "{requested} more would exceed it",
        field="supplier",
    ),
    "CreditLineSubLimitAboveLimit": R(
        422,
        "a sub-limit of {subLimit} is above credit line {lineId}'s limit {limit}",
        field="limit",
    ),
    "CreditLineSubLimitBelowUtilisation": R(
        409,
        "a sub-limit of {limit} is below the {utilised} {supplier} has used of credit line "
        "{lineId}",
        field="limit",
    ),
    "CreditLineNotDrawn": R(
        409, "receivable {receivableId} drew on no credit line", field="receivable_id"
    ),
    "CreditLineNotDefaulted": R(
        409, "receivable {receivableId} is not in default", field="receivable_id"
    ),
    "CreditLineNotLedgerContract": R(403, "{caller} is not one of the ledger's contracts"),
    "CreditLineWriteOffAmount": R(
        409,
        "a write-off of {amount}; receivable {receivableId} still draws {drawn}",
        field="amount",
    ),
    # --- RiskControl: the overdue trigger (the debtor of the receivable at fault)
    "RiskObligorRestricted": R(
        409,
        "{core} has {overdueRoots} root(s) overdue past the trigger: it can register "
        "nothing and have nothing newly financed until they are paid",
        field="debtor",
    ),
    # --- DeferredPayments (the desk, clearing, the HTLC)
    "DeferredNothingToClaim": R(
        409, "nothing of token {token} waits for {payee}", field="currency"
    ),
    # --- OpenZeppelin guards
    "ReentrancyGuardReentrantCall": R(409, "a call re-entered the ledger; refused"),
    "SafeERC20FailedOperation": R(409, "token {token} refused the transfer"),
    # --- the compiler's own
    "Panic": R(422, "{reason}", {"code": ("reason", lambda code: panic_reason(int(code)))}),
    "Error": R(409, "{reason}"),
    # --- a revert the table lacks, or without a name (the message names the error)
    "TransactionReverted": R(409),
    # --- the service's own refusals (the message comes with the error). Pre-checks of
    # the ledger's state and of the request; the domain's rules (ledger_app/domain/
    # receivables.py, clearing.py, tokens.py, key_recovery.py) among them.
    "CurrencyNotListed": R(409),
    "IssuerNotSettlementBank": R(409),
    "BlockBeforeDeployment": R(409),
    "BlockNotIndexed": R(409),
    "CreditorNotActiveSupplier": R(409),
    "FinancierNotActive": R(409),
    "CounterpartyLacksRole": R(422),
    "AccountNotParticipant": R(404),
    "AccountRefused": R(409),
    "CreditLineSupplierNotNamed": R(404),
    "TransferToSelf": R(422),
    "EmptyDocument": R(422),
    "InvalidCursor": R(422),
    "ScoreNotVisible": R(403),
    "ClaimsNotVisible": R(403),
    "PayablesNotVisible": R(403),
    "InvalidRawTransaction": R(422),
    "TransactionMismatch": R(422),
    "ClearingNothingToRedeem": R(409),
    "ClaimContractDefersNothing": R(409),
    "LeavesNotOfRoot": R(422),
    "DuplicateInBatch": R(422),
    "DocumentUnknown": R(404),
    "CreditorTaxIdUnknown": R(409),
    "SellerNotCreditor": R(422),
    # A batch's per-row report: the status its rows share (``batch_status``); this, when
    # they differ.
    "BatchRefused": R(422),
    "InvalidMessageData": R(409),
    "ProviderKeepsOwnKey": R(409),
    "TaxIdAlreadyRecorded": R(409),
    "TransactionAlreadySubmitted": R(409),
    "ApiKeyRevoked": R(409),
    "AccessLogAnchorNotDeployed": R(409),
    # Compliance monitoring (api/services/monitoring.py).
    "RuleNotFound": R(404),
    "UnknownRule": R(422),
    "InvalidRuleConfig": R(422),
    "AlertNotFound": R(404),
    "UnknownAlerts": R(422),
    "AlertNotOpen": R(409),
    "CaseNotFound": R(404),
    "CaseClosed": R(409),
    "InvalidPeriod": R(422),
    "InvalidSanctionsList": R(422),
    # Notifications (api/services/webhooks.py, api/routes/webhooks.py).
    "WebhookSubscriptionNotFound": R(404),
    "WebhookUrlScheme": R(422),
    "WebhookUrlHost": R(422),
    "WebhookUrlCredentials": R(422),
    "WebhookUrlUnresolvable": R(422),
    "WebhookUrlPrivate": R(422),
    "UnknownNotificationKind": R(422),
    "NoNotificationKind": R(422),
    "TooManyEventStreams": R(429),
    "KeyRecoveryOfOperator": R(409),
    "KeyRecoveryPending": R(409),
    "KeyRecoveryNotPending": R(409),
    "KeyRecoveryNotDue": R(409),
    "AccountUnknown": R(404),
    "ApiKeyUnknown": R(404),
    "CurrencyUnknown": R(404),
    "DocumentGrantUnknown": R(404),
    "KeyRecoveryUnknown": R(404),
    "ParticipantUnknown": R(404),
    "ReceivableNotFound": R(404),
    "SettlementUnknown": R(404),
    "TransactionNotFound": R(404),
    "TransactionUnknown": R(404),
    "DocumentGrantToSelf": R(422),
    # The caller's own key, role, standing or custody.
    "MissingApiKey": R(401),
    "InvalidApiKey": R(401),
    "ApiKeyOwnerOnly": R(403),
    "LastOperatorKey": R(403),
    "NotCustodial": R(403),
    "ParticipantNotActive": R(403),
    "RoleNotAllowed": R(403),
    "SignerMismatch": R(403),
    # Sizes, media types and rates, refused before anything is done.
    "RequestBodyTooLarge": R(413),
    "DocumentQuotaExceeded": R(413),
    "UnsupportedDocumentType": R(415),
    "TooManyWritesInFlight": R(429),
    # --- a request error raised without a name of its own is named by its class
    "RequestError": R(400),
    "Unauthenticated": R(401),
    "Forbidden": R(403),
    "NotFound": R(404),
    "Conflict": R(409),
    "PayloadTooLarge": R(413),
    "UnsupportedMediaType": R(415),
    "InvalidInput": R(422),
    "RateLimited": R(429),
    "ServiceDegraded": R(503),  # nothing done: a write that could not be indexed now
    "ServiceStopping": R(503),  # cut short at a shutdown: retried with the same key
}

#: Errors about an account's standing: 403 when the account is the caller, else 409.
STANDING_ERRORS = frozenset(
    {
        "RegistryUnknownParticipant",
        "RegistryParticipantSuspended",
        "RegistryKycExpired",
        "RegistryAccountFrozen",
        "RegistryMissingRole",
        "SettlementTokenAccountRefused",
    }
)

#: Solidity's panic codes, in words.
_PANICS = {
    0x01: "an internal check failed",
    0x11: "an amount is out of range (arithmetic overflow)",
    0x12: "a division by zero",
    0x21: "a value out of its enumeration",
    0x32: "an index out of range",
    0x41: "too much memory",
}


def panic_reason(code: int) -> str:
    """A compiler panic code in words."""
    return _PANICS.get(code, f"the ledger's code stopped (panic {code})")


def revert_message(error: TransactionReverted) -> str:
    """The refusal of ``error`` in the API's own words (never RPC's)."""
    refusal = REFUSALS.get(error.error_name or "")
    if refusal is None or refusal.wording is None:
        if error.error_name:
            return f"the ledger refused this: {error.error_name}"
        if error.transaction_hash:
            return f"the ledger refused transaction {error.transaction_hash} without a reason"
        return "the ledger refused this without a reason"
    words = word_args(error.error_args, refusal.words)
    return refusal.wording.format_map({k: spoken(v) for k, v in words.items()})


def revert_status(error: TransactionReverted, sender: str | None = None) -> int:
    """HTTP status for a contract revert sent by ``sender``."""
    name = error.error_name or ""
    if name in STANDING_ERRORS:
        account = str(error.error_args.get("account", ""))
        if sender is None or account.lower() == sender.lower():
            return 403
        return 404 if name == "RegistryUnknownParticipant" else 409
    return REFUSALS.get(name, REFUSALS["TransactionReverted"]).status


def batch_status(names: Iterable[str]) -> int:
    """The status of a batch refused row by row for errors ``names``: the one they share;
    the ``BatchRefused`` row's when they differ."""
    statuses = {REFUSALS[name].status for name in names}
    return statuses.pop() if len(statuses) == 1 else REFUSALS["BatchRefused"].status


def request_status(error: RequestError) -> int:
    """HTTP status for a request error: its name's row."""
    if error.error == "BatchRefused":
        return batch_status(row["error"] for row in error.args_.get("rows", ()))
    refusal = REFUSALS.get(error.error)
    if refusal is None:
        # A name without a row (the tests make it impossible for a spelled-out name): the
        # row of its class, every request error class has one.
        refusal = next(REFUSALS[c.__name__] for c in type(error).__mro__ if c.__name__ in REFUSALS)
    return refusal.status


def status_for(error: LedgerError, sender: str | None = None) -> int:
    """HTTP status for ``error`` (``sender``: the caller's address, for reverts)."""
    if isinstance(error, TransactionReverted):
        return revert_status(error, sender)
    if isinstance(error, RequestError):
        return request_status(error)
    return next(status for cls, status in STATUS_BY_ERROR if isinstance(error, cls))


#: The class a refusal is raised as, by its status (logs and middleware see what the
#: caller will: a 409 is a Conflict).
_CLASS_BY_STATUS: dict[int, type[RequestError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: InvalidInput,
}


def request_error(name: str, message: str, **args: Any) -> RequestError:
    """The request error refusing as ``name`` (status: its row), with ``args``."""
    status = request_status(RequestError(message, error=name, **args))
    return _CLASS_BY_STATUS.get(status, RequestError)(message, error=name, **args)


def refused(refusal: DomainRefusal) -> RequestError:
    """A domain rule's refusal as the request error the API answers."""
    error = request_error(refusal.name, refusal.message, **refusal.details)
    error.__cause__ = refusal
    return error


def error_body(error: LedgerError) -> dict[str, Any]:
    """``{"error", "args", "message"}`` describing ``error``."""
    if isinstance(error, TransactionReverted):
        refusal = REFUSALS.get(error.error_name or "")
        args = word_args(error.error_args, refusal.words if refusal else {})
        if refusal is not None and refusal.field is not None and "field" not in args:
            args = {"field": refusal.field, **args}
        body: dict[str, Any] = {
            "error": error.error_name or "TransactionReverted",
            "args": {k: _jsonable(v) for k, v in args.items()},
            "message": revert_message(error),
        }
        if error.transaction_hash:
            body["transaction_hash"] = error.transaction_hash
        return body
    if isinstance(error, TransactionPending):
        # The shape of every write's answer (WriteResponse), status "pending".
        return {
            "status": "pending",
            "transaction": {
                "id": error.transaction_id,
                "hash": error.transaction_hash,
                "block_number": None,
            },
            "result": None,
            "unsigned_transaction": None,
            "message": (
                f"sent and not mined yet ({error}); retry with the same Idempotency-Key, or "
                f"follow GET /v1/transactions/{error.transaction_id}"
            ),
        }
    if isinstance(error, RequestError):
        return {
            "error": error.error,
            "args": {k: _jsonable(v, small_ints=True) for k, v in error.args_.items()},
            "message": str(error),
        }
    args: dict[str, Any] = {}
    if isinstance(error, ChainTimeout | TransactionLost):
        args["transaction_hash"] = error.transaction_hash
    return {"error": type(error).__name__, "args": args, "message": str(error)}


def validation_body(error: RequestValidationError) -> dict[str, Any]:
    """The body of a 422 for a request pydantic refused: each field at fault, and why; for
    a body that is not JSON at all, ``MalformedJson`` with the character where it broke."""
    for problem in error.errors():
        if problem.get("type") == "json_invalid":
            return malformed_json_body(problem)
    fields = []
    for problem in error.errors():
        location = [str(part) for part in problem.get("loc", ()) if part != "body"]
        fields.append({"field": ".".join(location), "message": problem.get("msg", "")})
    names = ", ".join(f["field"] for f in fields) or "the request"
    return {
        "error": "ValidationFailed",
        "args": {"fields": fields},
        "message": f"invalid {names}: " + "; ".join(f["message"] for f in fields),
    }


def malformed_json_body(problem: dict[str, Any]) -> dict[str, Any]:
    """``MalformedJson``: where the body stopped being JSON (a character offset, which
    pydantic puts where a field name would be) and the parser's reason."""
    location = [part for part in problem.get("loc", ()) if part != "body"]
    position = next((part for part in location if isinstance(part, int)), None)
    reason = str((problem.get("ctx") or {}).get("error") or "not JSON text")
    where = "" if position is None else f" at character {position}"
    return {
        "error": "MalformedJson",
        "args": {"position": position, "reason": reason},
        "message": f"the request body is not valid JSON: {reason}{where}",
    }


def _jsonable(value: Any, *, small_ints: bool = False) -> Any:
    # Contract values are uint256: decimal strings. Request errors keep row numbers and
    # the like as JSON numbers (``small_ints``) while they fit a double exactly.
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if small_ints and abs(value) < 2**53 else str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v, small_ints=small_ints) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v, small_ints=small_ints) for k, v in value.items()}
    return value


def database_unavailable() -> JSONResponse:
    """503 for a database that is locked or unreachable (SQLAlchemy's OperationalError):
    nothing of the request was done, so the caller may simply try again. The driver's
    message is not passed on: it can carry the database's address and SQL."""
    return JSONResponse(
        status_code=503,
        content={
            "error": "DatabaseUnavailable",
            "args": {},
            "message": "the database is unavailable (locked or unreachable); try again shortly",
        },
    )


def refusal_response(error: LedgerError, sender: str | None = None) -> JSONResponse:
    """The answer to ``error``: its status and body, and ``Retry-After`` for a rate limit."""
    response = JSONResponse(status_code=status_for(error, sender), content=error_body(error))
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after)
    return response


def install_error_handlers(app: FastAPI) -> None:
    """Answer every LedgerError and every validation failure as described above."""

    @app.exception_handler(OperationalError)
    async def _database(_request: Request, _error: OperationalError) -> JSONResponse:
        return database_unavailable()

    @app.exception_handler(LedgerError)
    async def _ledger_error(request: Request, error: LedgerError) -> JSONResponse:
        caller = getattr(request.state, "caller", None)
        sender = caller.address if caller is not None else None
        if isinstance(error, TransactionReverted):
            # Whatever route sent it (register, batch, a submitted signature): a duplicate
            # invoice's existing id only for the parties to that receivable. Imported here:
            # the services import this module (revert_status) through the runtime.
            from ledger_app.api.services.receivables import disclosed

            error = disclosed(request.app.state.engine, caller, error)
        return refusal_response(error, sender)

    @app.exception_handler(DomainRefusal)
    async def _refusal(request: Request, refusal: DomainRefusal) -> JSONResponse:
        # A domain rule's refusal, raised by a service before anything was sent.
        return refusal_response(refused(refusal))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, error: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content=validation_body(error))

    @app.exception_handler(StarletteHTTPException)
    async def _routing(request: Request, error: StarletteHTTPException) -> JSONResponse:
        return routing_error(request, error)


def routing_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
    """Starlette's 404 (no route) or 405 (method) as an error body; a 405's ``Allow`` lists
    every method of every route on the path (Starlette names only the first route's).
    FastAPI's 400 (a body it could not even decode) is the 422 of any body not JSON."""
    headers = dict(error.headers or {})
    args: dict[str, Any] = {"path": request.url.path}
    if error.status_code == 400:
        # One kind of fault, one status: malformed JSON is already 422 (json_invalid).
        body = malformed_json_body({"ctx": {"error": str(error.detail)}})
        return JSONResponse(status_code=422, content=body)
    if error.status_code == 405:
        allowed = sorted(_methods_on_path(request))
        headers["Allow"] = ", ".join(allowed)
        args.update(method=request.method, allowed=allowed)
        name, message = "MethodNotAllowed", f"{request.method} is not allowed on this path"
    elif error.status_code == 404:
        name, message = "RouteNotFound", f"no route {request.url.path}"
    else:
        name, message = "HTTPError", str(error.detail)
    body = {"error": name, "args": args, "message": message}
    return JSONResponse(status_code=error.status_code, content=body, headers=headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _methods_on_path(request: Request) -> set[str]:
    # Try each method against every route: the ones some route takes in full.
    return {
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    }
