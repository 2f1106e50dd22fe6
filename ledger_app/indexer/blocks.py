"""Block headers as the indexer keeps them: shared by the RPC client and the store.

Its own module so that rpc.py (the node side) does not import store.py (the
database side) for one dataclass.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BlockHeader:
    """The parts of a block header the indexer keeps."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int
