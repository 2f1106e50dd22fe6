"""Indexed event arguments back to the raw log (topics and data) the chain emitted.

The index keeps each event's decoded arguments (ledger_app/chain/decode.py); this
module inverts that normalisation and ABI-encodes them again. Verification compares
the result with the node's log byte for byte, so a changed amount, party or id in
the events table shows up as a different topic or data word.

What each event needs (its topic, which argument goes to a topic and which to the
data, how each is normalised back and encoded) is worked out once per event when the
encoder is built, not again for every log: a trace encodes every step's log.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic

ABI = list[dict[str, Any]]

_ASCII_BYTE_TYPES = frozenset({"bytes2", "bytes3"})

#: One static elementary value as its 32-byte word, or None when it is not one this
#: module encodes (eth_abi then encodes it, or refuses it).
Word = Callable[[Any], bytes | None]
#: An argument's normalisation back to what eth_abi takes (None: taken as indexed).
Convert = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Argument:
    name: str
    indexed: bool
    convert: Convert
    topic: Callable[[Any], str] | None  # of an indexed argument, from its indexed value


@dataclass(frozen=True)
class _Event:
    topic0: str
    arguments: tuple[_Argument, ...]
    types: tuple[str, ...]  # of the data, in order
    words: tuple[tuple[bool, Word], ...] | None  # the data's encoders; None: eth_abi's


class EventEncoder:
    """Encodes events of known contract kinds; ``abis`` maps kind to ABI."""

    def __init__(self, abis: Mapping[str, ABI]) -> None:
        self._events: dict[tuple[str, str], _Event] = {}
        for kind, abi in abis.items():
            for entry in abi:
                if entry.get("type") == "event" and not entry.get("anonymous"):
                    self._events[(kind, entry["name"])] = _event(entry)

    def encode(self, kind: str, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
        """``{"topics": [...], "data": "0x..."}`` of event ``name`` of ``kind`` with ``args``.

        Raises KeyError for an event the ABIs do not declare or an argument missing.
        """
        event = self._events[(kind, name)]
        topics = [event.topic0]
        values: list[Any] = []
        for argument in event.arguments:
            value = args[argument.name]
            if argument.topic is not None:
                topics.append(argument.topic(value))
            else:
                values.append(value if argument.convert is None else argument.convert(value))
        if event.words is None:
            data = encode(list(event.types), values)
        else:
            data = _encode_words(event.types, event.words, values)
        return {"topics": topics, "data": "0x" + data.hex()}


def _event(entry: dict[str, Any]) -> _Event:
    arguments = []
    types = []
    for item in entry.get("inputs", []):
        convert = _converter(item)
        if item.get("indexed"):
            arguments.append(_Argument(item["name"], True, convert, _topic(item, convert)))
        else:
            arguments.append(_Argument(item["name"], False, convert, None))
            types.append(collapse_if_tuple(item))
    return _Event("0x" + event_abi_to_log_topic(entry).hex(), tuple(arguments), tuple(types),
                  _words(tuple(types)))  # fmt: skip


def _topic(item: dict[str, Any], convert: Convert) -> Callable[[Any], str]:
    abi_type = item["type"]
    # Dynamic values are indexed as their hash, and the index stores that hash as is.
    if abi_type in ("string", "bytes") or abi_type.endswith("]") or abi_type == "tuple":
        return str
    types = (abi_type,)
    words = _words(types)

    def topic(value: Any) -> str:
        value = value if convert is None else convert(value)
        word = (
            encode([abi_type], [value]) if words is None else _encode_words(types, words, [value])
        )
        return "0x" + word.hex()

    return topic


def _encode(types: Sequence[str], values: list[Any]) -> bytes:
    """eth_abi's ``encode``, byte for byte; the ledger's own event shapes (elementary
    values and arrays of them) are encoded here directly, several times faster than
    eth_abi's validating encoders, which a trace of a thousand split amounts spent most
    of its time in. Anything else, or a value out of its type's range, goes to eth_abi
    (which encodes it or raises as it always did)."""
    words = _words(tuple(types))
    if words is None:
        return encode(list(types), values)
    return _encode_words(types, words, values)


def _encode_words(
    types: Sequence[str], words: Sequence[tuple[bool, Word]], values: list[Any]
) -> bytes:
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = 32 * len(types)
    for (array, word), value in zip(words, values, strict=True):
        if array:
            if not isinstance(value, list | tuple):
                return encode(list(types), values)
            elements = [word(v) for v in value]
            if None in elements:
                return encode(list(types), values)
            tail = len(value).to_bytes(32, "big") + b"".join(elements)  # type: ignore[arg-type]
            heads.append(offset.to_bytes(32, "big"))
            tails.append(tail)
            offset += len(tail)
            continue
        head = word(value)
        if head is None:
            return encode(list(types), values)
        heads.append(head)
    return b"".join(heads) + b"".join(tails)


@functools.cache
def _words(types: tuple[str, ...]) -> tuple[tuple[bool, Word], ...] | None:
    # Per type (a dynamic array?, the word encoder of it or its elements); None if one
    # of them is not encoded here.
    found = []
    for abi_type in types:
        array = abi_type.endswith("[]")
        word = _word(abi_type[:-2] if array else abi_type)
        if word is None:
            return None
        found.append((array, word))
    return tuple(found)


@functools.cache
def _word(abi_type: str) -> Word | None:
    """The word encoder of one static elementary type, or None if not handled here."""
    if abi_type == "uint" or (abi_type.startswith("uint") and abi_type[4:].isdigit()):
        return functools.partial(_uint_word, 1 << int(abi_type[4:] or 256))
    if abi_type == "int" or (abi_type.startswith("int") and abi_type[3:].isdigit()):
        return functools.partial(_int_word, 1 << (int(abi_type[3:] or 256) - 1))
    if abi_type == "address":
        return _address_word
    if abi_type == "bool":
        return _bool_word
    if abi_type.startswith("bytes") and abi_type[5:].isdigit():
        return functools.partial(_bytes_word, int(abi_type[5:]))
    return None


def _uint_word(bound: int, value: Any) -> bytes | None:
    if type(value) is int and 0 <= value < bound:
        return value.to_bytes(32, "big")
    return None


def _int_word(half: int, value: Any) -> bytes | None:
    if type(value) is int and -half <= value < half:
        return value.to_bytes(32, "big", signed=True)
    return None


def _bool_word(value: Any) -> bytes | None:
    return (b"\0" * 31 + (b"\1" if value else b"\0")) if type(value) is bool else None


def _bytes_word(size: int, value: Any) -> bytes | None:
    return value.ljust(32, b"\0") if isinstance(value, bytes) and len(value) <= size else None


def _address_word(value: Any) -> bytes | None:
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        hex_part = value[2:]
        if hex_part == hex_part.lower():  # mixed case: eth_abi checks the checksum
            try:
                return bytes(12) + bytes.fromhex(hex_part)
            except ValueError:
                return None
    return None


def _converter(item: dict[str, Any]) -> Convert:
    # How an indexed value of ``item`` goes back to what eth_abi takes.
    abi_type: str = item["type"]
    if abi_type.endswith("]"):
        element = _converter({**item, "type": abi_type[: abi_type.rindex("[")]})
        if element is None:
            return list
        return lambda value: [element(v) for v in value]
    if abi_type == "tuple":
        components = [(c["name"], _converter(c)) for c in item["components"]]
        return lambda value: tuple(
            value[name] if convert is None else convert(value[name]) for name, convert in components
        )
    if abi_type in _ASCII_BYTE_TYPES:
        return lambda value: str(value).encode("ascii")
    if abi_type.startswith("bytes"):
        return lambda value: bytes.fromhex(str(value)[2:])
    return None
