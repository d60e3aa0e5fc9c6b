"""The SQLite backend: writes on the event loop's thread with group commit, reads on threads.

See :mod:`hub.db.database` for the programming model.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Text, bindparam, create_engine, event, insert
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from hub.clock import Clock
from hub.db import schema
from hub.db.database import Database, EventSink, ReadUnit, T, Tx, WriteUnit
from hub.db.prepared import Prepared
from hub.db.search_index import flush_sqlite_queue
from hub.db.sqlite_file import private_database_file
from hub.events import Event

log = logging.getLogger(__name__)

STORE_EVENT = Prepared(
    insert(schema.events)
    .values(
        agent_id=bindparam("agent_id"),
        kind=bindparam("kind"),
        conversation_id=bindparam("conversation_id"),
        # Already JSON text: stored as it is.
        payload=bindparam("data", type_=Text),
        created_at=bindparam("created_at"),
    )
    .returning(schema.events.c.id)
)


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = create_engine(url, poolclass=NullPool, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=5000",
        ):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def start(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


@dataclass
class _Done:
    unit: WriteUnit[Any]
    future: asyncio.Future[Any]
    result: Any
    events: list[Event]
    tx: Tx


class SqliteDatabase(Database):
    """Writes run at once on the event loop's thread, inside a shared transaction.

    The transaction is committed by a callback scheduled when it opened, so it
    holds every write made in that turn of the loop and the next: group commit
    with no thread hops. A unit that fails undoes only itself (see
    :meth:`_undo_failed_unit`). Callers are answered once the commit has happened.
    """

    dialect = "sqlite"
    READERS = 2
    CHECKPOINT_SECONDS = 1.0

    def __init__(self, url: str, clock: Clock, sink: EventSink) -> None:
        super().__init__(clock, sink)
        private_database_file(url)
        self._writer_engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
        self._checkpoint_engine = _sqlite_engine(url, "BEGIN")
        self._reader_engine = _sqlite_engine(url, "BEGIN")
        self._conn = self._writer_engine.connect()
        self._raw = self._conn.connection.dbapi_connection
        self._raw.execute("PRAGMA wal_autocheckpoint=0")
        self._checkpointer = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
        self._checkpoint: asyncio.Future[None] | None = None
        self._checkpointed_at = 0.0
        self._done: list[_Done] = []
        self._open = False
        self._in_savepoints = False
        self._local = threading.local()
        self._reader_conns: list[Connection] = []
        self._readers = ThreadPoolExecutor(self.READERS, thread_name_prefix="sqlite-reader")

    async def write(self, unit: WriteUnit[T], key: Hashable | None = None) -> T:
        loop = asyncio.get_running_loop()
        if not self._open:
            self._conn.begin()
            self._open = True
            # Two turns of the loop, not one: a request read in one turn writes in the
            # next, so the requests of two reads share a commit (about 5 % more ingest,
            # and lower latency under load, for one more turn of latency when idle).
            # In a context of its own: the commit is every writer's, not the request's
            # whose write opened it (its log lines carry no request id).
            loop.call_soon(loop.call_soon, self._commit, context=contextvars.Context())
        if self._in_savepoints:
            result, stored, tx = self._run_in_savepoint(unit)
        else:
            try:
                result, stored, tx = self._run_unit(self._conn, unit)
            except BaseException:
                self._undo_failed_unit()
                raise
        future: asyncio.Future[T] = loop.create_future()
        self._done.append(_Done(unit, future, result, stored, tx))
        return await future

    def _undo_failed_unit(self) -> None:
        """Roll the transaction back, then run its earlier units again.

        Units run without a savepoint of their own, as nearly all succeed and
        a savepoint costs two statements per unit; a failing one is undone
        with everything before it, which then runs again, each unit in a
        savepoint, so that one failing now gets its error and leaves the rest.
        Until the commit, further units run in savepoints too, so a stream of
        failing units costs one rerun per transaction, not one each.
        """
        self._conn.rollback()
        self._conn.begin()
        self._in_savepoints = True
        kept: list[_Done] = []
        for item in self._done:
            try:
                item.result, item.events, item.tx = self._run_in_savepoint(item.unit)
            except Exception as error:
                if not item.future.done():
                    item.future.set_exception(error)
            else:
                kept.append(item)
        self._done = kept

    def _run_in_savepoint(self, unit: WriteUnit[T]) -> tuple[T, list[Event], Tx]:
        self._raw.execute("SAVEPOINT unit")
        try:
            return self._run_unit(self._conn, unit)
        except BaseException:
            self._raw.execute("ROLLBACK TO unit")
            raise
        finally:
            self._raw.execute("RELEASE unit")

    def _run_unit(self, conn: Connection, unit: WriteUnit[T]) -> tuple[T, list[Event], Tx]:
        tx = Tx(conn, self.clock.now())
        result = unit(tx)
        return result, self._store_events(tx), tx

    def _store_events(self, tx: Tx) -> list[Event]:
        stored: list[Event] = []
        for pending in tx.pending_events:
            event_id = STORE_EVENT.scalar(
                tx.conn,
                agent_id=pending.agent_id,
                kind=pending.kind,
                conversation_id=pending.conversation_id,
                data=pending.data,
                created_at=tx.now,
            )
            stored.append(
                Event(
                    id=event_id,
                    kind=pending.kind,
                    agent_id=pending.agent_id,
                    conversation_id=pending.conversation_id,
                    data=pending.data,
                    created_at=tx.now,
                )
            )
        return stored

    def _commit(self) -> None:
        done, self._done, self._open = self._done, [], False
        self._in_savepoints = False
        try:
            flush_sqlite_queue(self._raw)
            self._conn.commit()
        except Exception as error:
            log.exception("commit of %d writes failed", len(done))
            self._conn.rollback()
            for item in done:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        self._maybe_checkpoint()
        self._wake(item.tx for item in done)
        published = [event for item in done for event in item.events]
        if published:
            self.sink.publish(published)
        for item in done:
            if not item.future.done():
                item.future.set_result(item.result)

    def _maybe_checkpoint(self) -> None:
        """Fold the WAL into the database at most every ``CHECKPOINT_SECONDS``, off the loop."""
        now = time.monotonic()
        busy = self._checkpoint is not None and not self._checkpoint.done()
        if busy or now - self._checkpointed_at < self.CHECKPOINT_SECONDS:
            return
        self._checkpointed_at = now
        loop = asyncio.get_running_loop()
        self._checkpoint = loop.run_in_executor(self._checkpointer, self._run_checkpoint, "PASSIVE")

    def _run_checkpoint(self, mode: str) -> None:
        with self._checkpoint_engine.connect() as conn:
            conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})")

    async def read(self, unit: ReadUnit[T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_in_thread, unit)

    async def run_maintenance(self, unit: ReadUnit[T]) -> T:
        return await self.write(lambda tx: unit(tx.conn))

    async def close(self) -> None:
        if self._open:
            self._commit()
        self._readers.shutdown(wait=True)
        self._checkpointer.shutdown(wait=True)
        for conn in [*self._reader_conns, self._conn]:
            conn.close()
        self._run_checkpoint("TRUNCATE")
        for engine in (self._writer_engine, self._reader_engine, self._checkpoint_engine):
            engine.dispose()

    def _read_in_thread(self, unit: ReadUnit[T]) -> T:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._reader_engine.connect()
            self._reader_conns.append(conn)
        with conn.begin():
            return unit(conn)
