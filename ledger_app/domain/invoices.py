"""The invoice key: one invoice, one receivable, for ever, across the whole ledger.

keccak256 over a consortium salt and the invoice's normalised natural key
(seller tax id, invoice number, invoice type). Normalising makes
"91310000 MA1FL-0001" and "91310000ma1fl0001" the same seller, so the same
invoice typed twice cannot pass as two.
"""

from __future__ import annotations

import re
import unicodedata

from eth_utils import keccak

_SEPARATORS = re.compile(r"[\s\-_./]+")


def normalise(part: str) -> str:
    """NFKC, upper case, without spaces, dashes, dots, slashes or underscores."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", part)).upper()


def invoice_key(salt: bytes, seller_tax_id: str, number: str, invoice_type: str) -> bytes:
    """The 32-byte invoice key of one invoice under the consortium ``salt``."""
    parts = [normalise(seller_tax_id), normalise(number), normalise(invoice_type)]
    if not all(parts):
        raise ValueError("seller tax id, invoice number and type must not be empty")
    return keccak(salt + b"\x1f".join(p.encode() for p in parts))


def consortium_salt(configured: str, chain_id: int, registry_address: str) -> bytes:
    """The configured salt, else one fixed by the chain and the receivable registry."""
    if configured:
        return keccak(text=configured)
    return keccak(text=f"{chain_id}:{registry_address.lower()}")
