"""What durability costs (issue 16): saving the node's state as the chain grows, and the
journal's extra write per transaction.

- ``state_save``: AnvilNode.save_state on a generated history (anvil_dumpState, gunzip,
  write, fsync, rename), the median of three; the state file's size with it. The managed
  node saves every LEDGER_ANVIL_STATE_INTERVAL seconds while its head moves, so this
  divided by the interval is the share of the node's time saving takes.
- ``journal_write``: the UPDATE that stores a signed transaction's bytes in its row before
  the broadcast (ledger_app/api/services/journal.py), on a migrated SQLite database
  holding ``rows`` transactions; the median over 200.
"""

from __future__ import annotations

import os
import secrets
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert

from ledger_app.api.services.journal import journal_signed
from ledger_app.chain.node import AnvilNode
from ledger_app.chain.sender import InFlight
from ledger_app.db import migrate
from ledger_app.db.api_tables import transactions
from ledger_app.db.engine import make_engine


def state_save(node: AnvilNode, repeats: int = 3) -> dict[str, float]:
    """Seconds per save (median) and the saved file's size in MB."""
    seconds = statistics.median(node.save_state() for _ in range(repeats))
    return {"seconds": seconds, "mb": os.path.getsize(node.state_file) / 2**20}


def journal_write(work: Path, rows: int = 10_000, samples: int = 200) -> float:
    """Milliseconds per journal UPDATE (median) in a table of ``rows`` transactions."""
    work.mkdir(parents=True, exist_ok=True)
    engine = make_engine(f"sqlite:///{work}/journal.db")
    try:
        migrate.upgrade(engine)
        now = datetime.now(UTC)
        ids = [secrets.token_hex(8) for _ in range(rows)]
        with engine.begin() as conn:
            conn.execute(
                insert(transactions),
                [
                    {"id": i, "participant": "0x" + "11" * 20, "operation": "bench",
                     "to_address": "0x" + "22" * 20, "data": "0x" + "ab" * 260, "value": "0",
                     "chain_id": 31337, "custody": "CUSTODIAL", "status": "QUEUED",
                     "created_at": now, "updated_at": now}
                    for i in ids
                ],
            )  # fmt: skip
        record, timings = journal_signed(engine), []
        for n, transaction_id in enumerate(ids[-samples:]):
            raw = secrets.token_bytes(400)  # about a registration's signed size
            in_flight = InFlight("0x" + secrets.token_hex(32), raw, n, {})
            started = time.perf_counter()
            record(transaction_id, in_flight)
            timings.append((time.perf_counter() - started) * 1000)
        return statistics.median(timings)
    finally:
        engine.dispose()
