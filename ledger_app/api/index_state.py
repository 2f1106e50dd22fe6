"""How far the index has got, and waiting for it to reach a block (read your writes).

Every read answers with the header ``X-Ledger-Block``: the indexed block the
answer reflects. It is read before the rows, so the rows reflect at least that
block.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, select

from ledger_app.indexer.schema import checkpoint

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
