"""The indexer's exceptions, under ledger_app's tree::

LedgerError
 ├── IndexerError               the indexer cannot go on safely
 │    ├── ReorgTooDeepError          a rollback asked to undo blocks the undo log no longer
 │    │                              covers (the runner rebuilds the index instead)
 │    ├── IndexerLockedError         another indexer is writing to this database
 │    └── ChainMismatchError         the database indexes another chain
 └── ChainError
      └── RPCError
           └── RangeTooLargeError    the node refused an eth_getLogs range as too big
"""

from __future__ import annotations

from ledger_app.errors import LedgerError, RPCError


class IndexerError(LedgerError):
    """The indexer stopped because going on could corrupt the index."""


class ReorgTooDeepError(IndexerError):
    """A reorganisation reached below the blocks whose changes can still be undone."""


class IndexerLockedError(IndexerError):
    """Another indexer holds the writer lock of this database."""


class ChainMismatchError(IndexerError):
    """The database was filled from another chain (chain id differs)."""


class RangeTooLargeError(RPCError):
    """The node refused a log query for returning too much or spanning too many blocks."""
