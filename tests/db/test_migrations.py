"""The migrations build exactly the tables the models describe, on SQLite in WAL mode."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from ledger_app.chain.deploy import DeployedContract as DeployedContractRecord
from ledger_app.chain.deploy import DeploymentRecord
from ledger_app.db import load_models, migrate
from ledger_app.db.deployment_tables import deployment, meta
from ledger_app.db.deployments import save_deployment
from ledger_app.db.engine import make_engine


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/nested/ledger.db"


def make_record(**addresses: str) -> DeploymentRecord:
    return DeploymentRecord(
        chain_id=31337,
        genesis_hash="0x" + "ab" * 32,
        deployment_block=1,
        operator="0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        fingerprint="sha256:00",
        contracts={
            name: DeployedContractRecord(
                contract=name.title(),
                address=address,
                block_number=1,
                transaction_hash="0x" + "cd" * 32,
            )
            for name, address in addresses.items()
        },
    )


def test_upgrade_head_matches_models_in_wal_mode(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))

    migrate.upgrade(engine)

    with engine.connect() as connection:
        journal_mode = connection.execute(text("PRAGMA journal_mode")).scalar()
        differences = compare_metadata(MigrationContext.configure(connection), load_models())
    assert journal_mode == "wal"
    assert differences == []
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert {"meta", "deployment"} <= set(inspect(engine).get_table_names())


def test_downgrade_to_base_drops_tables(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    migrate.upgrade(engine)

    with engine.begin() as connection:
        config = migrate.alembic_config(sqlite_url(tmp_path))
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}


def test_save_deployment_keeps_old_contracts_inactive(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    migrate.upgrade(engine)
    old = make_record(participants="0x" + "11" * 20)
    new = dataclasses.replace(make_record(participants="0x" + "22" * 20), deployment_block=7)

    save_deployment(engine, old)
    save_deployment(engine, new)

    with engine.connect() as connection:
        rows = dict(connection.execute(select(deployment.c.address, deployment.c.active)).all())
        block = connection.execute(
            select(meta.c.value).where(meta.c.key == "deployment_block")
        ).scalar_one()
    assert rows == {"0x" + "11" * 20: False, "0x" + "22" * 20: True}
    assert block == "7"


def test_documents_uploader_becomes_an_upload_and_back(tmp_path: Path) -> None:
    engine = make_engine(sqlite_url(tmp_path))
    migrate.upgrade(engine, "0006")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO documents (sha256, keccak256, content_type, size, uploaded_by, "
            "uploaded_at) VALUES ('ab', '0xcd', 'text/plain', 3, '0xAA', '2026-01-01')"))  # fmt: skip

    migrate.upgrade(engine)
    with engine.connect() as connection:
        uploads = connection.execute(
            text("SELECT sha256, participant FROM document_uploads")).all()  # fmt: skip
    with engine.begin() as connection:
        config = migrate.alembic_config(sqlite_url(tmp_path))
        config.attributes["connection"] = connection
        command.downgrade(config, "0006")
    with engine.connect() as connection:
        uploader = connection.execute(text("SELECT uploaded_by FROM documents")).scalar()

    assert uploads == [("ab", "0xaa")]
    assert uploader == "0xaa"
