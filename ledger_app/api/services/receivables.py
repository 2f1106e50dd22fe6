"""Receivables: who is a party to which, reads from the index, and the writes.

Who may read which receivable is the one rule of ledger_app/domain/visibility.py
(the debtor and the original creditor: the whole tree; a party to a receivable: it
and its ancestors up to the root, and what a receivable it holds was split into;
never a sibling's subtree; auditors and regulators: all). ``visible_to`` is that
rule as SQL, built from the rule's own constants; the audit trace's scope applies
the same rule (ledger_app/audit/scope.py). The same predicate filters lists and
guards single reads and writes; a non-party gets 404, as for an id that does not
exist.

A caller is a party to a *tree* (its root's clearing) when it may read any
receivable of it (``party_to_tree``): by the rule, it then reads the root too.

Before anything is sent, what the index already shows to be refused is
answered: an unlisted currency, a creditor that is not an active supplier,
a seller tax id that is not the creditor's (recorded at onboarding), an
invoice key already registered (409, the ledger's state), split amounts that
do not sum (422, the request's). The rules are ledger_app/domain/receivables.py's
(this service gathers the facts they judge); the statuses the one refusal table's
(ledger_app/api/errors.py). The contract checks all of it again, but for the
tax id (which the chain does not hold; it binds the invoice to the creditor's
LEI instead, see domain/invoices.py).

A document hash is the API's own check too (the chain cannot know who holds a
document): the registering debtor must have uploaded the document or been
granted it (ledger_app/domain/documents.py), else 404 ``DocumentUnknown``, as
the document itself answers it.

A duplicate invoice's existing receivable is named (``args.id``) only to a
party to it (``visible_to``); anyone else learns that the invoice is taken,
not by which receivable: the refusal must not be an oracle of who sold what
to whom. The same rule strips ``existingId`` from the contract's revert
(``disclosed``, applied where errors become answers).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from eth_utils import to_checksum_address
from sqlalchemy import Engine, Select, and_, or_, select, true

from ledger_app.api.errors import request_error
from ledger_app.api.identity import Caller
from ledger_app.api.runtime import Runtime
from ledger_app.api.services.lookups import (
    document_entitled,
    is_active_with,
    participant_row,
    tax_ids_of,
    token_of,
)
from ledger_app.api.services.writes import WriteOutcome, Writer
from ledger_app.db.schema import event_parties, receivables
from ledger_app.domain.invoices import consortium_salt, invoice_key, invoice_ref
from ledger_app.domain.receivables import (
    RegistrationFacts,
    batch_duplicates,
    check_split,
    registration_refusals,
)
from ledger_app.domain.refusals import Refusal
from ledger_app.domain.visibility import WHOLE_TREE_FIELDS
from ledger_app.errors import NotFound, TransactionReverted

ZERO32 = b"\0" * 32


@dataclass(frozen=True)
class Registration:
    """One receivable to register (validated by the request model)."""

    creditor: str
    amount: int
    currency: str
    due_date: int  # unix seconds
    seller_tax_id: str  # as the request gave it; compared normalised
    invoice_ref: bytes  # salted number and type; the registry adds the creditor's LEI
    document_hash: bytes
    late_interest_bps: int = 0  # annual, charged per whole day paid late (domain.clearing)


@dataclass(frozen=True)
class Filters:
    """List filters; None means any."""

    status: str | None = None
    currency: str | None = None
    due_from: int | None = None
    due_to: int | None = None
    counterparty: str | None = None
    root_id: int | None = None


def visible_to(caller: Caller) -> Any:
    """SQL condition: the receivable row is one ``caller`` may read, by the rule of
    ledger_app/domain/visibility.py (``visible``), clause by clause."""
    if caller.reads_all:
        return true()
    me = caller.key
    r, p = receivables.c, event_parties.c
    # Parties: it holds the receivable now, or one of its events names it in a party
    # field: the rule's ``named_parties``, which the indexer stores per event and party
    # (event_parties, read through its (party, receivable_id) index).
    took_part = select(p.receivable_id).where(p.party == me)
    party = select(r.id).where(or_(r.holder == me, r.id.in_(took_part)))
    # ... and each ancestor of those up to the root (its provenance) ...
    up = party.cte("provenance", recursive=True)
    up = up.union(select(r.parent_id).where(r.id == up.c.id, r.parent_id != 0))
    # ... and what a receivable it holds now was split into.
    down = select(r.id).where(r.holder == me).cte("split_into", recursive=True)
    down = down.union(select(r.id).where(r.parent_id == down.c.id))
    return or_(
        *(getattr(r, field) == me for field in WHOLE_TREE_FIELDS),
        r.id.in_(select(up.c.id)),
        r.id.in_(select(down.c.id)),
    )


def party_to_tree(caller: Caller) -> Any:
    """SQL condition: the receivable row belongs to a tree (same root) of which ``caller``
    is a party to at least one receivable (``visible_to``)."""
    if caller.reads_all:
        return true()
    return receivables.c.root_id.in_(select(receivables.c.root_id).where(visible_to(caller)))


#: The checksum form of an indexed (lower-case) address: a keccak each, three a row, and
#: the same few parties in every row of a list or a batch's answer (a third of its time).
_checksummed = lru_cache(maxsize=4096)(to_checksum_address)


def describe(row: Any) -> dict[str, Any]:
    """A receivable as the API answers it."""
    return {
        "id": row.id,
        "parent_id": row.parent_id,
        "root_id": row.root_id,
        "debtor": _checksummed(row.debtor),
        "creditor": _checksummed(row.creditor),
        "holder": _checksummed(row.holder),
        "amount": str(row.amount),
        "currency": row.currency,
        "issue_date": datetime.fromtimestamp(row.issue_date, UTC),
        "due_date": datetime.fromtimestamp(row.due_date, UTC),
        "invoice_key": row.invoice_key,
        "document_hash": row.document_hash,
        "late_interest_bps": row.late_interest_bps,
        "status": row.status,
        "frozen": row.frozen,
        "children": list(range(row.first_child_id, row.first_child_id + row.child_count)),
        "outstanding": None if row.outstanding is None else str(row.outstanding),
        "created_block": row.created_block,
        "updated_block": row.updated_block,
    }


def visible_ids(engine: Engine, caller: Caller, ids: set[int]) -> set[int]:
    """Those of receivables ``ids`` the caller is a party to."""
    if not ids:
        return set()
    query = select(receivables.c.id).where(receivables.c.id.in_(sorted(ids)), visible_to(caller))
    with engine.connect() as conn:
        return {int(rid) for rid in conn.execute(query).scalars()}


def disclosed(
    engine: Engine, caller: Caller | None, error: TransactionReverted
) -> TransactionReverted:
    """``error`` as ``caller`` may see it: a duplicate invoice's ``existingId`` only for a
    party to that receivable (the pre-check's rule, applied to the contract's revert)."""
    if error.error_name != "ReceivableDuplicateInvoice":
        return error
    existing = int(error.error_args.get("existingId", 0))
    if caller is not None and existing in visible_ids(engine, caller, {existing}):
        return error
    return TransactionReverted(
        "ReceivableDuplicateInvoice: this invoice is already registered",
        error_name=error.error_name,
        error_args={k: v for k, v in error.error_args.items() if k != "existingId"},
        transaction_hash=error.transaction_hash,
    )


class ReceivableService:
    """The receivable operations of one request."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.engine = runtime.engine
        self.writer = Writer(runtime)
        self._salt: bytes | None = None

    # --- reads ------------------------------------------------------------------------

    def tree_root(self, caller: Caller, root_id: int) -> Any:
        """The row of receivable ``root_id`` when ``caller`` is a party to any receivable
        of its tree; NotFound otherwise (as for an unknown id)."""
        query = select(receivables).where(receivables.c.id == root_id, party_to_tree(caller))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no receivable {root_id}", error="ReceivableUnknown", id=root_id)
        return row

    def get(self, caller: Caller, receivable_id: int) -> Any:
        """The row of a receivable ``caller`` is a party to; NotFound otherwise."""
        query = select(receivables).where(receivables.c.id == receivable_id, visible_to(caller))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no receivable {receivable_id}", error="ReceivableUnknown",
                           id=receivable_id)  # fmt: skip
        return row

    def registered(self, caller: Caller, ids: list[int]) -> list[Any]:
        """The rows of receivables ``ids`` that ``caller`` registered (owes), in that order;
        NotFound if the index lacks one. For answering the caller's own registration: the
        debtor reads its whole tree by the visibility rule (``WHOLE_TREE_FIELDS``), so the
        rule's first clause is the whole check, without ``visible_to``'s party subqueries
        (a batch's answer read 1,000 rows through them)."""
        if not ids:
            return []
        r = receivables.c
        whole_tree = or_(*(getattr(r, field) == caller.key for field in WHOLE_TREE_FIELDS))
        by_id: dict[int, Any] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):  # well under SQLite's parameter limit
                query = select(receivables).where(r.id.in_(ids[i : i + 500]), whole_tree)
                by_id.update((row.id, row) for row in conn.execute(query))
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise NotFound(f"no receivable {missing[0]}", error="ReceivableUnknown", id=missing[0])
        return [by_id[i] for i in ids]

    def current(self, receivable_id: int) -> Any:
        """The indexed row, unguarded: only for answering a write its caller just made."""
        with self.engine.connect() as conn:
            return conn.execute(select(receivables).where(receivables.c.id == receivable_id)).one()

    def list(
        self, caller: Caller, filters: Filters, after: int | None, limit: int
    ) -> tuple[list[Any], int | None]:
        """Receivables the caller is a party to, by id, ``limit`` after id ``after``."""
        query: Select = select(receivables).where(visible_to(caller))
        column = receivables.c
        conditions = []
        if filters.status:
            conditions.append(column.status == filters.status)
        if filters.currency:
            conditions.append(column.currency == filters.currency)
        if filters.due_from is not None:
            conditions.append(column.due_date >= filters.due_from)
        if filters.due_to is not None:
            conditions.append(column.due_date <= filters.due_to)
        if filters.counterparty:
            other = filters.counterparty.lower()
            conditions.append(or_(column.debtor == other, column.creditor == other,
                                  column.holder == other))  # fmt: skip
        if filters.root_id is not None:
            conditions.append(column.root_id == filters.root_id)
        if after is not None:
            conditions.append(column.id > after)
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(column.id).limit(limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        page = rows[:limit]
        return page, (page[-1].id if len(rows) > limit and page else None)

    def rows(self, caller: Caller, ids: list[int]) -> list[Any]:
        """The visible rows of ``ids``, in that order."""
        if not ids:
            return []
        query = select(receivables).where(receivables.c.id.in_(ids), visible_to(caller))
        with self.engine.connect() as conn:
            by_id = {row.id: row for row in conn.execute(query)}
        return [by_id[i] for i in ids if i in by_id]

    # --- registration -----------------------------------------------------------------

    def invoice_ref(self, number: str, invoice_type: str) -> bytes:
        """The consortium's invoice ref of one invoice (the registry binds it to a seller)."""
        if self._salt is None:  # once a request: a batch has up to 1,000 invoices
            self._salt = consortium_salt(
                self.runtime.settings.invoice_key_salt,
                self.runtime.chain_id,
                self.runtime.contracts.address("receivables"),
            )
        return invoice_ref(self._salt, number, invoice_type)

    def check(self, caller: Caller, registration: Registration) -> list[Refusal]:
        """What the index shows the ledger would refuse, most basic problem first."""
        return self.check_all(caller, [registration])[0]

    def check_all(self, caller: Caller, batch: list[Registration]) -> list[list[Refusal]]:
        """``check`` of every row, each creditor, currency and invoice looked up once."""
        creditors = {r.creditor.lower() for r in batch if not caller.is_(r.creditor)}
        rows = {c: participant_row(self.engine, c) for c in creditors}
        supplier = {c: is_active_with(row, "SUPPLIER") for c, row in rows.items()}
        tax_ids = tax_ids_of(self.engine, creditors)
        listed = {c: token_of(self.engine, c) is not None for c in {r.currency for r in batch}}
        keys = [self._invoice_key(rows.get(r.creditor.lower()), r) for r in batch]
        existing = self._registered_invoices([k for k in keys if k is not None])
        shown = visible_ids(self.engine, caller, set(existing.values()))
        documents = {"0x" + r.document_hash.hex() for r in batch if r.document_hash != ZERO32}
        with self.engine.connect() as conn:
            entitled = document_entitled(conn, documents)
        report = []
        for registration, key in zip(batch, keys, strict=True):
            creditor = registration.creditor.lower()
            found = existing.get("0x" + key.hex()) if key is not None else None
            document = (
                "0x" + registration.document_hash.hex()
                if registration.document_hash != ZERO32
                else None
            )
            facts = RegistrationFacts(
                debtor=caller.key,
                creditor=registration.creditor,
                creditor_is_active_supplier=supplier.get(creditor, False),
                creditor_tax_id=tax_ids.get(creditor),
                seller_tax_id=registration.seller_tax_id,
                currency=registration.currency,
                currency_listed=listed[registration.currency],
                registered_as=found,
                registered_shown=found in shown,
                document=document,
                document_entitled=frozenset(entitled.get(document, ()))
                if document
                else frozenset(),
            )
            report.append(registration_refusals(facts))
        return report

    def register(self, caller: Caller, registration: Registration) -> WriteOutcome:
        """Register one receivable owed by the caller."""
        refusals = self.check(caller, registration)
        if refusals:
            raise refusals[0]
        call = self.runtime.contracts.call("receivables", "register", _tuple(registration))
        return self.writer.write(caller, "receivables.register", call)

    def register_batch(self, caller: Caller, batch: list[Registration]) -> list[WriteOutcome]:
        """Register every row or none: all rows are checked and every chunk simulated first."""
        report: list[dict[str, Any]] = []
        checks = self.check_all(caller, batch)
        # One seller's invoice twice: the same ref to the same creditor (its LEI).
        twice = batch_duplicates([(r.creditor.lower(), r.invoice_ref) for r in batch])
        for row in range(len(batch)):
            for refusal in [*checks[row], *filter(None, [twice[row]])]:
                report.append({"row": row, "field": refusal.field, "error": refusal.name,
                               "message": refusal.message, **refusal.values})  # fmt: skip
        if report:
            # One status in every row: that status; a mixture: 422 (the refusal table's).
            raise request_error(
                "BatchRefused",
                f"{len({r['row'] for r in report})} of {len(batch)} rows would be refused; "
                "nothing was sent",
                rows=report,
            )
        size = int(self.runtime.contracts.view(self.runtime.client, "receivables", "MAX_BATCH"))
        chunks = [batch[i : i + size] for i in range(0, len(batch), size)]
        calls = [
            self.runtime.contracts.call("receivables", "registerBatch", [_tuple(r) for r in chunk])
            for chunk in chunks
        ]
        # Simulate all before sending any: all or nothing. One execution a chunk gives its
        # gas (registerBatch frees nothing and calls only views), and the figures go with
        # the calls, so the sender does not estimate (a binary search) each chunk again.
        gases = self.runtime.client.execution_gases(
            [{"from": caller.address, "to": call.to, "data": call.data} for call in calls],
            calls[0].abis,
        )
        calls = [replace(call, gas=gas) for call, gas in zip(calls, gases, strict=True)]
        return self.writer.write_all(caller, "receivables.register_batch", calls)

    # --- actions on one receivable ----------------------------------------------------

    def act(self, caller: Caller, operation: str, receivable_id: int, function: str,
            *args: Any) -> WriteOutcome:  # fmt: skip
        """``function(id, *args)`` on the registry, for a caller party to the receivable."""
        self.get(caller, receivable_id)
        call = self.runtime.contracts.call("receivables", function, receivable_id, *args)
        return self.writer.write(caller, operation, call)

    def split(self, caller: Caller, receivable_id: int, amounts: list[int]) -> WriteOutcome:
        """Split into parts summing exactly to the receivable's amount."""
        row = self.get(caller, receivable_id)
        check_split(row.amount, amounts)
        call = self.runtime.contracts.call("receivables", "split", receivable_id, amounts)
        return self.writer.write(caller, "receivables.split", call)

    @staticmethod
    def _invoice_key(creditor: Any, registration: Registration) -> bytes | None:
        """The key the registry will derive (None: the creditor has no LEI indexed)."""
        if creditor is None or not creditor.lei:
            return None
        return invoice_key(bytes.fromhex(creditor.lei[2:]), registration.invoice_ref)

    def _registered_invoices(self, keys: list[bytes]) -> dict[str, int]:
        """Invoice key (0x-hex) -> root id, of the keys already registered."""
        wanted = sorted({"0x" + k.hex() for k in keys})
        found: dict[str, int] = {}
        with self.engine.connect() as conn:
            for i in range(0, len(wanted), 500):  # well under SQLite's parameter limit
                rows = conn.execute(
                    select(receivables.c.invoice_key, receivables.c.id).where(
                        receivables.c.invoice_key.in_(wanted[i : i + 500]),
                        receivables.c.parent_id == 0,
                    )
                )
                found.update({key: int(rid) for key, rid in rows})
        return found


def _tuple(registration: Registration) -> tuple[Any, ...]:
    return (
        registration.creditor,
        registration.amount,
        registration.currency.encode(),
        registration.due_date,
        registration.invoice_ref,
        registration.document_hash,
        registration.late_interest_bps,
    )
