"""Running units of work against SQLite or PostgreSQL, with one programming model.

A unit of work is a plain function taking a :class:`Tx` (writes) or a
``Connection`` (reads) and using SQLAlchemy Core synchronously. Where it runs
depends on the backend:

* SQLite: writes run right away on the event loop's thread, and everything
  written during one turn of the loop is committed together (group commit).
  No thread hops at all: sqlite3 itself takes microseconds, while a hop to a
  worker thread costs about 0.4 ms here. Reads run on a small pool of reader
  threads (WAL lets them proceed while the writer writes). WAL checkpoints,
  which write and fsync the database file, run on a thread of their own so
  they never stall the loop.
* PostgreSQL: ``AsyncConnection.run_sync`` runs the same function over asyncpg,
  truly concurrently; a unit that loses a uniqueness race is run again.

Events a unit emits are stored in its transaction and published on the event
bus after the commit, in commit order: on SQLite by the writer itself, on
PostgreSQL by :class:`hub.db.relay.EventRelay`, which also publishes the events
other hub processes commit.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection, bindparam, create_engine, event, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from hub.clock import Clock
from hub.db import schema
from hub.db.prepared import Prepared
from hub.db.relay import EVENTS_CHANNEL, EventRelay
from hub.events import Event

log = logging.getLogger(__name__)

T = TypeVar("T")

EVENT_ORDER_LOCK = 7_370_001
"""PostgreSQL advisory lock that makes event ids commit in increasing order."""

UNIQUE_RACE_RETRIES = 3

# One statement, no extra round trip: the lock, and a notification PostgreSQL sends at
# commit (an empty payload, so a transaction's notifications fold into one).
ORDER_AND_ANNOUNCE_EVENTS = Prepared(
    select(func.pg_advisory_xact_lock(EVENT_ORDER_LOCK), func.pg_notify(EVENTS_CHANNEL, ""))
)
STORE_EVENT = Prepared(
    insert(schema.events)
    .values(
        {
            name: bindparam(name)
            for name in ("agent_id", "kind", "conversation_id", "payload", "created_at")
        }
    )
    .returning(schema.events.c.id)
)


@dataclass
class PendingEvent:
    kind: str
    agent_id: int | None
    conversation_id: int | None
    payload: dict[str, Any]


@dataclass
class Tx:
    """What a write unit gets: the connection, the instant it runs at, and an event outbox."""

    conn: Connection
    now: datetime
    pending_events: list[PendingEvent] = field(default_factory=list)

    def emit(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        to: Iterable[int | None],
        conversation_id: int | None = None,
    ) -> None:
        """Tell each agent in ``to`` (``None``: every agent) about something, after commit."""
        for agent_id in dict.fromkeys(to):
            self.pending_events.append(PendingEvent(kind, agent_id, conversation_id, payload))


WriteUnit = Callable[[Tx], T]
ReadUnit = Callable[[Connection], T]


class EventSink(Protocol):
    def publish(self, events: list[Event]) -> None: ...


class Database:
    """Common face of both backends; build one with :func:`open_database`."""

    dialect: str

    def __init__(self, clock: Clock, sink: EventSink) -> None:
        self.clock = clock
        self.sink = sink

    async def start(self) -> None:
        """Begin publishing committed events (after migrations: PostgreSQL reads the table)."""

    async def write(self, unit: WriteUnit[T]) -> T:
        raise NotImplementedError

    async def read(self, unit: ReadUnit[T]) -> T:
        raise NotImplementedError

    async def run_maintenance(self, unit: ReadUnit[T]) -> T:
        """Run ``unit`` in a transaction of its own, publishing nothing (migrations)."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def run_unit(self, conn: Connection, unit: WriteUnit[T]) -> tuple[T, list[Event]]:
        tx = Tx(conn, self.clock.now())
        result = unit(tx)
        return result, self.store_events(tx)

    def store_events(self, tx: Tx) -> list[Event]:
        stored: list[Event] = []
        if tx.pending_events and self.dialect == "postgresql":
            ORDER_AND_ANNOUNCE_EVENTS.run(tx.conn)
        for pending in tx.pending_events:
            event_id = STORE_EVENT.scalar(
                tx.conn,
                agent_id=pending.agent_id,
                kind=pending.kind,
                conversation_id=pending.conversation_id,
                payload=pending.payload,
                created_at=tx.now,
            )
            stored.append(
                Event(
                    id=event_id,
                    kind=pending.kind,
                    agent_id=pending.agent_id,
                    conversation_id=pending.conversation_id,
                    payload=pending.payload,
                    created_at=tx.now,
                )
            )
        return stored


def open_database(url: str, clock: Clock, sink: EventSink) -> Database:
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url, clock, sink)
    return PostgresDatabase(url, clock, sink)


# --- SQLite -----------------------------------------------------------------


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
    future: asyncio.Future[Any]
    result: Any
    events: list[Event]


class SqliteDatabase(Database):
    """Writes run at once on the event loop's thread, inside a shared transaction.

    The transaction is committed by a callback scheduled when it opened, so it
    holds every write made during that turn of the loop: group commit with no
    thread hops. Each unit runs inside a savepoint, so one that fails undoes
    only itself. Callers are answered once the commit has happened.
    """

    dialect = "sqlite"
    READERS = 2
    CHECKPOINT_SECONDS = 1.0

    def __init__(self, url: str, clock: Clock, sink: EventSink) -> None:
        super().__init__(clock, sink)
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
        self._local = threading.local()
        self._reader_conns: list[Connection] = []
        self._readers = ThreadPoolExecutor(self.READERS, thread_name_prefix="sqlite-reader")

    async def write(self, unit: WriteUnit[T]) -> T:
        loop = asyncio.get_running_loop()
        if not self._open:
            self._conn.begin()
            self._open = True
            loop.call_soon(self._commit)
        self._raw.execute("SAVEPOINT unit")
        try:
            result, stored = self.run_unit(self._conn, unit)
        except BaseException:
            self._raw.execute("ROLLBACK TO unit")
            self._raw.execute("RELEASE unit")
            raise
        self._raw.execute("RELEASE unit")
        future: asyncio.Future[T] = loop.create_future()
        self._done.append(_Done(future, result, stored))
        return await future

    def _commit(self) -> None:
        done, self._done, self._open = self._done, [], False
        try:
            self._conn.commit()
        except Exception as error:
            log.exception("commit of %d writes failed", len(done))
            self._conn.rollback()
            for item in done:
                if not item.future.done():
                    item.future.set_exception(error)
            return
        self._maybe_checkpoint()
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


# --- PostgreSQL -------------------------------------------------------------


def asyncpg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


class PostgresDatabase(Database):
    """Units run concurrently over a pool; events are published by the relay, not by ``write``.

    Publishing from ``write`` would order events by when each caller resumed,
    not by id, and would miss what other processes commit. ``write`` returns
    once the relay has published the unit's events.
    """

    dialect = "postgresql"

    def __init__(self, url: str, clock: Clock, sink: EventSink, pool_size: int = 10) -> None:
        super().__init__(clock, sink)
        self._engine: AsyncEngine = create_async_engine(
            asyncpg_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
        self.relay = EventRelay(url, sink)

    async def start(self) -> None:
        await self.relay.start()

    async def write(self, unit: WriteUnit[T]) -> T:
        attempt = 1
        while True:
            try:
                async with self._engine.begin() as conn:
                    result, stored = await conn.run_sync(self.run_unit, unit)
                break
            except IntegrityError:
                if attempt >= UNIQUE_RACE_RETRIES:
                    raise
                attempt += 1
                log.debug("unit lost a uniqueness race; running it again")
        if stored:
            await self.relay.published(stored[-1].id)
        return result

    async def read(self, unit: ReadUnit[T]) -> T:
        async with self._engine.connect() as conn:
            return await conn.run_sync(unit)

    async def run_maintenance(self, unit: ReadUnit[T]) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(unit)

    async def close(self) -> None:
        await self.relay.stop()
        await self._engine.dispose()
