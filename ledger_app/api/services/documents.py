"""Documents: invoices, purchase orders, delivery evidence, stored off chain by content hash.

A document is stored once under ``documents_dir/<sha256>`` (written to a
temporary file and renamed, so a reader never sees half of one). Its
keccak256 is what a receivable commits to as ``documentHash``.

It belongs to each participant that uploaded it (``document_uploads``: the
participant's address, so all its keys see it and a rotated key loses nothing).
An uploader grants it to other participants and revokes its grants
(``document_grants``). Who may commit to it and who may read it is decided by
ledger_app/domain/documents.py alone; to anyone it does not allow, a document
does not exist (404 ``DocumentUnknown``). Each participant may keep at most
``document_quota_bytes`` of documents (the sizes of its distinct documents).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, datetime
from typing import Any

from eth_utils import keccak, to_checksum_address
from sqlalchemy import Connection, delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.lookups import document_entitled, participant_row
from ledger_app.api.services.receivables import visible_to
from ledger_app.db.api_tables import document_grants, document_uploads, documents
from ledger_app.db.schema import receivables
from ledger_app.domain.documents import may_grant, may_read
from ledger_app.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType

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
    """Storing, serving and granting documents."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.directory = runtime.settings.documents_dir

    def store(self, caller: Caller, content: bytes, media_type: str) -> dict[str, Any]:
        """Keep ``content`` as the caller's; returns its hashes. The same bytes twice are
        kept (and counted against the caller's quota) once; over the quota, nothing is kept."""
        if not content:
            raise InvalidInput("the document is empty", error="EmptyDocument", field="body")
        sha256 = hashlib.sha256(content).hexdigest()
        commitment = "0x" + keccak(content).hex()
        with self.runtime.engine.connect() as conn:
            self._check_quota(conn, caller, sha256, len(content))  # before writing a byte
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / sha256
        created = not path.exists()
        if created:
            with tempfile.NamedTemporaryFile(dir=self.directory, delete=False) as tmp:
                tmp.write(content)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp.name, path)
        stored = {"document_hash": commitment, "sha256": sha256, "size": len(content),
                  "content_type": media_type}  # fmt: skip
        try:
            try:
                self._keep(caller, stored)
            except IntegrityError:
                # The same bytes stored at the same moment by another upload: its rows are
                # in now, so once more adds only what is missing (the caller's upload).
                self._keep(caller, stored)
        except PayloadTooLarge:
            if created:
                self._forget_file(sha256)
            raise
        except IntegrityError:
            pass  # the caller's own upload of the same bytes, at the same moment
        return stored

    def _keep(self, caller: Caller, stored: dict[str, Any]) -> None:
        """The document's row (if new) and the caller's upload of it, in one transaction."""
        sha256, now = stored["sha256"], datetime.now(UTC)
        with self.runtime.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # One participant's uploads one at a time (SQLite serialises writers
                # anyway), so two at the same moment cannot both pass the quota below.
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:who))"),
                             {"who": "document-quota:" + caller.key})  # fmt: skip
            if not _exists(conn, documents.c.sha256 == sha256):
                conn.execute(insert(documents).values(
                    sha256=sha256, keccak256=stored["document_hash"],
                    content_type=stored["content_type"], size=stored["size"], uploaded_at=now))  # fmt: skip
            if not _exists(conn, _upload_of(caller, sha256)):
                conn.execute(insert(document_uploads).values(
                    sha256=sha256, participant=caller.key, uploaded_at=now))  # fmt: skip
                # Again with the upload in, under the lock: of two uploads at once not both pass.
                self._check_quota(conn, caller, sha256, 0)

    def fetch(self, caller: Caller, document_hash: str) -> tuple[bytes, str, str]:
        """The document's bytes, type and sha256, for a caller allowed to read it
        (ledger_app/domain/documents.py); NotFound otherwise."""
        with self.runtime.engine.connect() as conn:
            row = self._row(conn, document_hash)
            debtors = conn.execute(
                select(receivables.c.debtor)
                .where(receivables.c.document_hash == row.keccak256, visible_to(caller))
                .distinct()
            ).scalars()
            allowed = may_read(
                caller.key,
                reads_all=caller.reads_all,
                entitled=document_entitled(conn, [row.keccak256]).get(row.keccak256, ()),
                debtors=debtors,
            )
        if not allowed:
            raise _unknown(document_hash)
        return (self.directory / row.sha256).read_bytes(), row.content_type, row.sha256

    # --- grants -----------------------------------------------------------------------

    def grants(self, caller: Caller, document_hash: str) -> list[dict[str, Any]]:
        """The caller's grants of a document it uploaded, oldest first."""
        with self.runtime.engine.connect() as conn:
            row = self._uploaded(conn, caller, document_hash)
            found = conn.execute(
                select(document_grants)
                .where(document_grants.c.sha256 == row.sha256,
                       document_grants.c.grantor == caller.key)
                .order_by(document_grants.c.granted_at, document_grants.c.grantee)
            ).all()  # fmt: skip
        return [_grant(g) for g in found]

    def grant(self, caller: Caller, document_hash: str, participant: str) -> tuple[dict, bool]:
        """Grant a document the caller uploaded to ``participant``; (the grant, whether
        it is new). Granting twice is one grant."""
        grantee = participant.lower()
        with self.runtime.engine.begin() as conn:
            row = self._uploaded(
                conn, caller, document_hash
            )  # first: a non-uploader learns nothing
            if grantee == caller.key:
                raise InvalidInput("an uploader reads its document without a grant",
                                   error="DocumentGrantToSelf", field="participant")  # fmt: skip
            if participant_row(self.runtime.engine, grantee) is None:
                raise NotFound(f"no participant {participant}", error="ParticipantUnknown",
                               field="participant", address=participant)  # fmt: skip
            key = _grant_key(row.sha256, caller.key, grantee)
            existing = conn.execute(select(document_grants).where(key)).first()
            if existing is not None:
                return _grant(existing), False
            conn.execute(insert(document_grants).values(
                sha256=row.sha256, grantor=caller.key, grantee=grantee,
                granted_at=datetime.now(UTC)))  # fmt: skip
            return _grant(conn.execute(select(document_grants).where(key)).one()), True

    def revoke(self, caller: Caller, document_hash: str, participant: str) -> dict[str, Any]:
        """Withdraw the caller's grant of a document to ``participant``; the grant revoked."""
        with self.runtime.engine.begin() as conn:
            row = self._uploaded(conn, caller, document_hash)
            key = _grant_key(row.sha256, caller.key, participant.lower())
            existing = conn.execute(select(document_grants).where(key)).first()
            if existing is None:
                raise NotFound(f"no grant of {document_hash} to {participant}",
                               error="DocumentGrantUnknown", document_hash=document_hash,
                               participant=participant)  # fmt: skip
            conn.execute(delete(document_grants).where(key))
        return {**_grant(existing), "revoked_at": datetime.now(UTC)}

    # --- helpers ----------------------------------------------------------------------

    def _row(self, conn: Connection, document_hash: str) -> Any:
        row = conn.execute(
            select(documents).where(documents.c.keccak256 == document_hash.lower())
        ).first()
        if row is None:
            raise _unknown(document_hash)
        return row

    def _uploaded(self, conn: Connection, caller: Caller, document_hash: str) -> Any:
        """The document's row if the caller may grant it (an uploader); NotFound otherwise,
        also to a grantee, which must not learn who else holds the document."""
        row = self._row(conn, document_hash)
        uploaders = conn.execute(
            select(document_uploads.c.participant).where(document_uploads.c.sha256 == row.sha256)
        ).scalars()
        if not may_grant(caller.key, uploaders):
            raise _unknown(document_hash)
        return row

    def _check_quota(self, conn: Connection, caller: Caller, sha256: str, adding: int) -> None:
        """PayloadTooLarge if keeping ``adding`` more bytes (none if the caller already has
        ``sha256``) takes the caller over its quota."""
        if adding and _exists(conn, _upload_of(caller, sha256)):
            return
        used = conn.execute(
            select(func.coalesce(func.sum(documents.c.size), 0))
            .select_from(documents.join(document_uploads,
                                        document_uploads.c.sha256 == documents.c.sha256))
            .where(document_uploads.c.participant == caller.key)
        ).scalar_one()  # fmt: skip
        limit = self.runtime.settings.document_quota_bytes
        if int(used) + adding > limit:
            size = adding or int(conn.execute(
                select(documents.c.size).where(documents.c.sha256 == sha256)).scalar_one())  # fmt: skip
            kept = int(used) - (0 if adding else size)
            raise PayloadTooLarge(
                f"{size} more bytes would take {caller.address} over its document quota "
                f"({kept} of {limit} bytes used)",
                error="DocumentQuotaExceeded",
                limit=limit,
                used=kept,
                size=size,
            )

    def _forget_file(self, sha256: str) -> None:
        # Only bytes no participant keeps: the same bytes may have been stored meanwhile.
        with self.runtime.engine.connect() as conn:
            if _exists(conn, documents.c.sha256 == sha256):
                return
        (self.directory / sha256).unlink(missing_ok=True)


def _exists(conn: Connection, condition: Any) -> bool:
    return conn.execute(select(1).where(condition).limit(1)).first() is not None


def _upload_of(caller: Caller, sha256: str) -> Any:
    return (document_uploads.c.sha256 == sha256) & (document_uploads.c.participant == caller.key)


def _grant_key(sha256: str, grantor: str, grantee: str) -> Any:
    return (
        (document_grants.c.sha256 == sha256)
        & (document_grants.c.grantor == grantor)
        & (document_grants.c.grantee == grantee)
    )


def _grant(row: Any) -> dict[str, Any]:
    return {"participant": to_checksum_address(row.grantee), "granted_at": row.granted_at,
            "revoked_at": None}  # fmt: skip


def _unknown(document_hash: str) -> NotFound:
    return NotFound(f"no document {document_hash}", error="DocumentUnknown",
                    document_hash=document_hash)  # fmt: skip
