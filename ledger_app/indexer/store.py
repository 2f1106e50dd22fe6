"""Writing batches of indexed blocks, and undoing them after a reorg.

One batch = one database transaction holding the batch's raw events (with the
parties each names, ``event_parties``), the read model rows its events change, the headers of its blocks, the undo log of its
recent blocks and the checkpoint (block number *and* hash). A crash at any
instant leaves all of a batch or none of it.

Exactly once: an event already stored (same chain, tx hash, log index) is
skipped with its mutations, so replaying a range changes nothing.

Speed: each row a batch touches is read at most once (one ``IN`` query per
table up front), changed in memory, and written back with one bulk
``INSERT .. ON CONFLICT DO UPDATE`` of many parameter sets per table.

Undo: for a block within ``reorg_window`` of the chain head, the first time
the block touches a row its before-image goes to ``undo_log``. Rolling back to
an ancestor restores the earliest before-image of every row touched above it.
Blocks at or below the checkpoint's ``undo_floor`` have no undo log any more.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Index,
    Table,
    delete,
    func,
    inspect,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql, sqlite

from ledger_app.chain.decode import DecodedEvent
from ledger_app.chain.rpc import BlockHeader
from ledger_app.db import schema
from ledger_app.db.bulk import insert_many
from ledger_app.db.outbox import Announcement, announce_many
from ledger_app.db.schema import canonical_json
from ledger_app.domain.notifications import ReadModel, notices_for
from ledger_app.domain.visibility import named_parties
from ledger_app.errors import ChainMismatchError, ReorgTooDeepError
from ledger_app.indexer.handlers import mutations_for
from ledger_app.indexer.links import LinkLookups, link_all
from ledger_app.indexer.mutations import (
    Add,
    AddFrom,
    CopyFrom,
    Mutation,
    Patch,
    SetMember,
    Upsert,
)

log = logging.getLogger(__name__)

# PostgreSQL: an upsert of this many rows or more goes through COPY and a staging table
# (one statement), fewer through executemany (a statement per row, pipelined).
_STAGE_MIN_ROWS = 50
_PG_DIALECT = postgresql.dialect()
_IN_CHUNK = 500  # keys per IN (...) query: well under SQLite's 32766 parameters

#: The indexes the bulk mode drops (Store.set_bulk_mode): the secondary indexes of
#: ``events`` and ``event_parties``, the tables that grow with every event, whose keys
#: are not in block order (each insert lands somewhere inside the B-tree). The block
#: indexes stay: block order is insert order (cheap to keep), and the rules' runs
#: (indexer/monitoring.py, every 20k events of a backfill) and a rollback read by block.
#: None of these serves the indexer's own writes; the API, the audit and the trace read
#: through them once the backfill is within the reorg window again.
BULK_INDEXES: tuple[Index, ...] = tuple(
    index
    for table in (schema.events, schema.event_parties)
    for index in sorted(table.indexes, key=lambda i: str(i.name))
    if index.name not in ("ix_events_block", "ix_event_parties_block")
)

RowKey = tuple[Any, ...]
Row = dict[str, Any]


@dataclass(frozen=True)
class Checkpoint:
    """How far the index goes: the last indexed block, and how far back undo reaches."""

    block_number: int
    block_hash: str
    undo_floor: int
    events_total: int


@dataclass
class Batch:
    """A contiguous block range [start, end] with everything fetched for it.

    ``headers`` holds every block that has an event, and ``end``. ``tip`` is the
    chain head when the batch was fetched; it decides which blocks are recent
    enough to need an undo log. ``args_json``, if given, is each event's arguments as
    canonical JSON, in the order of ``events`` (the read-ahead helper makes them).
    """

    start: int
    end: int
    tip: int
    headers: dict[int, BlockHeader]
    events: list[DecodedEvent] = field(default_factory=list)
    args_json: list[str] | None = None


class Store:
    """The indexer's database side, for one chain."""

    def __init__(self, engine: Engine, chain_id: int, *, reorg_window: int = 64) -> None:
        self.engine = engine
        self.chain_id = chain_id
        self.reorg_window = reorg_window
        self._bulk: bool | None = None  # bulk_mode(): unknown until the database is read
        insert_of = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}
        try:
            self._insert = insert_of[engine.dialect.name]
        except KeyError:
            raise ChainMismatchError(
                f"the indexer supports SQLite and PostgreSQL, not {engine.dialect.name}"
            ) from None

    # --- reading ----------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint | None:
        """The last committed checkpoint of this chain, or None before the first batch."""
        with self.engine.connect() as conn:
            return self._checkpoint(conn)

    def check_chain(self) -> None:
        """Raise ChainMismatchError if the database already indexes another chain."""
        with self.engine.connect() as conn:
            other = conn.execute(
                select(schema.checkpoint.c.chain_id).where(
                    schema.checkpoint.c.chain_id != self.chain_id
                )
            ).first()
        if other is not None:
            raise ChainMismatchError(
                f"this database indexes chain {other[0]}, the node is chain {self.chain_id}"
            )

    def recent_blocks(self) -> list[tuple[int, str]]:
        """Stored (number, hash) of blocks above the undo floor, newest first."""
        cp = self.checkpoint()
        if cp is None:
            return []
        b = schema.blocks
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(b.c.number, b.c.hash)
                .where(b.c.chain_id == self.chain_id, b.c.number >= cp.undo_floor)
                .order_by(b.c.number.desc())
            ).all()
        return [(int(n), h) for n, h in rows]

    def followed_tokens(self) -> dict[str, int]:
        """Settlement tokens listed so far: address -> block of their listing."""
        t = schema.settlement_tokens
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.address, t.c.listed_block).where(t.c.listed_block.is_not(None))
            ).all()
        return {a: int(n) for a, n in rows}

    # --- writing ----------------------------------------------------------------------

    def apply(self, batch: Batch) -> int:
        """Commit ``batch`` in one transaction; return how many new events it stored."""
        with self.engine.begin() as conn:
            previous = self._checkpoint(conn)
            if previous is not None and batch.start > previous.block_number + 1:
                raise ValueError(
                    f"batch starts at {batch.start}, the index ends at {previous.block_number}: "
                    "a gap"
                )
            new_events = self._new_events(conn, batch, previous)
            undo_from = batch.tip - self.reorg_window + 1  # blocks >= this get undo rows
            work = _RowWork(self, conn)
            planned: list[tuple[int, list[Mutation]]] = []
            for event in new_events:
                timestamp = batch.headers[event.block_number].timestamp
                planned.append((event.block_number, mutations_for(event, timestamp)))
            work.load(m for _, ms in planned for m in ms)
            for block_number, mutations in planned:
                for mutation in mutations:
                    work.apply(mutation, block_number, undo=block_number >= undo_from)
            work.flush()
            # Made already for every event of the batch, unless some were stored before.
            args_json = batch.args_json if len(new_events) == len(batch.events) else None
            self._insert_events(conn, new_events, batch.headers, _links(conn, work, new_events),
                                args_json)  # fmt: skip
            # The outbox, in this same transaction: announced if and only if committed.
            self._announce(conn, work, new_events)
            self._insert_blocks(conn, batch.headers.values())
            floor_before = previous.undo_floor if previous else batch.start - 1
            floor = max(floor_before, min(batch.end, undo_from - 1))
            total = (previous.events_total if previous else 0) + len(new_events)
            if previous is None or batch.end > previous.block_number:
                end_hash = batch.headers[batch.end].hash
                self._write_checkpoint(conn, batch.end, end_hash, floor, total)
            # else: a replay of indexed blocks; every event was already stored
            self._prune(conn, floor)
        return len(new_events)

    def rollback(self, ancestor: int, ancestor_hash: str) -> None:
        """Undo every block above ``ancestor``, in one transaction.

        Raises ReorgTooDeepError if blocks above the undo floor do not cover it.
        """
        with self.engine.begin() as conn:
            cp = self._checkpoint(conn)
            if cp is None:
                return
            if ancestor < cp.undo_floor:
                raise ReorgTooDeepError(
                    f"the chain forked below block {cp.undo_floor + 1}, the oldest block "
                    f"that can be undone (common ancestor {ancestor}); the index stops here. "
                    "Rebuild it from scratch, or raise the reorg window"
                )
            u = schema.undo_log
            rows = conn.execute(
                select(u.c.table_name, u.c.row_key, u.c.before)
                .where(u.c.block_number > ancestor)
                .order_by(u.c.id.desc())
            ).all()
            # Descending: the last assignment per row is its earliest before-image.
            restore: dict[tuple[str, str], str | None] = {}
            for table_name, row_key, before in rows:
                restore[(table_name, row_key)] = before
            for (table_name, row_key), before in restore.items():
                table = schema.READ_MODELS[table_name]
                key = json.loads(row_key)
                where = [table.c[c] == v for c, v in key.items()]
                conn.execute(delete(table).where(*where))
                if before is not None:
                    conn.execute(table.insert().values(**_decode_row(table, before)))
            e, p, b = schema.events, schema.event_parties, schema.blocks
            dropped = conn.execute(
                delete(e).where(e.c.chain_id == self.chain_id, e.c.block_number > ancestor)
            ).rowcount
            conn.execute(
                delete(p).where(p.c.chain_id == self.chain_id, p.c.block_number > ancestor)
            )
            conn.execute(delete(b).where(b.c.chain_id == self.chain_id, b.c.number > ancestor))
            conn.execute(delete(u).where(u.c.block_number > ancestor))
            self._write_checkpoint(
                conn, ancestor, ancestor_hash, cp.undo_floor, cp.events_total - dropped
            )
        log.warning(
            "rolled back to block %d: %d events and %d row changes undone",
            ancestor,
            dropped,
            len(restore),
        )

    def reset(self) -> int:
        """Empty the index, in one transaction, so that it is built again from the deployment
        block; returns how many events were dropped.

        For a chain that changed below the undo floor, where no undo log reaches. Only the
        indexer's own tables (schema.INDEX_TABLES) are emptied, never the API's. Those
        without a chain id are emptied whole: check_chain keeps one chain per database.
        """
        with self.engine.begin() as conn:
            cp = self._checkpoint(conn)
            for table in schema.INDEX_TABLES:
                where = [table.c.chain_id == self.chain_id] if "chain_id" in table.c else []
                conn.execute(delete(table).where(*where))
        dropped = cp.events_total if cp else 0
        log.warning("index emptied: %d events dropped; it is built again from the start", dropped)
        return dropped

    # --- the bulk mode -----------------------------------------------------------------

    def bulk_mode(self) -> bool:
        """Whether the bulk indexes (BULK_INDEXES) are dropped, as the database says."""
        if self._bulk is None:
            with self.engine.connect() as conn:
                self._bulk = bool(_missing_bulk_indexes(conn))
        return self._bulk

    def set_bulk_mode(self, bulk: bool) -> None:
        """Drop (``bulk``) or build (not ``bulk``) the secondary indexes of the big
        append-only tables, BULK_INDEXES; does nothing if they already are so.

        Dropped while a backfill is far behind the head: inserting a row then touches
        the table and its keys only, and each index is built once, sorted, when the
        backfill comes within the reorg window. Idempotent and crash-safe: the database
        itself is the record (an index is there or not, each DROP/CREATE committed), so
        an indexer killed in the bulk mode finds the indexes missing on restart and
        builds them as soon as it is not far behind any more (or stays in the mode)."""
        if self.bulk_mode() == bulk:
            return
        started = time.monotonic()
        with self.engine.begin() as conn:
            if bulk:
                for index in BULK_INDEXES:
                    conn.execute(text(f'DROP INDEX IF EXISTS "{index.name}"'))
            else:
                for index in BULK_INDEXES:
                    index.create(conn, checkfirst=True)
                if conn.dialect.name == "postgresql":
                    for table in {index.table for index in BULK_INDEXES}:
                        conn.execute(text(f'ANALYZE "{table.name}"'))
        self._bulk = bulk
        log.info("%s: %s %d indexes of %s in %.1f s",
                 "bulk mode on (far behind the head)" if bulk else "bulk mode off",
                 "dropped" if bulk else "built", len(BULK_INDEXES),
                 ", ".join(sorted({i.table.name for i in BULK_INDEXES})),
                 time.monotonic() - started)  # fmt: skip

    # --- internals --------------------------------------------------------------------

    def _checkpoint(self, conn: Connection) -> Checkpoint | None:
        c = schema.checkpoint
        row = conn.execute(
            select(c.c.block_number, c.c.block_hash, c.c.undo_floor, c.c.events_total).where(
                c.c.chain_id == self.chain_id
            )
        ).first()
        return Checkpoint(int(row[0]), row[1], int(row[2]), int(row[3])) if row else None

    def _new_events(
        self, conn: Connection, batch: Batch, previous: Checkpoint | None
    ) -> list[DecodedEvent]:
        if previous is not None and batch.start > previous.block_number:
            # Every stored event is at or below the checkpoint (a batch commits its events
            # with a checkpoint at its end; a rollback deletes those above its ancestor):
            # nothing above it can be stored yet, and the bulk mode has no block index.
            return list(batch.events)
        e = schema.events
        stored = {
            (tx, int(i))
            for tx, i in conn.execute(
                select(e.c.tx_hash, e.c.log_index).where(
                    e.c.chain_id == self.chain_id,
                    e.c.block_number.between(batch.start, batch.end),
                )
            )
        }
        return [ev for ev in batch.events if (ev.tx_hash, ev.log_index) not in stored]

    def _insert_events(
        self,
        conn: Connection,
        events: Sequence[DecodedEvent],
        headers: Mapping[int, BlockHeader],
        links: Sequence[tuple[int, int] | None],
        args_json: Sequence[str] | None = None,
    ) -> None:
        if not events:
            return
        if args_json is None:
            args_json = [canonical_json(ev.args) for ev in events]
        rows = [
            {
                "receivable_id": None if linked is None else linked[0],
                "root_id": None if linked is None else linked[1],
                "chain_id": self.chain_id,
                "tx_hash": ev.tx_hash,
                "log_index": ev.log_index,
                "block_number": ev.block_number,
                "block_hash": ev.block_hash,
                "block_timestamp": headers[ev.block_number].timestamp,
                "contract": ev.address,
                "contract_kind": ev.kind,
                "event_name": ev.name,
                "args": args,
            }
            for ev, linked, args in zip(events, links, args_json, strict=True)
        ]
        # Who each event makes a party to its receivable: the API's visibility filter.
        parties = [
            {
                "chain_id": self.chain_id,
                "tx_hash": ev.tx_hash,
                "log_index": ev.log_index,
                "party": party,
                "block_number": ev.block_number,
                "receivable_id": linked[0],
            }
            for ev, linked in zip(events, links, strict=True)
            if linked is not None
            for party in sorted(named_parties(ev.name, ev.args))
        ]
        if self.engine.dialect.name == "postgresql":
            # _new_events left out every stored event and the writer lock keeps other
            # indexers away, so nothing can conflict: COPY, several times faster than
            # one INSERT per row, in the batch's own transaction.
            _copy(conn, schema.events, rows)
            if parties:
                _copy(conn, schema.event_parties, parties)
            return
        insert_many(conn, schema.events, rows, conflict=["chain_id", "tx_hash", "log_index"])
        if parties:
            keys = [c.name for c in schema.event_parties.primary_key.columns]
            insert_many(conn, schema.event_parties, parties, conflict=keys)

    def _announce(self, conn: Connection, work: _RowWork, events: Sequence[DecodedEvent]) -> None:
        """Each event's notifications (domain/notifications.py, from the read model as the
        batch left it) into the outbox, keyed by the event and kind: a replayed event
        announces nothing again."""
        row = _row_lookup(conn, work)
        model = ReadModel(
            receivable=lambda rid: row(schema.receivables, (rid,)),
            financing=lambda fid: row(schema.financings, (fid,)),
            credit_line=lambda lid: row(schema.credit_lines, (lid,)),
        )
        announcements = []
        for ev in events:
            for notice in notices_for(ev.name, ev.args, model):
                payload = {
                    **notice.payload,
                    "event": {"name": ev.name, "tx_hash": ev.tx_hash, "log_index": ev.log_index,
                              "block_number": ev.block_number},
                }  # fmt: skip
                key = f"{self.chain_id}:{ev.tx_hash}:{ev.log_index}:{notice.kind}"
                announcements.append(Announcement(notice.kind, notice.recipients, payload, key,
                                                  notice.receivable_id))  # fmt: skip
        announce_many(conn, announcements)

    def _insert_blocks(self, conn: Connection, headers: Iterable[BlockHeader]) -> None:
        rows = [
            {
                "chain_id": self.chain_id,
                "number": h.number,
                "hash": h.hash,
                "parent_hash": h.parent_hash,
                "timestamp": h.timestamp,
            }
            for h in headers
        ]
        if rows:
            self._upsert(conn, schema.blocks, rows)

    def _write_checkpoint(
        self, conn: Connection, number: int, block_hash: str, floor: int, total: int
    ) -> None:
        row = {
            "chain_id": self.chain_id,
            "block_number": number,
            "block_hash": block_hash,
            "undo_floor": floor,
            "events_total": total,
        }
        self._upsert(conn, schema.checkpoint, [row])

    def _prune(self, conn: Connection, floor: int) -> None:
        # Undo rows at or below the floor can never be used; blocks below it are
        # no common-ancestor candidates any more (the floor block itself still is).
        u, b = schema.undo_log, schema.blocks
        conn.execute(delete(u).where(u.c.block_number <= floor))
        conn.execute(delete(b).where(b.c.chain_id == self.chain_id, b.c.number < floor))

    def _upsert(self, conn: Connection, table: Table, rows: list[Row]) -> None:
        keys = _pk_names(table)
        if self.engine.dialect.name == "sqlite":
            insert_many(conn, table, rows, conflict=keys, update=True)
            return
        if len(rows) >= _STAGE_MIN_ROWS:
            _staged_upsert(conn, table, keys, rows)
            return
        stmt = self._insert(table)
        updates = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
        conn.execute(stmt.on_conflict_do_update(index_elements=keys, set_=updates), rows)


class _RowWork:
    """The rows one batch touches: read once, changed in memory, written once."""

    def __init__(self, store: Store, conn: Connection) -> None:
        self.store = store
        self.conn = conn
        self.rows: dict[str, dict[RowKey, Row | None]] = {}
        self.dirty: dict[str, set[RowKey]] = {}
        self.undo: list[Row] = []
        self._undone: set[tuple[int, str, RowKey]] = set()

    def load(self, mutations: Iterable[Mutation]) -> None:
        """Read every row the mutations touch, one IN query per table and chunk."""
        wanted: dict[str, set[RowKey]] = {}
        for m in mutations:
            if isinstance(m, CopyFrom | AddFrom):
                source = m.source_table or m.table
                source_table = schema.READ_MODELS[source]
                wanted.setdefault(source, set()).add(_key_tuple(source_table, m.source_key))
            if isinstance(m, AddFrom):
                continue  # its row's key is known once its source row is (_target)
            table = schema.READ_MODELS[m.table]
            wanted.setdefault(m.table, set()).add(_key_tuple(table, m.key))
        for name, keys in wanted.items():
            self._read(name, keys)

    def _read(self, name: str, keys: Iterable[RowKey]) -> None:
        table = schema.READ_MODELS[name]
        cache = self.rows.setdefault(name, {})
        pk = list(table.primary_key.columns)
        key_list = sorted(k for k in keys if k not in cache)
        for i in range(0, len(key_list), _IN_CHUNK):
            chunk = key_list[i : i + _IN_CHUNK]
            single = len(pk) == 1
            where = pk[0].in_([k[0] for k in chunk]) if single else tuple_(*pk).in_(chunk)
            for row in self.conn.execute(select(table).where(where)).mappings():
                cache[_key_tuple(table, row)] = dict(row)
        for k in key_list:
            cache.setdefault(k, None)

    def _target(self, m: Mutation) -> RowKey | None:
        """The key of the row ``m`` changes (read into the cache if it is not there), or
        None when an AddFrom's condition leaves it nothing to do."""
        key = target_key(m, self.rows)
        if key is not None and isinstance(m, AddFrom):
            self._read(m.table, [key])
        return key

    def apply(self, m: Mutation, block_number: int, *, undo: bool) -> None:
        """Apply one mutation to the cached row, logging its before-image if ``undo``."""
        table = schema.READ_MODELS[m.table]
        key = self._target(m)
        if key is None:
            return
        cache = self.rows[m.table]
        current = cache[key]
        if undo and (block_number, m.table, key) not in self._undone:
            self._undone.add((block_number, m.table, key))
            self.undo.append(
                {
                    "block_number": block_number,
                    "table_name": m.table,
                    "row_key": canonical_json(dict(zip(_pk_names(table), key, strict=True))),
                    "before": None if current is None else _encode_row(current),
                }
            )
        updated = _mutate(table, m, current, self.rows)
        if updated is current:
            return
        if "updated_block" in table.c:
            updated["updated_block"] = block_number
        cache[key] = updated
        self.dirty.setdefault(m.table, set()).add(key)

    def flush(self) -> None:
        """Write the changed rows (bulk upsert per table) and the undo rows."""
        for name, keys in self.dirty.items():
            table = schema.READ_MODELS[name]
            rows = [self.rows[name][k] for k in sorted(keys)]
            self.store._upsert(self.conn, table, [r for r in rows if r is not None])
        if self.undo and self.store.engine.dialect.name == "postgresql":
            _copy(self.conn, schema.undo_log, self.undo)  # ids from the sequence, in order
        elif self.undo:
            insert_many(self.conn, schema.undo_log, self.undo)


def _copy(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """COPY ``rows`` into ``table`` on the connection's own PostgreSQL transaction."""
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    driver = conn.connection.driver_connection  # psycopg's, inside SQLAlchemy's transaction
    with (
        driver.cursor() as cursor,
        cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy,
    ):  # type: ignore[union-attr]
        values = _copy_writer(table, columns)
        for row in rows:
            copy.write_row(values(row))


def _copy_writer(table: Table, columns: Sequence[str]) -> Any:
    """A row -> COPY values function for ``columns`` of ``table``: each value through its
    column type's own bind step where it has one that matters (a uint256 column checks its
    value and makes it a Decimal, as an INSERT would)."""
    amounts = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, schema.U256)]
    bind = schema.U256().process_bind_param

    def values(row: Row) -> list[Any]:
        out = [row[c] for c in columns]
        for i in amounts:
            out[i] = bind(out[i], _PG_DIALECT)
        return out

    return values


def _staged_upsert(
    conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[Row]
) -> None:
    """PostgreSQL: ``rows`` (distinct keys) COPYed into a temporary staging table and
    upserted into ``table`` by one INSERT .. SELECT .. ON CONFLICT DO UPDATE. The staging
    table lives and dies with the transaction, emptied after use."""
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    stage = f"_stage_{table.name}"
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in keys)
    conflict = ", ".join(f'"{k}"' for k in keys)
    action = f"DO UPDATE SET {updates}" if updates else "DO NOTHING"
    driver = conn.connection.driver_connection
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(
            f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" (LIKE "{table.name}") ON COMMIT DROP'
        )
        with cursor.copy(f'COPY "{stage}" ({names}) FROM STDIN') as copy:
            values = _copy_writer(table, columns)
            for row in rows:
                copy.write_row(values(row))
        cursor.execute(
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{stage}" '
            f"ON CONFLICT ({conflict}) {action}"
        )
        cursor.execute(f'DELETE FROM "{stage}"')


def _row_lookup(conn: Connection, work: _RowWork) -> Any:
    """A read-model row by table and key: the batch's own (after its flush) where it has
    it, else the index's; None when neither has it."""
    cached = work.rows

    def row(table: Table, key: RowKey) -> Row | None:
        found = cached.get(table.name, {}).get(key)
        if found is None:
            pk = list(table.primary_key.columns)
            hit = conn.execute(
                select(table).where(*[c == v for c, v in zip(pk, key, strict=True)])
            ).first()
            found = None if hit is None else dict(hit._mapping)
        return found

    return row


def _links(
    conn: Connection, work: _RowWork, events: Sequence[DecodedEvent]
) -> list[tuple[int, int] | None]:
    """(receivable id, root id) per event (see links.py), from the batch's rows where it
    has them, else from the index; run after the batch's rows are flushed."""
    row = _row_lookup(conn, work)

    def column(table: Table, key: RowKey, name: str) -> Any:
        found = row(table, key)
        return None if found is None else found[name]

    lookups = LinkLookups(
        root_of=lambda rid: column(schema.receivables, (rid,), "root_id"),
        financing_receivable=lambda fid: column(schema.financings, (fid,), "receivable_id"),
        pvp_reference=lambda uetr: column(schema.pvp_settlements, (uetr,), "reference_id"),
        lock_uetr=lambda lock: column(schema.htlc_locks, (lock,), "uetr"),
    )
    return link_all(events, lookups)


def target_key(m: Mutation, rows: Mapping[str, Mapping[RowKey, Row | None]]) -> RowKey | None:
    """The key of the row ``m`` changes: its own key, or for an AddFrom the one its source
    row (in ``rows``, by table) gives, None when the AddFrom's condition does not hold."""
    table = schema.READ_MODELS[m.table]
    if not isinstance(m, AddFrom):
        return _key_tuple(table, m.key)
    source_key = _key_tuple(schema.READ_MODELS[m.source_table], m.source_key)
    source = rows.get(m.source_table, {}).get(source_key)
    if source is None:
        raise LookupError(f"{m.source_table} {m.source_key} does not exist; cannot apply {m}")
    if m.when is not None and not source[m.when]:
        return None
    columns = dict(m.key_from)
    return tuple(source[columns[c]] for c in _pk_names(table))


def _mutate(table: Table, m: Mutation, current: Row | None, rows: dict) -> Row | None:
    """The row after ``m``; ``current`` itself when nothing changes. ``rows``: the
    batch's cached rows by table, where CopyFrom and AddFrom find their source."""
    if isinstance(m, Upsert):
        base = dict(current) if current is not None else _new_row(table, m.key)
        base.update(m.values)
        return base
    if isinstance(m, Patch):
        if current is None:
            raise LookupError(f"{m.table} {m.key} does not exist; cannot apply {m}")
        return {**current, **m.values}
    if isinstance(m, Add):
        base = dict(current) if current is not None else _new_row(table, m.key)
        base[m.column] = int(base.get(m.column) or 0) + m.delta
        return base
    if isinstance(m, AddFrom):
        source_table = schema.READ_MODELS[m.source_table]
        source = rows[m.source_table][_key_tuple(source_table, m.source_key)]  # target_key saw it
        base = dict(current) if current is not None else _new_row(table, {})
        base.update({c: source[s] for c, s in m.key_from})
        base[m.column] = int(base.get(m.column) or 0) + m.sign * int(source[m.amount_column])
        return base
    if isinstance(m, CopyFrom):
        source_name = m.source_table or m.table
        source_table = schema.READ_MODELS[source_name]
        source = rows.get(source_name, {}).get(_key_tuple(source_table, m.source_key))
        if source is None:
            raise LookupError(f"{m.table} {m.source_key} does not exist; cannot apply {m}")
        base = _new_row(table, m.key)
        base.update({c: source[c] for c in m.columns})
        base.update(m.values)
        return base
    if isinstance(m, SetMember):
        base = dict(current) if current is not None else _new_row(table, m.key)
        members = set(filter(None, (base.get(m.column) or "").split(",")))
        if m.present:
            members.add(m.member)
        else:
            members.discard(m.member)
        base[m.column] = ",".join(sorted(members))
        return base
    raise TypeError(f"unknown mutation {m!r}")


def _new_row(table: Table, key: dict[str, Any]) -> Row:
    row: Row = {}
    for column in table.columns:
        default = column.default
        row[column.name] = default.arg if default is not None and default.is_scalar else None
    row.update(key)
    return row


def _pk_names(table: Table) -> list[str]:
    names = _PK_NAMES.get(table.name)
    if names is None:
        names = _PK_NAMES[table.name] = [c.name for c in table.primary_key.columns]
    return names


_PK_NAMES: dict[str, list[str]] = {}  # tables are fixed: their key columns, looked up once


def _key_tuple(table: Table, values: Any) -> RowKey:
    getter = _PK_GETTERS.get(table.name)
    if getter is None:
        names = _pk_names(table)
        single = itemgetter(names[0])
        getter = _PK_GETTERS[table.name] = (
            itemgetter(*names) if len(names) > 1 else lambda row: (single(row),)
        )
    return tuple(getter(values))


_PK_GETTERS: dict[str, Callable[[Any], RowKey]] = {}


def _encode_row(row: Row) -> str:
    return canonical_json(row)


def _decode_row(table: Table, text: str) -> Row:
    # JSON keeps ints exact and bools as bools: the row comes back as it was.
    return {c: v for c, v in json.loads(text).items() if c in table.c}


def _missing_bulk_indexes(conn: Connection) -> list[str]:
    """The names of BULK_INDEXES missing from the database."""
    inspector = inspect(conn)
    present: set[str] = set()
    for table in {index.table for index in BULK_INDEXES}:
        present |= {str(i["name"]) for i in inspector.get_indexes(table.name)}
    return [str(i.name) for i in BULK_INDEXES if i.name not in present]


def count_rows(conn: Connection, table: Table) -> int:
    """Number of rows in ``table`` (tests and progress lines)."""
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
