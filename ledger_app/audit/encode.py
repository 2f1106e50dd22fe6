"""Indexed event arguments back to the raw log (topics and data) the chain emitted.

The index keeps each event's decoded arguments (ledger_app/chain/decode.py); this
module inverts that normalisation and ABI-encodes them again. Verification compares
the result with the node's log byte for byte, so a changed amount, party or id in
the events table shows up as a different topic or data word.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eth_abi import encode
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic

ABI = list[dict[str, Any]]

_ASCII_BYTE_TYPES = frozenset({"bytes2", "bytes3"})


class EventEncoder:
    """Encodes events of known contract kinds; ``abis`` maps kind to ABI."""

    def __init__(self, abis: Mapping[str, ABI]) -> None:
        self._events: dict[tuple[str, str], dict[str, Any]] = {}
        self._topic0: dict[tuple[str, str], str] = {}
        for kind, abi in abis.items():
            for entry in abi:
                if entry.get("type") == "event" and not entry.get("anonymous"):
                    self._events[(kind, entry["name"])] = entry
                    self._topic0[(kind, entry["name"])] = "0x" + event_abi_to_log_topic(entry).hex()

    def encode(self, kind: str, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """``{"topics": [...], "data": "0x..."}`` of event ``name`` of ``kind`` with ``args``.

        Raises KeyError for an event the ABIs do not declare or an argument missing.
        """
        event = self._events[(kind, name)]
        topics = [self._topic0[(kind, name)]]
        types: list[str] = []
        values: list[Any] = []
        for item in event.get("inputs", []):
            value = args[item["name"]]
            if item.get("indexed"):
                topics.append(_topic(item, value))
            else:
                types.append(collapse_if_tuple(item))
                values.append(_abi_value(item, value))
        return {"topics": topics, "data": "0x" + _encode(types, values).hex()}


def _topic(item: dict[str, Any], value: Any) -> str:
    abi_type = item["type"]
    # Dynamic values are indexed as their hash, and the index stores that hash as is.
    if abi_type in ("string", "bytes") or abi_type.endswith("]") or abi_type == "tuple":
        return str(value)
    return "0x" + _encode([abi_type], [_abi_value(item, value)]).hex()


def _encode(types: list[str], values: list[Any]) -> bytes:
    """eth_abi's ``encode``, byte for byte; the ledger's own event shapes (elementary
    values and arrays of them) are encoded here directly, several times faster than
    eth_abi's validating encoders, which a trace of a thousand split amounts spent most
    of its time in. Anything else, or a value out of its type's range, goes to eth_abi
    (which encodes it or raises as it always did)."""
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = 32 * len(types)
    for abi_type, value in zip(types, values, strict=True):
        if abi_type.endswith("[]"):
            element = abi_type[:-2]
            if not isinstance(value, list | tuple):
                return encode(types, values)
            words = [_word(element, v) for v in value]
            if any(w is None for w in words):
                return encode(types, values)
            tail = len(value).to_bytes(32, "big") + b"".join(words)  # type: ignore[arg-type]
            heads.append(offset.to_bytes(32, "big"))
            tails.append(tail)
            offset += len(tail)
            continue
        word = _word(abi_type, value)
        if word is None:
            return encode(types, values)
        heads.append(word)
    return b"".join(heads) + b"".join(tails)


def _word(abi_type: str, value: Any) -> bytes | None:
    """One static elementary value as its 32-byte word, or None if not handled here."""
    if abi_type.startswith("uint"):
        bits = int(abi_type[4:] or 256)
        if type(value) is int and 0 <= value < 1 << bits:
            return value.to_bytes(32, "big")
        return None
    if abi_type.startswith("int"):
        bits = int(abi_type[3:] or 256)
        if type(value) is int and -(1 << (bits - 1)) <= value < 1 << (bits - 1):
            return value.to_bytes(32, "big", signed=True)
        return None
    if abi_type == "address":
        if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
            hex_part = value[2:]
            if hex_part == hex_part.lower():  # mixed case: eth_abi checks the checksum
                try:
                    return bytes(12) + bytes.fromhex(hex_part)
                except ValueError:
                    return None
        return None
    if abi_type == "bool":
        return (b"\0" * 31 + (b"\1" if value else b"\0")) if type(value) is bool else None
    if abi_type.startswith("bytes") and abi_type != "bytes":
        size = int(abi_type[5:])
        if isinstance(value, bytes) and len(value) <= size:
            return value.ljust(32, b"\0")
        return None
    return None


def _abi_value(item: dict[str, Any], value: Any) -> Any:
    abi_type: str = item["type"]
    if abi_type.endswith("]"):
        element = {**item, "type": abi_type[: abi_type.rindex("[")]}
        return [_abi_value(element, v) for v in value]
    if abi_type == "tuple":
        return tuple(_abi_value(c, value[c["name"]]) for c in item["components"])
    if abi_type in _ASCII_BYTE_TYPES:
        return str(value).encode("ascii")
    if abi_type.startswith("bytes"):
        return bytes.fromhex(str(value)[2:])
    return value
