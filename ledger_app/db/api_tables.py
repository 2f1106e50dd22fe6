"""The API's own tables: keys, key recoveries, custody, idempotency, prepared transactions,
documents and their grants, access log.

SQLAlchemy Core tables on SQLModel's metadata, like the indexer's; the migrations
(migrations/versions/0003_api.py and later) create them and must be kept equal to
this file (tests/db checks). Addresses are lower-case hex; times are UTC.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, Table, Text
from sqlmodel import SQLModel

metadata = SQLModel.metadata


def _when(name: str, *, nullable: bool = False) -> Column:
    return Column(name, DateTime(timezone=True), nullable=nullable)


api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),  # public, shown in lists and the access log
    Column("participant", String(42), nullable=False),
    # sha256 of the whole secret key; the key itself is never stored.
    Column("key_hash", String(64), nullable=False),
    Column("label", String(64), nullable=True),
    _when("created_at"),
    _when("revoked_at", nullable=True),
    Index("ix_api_keys_key_hash", "key_hash", unique=True),
    Index("ix_api_keys_participant", "participant"),
)

#: The operator's requests to recover a participant's API key (ledger_app/domain/key_recovery.py):
#: one row per request, its state; key_recovery_events holds every step of it, for the audit.
key_recoveries = Table(
    "key_recoveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("participant", String(42), nullable=False),  # whose key is recovered
    Column("reason", String(256), nullable=False),
    Column("status", String(16), nullable=False),  # PENDING, CANCELLED, COMPLETED
    Column("requested_by", String(42), nullable=False),
    _when("requested_at"),
    _when("completable_at"),  # requested_at + the delay in force then
    Column("closed_by", String(42), nullable=True),  # who cancelled or completed it
    _when("closed_at", nullable=True),
    Column("api_key_id", String(32), nullable=True),  # the key a completion issued
    Index("ix_key_recoveries_participant", "participant", "requested_at"),
    Index("ix_key_recoveries_status", "status"),
)

key_recovery_events = Table(
    "key_recovery_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("recovery_id", String(32), nullable=False),
    Column("action", String(16), nullable=False),  # REQUESTED, CANCELLED, COMPLETED
    Column("actor", String(42), nullable=False),  # the participant who took the step
    Column("api_key_id", String(32), nullable=False),  # with which of its keys
    _when("at"),
    Index("ix_key_recovery_events_recovery", "recovery_id", "id"),
)

custodial_keys = Table(
    "custodial_keys",
    metadata,
    Column("account", String(42), primary_key=True),
    Column("keystore", Text, nullable=False),  # eth-account encrypted keystore JSON
    _when("created_at"),
)

idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("participant", String(42), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),  # sha256 of method, path and body
    Column("state", String(16), nullable=False),  # RUNNING, then DONE
    Column("status_code", Integer, nullable=True),
    Column("response_body", Text, nullable=True),
    Column("response_headers", Text, nullable=True),  # JSON of the headers replayed
    _when("created_at"),
    # The process that runs the request (ledger_app/db/locks.py ProcessIdentity): another
    # replica answers a RUNNING key from the journal only once that process is gone.
    Column("owner", String(32), nullable=True),
    Index("ix_idempotency_state", "state"),
)

transactions = Table(
    "transactions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("participant", String(42), nullable=False),  # the sender
    Column("operation", String(64), nullable=False),
    Column("to_address", String(42), nullable=True),  # NULL: a contract creation
    Column("data", Text, nullable=False),  # 0x-hex calldata
    Column("value", String(78), nullable=False),  # wei, decimal digits
    Column("chain_id", BigInteger, nullable=False),
    Column("custody", String(16), nullable=False),  # CUSTODIAL or EXTERNAL
    # QUEUED (custodial, not yet signed) or PREPARED (awaiting the caller's signature);
    # SIGNED (journaled: the signed bytes are stored, then broadcast), SENT (an external
    # signature taken); then MINED, REVERTED (mined and failed), REFUSED (refused before
    # sending) or FAILED (never executed). See ledger_app/api/services/journal.py.
    Column("status", String(16), nullable=False),
    Column("tx_hash", String(66), nullable=True),
    Column("block_number", BigInteger, nullable=True),
    Column("error", Text, nullable=True),
    _when("created_at"),
    _when("updated_at"),
    # The write-ahead journal: the signed bytes and nonce, stored before the broadcast,
    # so that a transaction that may be out is never forgotten, and the block it was
    # mined in (hash and position), so that one a restarted node lacks is sent again.
    Column("raw_transaction", Text, nullable=True),
    Column("nonce", BigInteger, nullable=True),
    Column("block_hash", String(66), nullable=True),
    Column("transaction_index", Integer, nullable=True),
    # The Idempotency-Key of the request that made it (with ``participant``): a key's
    # answer is rebuilt from its transactions when the process died before answering.
    Column("idempotency_key", String(255), nullable=True),
    # The process that queued it: a QUEUED row is settled (FAILED, never signed) by
    # another replica only once that process is gone.
    Column("owner", String(32), nullable=True),
    Index("ix_transactions_participant", "participant"),
    Index("ix_transactions_tx_hash", "tx_hash"),
    Index("ix_transactions_status", "status"),
    Index("ix_transactions_idempotency", "participant", "idempotency_key"),
    Index("ix_transactions_block", "block_number"),
    Index("ix_transactions_sender_nonce", "participant", "nonce"),
    Index("ix_transactions_updated", "updated_at"),
)

# A document's bytes, stored once whoever uploads them (ledger_app/api/services/documents.py);
# whose they are is document_uploads, who else may read them document_grants
# (the rule: ledger_app/domain/documents.py).
documents = Table(
    "documents",
    metadata,
    # The same bytes uploaded twice are one row (one salt, one commitment). The sha256 is
    # kept here only: never on chain, in a file name, or answered to anyone who cannot
    # read the bytes.
    Column("sha256", String(64), primary_key=True),
    # What a receivable commits to on chain, and how (ledger_app/domain/documents.py):
    # sha256-salted-v1, or keccak256-unsalted for documents stored before salting. The
    # bytes themselves are sealed in documents_dir/<commitment>.sealed with their salt.
    Column("commitment", String(66), nullable=False),
    Column("commitment_scheme", String(32), nullable=False, server_default="keccak256-unsalted"),
    Column("content_type", String(64), nullable=False),  # as first uploaded
    Column("size", BigInteger, nullable=False),
    _when("uploaded_at"),  # first upload
    Index("ix_documents_commitment", "commitment", unique=True),
)

# One row per participant that uploaded the bytes: the same bytes twice are one row, and
# the participant's quota counts the size of each of its rows once.
document_uploads = Table(
    "document_uploads",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("participant", String(42), primary_key=True),  # the address, not the key id
    _when("uploaded_at"),
    Index("ix_document_uploads_participant", "participant"),
)

# An uploader's grant of a document to another participant; revoking deletes the row
# (the access log keeps the grant and revoke requests).
document_grants = Table(
    "document_grants",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("grantor", String(42), primary_key=True),  # an uploader
    Column("grantee", String(42), primary_key=True),
    _when("granted_at"),
)

access_log = Table(
    "access_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    _when("at"),
    Column("participant", String(42), nullable=True),  # NULL: not authenticated
    Column("api_key_id", String(32), nullable=True),
    Column("method", String(8), nullable=False),
    Column("path", String(512), nullable=False),
    Column("operation", String(64), nullable=True),  # the permission table's operation id
    Column("status", Integer, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("client", String(64), nullable=True),  # the caller's address, as the server saw it
    # 1, or for a summary row (operation rate_limited.*): the refused requests it stands for
    Column("requests", Integer, nullable=False, server_default="1"),
    # The hash chain (ledger_app/domain/access_chain.py): the row's position (1, 2, ...
    # without a gap), the row_hash before it, and sha256 over its canonical encoding.
    Column("seq", BigInteger, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
    Index("ix_access_log_participant_at", "participant", "at"),
    Index("ix_access_log_at", "at"),
    Index("ix_access_log_seq", "seq", unique=True),
)

#: The chain's head: one row (id 1), the last seq and its row_hash. Every append takes it
#: under a lock in the transaction that inserts the rows (ledger_app/db/access_chain.py),
#: so that writer threads and API processes make one chain.
access_log_head = Table(
    "access_log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("row_hash", String(64), nullable=False),
)

#: The anchors this service sent (contracts/AccessLogAnchor.sol): a record for the
#: operator; the verifier reads the anchors from the chain, never from here.
access_log_anchors = Table(
    "access_log_anchors",
    metadata,
    Column("count", BigInteger, primary_key=True, autoincrement=False),
    Column("head", String(64), nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("block_number", BigInteger, nullable=False),
    _when("recorded_at"),
)

#: The seller tax id (统一社会信用代码) each supplier was onboarded with, normalised
#: (ledger_app.domain.invoices.normalise). A receivable's invoice names its seller by
#: this id, and the service registers it only to the creditor that holds it (issue 17).
#: Off chain: the chain binds the invoice to the creditor's LEI, this binds the tax id
#: the request names to the same creditor. Recorded once; never changed.
participant_tax_ids = Table(
    "participant_tax_ids",
    metadata,
    Column("account", String(42), primary_key=True),
    Column("tax_id", String(64), nullable=False),
    Column("recorded_by", String(42), nullable=False),
    _when("recorded_at"),
    Index("ix_participant_tax_ids_tax_id", "tax_id", unique=True),
)
