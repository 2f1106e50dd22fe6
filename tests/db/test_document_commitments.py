"""Migration 0017 on SQLite and PostgreSQL: documents stored before salting keep their
keccak256 as their commitment, recorded as ``keccak256-unsalted``; the models match; the
way back is refused while a salted document exists (its commitment is no keccak256)."""

from __future__ import annotations

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from ledger_app.db import load_models, migrate
from ledger_app.db.engine import make_engine

OLD = "0x" + "cd" * 32


def downgrade(engine: Engine, database_url: str, revision: str) -> None:
    with engine.begin() as connection:
        config = migrate.alembic_config(database_url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_old_documents_keep_their_keccak256_as_unsalted_commitment(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0016")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO documents (sha256, keccak256, content_type, size, uploaded_at) "
            f"VALUES ('ab', '{OLD}', 'text/plain', 3, '2026-01-01')"))  # fmt: skip

    migrate.upgrade(engine)
    with engine.connect() as connection:
        migrated = connection.execute(
            text("SELECT commitment, commitment_scheme FROM documents")).all()  # fmt: skip
        differences = compare_metadata(MigrationContext.configure(connection), load_models())
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO documents (sha256, commitment, commitment_scheme, content_type, size, "
            f"uploaded_at) VALUES ('ef', '0x{'12' * 32}', 'sha256-salted-v1', 'text/plain', 3, "
            "'2026-01-02')"))  # fmt: skip
    with pytest.raises(RuntimeError, match="1 documents are committed to with a salt"):
        downgrade(engine, database_url, "0016")
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM documents WHERE sha256 = 'ef'"))
    downgrade(engine, database_url, "0016")
    with engine.connect() as connection:
        back = connection.execute(text("SELECT keccak256 FROM documents")).scalar()
    engine.dispose()

    assert migrated == [(OLD, "keccak256-unsalted")]
    assert differences == []
    assert back == OLD
