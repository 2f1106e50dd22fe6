"""/v1/documents: upload invoice / PO / delivery evidence; fetch it back, or its disclosure,
if allowed; grant it to another participant and revoke the grant (who may read what:
ledger_app/domain/documents.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger_app.api.deps import ActorDep, BlockDep, DocumentsDep, RuntimeDep
from ledger_app.api.limits import too_large
from ledger_app.api.schemas import Address, Bytes32
from ledger_app.api.services.documents import ALLOWED_TYPES, check_content_type

router = APIRouter(prefix="/v1/documents", tags=["documents"])


def _raw(media_type: str) -> dict:
    # A document is raw bytes of its type; a JSON document is any JSON text.
    if media_type == "application/json":
        return {"schema": {}}
    return {"schema": {"type": "string", "format": "binary"}}


class StoredDocument(BaseModel):
    """Where to find a document again, and what a receivable commits to."""

    document_hash: str = Field(
        description="the commitment: pass as document_hash when registering, and to find "
        "the document again (the same value as ``commitment``)"
    )
    commitment: str = Field(description="what a receivable commits to on chain")
    commitment_scheme: str = Field(
        description="sha256-salted-v1 (sha256 over a tag, the document's salt and its "
        "sha256); keccak256-unsalted for a document stored before salting",
        examples=["sha256-salted-v1"],
    )
    sha256: str
    size: int
    content_type: str


class Disclosure(BaseModel):
    """A document with what its commitment hides: anyone checks it against the commitment
    on chain with ``python3 scripts/verify_disclosure.py disclosure.json``."""

    scheme: str = Field(examples=["sha256-salted-v1"])
    commitment: str
    salt: str | None = Field(description="0x-hex, 32 bytes; null for keccak256-unsalted")
    domain_tag: str | None = Field(description="0x-hex tag hashed before the salt")
    document: str = Field(description="the document's bytes, base64")
    content_type: str
    size: int
    sha256: str


@router.post(
    "",
    operation_id="documents.upload",
    response_model=StoredDocument,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: _raw(t) for t in sorted(ALLOWED_TYPES)},
        }
    },
)
async def upload(
    request: Request, caller: ActorDep, runtime: RuntimeDep, service: DocumentsDep
) -> Any:
    """Store a document as the caller's (the raw bytes as the body, its media type as
    Content-Type: 415 for another type; at most ``LEDGER_DOCUMENT_MAX_BYTES``: 413
    ``RequestBodyTooLarge`` for more). Answers its ``document_hash``, the salted commitment
    (``commitment_scheme`` sha256-salted-v1) to commit to when registering a receivable,
    which reveals nothing of the document: only its uploaders and those they grant it to may (``POST
    /v1/documents/{document_hash}/grants``). A participant keeps at most
    ``LEDGER_DOCUMENT_QUOTA_BYTES`` of documents: an upload over it is 413
    ``DocumentQuotaExceeded`` (args ``limit``, ``used``, ``size``) and nothing is kept; the
    same bytes uploaded again count once. Example: ``curl --data-binary @invoice.pdf -H
    'Content-Type: application/pdf' ...``"""
    media_type = check_content_type(request.headers.get("content-type"))
    # BodyLimitMiddleware refused a longer body before it was read; counted again here
    # so that this route is bounded whatever stack serves it.
    limit = runtime.settings.document_max_bytes
    content = bytearray()
    async for chunk in request.stream():
        content += chunk
        if len(content) > limit:
            raise too_large(limit)
    return service.store(caller, bytes(content), media_type)


@router.get(
    "/{document_hash}",
    operation_id="documents.show",
    response_class=Response,
    responses={200: {"content": {t: _raw(t) for t in sorted(ALLOWED_TYPES)}}},
)
def fetch(
    document_hash: Bytes32, caller: ActorDep, service: DocumentsDep, block: BlockDep
) -> Response:
    """The document, as an attachment named by its sha256 (never shown inline), to its
    uploaders and grantees, to auditors and regulators, and to the parties of a receivable
    committing to it that was registered by an uploader or grantee; 404 ``DocumentUnknown``
    to anyone else. Every fetch, refused ones too, is in the access log (``GET
    /v1/access-log?operation=documents.show&path_prefix=/v1/documents/<hash>``)."""
    content, media_type, sha256 = service.fetch(caller, document_hash)
    headers = {
        "X-Ledger-Block": str(block),
        "Content-Disposition": f'attachment; filename="{sha256}"',
    }
    return Response(content, media_type=media_type, headers=headers)


@router.get(
    "/{document_hash}/disclosure", operation_id="documents.disclosure", response_model=Disclosure
)
def disclosure(
    document_hash: Bytes32, caller: ActorDep, service: DocumentsDep, response: Response,
    block: BlockDep,
) -> Any:  # fmt: skip
    """The document with its salt, to whoever may read it (as ``GET
    /v1/documents/{document_hash}``; 404 ``DocumentUnknown`` to anyone else): handed to a
    third party, it proves that the receivables committing to ``commitment`` commit to
    this document. Checked with the standard library alone: ``python3
    scripts/verify_disclosure.py disclosure.json [COMMITMENT]``. A document stored before
    salting answers scheme keccak256-unsalted and no salt."""
    response.headers["X-Ledger-Block"] = str(block)
    return service.disclosure(caller, document_hash)


class GrantIn(BaseModel):
    """The participant to grant the document to."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"participant": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"}]
        },
    )
    participant: Address


class Grant(BaseModel):
    """An uploader's grant of a document to a participant."""

    participant: str
    granted_at: datetime
    revoked_at: datetime | None = None


class Grants(BaseModel):
    """The caller's grants of one document."""

    items: list[Grant]


@router.post(
    "/{document_hash}/grants",
    operation_id="documents.grant",
    response_model=Grant,
    status_code=201,
)
def grant(
    document_hash: Bytes32, body: GrantIn, caller: ActorDep, service: DocumentsDep,
    response: Response,
) -> Any:  # fmt: skip
    """Grant a document the caller uploaded to another participant (e.g. the supplier's
    invoice to the core enterprise that will register the receivable): the grantee may read
    it and commit to it. 201, or 200 when granted before. 404 ``DocumentUnknown`` unless the
    caller uploaded the document (a grantee cannot pass it on), 404 ``ParticipantUnknown``,
    422 ``DocumentGrantToSelf``."""
    found, created = service.grant(caller, document_hash, body.participant)
    if not created:
        response.status_code = 200
    return found


@router.get("/{document_hash}/grants", operation_id="documents.grants", response_model=Grants)
def grants(document_hash: Bytes32, caller: ActorDep, service: DocumentsDep) -> Any:
    """The caller's grants of a document it uploaded (404 ``DocumentUnknown`` otherwise)."""
    return {"items": service.grants(caller, document_hash)}


@router.delete(
    "/{document_hash}/grants/{participant}", operation_id="documents.revoke", response_model=Grant
)
def revoke(
    document_hash: Bytes32, participant: Address, caller: ActorDep, service: DocumentsDep
) -> Any:
    """Revoke the caller's grant of a document: the participant no longer reads it or
    commits to it, nor do the parties of the receivables it registered with it (the caller
    and others' grants aside). 404 ``DocumentGrantUnknown`` for no such grant."""
    return service.revoke(caller, document_hash, participant)
