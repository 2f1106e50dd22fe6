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

Addresses here are lower-case hex, as the index keeps them.
"""

from __future__ import annotations

from collections.abc import Iterable


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
