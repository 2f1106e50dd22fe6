#!/usr/bin/env python3
"""Check a document disclosure against its commitment, with Python's standard library only.

A disclosure is what ``GET /v1/documents/{document_hash}/disclosure`` answers: the
document (base64), its salt and the commitment scheme. Whoever receives one can check,
without trusting the service, that the document is the one a receivable commits to::

    python3 scripts/verify_disclosure.py disclosure.json
    python3 scripts/verify_disclosure.py disclosure.json 0xCOMMITMENT
    python3 scripts/verify_disclosure.py disclosure.json --rpc http://127.0.0.1:8545 \\
        --registry 0xRECEIVABLE_REGISTRY --receivable 7

The first form recomputes the commitment from the document and the salt and compares it
with the disclosure's own; the second compares it with a commitment you hold (e.g. the
``document_hash`` of a receivable, read from the chain by any means); the third reads the
receivable's ``documentHash`` from the chain itself (a JSON-RPC ``eth_call`` of
``receivable(uint256)``, encoded by hand). Exit status 0: verified; 1: not; 2: bad input.

Schemes:

- ``sha256-salted-v1``: sha256(tag || salt || sha256(document)), tag
  ``b"ledger-app/document-commitment/v1\\x00"``, salt 32 bytes.
- ``keccak256-unsalted``: keccak256(document), for documents stored before salting
  (a small keccak256 below: hashlib's sha3_256 is the NIST variant, not Ethereum's).

Imports nothing but the standard library, so that it can be read in one sitting and run
with ``python3 -I -S``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import urllib.request

COMMITMENT_TAG = b"ledger-app/document-commitment/v1\x00"
SALTED = "sha256-salted-v1"
UNSALTED = "keccak256-unsalted"

# --- keccak256 (Keccak-f[1600], rate 1088 bits, Ethereum's 0x01 padding) ---------------------

_ROUND_CONSTANTS = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]  # fmt: skip
_ROTATIONS = [
    [0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61],
    [28, 55, 25, 21, 56], [27, 20, 39, 8, 14],
]  # fmt: skip
_MASK = (1 << 64) - 1


def _rotl(value: int, shift: int) -> int:
    return ((value << shift) | (value >> (64 - shift))) & _MASK if shift else value


def _keccak_f(lanes: list[list[int]]) -> None:
    for constant in _ROUND_CONSTANTS:
        c = [lanes[x][0] ^ lanes[x][1] ^ lanes[x][2] ^ lanes[x][3] ^ lanes[x][4] for x in range(5)]
        d = [c[(x - 1) % 5] ^ _rotl(c[(x + 1) % 5], 1) for x in range(5)]
        for x in range(5):
            for y in range(5):
                lanes[x][y] ^= d[x]
        b = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                b[y][(2 * x + 3 * y) % 5] = _rotl(lanes[x][y], _ROTATIONS[x][y])
        for x in range(5):
            for y in range(5):
                lanes[x][y] = b[x][y] ^ ((~b[(x + 1) % 5][y]) & b[(x + 2) % 5][y])
        lanes[0][0] ^= constant


def keccak256(data: bytes) -> bytes:
    """Ethereum's keccak256 of ``data``."""
    rate = 136
    padded = bytearray(data) + b"\x01" + b"\x00" * ((-len(data) - 1) % rate)
    padded[-1] |= 0x80
    lanes = [[0] * 5 for _ in range(5)]
    for offset in range(0, len(padded), rate):
        block = padded[offset : offset + rate]
        for i in range(rate // 8):
            lanes[i % 5][i // 5] ^= int.from_bytes(block[8 * i : 8 * i + 8], "little")
        _keccak_f(lanes)
    return b"".join(lanes[i % 5][i // 5].to_bytes(8, "little") for i in range(4))


# --- the commitment ---------------------------------------------------------------------


def commitment_of(disclosure: dict) -> str:
    """The 0x-hex commitment the disclosure's document and salt make under its scheme."""
    document = base64.b64decode(disclosure["document"], validate=True)
    scheme = disclosure["scheme"]
    if scheme == SALTED:
        salt = bytes.fromhex(disclosure["salt"].removeprefix("0x"))
        if len(salt) != 32:
            raise ValueError(f"the salt is {len(salt)} bytes, not 32")
        inner = hashlib.sha256(document).digest()
        return "0x" + hashlib.sha256(COMMITMENT_TAG + salt + inner).hexdigest()
    if scheme == UNSALTED:
        return "0x" + keccak256(document).hex()
    raise ValueError(f"unknown commitment scheme {scheme!r}")


def on_chain_document_hash(rpc_url: str, registry: str, receivable_id: int) -> str:
    """The ``documentHash`` of receivable ``receivable_id`` as the registry answers it now."""
    selector = keccak256(b"receivable(uint256)")[:4]
    data = "0x" + selector.hex() + receivable_id.to_bytes(32, "big").hex()
    request = urllib.request.Request(
        rpc_url,
        data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_call",
                         "params": [{"to": registry, "data": data}, "latest"]}).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        reply = json.load(answer)
    if "error" in reply:
        raise ValueError(f"the node refused the call: {reply['error']}")
    words = bytes.fromhex(reply["result"].removeprefix("0x"))
    # Receivable is a static struct, answered in place; documentHash is its 12th member.
    return "0x" + words[11 * 32 : 12 * 32].hex()


def main(argv: list[str] | None = None) -> int:
    """Verify; print what was compared; 0 when the commitments match."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("disclosure", help="the disclosure JSON file ('-': standard input)")
    parser.add_argument("commitment", nargs="?", help="the 0x-hex commitment to check against")
    parser.add_argument("--rpc", help="JSON-RPC URL of a node of the ledger")
    parser.add_argument("--registry", help="address of the ReceivableRegistry")
    parser.add_argument("--receivable", type=int, help="the receivable whose documentHash to read")
    args = parser.parse_args(argv)
    try:
        if args.disclosure == "-":
            disclosure = json.load(sys.stdin)
        else:
            with open(args.disclosure, encoding="utf-8") as handle:
                disclosure = json.load(handle)
        computed = commitment_of(disclosure)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        print(f"cannot read the disclosure: {exc}", file=sys.stderr)
        return 2
    expected = {"the disclosure's commitment": disclosure.get("commitment")}
    if args.commitment:
        expected["the commitment given"] = args.commitment
    if args.rpc or args.registry or args.receivable is not None:
        if not (args.rpc and args.registry and args.receivable is not None):
            print("--rpc, --registry and --receivable go together", file=sys.stderr)
            return 2
        try:
            expected[f"receivable {args.receivable}'s documentHash on chain"] = (
                on_chain_document_hash(args.rpc, args.registry, args.receivable)
            )
        except (OSError, ValueError, KeyError) as exc:
            print(f"cannot read the chain: {exc}", file=sys.stderr)
            return 2
    print(f"scheme {disclosure['scheme']}: the document and salt commit to {computed}")
    verified = True
    for what, value in expected.items():
        matches = isinstance(value, str) and value.lower() == computed
        verified &= matches
        print(f"  {'matches' if matches else 'DOES NOT MATCH'} {what} {value}")
    print("verified" if verified else "NOT verified")
    return 0 if verified else 1


if __name__ == "__main__":
    sys.exit(main())
