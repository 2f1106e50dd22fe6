#!/usr/bin/env python3
"""A new operator account: an encrypted keystore (Web3 Secret Storage, as geth writes it)
and its passphrase, for LEDGER_OPERATOR_KEYSTORE / LEDGER_OPERATOR_PASSPHRASE_FILE.

Needs eth-account (in the service image; scripts/generate-secrets.sh runs it there).
Refuses to overwrite an existing keystore: the operator account holds the contracts'
admin roles, and rotating it is a procedure (RUNBOOK.md "Rotate keys"), not a rerun.

Usage: new-operator-keystore.py SECRETS_DIR   -> prints the new address
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

from eth_account import Account


def main() -> int:
    folder = Path(sys.argv[1])
    keystore = folder / "operator-keystore.json"
    passphrase_file = folder / "operator.passphrase"
    if keystore.exists():
        sys.exit(f"{keystore} exists: not replaced (see RUNBOOK.md 'Rotate keys')")
    passphrase = secrets.token_urlsafe(32)
    account = Account.create()
    encrypted = Account.encrypt(account.key, passphrase, iterations=2**18, kdf="scrypt")
    old = os.umask(0o077)
    try:
        passphrase_file.write_text(passphrase + "\n")
        keystore.write_text(json.dumps(encrypted) + "\n")
    finally:
        os.umask(old)
    print(account.address)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
