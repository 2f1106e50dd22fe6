"""``ledger-app rekey-custody``: a new passphrase for the custodial keystores (rekey.py)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ledger_app.db.engine import make_engine
from ledger_app.settings import Settings
from ledger_app.signing.passphrase import keystore_passphrase, read_passphrase_file
from ledger_app.signing.rekey import reencrypt_custody


def add_commands(commands: Any) -> None:
    """Add ``rekey-custody`` to the ``ledger-app`` sub-command parser."""
    rekey = commands.add_parser(
        "rekey-custody",
        help="encrypt every custodial key with a new passphrase (every ledger process stopped)",
    )
    rekey.add_argument(
        "--new-passphrase-file",
        type=Path,
        required=True,
        help="file holding the new passphrase; the current one is LEDGER_KEYSTORE_PASSPHRASE"
        "[_FILE]. Afterwards point LEDGER_KEYSTORE_PASSPHRASE_FILE at the new file",
    )
    rekey.set_defaults(command=rekey_command)


def rekey_command(settings: Settings, args: argparse.Namespace) -> int:
    """Re-encrypt, then say how many keys (never a passphrase)."""
    current = keystore_passphrase(settings, dev_chain=False)
    new = read_passphrase_file(args.new_passphrase_file, "--new-passphrase-file")
    engine = make_engine(settings.database_url)
    try:
        count = reencrypt_custody(engine, current, new, scrypt_n=settings.keystore_scrypt_n)
    finally:
        engine.dispose()
    print(f"{count} custodial keys now open with the passphrase of {args.new_passphrase_file}")
    return 0
