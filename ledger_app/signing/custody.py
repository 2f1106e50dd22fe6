"""Custodial keys: each participant's private key in an encrypted keystore in the database.

A key is generated at onboarding, encrypted with the keystore passphrase
(eth-account's Web3 Secret Storage, scrypt) and stored by address. It is
decrypted on first use and kept in memory for the process's lifetime, and
used only to sign that participant's own calls. The operator's key is not
here: it comes from ledger_app.chain.keys (anvil's dev account, or its own
keystore on other chains).
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Engine, insert, select

from ledger_app.db.api_tables import custodial_keys
from ledger_app.errors import ConfigurationError, Forbidden


class Custody:
    """The signing keys the service holds: the operator's and the custodial participants'."""

    def __init__(
        self, engine: Engine, passphrase: str, operator: LocalAccount, *, scrypt_n: int = 2**15
    ) -> None:
        self.engine = engine
        self.operator = operator
        self._passphrase = passphrase
        self._scrypt_n = scrypt_n
        self._unlocked: dict[str, LocalAccount] = {operator.address.lower(): operator}
        self._lock = threading.Lock()

    def create_key(self) -> LocalAccount:
        """A new key, stored encrypted before it is returned (so it is never lost)."""
        account = Account.create()
        keystore = Account.encrypt(
            account.key, self._passphrase, kdf="scrypt", iterations=self._scrypt_n
        )
        with self.engine.begin() as conn:
            conn.execute(
                insert(custodial_keys).values(
                    account=account.address.lower(),
                    keystore=json.dumps(keystore),
                    created_at=datetime.now(UTC),
                )
            )
        with self._lock:
            self._unlocked[account.address.lower()] = account
        return account

    def holds(self, address: str) -> bool:
        """Whether the service signs for ``address``."""
        if address.lower() in self._unlocked:
            return True
        with self.engine.connect() as conn:
            row = conn.execute(
                select(custodial_keys.c.account).where(custodial_keys.c.account == address.lower())
            ).first()
        return row is not None

    def signer(self, address: str) -> LocalAccount:
        """The key of ``address``; Forbidden when the service does not hold it."""
        key = address.lower()
        with self._lock:
            account = self._unlocked.get(key)
        if account is not None:
            return account
        with self.engine.connect() as conn:
            keystore = conn.execute(
                select(custodial_keys.c.keystore).where(custodial_keys.c.account == key)
            ).scalar_one_or_none()
        if keystore is None:
            raise Forbidden(
                f"{address} keeps its own key: prepare the transaction and sign it yourself",
                error="NotCustodial",
                account=address,
            )
        try:
            account = Account.from_key(Account.decrypt(json.loads(keystore), self._passphrase))
        except ValueError as exc:
            raise ConfigurationError(
                f"cannot decrypt the custodial key of {address}: wrong keystore passphrase?"
            ) from exc
        with self._lock:
            self._unlocked[key] = account
        return account
