"""Many rows into one SQLite table, straight to sqlite3's ``executemany``.

SQLAlchemy's ``conn.execute(insert(table), rows)`` prepares each parameter set in
Python (a dictionary per row, its keys checked, every value through its type's bind
step), which cost the indexer more than SQLite's own inserts: 1.9 of 10 profiled
seconds at 100k events (bench/indexer_bench.py), against 1.35 s for ``executemany``.
Here the statement is written once per table, columns and conflict rule, each column's
bind step is looked up once (only the types that have one: a uint256 checked and
padded, a boolean), and the rows go as tuples (``exec_driver_sql``: nothing done per
row on the way), in the connection's own transaction.
PostgreSQL has its own bulk paths: COPY (indexer/store.py), and copy_insert_new below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table

_Prepared = tuple[str, list[tuple[str, Callable[[Any], Any] | None]]]
_PREPARED: dict[tuple[str, tuple[str, ...], tuple[str, ...] | None, bool], _Prepared] = {}


def insert_many(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str] | None = None,
    update: bool = False,
) -> int:
    """Insert ``rows`` (dicts with the same keys) into ``table`` on SQLite; on a row whose
    ``conflict`` columns match one stored, do nothing (or, ``update``, set its other
    columns to the new row's). Returns the rows inserted or changed."""
    if not rows:
        return 0
    columns = tuple(rows[0])
    key = (table.name, columns, tuple(conflict) if conflict else None, update)
    prepared = _PREPARED.get(key)
    if prepared is None:
        prepared = _PREPARED[key] = _prepare(conn, table, columns, conflict, update)
    sql, binds = prepared
    values = itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    params: list[Any] = [values(row) for row in rows]
    bound = [(i, bind) for i, (_, bind) in enumerate(binds) if bind is not None]
    if bound:
        rebuilt = []
        for p in params:
            values_ = list(p)
            for i, bind in bound:
                values_[i] = bind(values_[i])
            rebuilt.append(tuple(values_))
        params = rebuilt
    # Through the connection, not its driver's cursor: a database error comes out as
    # SQLAlchemy's (OperationalError for "database is locked"), which every caller's
    # retry handles; sqlite3's own escaped them and stopped the indexer.
    return int(conn.exec_driver_sql(sql, params).rowcount)


def _prepare(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    conflict: Sequence[str] | None,
    update: bool,
) -> _Prepared:
    if conn.dialect.name != "sqlite":
        raise ValueError(f"insert_many is SQLite's; this connection is {conn.dialect.name}")
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" for _ in columns)
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})'
    if conflict:
        target = ", ".join(f'"{c}"' for c in conflict)
        changed = [c for c in columns if c not in conflict]
        if update and changed:
            sets = ", ".join(f'"{c}" = excluded."{c}"' for c in changed)
            sql += f" ON CONFLICT ({target}) DO UPDATE SET {sets}"
        else:
            sql += f" ON CONFLICT ({target}) DO NOTHING"
    dialect = conn.dialect
    binds = [(c, table.c[c].type.dialect_impl(dialect).bind_processor(dialect)) for c in columns]
    return sql, binds


def copy_insert_new(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], conflict: Sequence[str]
) -> int:
    """PostgreSQL: insert ``rows`` (dicts with the same keys, plain values) into ``table``
    in their order, leaving out each row whose ``conflict`` columns match one stored, in
    one statement: the rows COPYed into a temporary staging table first (with their
    position, so that the insert keeps their order: the table's ids follow it), then
    ``INSERT .. SELECT .. ORDER BY .. ON CONFLICT DO NOTHING``. An executemany sends a
    statement per row. Returns how many rows were new. The staging table lives and dies
    with the transaction, emptied after use."""
    if not rows:
        return 0
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    stage = f"_stage_new_{table.name}"
    target = ", ".join(f'"{c}"' for c in conflict)
    values = itemgetter(*columns) if len(columns) > 1 else lambda row: (row[columns[0]],)
    driver = conn.connection.driver_connection  # psycopg's, inside SQLAlchemy's transaction
    with driver.cursor() as cursor:  # type: ignore[union-attr]
        cursor.execute(
            f'CREATE TEMP TABLE IF NOT EXISTS "{stage}" ON COMMIT DROP AS '
            f'SELECT {names}, 0::bigint AS "_position" FROM "{table.name}" WITH NO DATA'
        )
        with cursor.copy(f'COPY "{stage}" ({names}, "_position") FROM STDIN') as copy:
            for position, row in enumerate(rows):
                copy.write_row((*values(row), position))
        cursor.execute(
            f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{stage}" '
            f'ORDER BY "_position" ON CONFLICT ({target}) DO NOTHING'
        )
        inserted = cursor.rowcount
        cursor.execute(f'DELETE FROM "{stage}"')
    return int(inserted)
