"""The key documents are stored under (AES-256-GCM, ledger_app/signing/sealed_documents.py).

From LEDGER_DOCUMENT_KEY, else the file LEDGER_DOCUMENT_KEY_FILE names (a mounted
secret): 32 bytes written as 64 hex digits or as base64. On a local dev chain, when
neither is set, one is generated on first start into ``state_dir/document-key``
(mode 0600) and re-used after; the log says where, never what. Anywhere else a missing
key is a ConfigurationError. The key is never written to the database.

During a rotation LEDGER_DOCUMENT_PREVIOUS_KEY(_FILE) names the key being replaced:
documents still stored under it stay readable (the README's Documents section says how
to rotate). Each stored document records the *id* of its key (a hash of the key, which
reveals nothing of it), so a document under a key the service does not hold is refused
by name, not by a failed decryption.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from ledger_app.errors import ConfigurationError
from ledger_app.settings import Settings

log = logging.getLogger(__name__)

KEY_BYTES = 32
KEY_ID_BYTES = 8
_KEY_ID_TAG = b"ledger-app/document-key-id/v1\x00"


@dataclass(frozen=True)
class DocumentKey:
    """One 32-byte document key; its repr shows only its id."""

    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ConfigurationError(f"a document key is {KEY_BYTES} bytes")

    @property
    def key_id(self) -> bytes:
        """What a stored document records of its key: a tagged hash, not the key."""
        return hashlib.sha256(_KEY_ID_TAG + self.secret).digest()[:KEY_ID_BYTES]

    @classmethod
    def generate(cls) -> DocumentKey:
        """A new random key."""
        return cls(secrets.token_bytes(KEY_BYTES))

    def encoded(self) -> str:
        """The key as written to a key file (base64)."""
        return base64.b64encode(self.secret).decode()


@dataclass(frozen=True)
class DocumentKeys:
    """The key new documents are stored under, and the ones that may still be read."""

    current: DocumentKey
    previous: tuple[DocumentKey, ...] = ()

    def by_id(self, key_id: bytes) -> DocumentKey | None:
        """The key with ``key_id`` (None: the service does not hold it)."""
        for key in (self.current, *self.previous):
            if key.key_id == key_id:
                return key
        return None

    @property
    def ids(self) -> frozenset[bytes]:
        """The ids of every key held."""
        return frozenset(k.key_id for k in (self.current, *self.previous))


def document_keys(settings: Settings, *, dev_chain: bool) -> DocumentKeys:
    """The document keys ``settings`` name; the current one generated on a dev chain if
    none is configured (anywhere else a missing key is a ConfigurationError)."""
    current = _configured(
        settings.document_key, settings.document_key_file, "LEDGER_DOCUMENT_KEY"
    ) or _generated(settings.generated_document_key_file, dev_chain=dev_chain)
    previous = _configured(
        settings.document_previous_key,
        settings.document_previous_key_file,
        "LEDGER_DOCUMENT_PREVIOUS_KEY",
    )
    return DocumentKeys(current, () if previous is None else (previous,))


def read_key_file(path: Path, what: str) -> DocumentKey:
    """The key in the file ``path`` (``what`` names it in errors, which never show it)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror}") from exc
    return parse_key(text, f"{what} {path}")


def parse_key(text: str, what: str) -> DocumentKey:
    """A key written as 64 hex digits (0x optional) or as base64 of 32 bytes."""
    text = text.strip()
    candidates = []
    if len(text.removeprefix("0x")) == 2 * KEY_BYTES:
        with contextlib.suppress(ValueError):
            candidates.append(bytes.fromhex(text.removeprefix("0x")))
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        with contextlib.suppress(binascii.Error, ValueError):
            candidates.append(decode(text.encode()))
    for raw in candidates:
        if len(raw) == KEY_BYTES:
            return DocumentKey(raw)
    # The value itself is never in the message: it may be a key in the wrong encoding.
    raise ConfigurationError(
        f"{what} is not a document key: 32 bytes as 64 hex digits or base64 "
        f"(e.g. `python -c 'import os, base64; print(base64.b64encode(os.urandom(32)).decode())'`)"
    )


def write_key_file(path: Path, key: DocumentKey) -> None:
    """Write ``key`` into a new file ``path``, mode 0600 (an existing file is an error)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes starting at once cannot both write one.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.encoded() + "\n")


def _configured(value: SecretStr | None, path: Path | None, name: str) -> DocumentKey | None:
    if value is not None:
        return parse_key(value.get_secret_value(), name)
    if path is not None:
        return read_key_file(path, f"{name}_FILE")
    return None


def _generated(path: Path, *, dev_chain: bool) -> DocumentKey:
    if path.exists():
        return read_key_file(path, "the generated document key file")
    if not dev_chain:
        raise ConfigurationError(
            "documents are stored encrypted and need a key: set LEDGER_DOCUMENT_KEY or "
            "LEDGER_DOCUMENT_KEY_FILE (32 bytes, 64 hex digits or base64)"
        )
    key = DocumentKey.generate()
    try:
        write_key_file(path, key)
    except FileExistsError:
        return read_key_file(path, "the generated document key file")
    log.warning(
        "no LEDGER_DOCUMENT_KEY set: generated one for the local dev chain into %s "
        "(keep it: the stored documents cannot be read without it)",
        path,
    )
    return key
