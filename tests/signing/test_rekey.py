"""`ledger-app rekey-custody`: every custodial key opens with the new passphrase afterwards,
or, when one does not open with the current passphrase, nothing changed; on SQLite and
on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from sqlalchemy import Engine, select, update

from ledger_app.db import migrate
from ledger_app.db.api_tables import custodial_keys
from ledger_app.db.engine import make_engine
from ledger_app.errors import ConfigurationError
from ledger_app.signing.custody import Custody
from ledger_app.signing.rekey import reencrypt_custody

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "indexer"))
from pgcluster import PostgresCluster, running_cluster

SCRYPT_N = 2**10  # fast; the setting's default is 2**15


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of this module, stopped and deleted at its end."""
    with running_cluster() as cluster:
        yield cluster


@pytest.fixture(params=("sqlite", "postgresql"))
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/ledger.db"
    else:
        url = request.getfixturevalue("postgres").create_database()
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    return url


def custody(engine: Engine, passphrase: str) -> Custody:
    return Custody(engine, passphrase, Account.create(), scrypt_n=SCRYPT_N)


def keystores(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(select(custodial_keys.c.account, custodial_keys.c.keystore)).all()
    return {account: keystore for account, keystore in rows}


def rekey(database_url: str, current: str, new_file: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "LEDGER_DATABASE_URL": database_url,
        "LEDGER_KEYSTORE_PASSPHRASE": current,
        "LEDGER_KEYSTORE_SCRYPT_N": str(SCRYPT_N),
    }
    return subprocess.run(
        [sys.executable, "-m", "ledger_app.cli", "rekey-custody",
         "--new-passphrase-file", str(new_file)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_rekey_custody_reencrypts_every_key(database_url: str) -> None:
    engine = make_engine(database_url)
    accounts = [custody(engine, "old passphrase").create_key() for _ in range(3)]

    count = reencrypt_custody(engine, "old passphrase", "new passphrase", scrypt_n=SCRYPT_N)

    assert count == 3
    for account in accounts:
        assert custody(engine, "new passphrase").signer(account.address).key == account.key
        with pytest.raises(ConfigurationError, match="wrong keystore passphrase"):
            custody(engine, "old passphrase").signer(account.address)
    engine.dispose()


def test_rekey_custody_command_takes_the_new_passphrase_from_a_file(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/ledger.db"
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    account = custody(engine, "old passphrase").create_key()
    new_file = tmp_path / "new.passphrase"
    new_file.write_text("new passphrase\n")

    done = rekey(database_url, "old passphrase", new_file)

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"1 custodial keys now open with the passphrase of {new_file}\n"
    assert "old passphrase" not in done.stdout + done.stderr  # never printed
    assert "new passphrase" not in done.stdout + done.stderr
    assert custody(engine, "new passphrase").signer(account.address).key == account.key
    engine.dispose()


def test_rekey_custody_changes_nothing_when_one_key_does_not_open(database_url: str) -> None:
    engine = make_engine(database_url)
    for _ in range(2):
        custody(engine, "old passphrase").create_key()
    stray = custody(engine, "another passphrase").create_key()
    with engine.begin() as conn:  # sorts last: two keys are re-encrypted before it fails
        conn.execute(update(custodial_keys).where(custodial_keys.c.account == stray.address.lower())
                     .values(account="0x" + "f" * 40))  # fmt: skip
    before = keystores(engine)

    with pytest.raises(ConfigurationError, match="does not open with the current passphrase"):
        reencrypt_custody(engine, "old passphrase", "new passphrase", scrypt_n=SCRYPT_N)

    assert keystores(engine) == before
    engine.dispose()


@pytest.mark.parametrize(("new", "refusal"), [("old passphrase", "is the current one"),
                                               ("", "is empty")])  # fmt: skip
def test_rekey_custody_refuses_the_same_or_an_empty_passphrase(
    database_url: str, new: str, refusal: str
) -> None:
    engine = make_engine(database_url)
    custody(engine, "old passphrase").create_key()
    before = keystores(engine)

    with pytest.raises(ConfigurationError, match=refusal):
        reencrypt_custody(engine, "old passphrase", new, scrypt_n=SCRYPT_N)

    assert keystores(engine) == before
    engine.dispose()
