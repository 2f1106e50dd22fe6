#!/usr/bin/env python3
"""Write the files of deploy/besu/config/ that depend on the nodes' keys.

Run by scripts/generate-keys.sh after it has had Besu create each node's key (standard
library only: it runs wherever python3 does). Reads, for every node of NODES,
keys/<node>/key.pub (the node's public key, from `besu public-key export`) and
keys/<node>/address (from `besu public-key export-address`), and writes:

- config/validators.json: the validators' addresses, the input of
  `besu rlp encode --from=config/validators.json --type=QBFT_EXTRA_DATA`;
- config/genesis.json's "extraData": that encoding (computed here; when
  keys/extra-data.txt, Besu's own output, exists, the two must be equal);
- config/static-nodes.json: every node's enode URL (nodes dial each other; no discovery);
- config/permissions_config.toml: the local allowlists: every node's enode
  (nodes-allowlist) and the operator's account (accounts-allowlist, see RUNBOOK.md).

Usage: python3 scripts/render-network.py [--operator 0xADDRESS]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # deploy/besu

#: Every Besu node of docker-compose.yml with its fixed address on the network
#: "ledger-net" (enode URLs need an IP: names need Besu's early-access DNS option).
NODES = {
    "validator1": "172.28.0.11",
    "validator2": "172.28.0.12",
    "validator3": "172.28.0.13",
    "validator4": "172.28.0.14",
    "rpc1": "172.28.0.15",
}
VALIDATORS = ["validator1", "validator2", "validator3", "validator4"]
P2P_PORT = 30303


def rlp(item: bytes | list) -> bytes:
    """Recursive Length Prefix encoding (the Ethereum yellow paper, appendix B)."""
    if isinstance(item, bytes):
        if len(item) == 1 and item[0] < 0x80:
            return item
        return _length(len(item), 0x80) + item
    payload = b"".join(rlp(element) for element in item)
    return _length(len(payload), 0xC0) + payload


def _length(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(encoded)]) + encoded


def qbft_extra_data(validators: list[str]) -> str:
    """QBFT genesis extraData: RLP([32-byte vanity, [validators], no vote, round 0, no
    seals]), as Besu's QbftExtraDataCodec writes it and `besu rlp encode` prints it."""
    addresses = [bytes.fromhex(a[2:]) for a in validators]
    return "0x" + rlp([bytes(32), addresses, [], b"", []]).hex()


def read_node(name: str) -> tuple[str, str]:
    """(public key without 0x, address with 0x, lower case) of node ``name``."""
    folder = HERE / "keys" / name
    public = (folder / "key.pub").read_text().strip().lower().removeprefix("0x")
    address = (folder / "address").read_text().strip().lower()
    if not re.fullmatch(r"[0-9a-f]{128}", public):
        sys.exit(f"{folder / 'key.pub'}: not a 64-byte public key")
    if not re.fullmatch(r"0x[0-9a-f]{40}", address):
        sys.exit(f"{folder / 'address'}: not an address")
    return public, address


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operator", help="the operator's account (0x...), allowlisted")
    args = parser.parse_args()
    nodes = {name: read_node(name) for name in NODES}
    validators = [nodes[name][1] for name in VALIDATORS]
    extra = qbft_extra_data(validators)
    besu_says = HERE / "keys" / "extra-data.txt"
    if besu_says.exists() and besu_says.read_text().strip().lower() != extra:
        sys.exit(f"besu rlp encode wrote {besu_says.read_text().strip()}, expected {extra}")

    config = HERE / "config"
    (config / "validators.json").write_text(json.dumps(validators, indent=2) + "\n")
    genesis_file = config / "genesis.json"
    genesis = json.loads(genesis_file.read_text())
    genesis["extraData"] = extra
    genesis_file.write_text(json.dumps(genesis, indent=2) + "\n")
    enodes = [f"enode://{nodes[n][0]}@{ip}:{P2P_PORT}" for n, ip in NODES.items()]
    (config / "static-nodes.json").write_text(json.dumps(enodes, indent=2) + "\n")
    operator = args.operator or _current_operator(config / "permissions_config.toml")
    lines = [
        "# Local permissioning of every Besu node (written by scripts/render-network.py).",
        "# nodes-allowlist: the only peers a node talks to (permissions-nodes-config-file).",
        "# accounts-allowlist: senders accepted when permissions-accounts-config-file-enabled",
        "# is true; off by default, see RUNBOOK.md \"Account allowlisting\".",
        "nodes-allowlist=[",
        ",\n".join(f'  "{e}"' for e in enodes),
        "]",
        f'accounts-allowlist=["{operator}"]' if operator else "accounts-allowlist=[]",
        "",
    ]
    (config / "permissions_config.toml").write_text("\n".join(lines))
    print(f"validators: {', '.join(validators)}")
    print(f"extraData:  {extra}")
    return 0


def _current_operator(path: Path) -> str | None:
    if not path.exists():
        return None
    found = re.search(r'accounts-allowlist=\["(0x[0-9a-fA-F]{40})"', path.read_text())
    return found.group(1) if found else None


if __name__ == "__main__":
    raise SystemExit(main())
