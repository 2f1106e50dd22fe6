"""A new passphrase for the custodial keystores (``ledger-app rekey-custody``).

Every participant's key in ``custodial_keys`` is decrypted with the current passphrase
and encrypted again with the new one, all in one database transaction: either every
key opens with the new passphrase afterwards, or (a key the current passphrase does not
open, a key that is not its account's, the database failing) nothing was changed. Run
it with every ledger process stopped: a running one still holds the old passphrase and
would store a participant onboarded meanwhile under it.
"""

from __future__ import annotations

import json

from eth_account import Account
from sqlalchemy import Engine, select, update

from ledger_app.db.api_tables import custodial_keys
from ledger_app.errors import ConfigurationError


def reencrypt_custody(engine: Engine, current: str, new: str, *, scrypt_n: int) -> int:
    """Re-encrypt every custodial keystore from ``current`` to ``new``; how many keys.

    ConfigurationError, with nothing written, when ``new`` is empty or equal to
    ``current``, or when a keystore does not open with ``current`` or holds another
    account's key."""
    if not new:
        raise ConfigurationError("the new keystore passphrase is empty")
    if new == current:
        raise ConfigurationError("the new keystore passphrase is the current one")
    with engine.begin() as conn:
        rows = conn.execute(
            select(custodial_keys.c.account, custodial_keys.c.keystore).with_for_update()
        ).all()
        reencrypted = []
        for account, keystore in rows:
            try:
                key = Account.decrypt(json.loads(keystore), current)
            except ValueError as exc:
                raise ConfigurationError(
                    f"the custodial key of {account} does not open with the current "
                    "passphrase: nothing was changed"
                ) from exc
            if Account.from_key(key).address.lower() != account:
                raise ConfigurationError(
                    f"the keystore stored for {account} holds another account's key: "
                    "nothing was changed"
                )
            encrypted = Account.encrypt(key, new, kdf="scrypt", iterations=scrypt_n)
            reencrypted.append((account, json.dumps(encrypted)))
        for account, keystore in reencrypted:
            conn.execute(
                update(custodial_keys)
                .where(custodial_keys.c.account == account)
                .values(keystore=keystore)
            )
    return len(reencrypted)
