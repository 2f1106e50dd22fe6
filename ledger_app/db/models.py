"""Tables of the service database.

The migrations in migrations/versions are written by hand from these; the
test suite checks the two agree (``alembic check``-style autogenerate diff).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, String, Text
from sqlmodel import Field, SQLModel


class Meta(SQLModel, table=True):
    """Key/value facts about this database (the chain it indexes, ...)."""

    __tablename__ = "meta"

    key: str = Field(sa_column=Column(String(64), primary_key=True))
    value: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class DeployedContract(SQLModel, table=True):
    """A contract the service deployed, mirrored from var/deployment.json.

    Rows are never deleted: after a redeployment the old contracts stay, with
    ``active`` false, so history indexed from them still has its source.
    """

    __tablename__ = "deployment"

    chain_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    address: str = Field(sa_column=Column(String(42), primary_key=True))
    name: str = Field(sa_column=Column(String(64), nullable=False))
    contract: str = Field(sa_column=Column(String(128), nullable=False))
    genesis_hash: str = Field(sa_column=Column(String(66), nullable=False))
    block_number: int = Field(sa_column=Column(BigInteger, nullable=False))
    transaction_hash: str = Field(sa_column=Column(String(66), nullable=False))
    active: bool = Field(nullable=False, index=True)
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
