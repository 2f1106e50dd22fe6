"""The passphrase that encrypts the participants' custodial keystores.

From LEDGER_KEYSTORE_PASSPHRASE, else the file LEDGER_KEYSTORE_PASSPHRASE_FILE
names (a mounted secret). On a local dev chain, when neither is set, one is
generated on first start into ``state_dir/keystore-passphrase`` (mode 0600)
and re-used after; the log says where, never what. Anywhere else a missing
passphrase is a ConfigurationError.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from ledger_app.errors import ConfigurationError
from ledger_app.settings import Settings

log = logging.getLogger(__name__)


def keystore_passphrase(settings: Settings, *, dev_chain: bool) -> str:
    """The passphrase for ``settings``; generated on a dev chain if none is configured."""
    if settings.keystore_passphrase is not None:
        return settings.keystore_passphrase.get_secret_value()
    if settings.keystore_passphrase_file is not None:
        return _read(settings.keystore_passphrase_file, "LEDGER_KEYSTORE_PASSPHRASE_FILE")
    if not dev_chain:
        raise ConfigurationError(
            "custodial keys need a passphrase: set LEDGER_KEYSTORE_PASSPHRASE or "
            "LEDGER_KEYSTORE_PASSPHRASE_FILE"
        )
    path = settings.generated_passphrase_file
    if path.exists():
        return _read(path, "the generated passphrase file")
    path.parent.mkdir(parents=True, exist_ok=True)
    passphrase = secrets.token_urlsafe(32)
    # O_EXCL: two processes starting at once cannot both write one.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(passphrase + "\n")
    log.warning(
        "no LEDGER_KEYSTORE_PASSPHRASE set: generated one for the local dev chain into %s "
        "(keep it: the custodial keys cannot be decrypted without it)",
        path,
    )
    return passphrase


def read_passphrase_file(path: Path, what: str) -> str:
    """The passphrase in file ``path`` (its trailing newline dropped); ConfigurationError
    naming ``what`` when it cannot be read or is empty."""
    return _read(path, what)


def _read(path: Path, what: str) -> str:
    try:
        passphrase = path.read_text().rstrip("\r\n")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if not passphrase:
        raise ConfigurationError(f"{what} {path} is empty")
    return passphrase
