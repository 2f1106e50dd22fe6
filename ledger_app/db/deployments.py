"""Mirroring the deployment record into the database."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import Engine, update
from sqlmodel import Session

from ledger_app.db.models import DeployedContract, Meta


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
    with Session(engine) as session:
        session.exec(  # type: ignore[call-overload]
            update(DeployedContract)
            .where(DeployedContract.chain_id == record.chain_id)  # type: ignore[arg-type]
            .values(active=False)
        )
        for name, contract in record.contracts.items():
            session.merge(
                DeployedContract(
                    chain_id=record.chain_id,
                    address=contract.address,
                    name=name,
                    contract=contract.contract,
                    genesis_hash=record.genesis_hash,
                    block_number=contract.block_number,
                    transaction_hash=contract.transaction_hash,
                    active=True,
                    recorded_at=now,
                )
            )
        facts = {
            "chain_id": str(record.chain_id),
            "genesis_hash": record.genesis_hash,
            "deployment_block": str(record.deployment_block),
        }
        for key, value in facts.items():
            session.merge(Meta(key=key, value=value, updated_at=now))
        session.commit()
