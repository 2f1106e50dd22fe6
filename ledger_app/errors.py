"""The exceptions ledger_app raises, one tree for the whole service.

Foreign exceptions (web3, requests, JSON-RPC, SQLAlchemy) are translated once,
where they enter the code, and re-raised from the original::

    LedgerError
     ├── ConfigurationError      settings that cannot work, a missing key or passphrase
     ├── ArtifactError           a contract missing from, or unusable in, the build manifest
     ├── NodeError               the managed anvil would not start, or stopped unasked
     ├── DeploymentError         the deployment record is unreadable or does not fit the plan
     ├── DatabaseError           the database cannot be reached or migrated
 ├── DocumentStoreError      a stored document cannot be read back (500)
 │    ├── DocumentKeyMismatch  it is stored under a key the service does not hold
 │    └── DocumentDamaged    its stored bytes do not authenticate (altered or moved)
     ├── SenderLockedError       another process sends for these accounts (refuses to start)
     ├── IndexerError            the indexer cannot go on safely
     │    ├── ReorgTooDeepError  a rollback asked to undo blocks the undo log no longer covers
     │    │                      (the runner rebuilds the index instead)
     │    ├── IndexerLockedError another indexer is writing to this database
     │    └── ChainMismatchError the database indexes another chain
     ├── ChainError              the chain did not do what was asked
     │    ├── ChainUnavailable   no answer from the JSON-RPC endpoint
     │    │    ├── TransientError  no answer, a timeout, 429 or 5xx: worth retrying
     │    │    └── ChainRewound  the node lost blocks this service wrote; being sent again
     │    ├── RPCError           the node answered with a JSON-RPC error
     │    │    └── RangeTooLargeError  the node refused an eth_getLogs range as too big
     │    ├── ChainTimeout       a transaction was not mined in time
     │    ├── TransactionPending  a write's transaction is out, its outcome not known yet
     │    ├── TransactionReverted  the EVM reverted; carries the decoded error
     │    └── TransactionLost    a sent transaction vanished from the node and could not be re-sent
     └── RequestError            a caller's request that cannot be served as asked
          ├── Unauthenticated    no API key, an unknown one, or a revoked one
          ├── Forbidden          the caller's role or standing does not allow the operation
          ├── NotFound           no such object, or none the caller is a party to
          ├── Conflict           the request conflicts with what exists (idempotency key, state)
          ├── InvalidInput       a value the ledger would refuse, found before anything is sent
          ├── PayloadTooLarge    a request body over its limit, refused before it is read
          ├── UnsupportedMediaType  a body of a media type the operation does not take
          ├── RateLimited        over a request rate or the writes in flight; retry after a while
          └── ServiceDegraded    a write refused while its result could not be indexed (503)

The HTTP status each one maps to is decided in one place: ledger_app/api/errors.py.
"""

from __future__ import annotations

from typing import Any


class LedgerError(Exception):
    """Base of every error ledger_app raises on purpose."""


class ConfigurationError(LedgerError):
    """The settings cannot work together, or a required secret is missing."""


class ArtifactError(LedgerError):
    """A contract is missing from the compiled build manifest, or cannot be deployed."""


class NodeError(LedgerError):
    """The managed anvil node would not start, did not answer, or died."""


class DeploymentError(LedgerError):
    """The deployment record cannot be read, or the plan refers to an unknown step."""


class DatabaseError(LedgerError):
    """The database cannot be reached or migrated."""


class DocumentStoreError(LedgerError):
    """A stored document cannot be read back (ledger_app/signing/sealed_documents.py)."""


class DocumentKeyMismatch(DocumentStoreError):
    """The document is stored under a key the service does not hold: the service's
    LEDGER_DOCUMENT_KEY (or the previous key of a rotation) is not the one it needs."""


class DocumentDamaged(DocumentStoreError):
    """The document's stored bytes do not authenticate under its key: altered on disk,
    or moved from another document's place."""


class ChainError(LedgerError):
    """The chain did not do what was asked."""


class ChainUnavailable(ChainError):
    """Nothing answered at the JSON-RPC endpoint (refused, reset or timed out)."""


class TransientError(ChainUnavailable):
    """A failure worth retrying: no answer, a timeout, 429 or 5xx (the chain transport
    retries it with backoff where it was asked to)."""


class ChainRewound(ChainUnavailable):
    """The node has forgotten transactions this service sent (restarted from an older
    state): nothing more is sent until the journal has sent them again."""


class SenderLockedError(LedgerError):
    """Another process holds the sending lock of this database: two senders for the same
    accounts would pick the same nonces, and one's stale transactions could be mined late."""


class IndexerError(LedgerError):
    """The indexer stopped because going on could corrupt the index."""


class ReorgTooDeepError(IndexerError):
    """A reorganisation reached below the blocks whose changes can still be undone."""


class IndexerLockedError(IndexerError):
    """Another indexer holds the writer lock of this database."""


class ChainMismatchError(IndexerError):
    """The database was filled from another chain (chain id differs)."""


class RPCError(ChainError):
    """The node answered a JSON-RPC request with an error object."""


class RangeTooLargeError(RPCError):
    """The node refused a log query for returning too much or spanning too many blocks."""


class ChainTimeout(ChainError):
    """A transaction was sent but no receipt arrived in time."""

    def __init__(self, message: str, *, transaction_hash: str) -> None:
        super().__init__(message)
        self.transaction_hash = transaction_hash


class TransactionPending(ChainError):
    """A write's transaction was signed and journaled, and may be out, but its outcome is
    not known yet (not mined in time, the node away, the service stopping). Answered 202
    with the transaction: a retry with the same Idempotency-Key gets its outcome."""

    def __init__(self, message: str, *, transaction_id: str, transaction_hash: str | None) -> None:
        super().__init__(message)
        self.transaction_id = transaction_id
        self.transaction_hash = transaction_hash


class TransactionReverted(ChainError):
    """The EVM reverted a transaction or call.

    ``error_name`` and ``error_args`` are the decoded custom error when the
    contract's ABI declares it (``ReceivableInvalidStatus``, ...), ``Error`` for a
    string revert and ``Panic`` for a panic code; ``data`` is the raw revert data.
    ``transaction_hash`` is set when the revert happened in a mined transaction
    rather than in gas estimation.
    """

    def __init__(
        self,
        message: str,
        *,
        data: bytes = b"",
        error_name: str | None = None,
        error_args: dict[str, Any] | None = None,
        transaction_hash: str | None = None,
    ) -> None:
        super().__init__(message)
        self.data = data
        self.error_name = error_name
        self.error_args = error_args or {}
        self.transaction_hash = transaction_hash
        self.receipt: Any = None  # a mined transaction's receipt (chain.client.Receipt)


class TransactionNotSent(ChainError):
    """A transaction queued behind another of the same request that failed: never sent."""


class TransactionLost(ChainError):
    """A sent transaction is no longer known to the node and re-sending it failed."""

    def __init__(self, message: str, *, transaction_hash: str, nonce: int) -> None:
        super().__init__(message)
        self.transaction_hash = transaction_hash
        self.nonce = nonce


class RequestError(LedgerError):
    """A caller's request that cannot be served as asked (a 4xx at the HTTP boundary, or a
    503 for ServiceDegraded: a request that could be served later, not as it stands).

    ``error`` names the problem for machines (defaults to the class name) and
    ``args`` carries the offending values.
    """

    def __init__(self, message: str, *, error: str | None = None, **args: Any) -> None:
        super().__init__(message)
        self.error = error or type(self).__name__
        self.args_ = args


class Unauthenticated(RequestError):
    """No API key, an unknown one, or a revoked one."""


class Forbidden(RequestError):
    """The caller's role or standing does not allow the operation."""


class NotFound(RequestError):
    """No such object, or none that the caller is a party to (the two look the same)."""


class Conflict(RequestError):
    """The request conflicts with an earlier one or with the ledger's state."""


class InvalidInput(RequestError):
    """A value the ledger would refuse, found before anything was sent."""


class PayloadTooLarge(RequestError):
    """A request body larger than the operation takes, refused before it is parsed."""


class UnsupportedMediaType(RequestError):
    """A request body of a media type the operation does not take."""


class ServiceDegraded(RequestError):
    """A write refused before anything was sent, because the service could not index it
    now (indexer stopped, index ahead of the chain, recovery running); ``reasons`` says
    why. Nothing was done: the caller may retry once /health says ``ok``."""


class ServiceStopping(RequestError):
    """A request still running when the service stopped: its answer is cut short. A write
    may still have been done: the caller retries with the same Idempotency-Key, which the
    next start answers from the journal."""


class RateLimited(RequestError):
    """A request over its caller's (or address's) rate, or a write over the writes in
    flight allowed; nothing was done. ``retry_after``: seconds until one would be taken
    (answered as the ``Retry-After`` header and in ``args``)."""

    def __init__(
        self, message: str, *, retry_after: int, error: str | None = None, **args: Any
    ) -> None:
        super().__init__(message, error=error or "RateLimited", retry_after=retry_after, **args)
        self.retry_after = retry_after
