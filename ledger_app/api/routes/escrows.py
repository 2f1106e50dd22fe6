"""/v1/escrows: hash-time-locked escrows, the leg of a cross-border settlement that
completes on another ledger."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

from eth_utils import to_checksum_address
from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ledger_app.api.deps import ActorDep, BlockDep, EscrowsDep
from ledger_app.api.responses import write_response
from ledger_app.api.schemas import (
    Address,
    Amount,
    Bytes32,
    Currency,
    IsoDateTime,
    PathId,
    Uetr,
    WriteResponse,
)
from ledger_app.api.services.writes import WriteOutcome

router = APIRouter(tags=["cross-border"])

MAX_UINT64 = 2**64 - 1


# --- escrows --------------------------------------------------------------------------


class LockIn(BaseModel):
    """Tokens to lock for ``recipient`` under ``hashlock`` = sha256(preimage) until
    ``timeout``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "currency": "CNY",
                    "recipient": "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
                    "amount": "100000",
                    "hashlock": "0x" + "ab" * 32,
                    "timeout": "2027-01-31T00:00:00Z",
                }
            ]
        },
    )
    currency: Currency
    recipient: Address
    amount: Amount
    hashlock: Bytes32
    timeout: IsoDateTime
    uetr: Uetr | None = Field(default=None, description="generated (UUIDv4) if left out")

    @field_validator("timeout")
    @classmethod
    def _future(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give a time zone (e.g. Z)")
        if value.timestamp() <= time.time() or value.timestamp() > MAX_UINT64:
            raise ValueError("must be in the future")
        return value

    @field_validator("hashlock")
    @classmethod
    def _nonzero(cls, value: str) -> str:
        if int(value, 16) == 0:
            raise ValueError("a zero hashlock locks nothing")
        return value


class ClaimIn(BaseModel):
    """The secret whose sha256 is the lock's hashlock."""

    model_config = ConfigDict(extra="forbid")
    preimage: Bytes32


class Escrow(BaseModel):
    """A hash-time lock as indexed."""

    lock_id: int
    sender: str
    recipient: str
    token: str
    amount: str
    hashlock: str
    timeout: datetime
    uetr: str
    state: str
    preimage: str | None


def _escrow(row: Any) -> Escrow:
    return Escrow(
        lock_id=row.lock_id,
        sender=to_checksum_address(row.sender),
        recipient=to_checksum_address(row.recipient),
        token=to_checksum_address(row.token),
        amount=str(row.amount),
        hashlock=row.hashlock,
        timeout=datetime.fromtimestamp(row.timeout, UTC),
        uetr=str(uuid.UUID(row.uetr[2:])),
        state=row.state,
        preimage=row.preimage,
    )


@router.post(
    "/v1/escrows",
    operation_id="escrows.lock",
    response_model=WriteResponse[Escrow],
    status_code=201,
)
def lock(body: LockIn, caller: ActorDep, service: EscrowsDep, response: Response) -> Any:
    """Lock settlement tokens for a recipient until a timeout (the leg of a settlement that
    completes on another ledger). The service approves the escrow contract first."""
    outcome = service.lock(
        caller,
        body.currency,
        body.recipient,
        body.amount,
        body.hashlock,
        int(body.timeout.timestamp()),
        body.uetr or uuid.uuid4(),
    )

    def render(o: WriteOutcome) -> Escrow:
        return _escrow(service.escrow(caller, o.event("HtlcLocked").args["lockId"]))

    return write_response(outcome, response, render, created=True)


@router.get("/v1/escrows/{lock_id}", operation_id="escrows.show", response_model=Escrow)
def show_escrow(lock_id: PathId, caller: ActorDep, service: EscrowsDep, block: BlockDep) -> Any:
    """One escrow, for its sender, its recipient (404 for anyone else) and readers."""
    return _escrow(service.escrow(caller, lock_id))


@router.post(
    "/v1/escrows/{lock_id}/claim",
    operation_id="escrows.claim",
    response_model=WriteResponse[Escrow],
)
def claim(
    lock_id: PathId, body: ClaimIn, caller: ActorDep, service: EscrowsDep, response: Response
) -> Any:
    """Release the escrow to its recipient with the preimage, before the timeout (the
    preimage becomes public, for the other ledger's leg)."""
    outcome = service.claim(caller, lock_id, body.preimage)
    return write_response(outcome, response, lambda _o: _escrow(service.escrow(caller, lock_id)))


@router.post(
    "/v1/escrows/{lock_id}/refund",
    operation_id="escrows.refund",
    response_model=WriteResponse[Escrow],
)
def refund(lock_id: PathId, caller: ActorDep, service: EscrowsDep, response: Response) -> Any:
    """Return the escrow to its sender, from the timeout on."""
    outcome = service.refund(caller, lock_id)
    return write_response(outcome, response, lambda _o: _escrow(service.escrow(caller, lock_id)))
