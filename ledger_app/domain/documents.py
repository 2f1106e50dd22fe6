"""Who may commit to a document, and who may read it.

A document belongs to the participants that uploaded it (the same bytes uploaded by
two participants are each one's). An uploader grants it to other participants and
revokes its grants. Its *entitled* participants are its uploaders and its grantees:
only they may commit to it in a receivable they register.

A document hash is public on chain, so a receivable committing to it proves nothing
by itself: anyone can register one with a hash it copied, straight on chain,
bypassing the API. The parties of a receivable therefore read the document only when
that receivable's debtor (who registered it) is entitled to the document: then the
debtor brought its parties in. Auditors and regulators read every document.

What a receivable commits to (``documentHash``) is salted: a guesser holding a
candidate document cannot confirm it against the public ledger. The scheme is
``sha256-salted-v1``::

    commitment = sha256(COMMITMENT_TAG || salt || sha256(document))

with a random 32-byte salt per document, kept encrypted with the document. sha256
rather than keccak256 so that anyone can check a disclosure (document + salt) with
Python's standard library alone (scripts/verify_disclosure.py); the tag keeps the
commitment from meaning anything else. Documents stored before salting keep their
commitment, the document's plain keccak256 (scheme ``keccak256-unsalted``).

Addresses here are lower-case hex, as the index keeps them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from eth_utils import keccak

SALTED = "sha256-salted-v1"
UNSALTED = "keccak256-unsalted"
COMMITMENT_TAG = b"ledger-app/document-commitment/v1\x00"
SALT_BYTES = 32


def salted_commitment(salt: bytes, document: bytes) -> str:
    """The 0x-hex commitment to ``document`` under ``salt`` (scheme ``sha256-salted-v1``)."""
    if len(salt) != SALT_BYTES:
        raise ValueError(f"a commitment salt is {SALT_BYTES} bytes, not {len(salt)}")
    inner = hashlib.sha256(document).digest()
    return "0x" + hashlib.sha256(COMMITMENT_TAG + salt + inner).hexdigest()


def unsalted_commitment(document: bytes) -> str:
    """The 0x-hex commitment of a document stored before salting: its plain keccak256."""
    return "0x" + keccak(document).hex()


def may_commit(participant: str, entitled: Iterable[str]) -> bool:
    """Whether ``participant`` may register a receivable committing to the document."""
    return participant in set(entitled)


def may_read(
    reader: str,
    *,
    reads_all: bool,
    entitled: Iterable[str],
    debtors: Iterable[str],
) -> bool:
    """Whether ``reader`` may read the document.

    ``entitled``: the document's uploaders and grantees; ``debtors``: the debtors of
    the receivables committing to the document that ``reader`` is a party to.
    """
    entitled = set(entitled)
    return reads_all or reader in entitled or any(debtor in entitled for debtor in debtors)


def may_grant(participant: str, uploaders: Iterable[str]) -> bool:
    """Whether ``participant`` may grant the document, list or revoke its own grants:
    only an uploader (a grantee passes nothing on)."""
    return participant in set(uploaders)
