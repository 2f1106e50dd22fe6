"""Documents: invoices, purchase orders, delivery evidence, stored off chain by content hash.

A document is stored once under ``documents_dir/<sha256>`` (written to a
temporary file and renamed, so a reader never sees half of one). Its
keccak256 is what a receivable commits to as ``documentHash``. It is served
to its uploader, to auditors and regulators, and to the parties of any
receivable that committed it; to anyone else it does not exist (404).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, datetime
from typing import Any

from eth_utils import keccak
from sqlalchemy import exists, insert, select
from sqlalchemy.exc import IntegrityError

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.receivables import visible_to
from ledger_app.db.api_tables import documents
from ledger_app.errors import InvalidInput, NotFound, UnsupportedMediaType
from ledger_app.indexer.schema import receivables

ALLOWED_TYPES = frozenset(
    {
        "application/pdf",
        "image/png",
        "image/jpeg",
        "image/tiff",
        "application/xml",
        "text/xml",
        "application/json",
        "text/plain",
    }
)


def check_content_type(content_type: str | None) -> str:
    """The media type without parameters, if it is one the ledger keeps."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in ALLOWED_TYPES:
        raise UnsupportedMediaType(
            f"content type {media_type or 'missing'} is not accepted; one of "
            + ", ".join(sorted(ALLOWED_TYPES)),
            error="UnsupportedDocumentType",
            field="Content-Type",
        )
    return media_type


class DocumentService:
    """Storing and serving documents."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.directory = runtime.settings.documents_dir

    def store(self, caller: Caller, content: bytes, media_type: str) -> dict[str, Any]:
        """Keep ``content``; returns its hashes (the same document twice is kept once)."""
        if not content:
            raise InvalidInput("the document is empty", error="EmptyDocument", field="body")
        sha256 = hashlib.sha256(content).hexdigest()
        commitment = "0x" + keccak(content).hex()
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / sha256
        if not path.exists():
            with tempfile.NamedTemporaryFile(dir=self.directory, delete=False) as tmp:
                tmp.write(content)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, path)
        try:
            with self.runtime.engine.begin() as conn:
                conn.execute(
                    insert(documents).values(
                        sha256=sha256,
                        keccak256=commitment,
                        content_type=media_type,
                        size=len(content),
                        uploaded_by=caller.key,
                        uploaded_at=datetime.now(UTC),
                    )
                )
        except IntegrityError:
            pass  # uploaded before (perhaps by the counterparty): the same bytes, the same hashes
        return {"document_hash": commitment, "sha256": sha256, "size": len(content),
                "content_type": media_type}  # fmt: skip

    def fetch(self, caller: Caller, document_hash: str) -> tuple[bytes, str]:
        """The document's bytes and type, for a caller allowed to see it; NotFound otherwise."""
        with self.runtime.engine.connect() as conn:
            row = conn.execute(
                select(documents).where(documents.c.keccak256 == document_hash.lower())
            ).first()
            allowed = row is not None and (
                caller.reads_all
                or caller.is_(row.uploaded_by)
                or conn.execute(
                    select(
                        exists().where(
                            receivables.c.document_hash == row.keccak256, visible_to(caller)
                        )
                    )
                ).scalar()
            )
        if not allowed:
            raise NotFound(f"no document {document_hash}", error="DocumentUnknown",
                           document_hash=document_hash)  # fmt: skip
        return (self.directory / row.sha256).read_bytes(), row.content_type
