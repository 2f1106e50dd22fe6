"""ABI encoding of calls and constructors, and decoding of revert data.

Plain eth-abi over the JSON ABI, so that what goes on the wire is visible here
rather than inside web3's contract objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError
from eth_utils import to_checksum_address
from eth_utils.abi import (
    function_abi_to_4byte_selector,
    get_abi_input_names,
    get_abi_input_types,
    get_abi_output_types,
)

ABI = list[dict[str, Any]]

# Selectors of the two errors the compiler itself emits.
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)


def find_function(abi: ABI, name: str, arg_count: int) -> dict[str, Any]:
    """The ABI entry of function ``name`` taking ``arg_count`` arguments."""
    matches = [
        entry
        for entry in abi
        if entry.get("type") == "function"
        and entry.get("name") == name
        and len(entry.get("inputs", [])) == arg_count
    ]
    if len(matches) != 1:
        found = "no" if not matches else "several"
        raise ValueError(f"{found} function {name} with {arg_count} argument(s) in the ABI")
    return matches[0]


def encode_function_call(abi: ABI, name: str, args: Sequence[Any]) -> bytes:
    """Calldata for ``name(*args)``: 4-byte selector, then the ABI-encoded arguments."""
    function = find_function(abi, name, len(args))
    return function_abi_to_4byte_selector(function) + encode(
        get_abi_input_types(function), list(args)
    )


def decode_function_result(abi: ABI, name: str, arg_count: int, data: bytes) -> tuple[Any, ...]:
    """The return values of ``name`` decoded from ``eth_call`` output."""
    function = find_function(abi, name, arg_count)
    return tuple(decode(get_abi_output_types(function), data))


def encode_deployment(abi: ABI, bytecode: bytes, args: Sequence[Any]) -> bytes:
    """Creation bytecode followed by the ABI-encoded constructor arguments."""
    constructor = next((e for e in abi if e.get("type") == "constructor"), None)
    if constructor is None:
        if args:
            raise ValueError(f"the contract takes no constructor arguments, {len(args)} given")
        return bytecode
    types = get_abi_input_types(constructor)
    if len(types) != len(args):
        raise ValueError(f"the constructor takes {len(types)} argument(s), {len(args)} given")
    return bytecode + encode(types, list(args))


def decode_revert(data: bytes, abis: Iterable[ABI] = ()) -> tuple[str | None, dict[str, Any]]:
    """Name and arguments of the error in revert ``data``.

    ``Error`` for ``revert("...")``, ``Panic`` for a compiler panic, the custom
    error's name for one declared in any of ``abis``; ``(None, {})`` when the
    data is empty or matches nothing known.
    """
    if len(data) < 4:
        return None, {}
    selector, payload = data[:4], data[4:]
    try:
        if selector == ERROR_STRING_SELECTOR:
            (reason,) = decode(["string"], payload)
            return "Error", {"reason": reason}
        if selector == PANIC_SELECTOR:
            (code,) = decode(["uint256"], payload)
            return "Panic", {"code": code}
        for abi in abis:
            for entry in abi:
                if entry.get("type") != "error":
                    continue
                if function_abi_to_4byte_selector(entry) != selector:
                    continue
                types = get_abi_input_types(entry)
                values = [
                    to_checksum_address(v) if t == "address" else v
                    for t, v in zip(types, decode(types, payload), strict=True)
                ]
                names = get_abi_input_names(entry)
                return entry["name"], {
                    name or f"arg{i}": value
                    for i, (name, value) in enumerate(zip(names, values, strict=True))
                }
    except DecodingError:
        return None, {}
    return None, {}
