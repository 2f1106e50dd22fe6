"""The one place where a ledger_app error becomes an HTTP status.

Every handler raises errors from ledger_app.errors and nothing else; this
table decides the status and the body is always
``{"error": <class name>, "detail": <message>, ...}``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ledger_app.errors import (
    ChainError,
    ChainTimeout,
    ChainUnavailable,
    DatabaseError,
    LedgerError,
    TransactionReverted,
)

# Most specific first: the first class the error is an instance of wins.
STATUS_BY_ERROR: tuple[tuple[type[LedgerError], int], ...] = (
    (TransactionReverted, 409),  # the ledger's rules refused the change
    (ChainTimeout, 504),
    (ChainUnavailable, 503),
    (DatabaseError, 503),
    (ChainError, 502),
    (LedgerError, 500),
)


def status_for(error: LedgerError) -> int:
    """HTTP status for ``error``."""
    return next(status for cls, status in STATUS_BY_ERROR if isinstance(error, cls))


def error_body(error: LedgerError) -> dict[str, object]:
    """JSON body describing ``error``; a revert carries the contract error's name and values."""
    body: dict[str, object] = {"error": type(error).__name__, "detail": str(error)}
    if isinstance(error, TransactionReverted) and error.error_name:
        body["contract_error"] = {
            "name": error.error_name,
            "args": {k: str(v) for k, v in error.error_args.items()},
        }
    return body


def install_error_handlers(app: FastAPI) -> None:
    """Answer every LedgerError according to STATUS_BY_ERROR."""

    @app.exception_handler(LedgerError)
    async def _ledger_error(_request: Request, error: LedgerError) -> JSONResponse:
        return JSONResponse(status_code=status_for(error), content=error_body(error))
