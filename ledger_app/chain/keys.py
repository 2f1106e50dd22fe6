"""The operator's signing key.

On a local anvil the operator is anvil's dev account 0, derived from anvil's
public default mnemonic: nothing secret, and the same on every machine. On
any other chain the key comes from an encrypted keystore file whose
passphrase is given by LEDGER_OPERATOR_PASSPHRASE or a secret file; neither
the passphrase nor the key is ever logged.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from eth_account import Account
from eth_account.signers.local import LocalAccount

from ledger_app.errors import ConfigurationError

if TYPE_CHECKING:
    from ledger_app.chain.client import ChainClient
    from ledger_app.settings import Settings

#: anvil's (and hardhat's) public default mnemonic; its accounts hold test ether only.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


def anvil_dev_account(index: int = 0) -> LocalAccount:
    """Dev account ``index`` of anvil's default mnemonic (m/44'/60'/0'/0/index)."""
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def load_operator(settings: Settings, client: ChainClient) -> LocalAccount:
    """The operator account for the chain ``client`` talks to."""
    if settings.operator_keystore is not None:
        return _from_keystore(settings)
    if client.is_anvil():
        return anvil_dev_account(0)
    raise ConfigurationError(
        f"the node at {settings.rpc_url} is not anvil: set LEDGER_OPERATOR_KEYSTORE to the "
        "operator's keystore file and LEDGER_OPERATOR_PASSPHRASE (or "
        "LEDGER_OPERATOR_PASSPHRASE_FILE)"
    )


def _from_keystore(settings: Settings) -> LocalAccount:
    path = settings.operator_keystore
    assert path is not None
    passphrase = _passphrase(settings)
    try:
        keystore = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"cannot read operator keystore {path}: {exc}") from exc
    try:
        private_key = Account.decrypt(keystore, passphrase)
    except ValueError as exc:
        # The message says only that the MAC did not match; no secret in it.
        raise ConfigurationError(f"cannot decrypt operator keystore {path}: {exc}") from exc
    return Account.from_key(private_key)


def _passphrase(settings: Settings) -> str:
    if settings.operator_passphrase is not None:
        return settings.operator_passphrase.get_secret_value()
    if settings.operator_passphrase_file is not None:
        try:
            return settings.operator_passphrase_file.read_text().rstrip("\r\n")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read LEDGER_OPERATOR_PASSPHRASE_FILE {settings.operator_passphrase_file}"
            ) from exc
    raise ConfigurationError(
        "LEDGER_OPERATOR_KEYSTORE is set but no passphrase is: set LEDGER_OPERATOR_PASSPHRASE "
        "or LEDGER_OPERATOR_PASSPHRASE_FILE"
    )
