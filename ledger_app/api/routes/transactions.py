"""/v1/transactions: a write's transaction, and submitting a self-signed one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger_app.api.deps import ActorDep, WriterDep
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import WriteResponse

router = APIRouter(prefix="/v1/transactions", tags=["transactions"])


class SignedTransaction(BaseModel):
    """The prepared transaction, signed by the caller's own key (EIP-1559 or legacy)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"raw_transaction": "0x02f8..."}]}
    )
    raw_transaction: str = Field(pattern=r"^0x([0-9a-fA-F]{2})+$", max_length=262_144)


class TransactionOut(BaseModel):
    """What the service did with a write."""

    id: str
    participant: str
    operation: str
    custody: str
    status: str
    to: str | None
    data: str
    value: str
    chain_id: int
    hash: str | None
    block_number: int | None
    error: str | None


@router.get("/{transaction_id}", operation_id="transactions.show", response_model=TransactionOut)
def show(transaction_id: str, caller: ActorDep, writer: WriterDep) -> Any:
    """A write's transaction: its status (PREPARED, QUEUED, SIGNED, SENT, MINED, REVERTED,
    REFUSED, FAILED; SIGNED and SENT are out or about to be, and settle on their own),
    hash and block. The sender's own, or any for an auditor or regulator."""
    row = writer.find(caller, transaction_id)
    return TransactionOut(
        id=row.id, participant=row.participant, operation=row.operation, custody=row.custody,
        status=row.status, to=row.to_address, data=row.data, value=row.value,
        chain_id=row.chain_id, hash=row.tx_hash, block_number=row.block_number, error=row.error,
    )  # fmt: skip


@router.post(
    "/{transaction_id}/submit",
    operation_id="transactions.submit",
    response_model=WriteResponse[None],
)
def submit(
    transaction_id: str,
    body: SignedTransaction,
    caller: ActorDep,
    writer: WriterDep,
    response: Response,
) -> Any:
    """Broadcast a prepared transaction the caller signed itself. Refused unless it is exactly
    the prepared call (to, data, value, chain id: 422 ``TransactionMismatch``) and signed by
    the caller's address (403 ``SignerMismatch``)."""
    outcome = writer.submit_signed(caller, transaction_id, bytes.fromhex(body.raw_transaction[2:]))
    return write_response(outcome, response)
