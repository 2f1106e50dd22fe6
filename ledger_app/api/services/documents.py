"""Documents: invoices, purchase orders, delivery evidence, stored off chain, encrypted.

A document is sealed (AES-256-GCM under the service's document key, with a random salt
inside) in a file named by its commitment (ledger_app/signing/sealed_documents.py); the
commitment, sha256 over the salt and the document (ledger_app/domain/documents.py), is
what a receivable commits to as ``documentHash``: public, and useless to a guesser. The
same bytes uploaded twice are one document (one salt, one commitment). Documents stored
before salting keep their plain keccak256 as commitment (scheme ``keccak256-unsalted``).
A reader may export a disclosure (the document and its salt) that anyone can check
against the commitment on chain with scripts/verify_disclosure.py.

It belongs to each participant that uploaded it (``document_uploads``: the
participant's address, so all its keys see it and a rotated key loses nothing).
An uploader grants it to other participants and revokes its grants
(``document_grants``). Who may commit to it and who may read it is decided by
ledger_app/domain/documents.py alone; to anyone it does not allow, a document
does not exist (404 ``DocumentUnknown``). Each participant may keep at most
``document_quota_bytes`` of documents (the sizes of its distinct documents).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import Connection, delete, func, insert, select, text
from sqlalchemy.exc import IntegrityError

from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.lookups import document_entitled, participant_row
from ledger_app.api.services.receivables import visible_to
from ledger_app.db.api_tables import document_grants, document_uploads, documents
from ledger_app.db.schema import receivables
from ledger_app.domain.documents import (
    COMMITMENT_TAG,
    SALT_BYTES,
    SALTED,
    may_grant,
    may_read,
    salted_commitment,
)
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
        self.sealed = runtime.documents

    def store(self, caller: Caller, content: bytes, media_type: str) -> dict[str, Any]:
        """Keep ``content`` as the caller's; returns its commitment. The same bytes twice are
        one document, kept (and counted against the caller's quota) once; over the quota,
        nothing is kept."""
        if not content:
            raise InvalidInput("the document is empty", error="EmptyDocument", field="body")
        sha256 = hashlib.sha256(content).hexdigest()
        with self.runtime.engine.connect() as conn:
            self._check_quota(conn, caller, sha256, len(content))  # before writing a byte
            existing = conn.execute(select(documents).where(documents.c.sha256 == sha256)).first()
        created = existing is None
        if existing is not None:
            stored = {**_stored(existing), "content_type": media_type}
        else:
            salt = secrets.token_bytes(SALT_BYTES)
            commitment = salted_commitment(salt, content)
            self.sealed.seal(commitment, salt, content)
            stored = {"document_hash": commitment, "commitment": commitment,
                      "commitment_scheme": SALTED, "sha256": sha256, "size": len(content),
                      "content_type": media_type}  # fmt: skip
        try:
            try:
                self._keep(caller, stored)
            except IntegrityError:
                # The same bytes stored at the same moment by another upload: its rows are
                # in now (with its salt: ours is dropped), so once more adds only what is
                # missing (the caller's upload).
                stored = self._adopt(stored, created)
                created = False
                self._keep(caller, stored)
        except PayloadTooLarge:
            if created:
                self._forget_file(stored["commitment"])
            raise
        except IntegrityError:
            pass  # the caller's own upload of the same bytes, at the same moment
        return stored

    def _adopt(self, stored: dict[str, Any], created: bool) -> dict[str, Any]:
        """The stored row of ``stored``'s bytes, once another upload put it in first."""
        with self.runtime.engine.connect() as conn:
            row = conn.execute(
                select(documents).where(documents.c.sha256 == stored["sha256"])
            ).one()
        if created and row.commitment != stored["commitment"]:
            self._forget_file(stored["commitment"])
        return _stored(row)

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
                    sha256=sha256, commitment=stored["commitment"],
                    commitment_scheme=stored["commitment_scheme"],
                    content_type=stored["content_type"], size=stored["size"], uploaded_at=now))  # fmt: skip
            if not _exists(conn, _upload_of(caller, sha256)):
                conn.execute(insert(document_uploads).values(
                    sha256=sha256, participant=caller.key, uploaded_at=now))  # fmt: skip
                # Again with the upload in, under the lock: of two uploads at once not both pass.
                self._check_quota(conn, caller, sha256, 0)

    def fetch(self, caller: Caller, document_hash: str) -> tuple[bytes, str, str]:
        """The document's bytes, type and sha256, for a caller allowed to read it
        (ledger_app/domain/documents.py); NotFound otherwise."""
        row = self._readable(caller, document_hash)
        _salt, content = self.sealed.open(row.commitment)
        return content, row.content_type, row.sha256

    def disclosure(self, caller: Caller, document_hash: str) -> dict[str, Any]:
        """What anyone can check against the document's commitment on chain: the document,
        its salt and the scheme (scripts/verify_disclosure.py), for a caller allowed to
        read it; NotFound otherwise."""
        row = self._readable(caller, document_hash)
        salt, content = self.sealed.open(row.commitment)
        salted = row.commitment_scheme == SALTED
        return {
            "scheme": row.commitment_scheme,
            "commitment": row.commitment,
            "salt": "0x" + salt.hex() if salted else None,
            "domain_tag": "0x" + COMMITMENT_TAG.hex() if salted else None,
            "document": base64.b64encode(content).decode(),
            "content_type": row.content_type,
            "size": row.size,
            "sha256": row.sha256,
        }

    def _readable(self, caller: Caller, document_hash: str) -> Any:
        """The document's row if the caller may read it; NotFound otherwise."""
        with self.runtime.engine.connect() as conn:
            row = self._row(conn, document_hash)
            debtors = conn.execute(
                select(receivables.c.debtor)
                .where(receivables.c.document_hash == row.commitment, visible_to(caller))
                .distinct()
            ).scalars()
            allowed = may_read(
                caller.key,
                reads_all=caller.reads_all,
                entitled=document_entitled(conn, [row.commitment]).get(row.commitment, ()),
                debtors=debtors,
            )
        if not allowed:
            raise _unknown(document_hash)
        return row

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
            select(documents).where(documents.c.commitment == document_hash.lower())
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

    def _forget_file(self, commitment: str) -> None:
        # Only a document no participant keeps: the same bytes may have been stored meanwhile.
        with self.runtime.engine.connect() as conn:
            if _exists(conn, documents.c.commitment == commitment):
                return
        self.sealed.forget(commitment)


def _stored(row: Any) -> dict[str, Any]:
    """What an upload answers about a stored document."""
    return {"document_hash": row.commitment, "commitment": row.commitment,
            "commitment_scheme": row.commitment_scheme, "sha256": row.sha256,
            "size": row.size, "content_type": row.content_type}  # fmt: skip


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
