"""The trace's own ABI encoding of event data is eth_abi's, byte for byte: for the
elementary types and arrays it encodes itself, and by falling back to eth_abi for the
rest (and for values eth_abi refuses, which it must still refuse)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_abi.exceptions import EncodingError
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_app.audit.encode import _encode

ADDRESSES = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())


def _uint(bits: int) -> tuple[str, st.SearchStrategy]:
    return f"uint{bits}", st.integers(0, (1 << bits) - 1)


def _int(bits: int) -> tuple[str, st.SearchStrategy]:
    return f"int{bits}", st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def _bytes(size: int) -> tuple[str, st.SearchStrategy]:
    return f"bytes{size}", st.binary(min_size=0, max_size=size)


ELEMENTARY = [_uint(8), _uint(48), _uint(128), _uint(256), _int(8), _int(256),
              ("address", ADDRESSES), ("bool", st.booleans()), _bytes(2), _bytes(3),
              _bytes(32)]  # fmt: skip


@st.composite
def typed_values(draw) -> tuple[list[str], list]:
    types, values = [], []
    for _ in range(draw(st.integers(0, 6))):
        abi_type, strategy = draw(st.sampled_from(ELEMENTARY))
        if draw(st.booleans()):
            types.append(abi_type + "[]")
            values.append(draw(st.lists(strategy, max_size=12)))
        else:
            types.append(abi_type)
            values.append(draw(strategy))
    return types, values


@settings(max_examples=300, deadline=None)
@given(typed_values())
def test_elementary_values_and_arrays_encode_as_eth_abi_does(case) -> None:
    types, values = case
    assert _encode(types, values) == encode(types, values)


def test_other_types_go_to_eth_abi() -> None:
    types = ["string", "bytes", "(uint256,address)", "uint128[2]"]
    values = ["ΔCNY", b"\x01\x02", (7, "0x" + "ab" * 20), [1, 2]]
    assert _encode(types, values) == encode(types, values)


# Out of range, too long, not a bool, an address one byte short.
REFUSED = [("uint8", 256), ("uint128", -1), ("int8", 128), ("bytes2", b"abc"), ("bool", 1),
           ("address", "0x" + "ab" * 19), ("uint256[]", [1, -1])]  # fmt: skip


@pytest.mark.parametrize(("abi_type", "value"), REFUSED)
def test_values_eth_abi_refuses_are_refused(abi_type: str, value) -> None:
    with pytest.raises(EncodingError):
        encode([abi_type], [value])
    with pytest.raises(EncodingError):
        _encode([abi_type], [value])
