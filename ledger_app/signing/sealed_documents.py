"""Documents at rest: each one sealed with AES-256-GCM in a file of its own.

A document lives in ``documents_dir/<commitment>.sealed`` (its on-chain commitment in
hex, which reveals nothing: ledger_app/domain/documents.py), laid out as::

    "LDOC" | version (1 byte) | key id (8 bytes) | nonce (12 bytes) | ciphertext | tag

The plaintext is ``len(salt) (1 byte) | salt | document``: the commitment's salt is kept
encrypted with the document (no salt: a document stored before salting). The associated
data is the header and the commitment, so a file moved to another document's name, or
with its key id changed, does not authenticate. A file is written to a temporary file
holding only ciphertext, flushed, then renamed: a reader sees the old file or the new,
never half of one, and the plain bytes never touch the disk.

Before this store, documents were kept in the clear as ``documents_dir/<sha256>``;
``seal_plain_files`` seals each in place of itself (under its old commitment, the plain
keccak256) and removes the plain file. It runs at every start and is idempotent; it is
not a migration because the key is a secret the migrations do not see.

Rotation (``rotate``): every file not under the new key is read (under any key held) and
sealed again under the new one, one file at a time, each written new then renamed; a
rotation killed half-way is run again and finishes what is left.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ledger_app.domain.documents import unsalted_commitment
from ledger_app.errors import ConfigurationError, DocumentDamaged, DocumentKeyMismatch
from ledger_app.settings import Settings
from ledger_app.signing.document_key import (
    KEY_ID_BYTES,
    DocumentKey,
    DocumentKeys,
    document_keys,
)

log = logging.getLogger(__name__)

MAGIC = b"LDOC"
VERSION = 1
NONCE_BYTES = 12
HEADER_BYTES = len(MAGIC) + 1 + KEY_ID_BYTES + NONCE_BYTES
SUFFIX = ".sealed"
_PLAIN_NAME = re.compile(r"[0-9a-f]{64}")  # a document stored before sealing: its sha256


@dataclass(frozen=True)
class RotationReport:
    """What a rotation did: files sealed anew, files already under the new key."""

    resealed: int
    already: int


class SealedDocuments:
    """The sealed document files under ``directory``, read and written with ``keys``."""

    def __init__(self, directory: Path, keys: DocumentKeys) -> None:
        self.directory = directory
        self.keys = keys

    # --- one document -------------------------------------------------------------------

    def path(self, commitment: str) -> Path:
        """Where the document with ``commitment`` (0x-hex) is kept."""
        return self.directory / (_bare(commitment) + SUFFIX)

    def exists(self, commitment: str) -> bool:
        """Whether a sealed file for ``commitment`` is there."""
        return self.path(commitment).exists()

    def seal(
        self, commitment: str, salt: bytes, content: bytes, key: DocumentKey | None = None
    ) -> None:
        """Keep ``content`` (with its commitment's ``salt``) under ``key`` (default: the
        current key), replacing any file the commitment had."""
        key = key or self.keys.current
        header = MAGIC + bytes([VERSION]) + key.key_id + os.urandom(NONCE_BYTES)
        sealed = AESGCM(key.secret).encrypt(
            header[-NONCE_BYTES:], bytes([len(salt)]) + salt + content, _aad(header, commitment)
        )
        self._write(self.path(commitment), header + sealed)

    def open(self, commitment: str) -> tuple[bytes, bytes]:
        """(salt, document) of the document with ``commitment``. DocumentKeyMismatch if it
        is under a key not held, DocumentDamaged if it does not authenticate."""
        return self._open(self.path(commitment), commitment, self.keys)

    def forget(self, commitment: str) -> None:
        """Remove the document's file (if any)."""
        self.path(commitment).unlink(missing_ok=True)

    # --- all documents -------------------------------------------------------------------

    def sealed_files(self) -> Iterator[Path]:
        """Every sealed file, in name order."""
        if self.directory.is_dir():
            yield from sorted(self.directory.glob("*" + SUFFIX))

    def key_id_of(self, path: Path) -> bytes:
        """The id of the key ``path`` is sealed under (DocumentDamaged: not a sealed file)."""
        with path.open("rb") as handle:
            header = handle.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES or not header.startswith(MAGIC):
            raise DocumentDamaged(f"stored document {path.name} is not a sealed document")
        return header[len(MAGIC) + 1 : len(MAGIC) + 1 + KEY_ID_BYTES]

    def check_keys(self) -> int:
        """The number of sealed files; ConfigurationError if any is under a key not held
        (read from the headers only: cheap enough for every start)."""
        count, foreign = 0, 0
        for path in self.sealed_files():
            count += 1
            if self.key_id_of(path) not in self.keys.ids:
                foreign += 1
        if foreign:
            raise ConfigurationError(
                f"the document key does not match: {foreign} of the {count} stored documents "
                f"in {self.directory} are encrypted under a key this service does not hold. "
                "Set LEDGER_DOCUMENT_KEY(_FILE) to the key they were stored under (during a "
                "rotation: the new key, and the old one as LEDGER_DOCUMENT_PREVIOUS_KEY(_FILE))"
            )
        return count

    def seal_plain_files(self, key: DocumentKey | None = None) -> int:
        """Seal every document still stored in the clear (``<sha256>``, from before
        sealing) under its old commitment, its plain keccak256, and remove the plain
        file; the number sealed. Idempotent: a run killed half-way is run again."""
        sealed = 0
        if not self.directory.is_dir():
            return 0
        for path in sorted(self.directory.iterdir()):
            if not _PLAIN_NAME.fullmatch(path.name):
                continue
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                continue  # sealed meanwhile by another process starting on the same store
            # Written whole by a rename, so whole now; its sealed copy first, then the
            # plain one goes: a kill in between leaves both, and the next run redoes it.
            self.seal(unsalted_commitment(content), b"", content, key)
            path.unlink(missing_ok=True)
            sealed += 1
        if sealed:
            _sync_directory(self.directory)
            log.warning("sealed %d documents stored in the clear before", sealed)
        return sealed

    def remove_stale_temporary_files(self, older_than: float = 3600.0) -> int:
        """Remove the temporary files a killed write left (ciphertext, never a document),
        those older than ``older_than`` seconds (a live write takes milliseconds); the
        number removed."""
        removed = 0
        if not self.directory.is_dir():
            return 0
        cutoff = time.time() - older_than
        for path in self.directory.glob(".tmp-*"):
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
        return removed

    def rotate(self, new_key: DocumentKey) -> RotationReport:
        """Seal every document under ``new_key``, reading each under any key held or
        ``new_key``; re-runnable after a kill. Plain files left from before sealing are
        sealed under ``new_key`` too."""
        readers = DocumentKeys(new_key, (self.keys.current, *self.keys.previous))
        self.seal_plain_files(new_key)
        resealed = already = 0
        for path in list(self.sealed_files()):
            if not self.reseal(path, new_key, readers):
                already += 1
                continue
            resealed += 1
        _sync_directory(self.directory)
        return RotationReport(resealed=resealed, already=already)

    def reseal(self, path: Path, new_key: DocumentKey, readers: DocumentKeys) -> bool:
        """Seal the file ``path`` anew under ``new_key`` (reading it with ``readers``);
        False when it is under ``new_key`` already."""
        if self.key_id_of(path) == new_key.key_id:
            return False
        commitment = "0x" + path.name.removesuffix(SUFFIX)
        salt, content = self._open(path, commitment, readers)
        self.seal(commitment, salt, content, new_key)
        return True

    # --- helpers ---------------------------------------------------------------------

    def _open(self, path: Path, commitment: str, keys: DocumentKeys) -> tuple[bytes, bytes]:
        blob = path.read_bytes()
        header = blob[:HEADER_BYTES]
        if len(header) < HEADER_BYTES or not header.startswith(MAGIC) or header[4] != VERSION:
            raise DocumentDamaged(f"stored document {commitment} is not a sealed document")
        key = keys.by_id(header[len(MAGIC) + 1 : len(MAGIC) + 1 + KEY_ID_BYTES])
        if key is None:
            raise DocumentKeyMismatch(
                f"the service's document key does not match: document {commitment} is "
                "stored under another key (LEDGER_DOCUMENT_KEY, or during a rotation "
                "LEDGER_DOCUMENT_PREVIOUS_KEY, must be the key it was stored under)"
            )
        try:
            plain = AESGCM(key.secret).decrypt(
                header[-NONCE_BYTES:], blob[HEADER_BYTES:], _aad(header, commitment)
            )
        except InvalidTag as exc:
            raise DocumentDamaged(
                f"stored document {commitment} is damaged: it does not authenticate under "
                "its key (altered on disk, or another document's file)"
            ) from exc
        salt_length = plain[0]
        return plain[1 : 1 + salt_length], plain[1 + salt_length :]

    def _write(self, path: Path, blob: bytes) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.directory, prefix=".tmp-", delete=False) as tmp:
            tmp.write(blob)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.replace(tmp.name, path)


def _bare(commitment: str) -> str:
    bare = commitment.lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{64}", bare):
        raise ValueError(f"not a 32-byte hex commitment: {commitment!r}")
    return bare


def _aad(header: bytes, commitment: str) -> bytes:
    return header + _bare(commitment).encode()


def _sync_directory(directory: Path) -> None:
    """Make the renames in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_documents(settings: Settings, *, dev_chain: bool) -> SealedDocuments:
    """The service's sealed documents, at start: the keys ``settings`` name (generated on a
    dev chain), any document still in the clear sealed, and a ConfigurationError if a
    stored document is under a key the service does not hold."""
    documents = SealedDocuments(
        settings.documents_dir, document_keys(settings, dev_chain=dev_chain)
    )
    # Keys first: documents in the clear sealed under a wrong key would be lost with it.
    count = documents.check_keys()
    count += documents.seal_plain_files()
    documents.remove_stale_temporary_files()
    log.info("%d sealed documents in %s, all under keys held", count, settings.documents_dir)
    return documents
