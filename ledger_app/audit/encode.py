"""Indexed event arguments back to the raw log (topics and data) the chain emitted.

The index keeps each event's decoded arguments (ledger_app/indexer/decode.py); this
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
        for kind, abi in abis.items():
            for entry in abi:
                if entry.get("type") == "event" and not entry.get("anonymous"):
                    self._events[(kind, entry["name"])] = entry

    def encode(self, kind: str, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """``{"topics": [...], "data": "0x..."}`` of event ``name`` of ``kind`` with ``args``.

        Raises KeyError for an event the ABIs do not declare or an argument missing.
        """
        event = self._events[(kind, name)]
        topics = ["0x" + event_abi_to_log_topic(event).hex()]
        types: list[str] = []
        values: list[Any] = []
        for item in event.get("inputs", []):
            value = args[item["name"]]
            if item.get("indexed"):
                topics.append(_topic(item, value))
            else:
                types.append(collapse_if_tuple(item))
                values.append(_abi_value(item, value))
        return {"topics": topics, "data": "0x" + encode(types, values).hex()}


def _topic(item: dict[str, Any], value: Any) -> str:
    abi_type = item["type"]
    # Dynamic values are indexed as their hash, and the index stores that hash as is.
    if abi_type in ("string", "bytes") or abi_type.endswith("]") or abi_type == "tuple":
        return str(value)
    return "0x" + encode([abi_type], [_abi_value(item, value)]).hex()


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
