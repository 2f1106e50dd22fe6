"""Reading a signed raw transaction: its fields and its signer.

Used to check that a transaction a participant signed with its own key is
exactly the call the service prepared for it, before it is broadcast.
Legacy (EIP-155) and typed (EIP-2930, EIP-1559) transactions are understood.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
from eth_account.typed_transactions import TypedTransaction
from eth_utils import to_checksum_address
from hexbytes import HexBytes

from ledger_app.errors import InvalidInput


@dataclass(frozen=True)
class RawTransaction:
    """The fields of a signed transaction that say what it does, and who signed it."""

    signer: str
    to: str | None
    data: bytes
    value: int
    chain_id: int | None
    nonce: int
    gas: int


def decode_raw_transaction(raw: bytes) -> RawTransaction:
    """Decode ``raw``; InvalidInput (field ``raw_transaction``) if it is not a signed tx."""
    try:
        if raw and raw[0] <= 0x7F:
            fields = TypedTransaction.from_bytes(HexBytes(raw)).as_dict()
            chain_id = int(fields["chainId"])
        else:
            fields = LegacyTransaction.from_bytes(raw).as_dict()
            v = int(fields["v"])
            chain_id = (v - 35) // 2 if v >= 35 else None  # EIP-155
        signer = Account.recover_transaction(raw)
    except Exception as exc:  # rlp, eth-account and eth-keys raise many kinds
        raise InvalidInput(
            f"raw_transaction is not a signed transaction: {exc}",
            error="InvalidRawTransaction",
            field="raw_transaction",
        ) from exc
    to = bytes(fields.get("to") or b"")
    return RawTransaction(
        signer=to_checksum_address(signer),
        to=to_checksum_address(to) if to else None,
        data=bytes(fields.get("data") or b""),
        value=int(fields.get("value", 0)),
        chain_id=chain_id,
        nonce=int(fields["nonce"]),
        gas=int(fields["gas"]),
    )
