"""The indexer: chain events into SQL, exactly once and reorg-safe.

Modules, each with one job, dependencies pointing down the list:

- ``runner``     follows the chain: ranges, reorg detection, the follow loop
- ``rpc``        raw JSON-RPC with retries, backoff and batched requests
- ``store``      applies a batch of mutations in one transaction, undo log, rollback
- ``lock``       one writer at a time (advisory lock / file lock)
- ``reconcile``  read models against the contracts' views; the index digest
- ``handlers``   pure functions: decoded event -> row mutations
- ``decode``     raw logs -> decoded events, with eth_abi
- ``schema``     the tables (the Alembic migration mirrors them)
- ``blocks``     the block header both rpc and store use
"""
