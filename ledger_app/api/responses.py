"""Turning a write's outcome into the HTTP answer every write gives (WriteResponse)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Response
from sqlalchemy.exc import OperationalError

from ledger_app.api.index_state import BLOCK_HEADER
from ledger_app.api.schemas import TransactionInfo, WriteResponse
from ledger_app.api.services.writes import AWAITING_SIGNATURE, DONE, INDEXING, WriteOutcome
from ledger_app.errors import NotFound

T = TypeVar("T")

_MESSAGES = {
    DONE: "mined and indexed",
    INDEXING: "mined; the index has not reached its block yet: read again shortly",
    AWAITING_SIGNATURE: (
        "sign unsigned_transaction with your key and POST it as raw_transaction to "
        "/v1/transactions/{id}/submit"
    ),
}


def write_response(
    outcome: WriteOutcome,
    response: Response,
    render: Callable[[WriteOutcome], T] | None = None,
    *,
    created: bool = False,
) -> WriteResponse[T]:
    """200 (201 when ``created``) with ``render(outcome)`` once indexed; 202 otherwise."""
    if outcome.indexed_block is not None:
        response.headers[BLOCK_HEADER] = str(outcome.indexed_block)
    state, result = outcome.state, None
    if state == DONE and render is not None:
        try:
            result = render(outcome)
        except (OperationalError, NotFound):
            # Mined, but the database cannot be read just now, or the index no longer holds
            # the block (it rolled back after a node lost blocks, and follows again):
            # answered as not yet indexed (202), never as an error that would have the
            # client send the write again or believe it refused.
            state = INDEXING
    response.status_code = (201 if created else 200) if state == DONE else 202
    return WriteResponse[T](
        status=state,
        transaction=TransactionInfo(
            id=outcome.transaction_id,
            hash=outcome.transaction_hash,
            block_number=outcome.block_number,
        ),
        result=result,
        unsigned_transaction=outcome.unsigned,
        message=_MESSAGES[state].replace("{id}", outcome.transaction_id),
    )
