"""The one place where an error becomes an HTTP status and a JSON body.

Handlers raise errors from ledger_app.errors and nothing else. The body is
always ``{"error": <name>, "args": {...}, "message": <text>}``: for a contract
revert, ``error`` is the custom error's name and ``args`` its values (ints
as decimal strings, so that uint256 survives JSON); for a request error, the
name it was raised with; for a pydantic validation failure,
``ValidationFailed`` with the fields at fault in ``args.fields``; for a body that is
not JSON text, ``MalformedJson`` with ``args.position`` (the character) and ``reason``.

A revert's status comes from ``REVERT_STATUS`` by error name; a name it does
not list gets one by the pattern of the name (``...Invalid...`` 422,
``...Unknown...`` 404, ``...Not<Role>``/``Missing``/``Unauthorized`` 403,
anything else 409). Starlette's own 404 (no such route) and 405 (a method the path does
not take, with ``Allow`` listing every method it does) get the same body. Standing errors (unknown, suspended, KYC expired, frozen,
missing role) are 403 when they are about the caller itself; about another
account named in the request, 404 for one not onboarded and 409 otherwise.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

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
    RequestError,
    ServiceDegraded,
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


# Most specific first: the first class the error is an instance of wins.
STATUS_BY_ERROR: tuple[tuple[type[LedgerError], int], ...] = (
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (PayloadTooLarge, 413),
    (UnsupportedMediaType, 415),
    (ServiceDegraded, 503),
    (RequestError, 400),
    (TransactionReverted, 409),  # refined by REVERT_STATUS
    (TransactionPending, 202),  # not an error to the caller: the write is under way
    (ChainTimeout, 504),
    (TransactionLost, 502),
    (ChainUnavailable, 503),
    (DatabaseError, 503),
    (ChainError, 502),
    (ConfigurationError, 500),
    (LedgerError, 500),
)

#: Contract errors by name. 409: duplicate, already used, wrong state; 403: role or
#: standing refusal; 422: bad amount or input; 404: unknown id.
REVERT_STATUS: dict[str, int] = {
    # ReceivableRegistry
    "ReceivableDuplicateInvoice": 409,
    "ReceivableInvalidStatus": 409,
    "ReceivableFrozenError": 409,
    "ReceivableNotFrozen": 409,
    "ReceivableNotDue": 409,
    "ReceivableUnknown": 404,
    "ReceivableNotDebtor": 403,
    "ReceivableNotCreditor": 403,
    "ReceivableNotHolder": 403,
    "ReceivableNotLedgerContract": 403,
    "ReceivableInvalidAmount": 422,
    "ReceivableInvalidDueDate": 422,
    "ReceivableInvalidInvoiceKey": 422,
    "ReceivableUnknownCurrency": 422,
    "ReceivableSelfDealing": 422,
    "ReceivableInvalidSplit": 422,
    "ReceivableBatchSize": 422,
    # ParticipantRegistry
    "RegistryParticipantExists": 409,
    "RegistryParticipantNotSuspended": 409,
    "RegistryAccountNotFrozen": 409,
    "RegistryCurrencyAlreadyListed": 409,
    "RegistryInvalidAccount": 422,
    "RegistryInvalidKycExpiry": 422,
    "RegistryInvalidLei": 422,
    "RegistryInvalidJurisdiction": 422,
    "RegistryInvalidCurrency": 422,
    "RegistryTokenCurrencyMismatch": 422,
    # OpenZeppelin
    "AccessControlUnauthorizedAccount": 403,
    "AccessControlBadConfirmation": 403,
    # SettlementToken
    "SettlementTokenNotIssuer": 403,
    "SettlementTokenInvalidAmount": 422,
    "ERC20InsufficientBalance": 409,
    "ERC20InsufficientAllowance": 409,
    # FinancingDesk
    "FinancingInvalidStatus": 409,
    "FinancingOfferNotOpen": 409,
    "FinancingTooManyOffers": 409,
    "FinancingOfferExpired": 409,
    "FinancingOfferNotExpired": 409,
    "FinancingReceivableDue": 409,
    "FinancingDefaultTooEarly": 409,
    "FinancingNotSupplier": 403,
    "FinancingNotFinancier": 403,
    "FinancingInvalidTerms": 422,
    "FinancingNoProceeds": 422,
    "FinancingCurrencyNotListed": 422,
    # MaturityClearing
    "ClearingNotRoot": 422,
    "ClearingNotDebtor": 403,
    "ClearingNotDue": 409,
    "ClearingAlreadyRepaid": 409,
    "ClearingNotRepaid": 409,
    "ClearingNotPayable": 409,
    "ClearingBatchSize": 422,
    "ClearingCurrencyNotListed": 422,
    "ClearingUntrustedFx": 409,
    "ClearingFxCurrencyMismatch": 422,
    "ClearingFxShortfall": 409,
    # FxSettlement: a used, stale or expired quote is the ledger's state (409); a quote
    # made for another payer or signed by another key is not the caller's to use.
    "FxQuoteExpired": 409,
    "FxQuoteStale": 409,
    "FxQuoteAlreadyUsed": 409,
    "FxQuoteNotPosted": 409,
    "FxQuoteWrongPayer": 403,
    "FxQuoteBadSignature": 422,
    "FxQuoteInvalid": 422,
    "FxNotProvider": 403,
    "FxNotAuthorized": 403,
    "FxDuplicateUetr": 409,
    "FxInvalidUetr": 422,
    "FxInvalidAmount": 422,
    "FxComplianceStanding": 409,
    "FxComplianceCorridorClosed": 409,
    "FxComplianceDailyLimit": 409,
    "FxCurrencyNotListed": 422,
    # HashTimeLock
    "HtlcNotLocked": 409,
    "HtlcExpired": 409,
    "HtlcNotExpired": 409,
    "HtlcWrongPreimage": 422,
    "HtlcRecipientRefused": 409,
    "HtlcTokenNotListed": 422,
    # Compiler
    "Panic": 422,  # arithmetic overflow and the like: an input out of range
    "Error": 409,
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

_PATTERNS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"Invalid|Amount|Expired|TooLarge|TooSmall|Zero"), 422),
    (re.compile(r"Unknown|NotFound"), 404),
    (
        re.compile(
            r"Not(Debtor|Creditor|Holder|Issuer|Owner|Financier|Supplier|Party|Provider|Sender|Recipient)|Missing|Unauthorized|Forbidden"
        ),
        403,
    ),
)


def revert_status(error: TransactionReverted, sender: str | None = None) -> int:
    """HTTP status for a contract revert sent by ``sender``."""
    name = error.error_name or ""
    if name in STANDING_ERRORS:
        account = str(error.error_args.get("account", ""))
        if sender is None or account.lower() == sender.lower():
            return 403
        return 404 if name == "RegistryUnknownParticipant" else 409
    if name in REVERT_STATUS:
        return REVERT_STATUS[name]
    for pattern, status in _PATTERNS:
        if pattern.search(name):
            return status
    return 409


def status_for(error: LedgerError, sender: str | None = None) -> int:
    """HTTP status for ``error`` (``sender``: the caller's address, for reverts)."""
    if isinstance(error, TransactionReverted):
        return revert_status(error, sender)
    return next(status for cls, status in STATUS_BY_ERROR if isinstance(error, cls))


def error_body(error: LedgerError) -> dict[str, Any]:
    """``{"error", "args", "message"}`` describing ``error``."""
    if isinstance(error, TransactionReverted):
        body: dict[str, Any] = {
            "error": error.error_name or "TransactionReverted",
            "args": {k: _jsonable(v) for k, v in error.error_args.items()},
            "message": str(error),
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


def install_error_handlers(app: FastAPI) -> None:
    """Answer every LedgerError and every validation failure as described above."""

    @app.exception_handler(OperationalError)
    async def _database(_request: Request, _error: OperationalError) -> JSONResponse:
        return database_unavailable()

    @app.exception_handler(LedgerError)
    async def _ledger_error(request: Request, error: LedgerError) -> JSONResponse:
        caller = getattr(request.state, "caller", None)
        sender = caller.address if caller is not None else None
        return JSONResponse(status_code=status_for(error, sender), content=error_body(error))

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
