"""The database's own facts: what it indexes (``meta``) and which contracts (``deployment``).

SQLAlchemy Core tables on SQLModel's metadata, like the ledger's (schema.py) and the
API's (api_tables.py); migrations/versions/0001_deployment_and_meta.py creates them and
the migration test checks the two agree.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, String, Table, Text
from sqlmodel import SQLModel

metadata = SQLModel.metadata

#: Key/value facts about this database: the chain it indexes (chain_id, genesis_hash),
#: the deployment block.
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: A contract the service deployed, mirrored from var/deployment.json. Rows are never
#: deleted: after a redeployment the old contracts stay, ``active`` false, so history
#: indexed from them still has its source.
deployment = Table(
    "deployment",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("address", String(42), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("contract", String(128), nullable=False),
    Column("genesis_hash", String(66), nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("transaction_hash", String(66), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_deployment_active", "active"),
)
