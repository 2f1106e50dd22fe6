"""Mirroring the deployment record into the database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine, update
from sqlalchemy.dialects import postgresql, sqlite

from ledger_app.db.deployment_tables import deployment, meta


class _Contract(Protocol):
    address: str
    contract: str
    block_number: int
    transaction_hash: str


class DeploymentRecord(Protocol):
    """What is saved of a deployment record (ledger_app.chain.deploy.DeploymentRecord):
    described here so that the database layer does not import the chain layer."""

    chain_id: int
    genesis_hash: str
    deployment_block: int
    contracts: Mapping[str, _Contract]


def save_deployment(engine: Engine, record: DeploymentRecord) -> None:
    """Make ``record``'s contracts the active ones of its chain, in one transaction."""
    now = datetime.now(UTC)
    dialect_insert = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[engine.dialect.name]
    with engine.begin() as conn:
        conn.execute(
            update(deployment).where(deployment.c.chain_id == record.chain_id).values(active=False)
        )
        for name, contract in record.contracts.items():
            row = {
                "chain_id": record.chain_id,
                "address": contract.address,
                "name": name,
                "contract": contract.contract,
                "genesis_hash": record.genesis_hash,
                "block_number": contract.block_number,
                "transaction_hash": contract.transaction_hash,
                "active": True,
                "recorded_at": now,
            }
            upsert = dialect_insert(deployment).values(**row)
            conn.execute(
                upsert.on_conflict_do_update(index_elements=["chain_id", "address"], set_=row)
            )
        facts = {
            "chain_id": str(record.chain_id),
            "genesis_hash": record.genesis_hash,
            "deployment_block": str(record.deployment_block),
        }
        if record.evm_version:
            facts["evm_version"] = record.evm_version
        for key, value in facts.items():
            upsert = dialect_insert(meta).values(key=key, value=value, updated_at=now)
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=["key"], set_={"value": value, "updated_at": now}
                )
            )
