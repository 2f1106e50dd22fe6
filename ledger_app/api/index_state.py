"""How far the index has got, and waiting for it to reach a block (read your writes).

Every read answers with the header ``X-Ledger-Block``: the indexed block the
answer reflects. It is read before the rows, so the rows reflect at least that
block. ``index_ahead`` tells whether the index holds blocks the node's chain does
not (a node restarted from an older state, a reorg not yet followed).
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, select

from ledger_app.chain.client import ChainClient
from ledger_app.db.schema import checkpoint

BLOCK_HEADER = "X-Ledger-Block"


def indexed_block(engine: Engine, chain_id: int) -> int:
    """The last block the index holds for ``chain_id`` (-1 before the first)."""
    with engine.connect() as conn:
        number = conn.execute(
            select(checkpoint.c.block_number).where(checkpoint.c.chain_id == chain_id)
        ).scalar_one_or_none()
    return -1 if number is None else int(number)


def wait_for_block(
    engine: Engine,
    chain_id: int,
    block: int,
    timeout: float,
    *,
    poll_interval: float = 0.01,
) -> int | None:
    """Wait until the index has ``block``; the indexed block, or None after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        current = indexed_block(engine, chain_id)
        if current >= block:
            return current
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_interval)


def index_ahead(engine: Engine, chain_id: int, chain: ChainClient) -> str | None:
    """Why the index is ahead of the node's chain, or None when it is not.

    Ahead: the checkpoint block is above the node's head, or the node has another block
    at that height. Being behind (the indexer catching up) is normal and is not this.
    Two RPC calls (head, header); ChainError and SQLAlchemy's errors propagate."""
    with engine.connect() as conn:
        row = conn.execute(
            select(checkpoint.c.block_number, checkpoint.c.block_hash).where(
                checkpoint.c.chain_id == chain_id
            )
        ).first()
    if row is None:
        return None
    number, indexed_hash = int(row[0]), row[1]
    head = chain.block_number()
    if number > head:
        return f"the index holds block {number}, above the node's head {head}"
    node_hash = chain.block_hash(number)  # None: the node got lower since eth_blockNumber
    if node_hash is None or node_hash.lower() != indexed_hash.lower():
        found = "no block" if node_hash is None else node_hash
        return f"the index holds block {number} {indexed_hash}, the node has {found} there"
    return None
