"""Row and advisory locks for hub processes sharing one PostgreSQL database.

On SQLite every write transaction begins IMMEDIATE, so one runs at a time and
these are not needed; each function says what it does on PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import Connection, Select, Table, func, select


def skipping_locked(query: Select, of: Table, conn: Connection) -> Select:
    """``query`` locking the rows of ``of`` it returns, passing over rows another
    transaction holds (FOR UPDATE SKIP LOCKED): concurrent workers claim different rows."""
    if conn.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True, of=of)
    return query


def one_at_a_time(conn: Connection, key: int) -> None:
    """Wait until no other transaction holds ``key``, then hold it until this one ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(key)))
