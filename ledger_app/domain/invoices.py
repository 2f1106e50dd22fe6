"""The invoice key: one invoice, one receivable, for ever, across the whole ledger.

An invoice is known by its seller and its normalised number and type. Off chain,
the service computes the invoice *ref*: keccak256 over a consortium salt and the
normalised invoice number and type (so the chain never sees an invoice number).
On chain, the receivable registry binds the ref to the seller: the invoice *key*
is keccak256(abi.encode(creditor's LEI, ref)), the LEI the creditor was onboarded
with. A debtor can therefore use up only invoice numbers of the creditor it names,
never another seller's. ``invoice_key`` here is the one off-chain copy of the
contract's ``invoiceKeyOf``.

Normalising makes "INV 2026-0001" and "inv20260001" the same invoice, so the same
invoice typed twice cannot pass as two; a seller's tax id is normalised the same way
(``normalise``) where it is recorded and compared.
"""

from __future__ import annotations

import re
import unicodedata

from eth_utils import keccak

_SEPARATORS = re.compile(r"[\s\-_./]+")


def normalise(part: str) -> str:
    """NFKC, upper case, without spaces, dashes, dots, slashes or underscores."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", part)).upper()


def invoice_ref(salt: bytes, number: str, invoice_type: str) -> bytes:
    """The 32-byte invoice ref of one invoice under the consortium ``salt``."""
    parts = [normalise(number), normalise(invoice_type)]
    if not all(parts):
        raise ValueError("invoice number and type must not be empty")
    return keccak(salt + b"\x1f".join(p.encode() for p in parts))


def invoice_key(lei: bytes, ref: bytes) -> bytes:
    """The ledger-wide invoice key of invoice ``ref`` sold by the holder of ``lei``:
    keccak256(abi.encode(bytes32 lei, bytes32 ref)), as the registry derives it."""
    if len(lei) != 32 or len(ref) != 32:
        raise ValueError("the LEI and the invoice ref are 32 bytes each")
    return keccak(lei + ref)


def consortium_salt(configured: str, chain_id: int, registry_address: str) -> bytes:
    """The configured salt, else one fixed by the chain and the receivable registry."""
    if configured:
        return keccak(text=configured)
    return keccak(text=f"{chain_id}:{registry_address.lower()}")
