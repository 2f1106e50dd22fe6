"""/v1/documents: upload invoice / PO / delivery evidence; fetch it back if a party."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from ledger_app.api.deps import ActorDep, BlockDep, RuntimeDep
from ledger_app.api.limits import too_large
from ledger_app.api.schemas import Bytes32
from ledger_app.api.services.documents import ALLOWED_TYPES, DocumentService, check_content_type

router = APIRouter(prefix="/v1/documents", tags=["documents"])


def _raw(media_type: str) -> dict:
    # A document is raw bytes of its type; a JSON document is any JSON text.
    if media_type == "application/json":
        return {"schema": {}}
    return {"schema": {"type": "string", "format": "binary"}}


class StoredDocument(BaseModel):
    """Where to find a document again, and what a receivable commits to."""

    document_hash: str  # keccak256: pass as document_hash when registering
    sha256: str
    size: int
    content_type: str


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
async def upload(request: Request, caller: ActorDep, runtime: RuntimeDep) -> Any:
    """Store a document (the raw bytes as the body, its media type as Content-Type: 415 for
    another type; at most ``LEDGER_DOCUMENT_MAX_BYTES``: 413 for more). Answers its keccak256 ``document_hash`` to commit when
    registering a receivable. Example: ``curl --data-binary @invoice.pdf -H 'Content-Type:
    application/pdf' ...``"""
    media_type = check_content_type(request.headers.get("content-type"))
    # BodyLimitMiddleware refused a longer body before it was read; counted again here
    # so that this route is bounded whatever stack serves it.
    limit = runtime.settings.document_max_bytes
    content = bytearray()
    async for chunk in request.stream():
        content += chunk
        if len(content) > limit:
            raise too_large(limit)
    return DocumentService(runtime).store(caller, bytes(content), media_type)


@router.get(
    "/{document_hash}",
    operation_id="documents.show",
    response_class=Response,
    responses={200: {"content": {t: _raw(t) for t in sorted(ALLOWED_TYPES)}}},
)
def fetch(
    document_hash: Bytes32, caller: ActorDep, runtime: RuntimeDep, block: BlockDep
) -> Response:
    """The document, to its uploader, auditors, regulators and the parties of a receivable
    that committed it (404 to anyone else)."""
    content, media_type = DocumentService(runtime).fetch(caller, document_hash)
    return Response(content, media_type=media_type, headers={"X-Ledger-Block": str(block)})
