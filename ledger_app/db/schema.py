"""The indexer's tables, as SQLAlchemy Core ``Table`` objects.

They live on SQLModel's metadata next to the service's own tables, so that the
migration check (autogenerate diff) sees them; migrations/versions/0002_indexer.py
creates them and must be kept equal to this file.

Amounts and other uint256 values are NUMERIC(78,0): exact, and wide enough for
2**256 - 1. Ids that the contracts store in 48 bits are BIGINT. Addresses are
lower-case hex, byte strings 0x-hex, currencies "CNY". ``*_block`` columns say
which block last wrote the row (for "as of" answers and debugging).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine
from sqlmodel import SQLModel

metadata = SQLModel.metadata


def canonical_json(value: Any) -> str:
    """JSON text that is the same for the same value on every machine and database
    (how ``events.args`` and the undo log's keys are stored, and what digests hash)."""
    return _CANONICAL.encode(value)


# One encoder for every call (it keeps no state between them): json.dumps with options
# builds a new one each time, a quarter of its cost for an event's arguments.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class U256(TypeDecorator):
    """A uint256 as a Python int: NUMERIC(78,0) on PostgreSQL, never a float.

    SQLite turns an integer literal beyond 64 bits into a REAL, even in a
    NUMERIC column, silently losing digits; there the value is stored as text
    zero-padded to 78 digits, which keeps equality and ordering exact.
    """

    impl = Numeric(78, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        """VARCHAR(78) on SQLite, NUMERIC(78,0) elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(78))
        return dialect.type_descriptor(Numeric(78, 0))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """Python int to the stored form; refuses negatives (no amount is negative)."""
        if value is None:
            return None
        number = int(value)
        if number < 0:
            raise ValueError(f"negative uint256 {number}")
        return f"{number:078d}" if dialect.name == "sqlite" else Decimal(number)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        """The stored form back to a Python int."""
        return None if value is None else int(value)


def Amount() -> U256:  # noqa: N802 - reads as a column type
    """A uint256 column type (see U256)."""
    return U256()


def _address(name: str, **kwargs: object) -> Column:
    return Column(name, String(42), **kwargs)


# --- bookkeeping --------------------------------------------------------------------

events = Table(
    "events",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tx_hash", String(66), primary_key=True),
    Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(66), nullable=False),
    # The block's timestamp, kept with the event: ``blocks`` is pruned to the reorg
    # window, and the audit trail needs every event's time (NULL only for events
    # indexed before migration 0004).
    Column("block_timestamp", BigInteger, nullable=True),
    _address("contract", nullable=False),
    Column("contract_kind", String(64), nullable=False),
    Column("event_name", String(64), nullable=False),
    # Canonical JSON (sorted keys, ints exact): the same text on every database.
    Column("args", Text, nullable=False),
    # The receivable and tree an event belongs to (links.py), filled as it is
    # stored; NULL for events of no tree (token transfers, participants, ...).
    Column("receivable_id", BigInteger, nullable=True),
    Column("root_id", BigInteger, nullable=True),
    Index("ix_events_block", "block_number", "log_index"),
    Index("ix_events_root", "root_id"),
    Index("ix_events_contract_event", "contract", "event_name"),
    Index("ix_events_event_name", "event_name"),
    Index("ix_events_tx_hash", "tx_hash"),
    Index("ix_events_block_timestamp", "block_timestamp"),
)

# Who each stored event makes a party to its receivable (domain/visibility.py's
# ``named_parties``), one row per event and party: the API's visibility filter reads it by
# party instead of scanning ``events``. Written with its events, in their transaction, and
# dropped with them on a rollback (block_number); only events linked to a receivable.
event_parties = Table(
    "event_parties",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("tx_hash", String(66), primary_key=True),
    Column("log_index", Integer, primary_key=True, autoincrement=False),
    _address("party", primary_key=True),
    Column("block_number", BigInteger, nullable=False),
    Column("receivable_id", BigInteger, nullable=False),
    Index("ix_event_parties_party", "party", "receivable_id"),
    Index("ix_event_parties_block", "chain_id", "block_number"),
)

blocks = Table(
    "blocks",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(66), nullable=False),
    Column("parent_hash", String(66), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
)

checkpoint = Table(
    "checkpoint",
    metadata,
    Column("chain_id", BigInteger, primary_key=True, autoincrement=False),
    Column("block_number", BigInteger, nullable=False),
    Column("block_hash", String(66), nullable=False),
    # Blocks at or below undo_floor were indexed without an undo log: a reorg
    # reaching them cannot be undone.
    Column("undo_floor", BigInteger, nullable=False),
    Column("events_total", BigInteger, nullable=False),
)

undo_log = Table(
    "undo_log",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("block_number", BigInteger, nullable=False),
    Column("table_name", String(64), nullable=False),
    Column("row_key", Text, nullable=False),  # JSON of the primary key
    Column("before", Text, nullable=True),  # JSON of the row before; NULL: it did not exist
    Index("ix_undo_log_block", "block_number"),
)

# --- read models --------------------------------------------------------------------

participants = Table(
    "participants",
    metadata,
    _address("account", primary_key=True),
    Column("lei", String(66), nullable=True),
    Column("jurisdiction", String(2), nullable=True),
    Column("kyc_expiry", BigInteger, nullable=True),
    Column("onboarded", Boolean, nullable=False, default=False),
    Column("suspended", Boolean, nullable=False, default=False),
    Column("frozen", Boolean, nullable=False, default=False),
    Column("roles", Text, nullable=False, default=""),  # sorted, comma-separated names
    Column("updated_block", BigInteger, nullable=False),
)

settlement_tokens = Table(
    "settlement_tokens",
    metadata,
    _address("address", primary_key=True),
    Column("currency", String(3), nullable=True, unique=True),
    Column("total_supply", Amount(), nullable=False, default=0),
    Column("listed_block", BigInteger, nullable=True),
    Column("updated_block", BigInteger, nullable=False),
)

receivables = Table(
    "receivables",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("parent_id", BigInteger, nullable=False),
    Column("root_id", BigInteger, nullable=False),
    _address("debtor", nullable=False),
    _address("creditor", nullable=False),
    _address("holder", nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("issue_date", BigInteger, nullable=False),
    Column("due_date", BigInteger, nullable=False),
    Column("invoice_key", String(66), nullable=False),
    Column("document_hash", String(66), nullable=False),
    # The root's annual late interest (bps), copied to its leaves like its other terms.
    Column("late_interest_bps", Integer, nullable=False, default=0, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("frozen", Boolean, nullable=False, default=False),
    Column("first_child_id", BigInteger, nullable=False, default=0),
    Column("child_count", Integer, nullable=False, default=0),
    # Of a root: its amount minus what has been settled of it (invariant 5).
    Column("outstanding", Amount(), nullable=True),
    Column("created_block", BigInteger, nullable=False),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_receivables_root", "root_id"),
    Index("ix_receivables_holder", "holder"),
    Index("ix_receivables_debtor", "debtor"),
    Index("ix_receivables_status", "status"),
    Index("ix_receivables_due_date", "due_date"),
)

financings = Table(
    "financings",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("receivable_id", BigInteger, nullable=False),
    _address("supplier", nullable=False),
    _address("financier", nullable=False),  # asked one (zero: any); after funding, the funder
    Column("status", String(16), nullable=False),
    Column("offer_count", Integer, nullable=False, default=0),
    Column("open_offers", Integer, nullable=False, default=0),
    Column("accepted_offer", Integer, nullable=False, default=0),  # index + 1, 0 while none
    Column("recourse", Boolean, nullable=True),
    Column("recourse_claim", Amount(), nullable=False, default=0),
    # What the supplier has paid of the claim and the desk holds (0 once withdrawn).
    Column("recourse_paid", Amount(), nullable=False, default=0),
    Column("bought_back_block", BigInteger, nullable=True),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_financings_receivable", "receivable_id"),
    Index("ix_financings_supplier", "supplier"),
)

# One row per recourse payment or withdrawal of a defaulted financing.
recourse_payments = Table(
    "recourse_payments",
    metadata,
    Column("financing_id", BigInteger, primary_key=True, autoincrement=False),
    Column("block_number", BigInteger, primary_key=True, autoincrement=False),
    Column("log_index", Integer, primary_key=True, autoincrement=False),
    _address("supplier", nullable=False),
    Column("kind", String(16), nullable=False),  # PAYMENT, WITHDRAWAL
    Column("amount", Amount(), nullable=False),
    Column("paid", Amount(), nullable=False),  # of the claim after it
    Column("updated_block", BigInteger, nullable=False),
)

# A financier's offer to sell a funded financing to another, and its outcome.
financing_sales = Table(
    "financing_sales",
    metadata,
    Column("sale_id", BigInteger, primary_key=True, autoincrement=False),
    Column("financing_id", BigInteger, nullable=False),
    _address("seller", nullable=False),
    _address("buyer", nullable=False),
    Column("price", Amount(), nullable=False),
    Column("expiry", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # OPEN, SOLD, CANCELLED
    Column("offered_block", BigInteger, nullable=False),
    Column("closed_block", BigInteger, nullable=True),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_financing_sales_financing", "financing_id"),
    Index("ix_financing_sales_buyer", "buyer"),
)

financing_offers = Table(
    "financing_offers",
    metadata,
    Column("financing_id", BigInteger, primary_key=True, autoincrement=False),
    Column("offer_index", Integer, primary_key=True, autoincrement=False),
    _address("financier", nullable=False),
    Column("status", String(16), nullable=False),
    Column("advance_rate_bps", Integer, nullable=False),
    Column("discount_rate_bps", Integer, nullable=False),
    Column("day_count_basis", Integer, nullable=False),
    Column("recourse", Boolean, nullable=False),
    Column("grace_period", BigInteger, nullable=False),
    Column("expiry", BigInteger, nullable=False),
    Column("fee", Amount(), nullable=False),
    Column("advance", Amount(), nullable=False),
    Column("discount", Amount(), nullable=False),
    Column("proceeds", Amount(), nullable=False),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_financing_offers_financier", "financier"),
)

clearing_roots = Table(
    "clearing_roots",
    metadata,
    Column("root_id", BigInteger, primary_key=True, autoincrement=False),
    _address("debtor", nullable=False),
    Column("currency", String(3), nullable=False),
    Column("repaid", Amount(), nullable=False),
    Column("unredeemed", Amount(), nullable=False),
    # Late interest the debtor paid on top (RootLateInterestCharged) and what of it
    # is not yet paid to leaves; whole days late it was charged for.
    Column("late_interest", Amount(), nullable=False, default=0),
    Column("interest_unredeemed", Amount(), nullable=False, default=0),
    Column("days_late", Integer, nullable=False, default=0),
    Column("updated_block", BigInteger, nullable=False),
)

#: A debtor's offer to pay a leaf early at a discount (MaturityClearing, issue 20).
early_payment_offers = Table(
    "early_payment_offers",
    metadata,
    Column("offer_id", BigInteger, primary_key=True, autoincrement=False),
    Column("leaf_id", BigInteger, nullable=False),
    _address("debtor", nullable=False),
    Column("annual_rate_bps", Integer, nullable=False),
    Column("day_count_basis", Integer, nullable=False),
    Column("expiry", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # OPEN, WITHDRAWN, ACCEPTED
    # Once accepted: who accepted (the holder then) and what it was paid.
    _address("holder", nullable=True),
    Column("days_early", Integer, nullable=True),
    Column("discount", Amount(), nullable=True),
    Column("paid", Amount(), nullable=True),
    Column("offered_block", BigInteger, nullable=False),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_early_payment_offers_leaf", "leaf_id"),
    Index("ix_early_payment_offers_debtor", "debtor"),
)

#: How each paid leaf was paid: EARLY (accepted offer), PARTIAL (repayLeaves ahead of
#: its root) or REDEEMED (out of its root's repayment); a leaf is paid once, so one row.
leaf_payments = Table(
    "leaf_payments",
    metadata,
    Column("leaf_id", BigInteger, primary_key=True, autoincrement=False),
    Column("root_id", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),
    _address("holder", nullable=False),
    Column("face", Amount(), nullable=False),
    Column("discount", Amount(), nullable=False),
    Column("interest", Amount(), nullable=False),
    Column("paid", Amount(), nullable=False),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_leaf_payments_root", "root_id"),
)

token_balances = Table(
    "token_balances",
    metadata,
    _address("token", primary_key=True),
    _address("account", primary_key=True),
    Column("balance", Amount(), nullable=False, default=0),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_token_balances_account", "account"),
)

fx_quotes = Table(
    "fx_quotes",
    metadata,
    Column("quote_id", String(66), primary_key=True),
    _address("provider", nullable=True),
    Column("sell_currency", String(3), nullable=True),
    Column("buy_currency", String(3), nullable=True),
    Column("rate", Amount(), nullable=True),
    Column("issued_at", BigInteger, nullable=True),
    Column("valid_until", BigInteger, nullable=True),
    _address("payer", nullable=True),
    Column("posted", Boolean, nullable=False, default=False),
    Column("used", Boolean, nullable=False, default=False),
    Column("updated_block", BigInteger, nullable=False),
)

pvp_settlements = Table(
    "pvp_settlements",
    metadata,
    Column("uetr", String(34), primary_key=True),
    _address("payer", nullable=False),
    _address("payee", nullable=False),
    _address("provider", nullable=False),
    Column("quote_id", String(66), nullable=False),
    Column("sell_currency", String(3), nullable=False),
    Column("sell_amount", Amount(), nullable=False),
    Column("buy_currency", String(3), nullable=False),
    Column("buy_amount", Amount(), nullable=False),
    Column("purpose", String(66), nullable=False),
    Column("reference_id", Amount(), nullable=False),
    Column("block_number", BigInteger, nullable=False),
    Column("tx_hash", String(66), nullable=False),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_pvp_settlements_payer", "payer"),
    Index("ix_pvp_settlements_payee", "payee"),
)

htlc_locks = Table(
    "htlc_locks",
    metadata,
    Column("lock_id", BigInteger, primary_key=True, autoincrement=False),
    _address("sender", nullable=False),
    _address("recipient", nullable=False),
    _address("token", nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("hashlock", String(66), nullable=False),
    Column("timeout", BigInteger, nullable=False),
    Column("uetr", String(34), nullable=False),
    Column("state", String(16), nullable=False),
    Column("preimage", String(66), nullable=True),
    Column("updated_block", BigInteger, nullable=False),
)

# --- risk control (CreditLines, RiskControl; the registry's hooks) --------------------

credit_lines = Table(
    "credit_lines",
    metadata,
    Column("line_id", BigInteger, primary_key=True, autoincrement=False),
    _address("financier", nullable=False),
    _address("obligor", nullable=False),
    Column("currency", String(3), nullable=False),
    Column("limit", Amount(), nullable=False),
    Column("utilised", Amount(), nullable=False, default=0),
    Column("expiry", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # OPEN, CLOSED
    Column("frozen", Boolean, nullable=False, default=False),
    # Named a supplier once: from then on only named suppliers draw on it.
    Column("programme", Boolean, nullable=False, default=False),
    Column("granted_block", BigInteger, nullable=False),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_credit_lines_financier", "financier"),
    Index("ix_credit_lines_obligor", "obligor"),
)

credit_line_suppliers = Table(
    "credit_line_suppliers",
    metadata,
    Column("line_id", BigInteger, primary_key=True, autoincrement=False),
    _address("supplier", primary_key=True),
    Column("limit", Amount(), nullable=False, default=0),  # 0: off the programme
    Column("utilised", Amount(), nullable=False, default=0),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_credit_line_suppliers_supplier", "supplier"),
)

# One row per drawing (a financed receivable draws once), kept after its release.
credit_line_drawings = Table(
    "credit_line_drawings",
    metadata,
    Column("receivable_id", BigInteger, primary_key=True, autoincrement=False),
    Column("line_id", BigInteger, nullable=False),
    Column("financing_id", BigInteger, nullable=False),
    _address("supplier", nullable=False),
    Column("amount", Amount(), nullable=False),
    # The line was a programme when drawn: the supplier's sub-limit counted it too.
    Column("programme", Boolean, nullable=False, default=False),
    Column("drawn_block", BigInteger, nullable=False),
    Column("released_block", BigInteger, nullable=True),
    Column("release_cause", String(16), nullable=True),  # RELEASE_CAUSE, not WRITTEN_OFF
    # Written off of `amount` while drawn (no longer in the line's utilisation).
    Column("written_off", Amount(), nullable=False, default=0),
    # What the drawing's last write-off or release uncounted (a sub-limit's share of it).
    Column("freed", Amount(), nullable=False, default=0),
    # Paid through clearing after a write-off: how much, and when.
    Column("recovered", Amount(), nullable=True),
    Column("recovered_block", BigInteger, nullable=True),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_credit_line_drawings_line", "line_id"),
)

# One row per write-off (a drawing may be written off in parts), for a line at a block.
credit_line_write_offs = Table(
    "credit_line_write_offs",
    metadata,
    Column("receivable_id", BigInteger, primary_key=True, autoincrement=False),
    Column("block_number", BigInteger, primary_key=True, autoincrement=False),
    Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("line_id", BigInteger, nullable=False),
    Column("amount", Amount(), nullable=False),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_credit_line_write_offs_line", "line_id"),
)

# One row per event of a line, with the line's terms after it: its terms at any block.
credit_line_history = Table(
    "credit_line_history",
    metadata,
    Column("line_id", BigInteger, primary_key=True, autoincrement=False),
    Column("block_number", BigInteger, primary_key=True, autoincrement=False),
    Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("event_name", String(64), nullable=False),
    Column("limit", Amount(), nullable=False),
    Column("utilised", Amount(), nullable=False),
    Column("expiry", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("frozen", Boolean, nullable=False),
    Column("programme", Boolean, nullable=False),
    Column("updated_block", BigInteger, nullable=False),
)

# What a core enterprise owes per currency (registered, not repaid nor voided), its cap.
core_payables = Table(
    "core_payables",
    metadata,
    _address("core", primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("outstanding", Amount(), nullable=False, default=0),
    Column("cap", Amount(), nullable=False, default=0),  # meaningful only when capped
    Column("capped", Boolean, nullable=False, default=False),
    Column("updated_block", BigInteger, nullable=False),
)

cap_managers = Table(
    "cap_managers",
    metadata,
    _address("core", primary_key=True),
    _address("manager", nullable=True),  # NULL: none named (any more)
    Column("updated_block", BigInteger, nullable=False),
)

# One row per RiskControl contract (one per deployment).
risk_settings = Table(
    "risk_settings",
    metadata,
    _address("contract", primary_key=True),
    Column("overdue_trigger_days", Integer, nullable=False),
    Column("updated_block", BigInteger, nullable=False),
)

overdue_flags = Table(
    "overdue_flags",
    metadata,
    Column("root_id", BigInteger, primary_key=True, autoincrement=False),
    _address("debtor", nullable=False),
    Column("due_date", BigInteger, nullable=False),
    _address("flagged_by", nullable=False),
    Column("flagged_block", BigInteger, nullable=False),
    Column("cured_block", BigInteger, nullable=True),  # NULL while open
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_overdue_flags_debtor", "debtor"),
)

# --- deferred payments (issue 20) ----------------------------------------------------

# What a ledger contract keeps for a payee it could not pay (DeferredPayments): one row per
# (contract, payee, token), its ``claimable`` as the last PaymentDeferred / PaymentClaimed
# said (0 once claimed). Any contract emitting those events has rows here.
deferred_payments = Table(
    "deferred_payments",
    metadata,
    _address("contract", primary_key=True),
    _address("payee", primary_key=True),
    _address("token", primary_key=True),
    Column("claimable", Amount(), nullable=False, default=0),
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_deferred_payments_payee", "payee"),
)

# One row per deferral or claim, where it happened: what makes up a claimable amount.
deferred_payment_history = Table(
    "deferred_payment_history",
    metadata,
    Column("block_number", BigInteger, primary_key=True, autoincrement=False),
    Column("log_index", Integer, primary_key=True, autoincrement=False),
    Column("tx_hash", String(66), nullable=False),
    _address("contract", nullable=False),
    _address("payee", nullable=False),
    _address("token", nullable=False),
    Column("event_name", String(64), nullable=False),  # PaymentDeferred | PaymentClaimed
    Column("amount", Amount(), nullable=False),
    Column("claimable", Amount(), nullable=False),  # what waits after this event
    Column("updated_block", BigInteger, nullable=False),
    Index("ix_deferred_payment_history_payee", "payee", "contract", "token"),
)

#: The read models, by table name: what handlers write and the undo log restores.
READ_MODELS: dict[str, Table] = {
    t.name: t
    for t in (
        participants,
        settlement_tokens,
        receivables,
        financings,
        financing_offers,
        recourse_payments,
        financing_sales,
        clearing_roots,
        early_payment_offers,
        leaf_payments,
        token_balances,
        fx_quotes,
        pvp_settlements,
        htlc_locks,
        credit_lines,
        credit_line_suppliers,
        credit_line_drawings,
        credit_line_write_offs,
        credit_line_history,
        core_payables,
        cap_managers,
        risk_settings,
        overdue_flags,
        deferred_payments,
        deferred_payment_history,
    )
}

#: Every table the indexer owns, and nothing else: what a rebuild empties (Store.reset).
#: The API's own tables (ledger_app/db/api_tables.py) are never among them.
INDEX_TABLES: tuple[Table, ...] = (
    events,
    event_parties,
    blocks,
    checkpoint,
    undo_log,
    *READ_MODELS.values(),
)
