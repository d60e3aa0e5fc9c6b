"""Running units of work against SQLite or PostgreSQL, with one programming model.

A unit of work is a plain function taking a :class:`Tx` (writes) or a
``Connection`` (reads) and using SQLAlchemy Core synchronously. Where it runs
depends on the backend:

* SQLite: writes run right away on the event loop's thread, and everything
  written during two turns of the loop is committed together (group commit).
  No thread hops at all: sqlite3 itself takes microseconds, while a hop to a
  worker thread costs about 0.4 ms here. Reads run on a small pool of reader
  threads (WAL lets them proceed while the writer writes). WAL checkpoints,
  which write and fsync the database file, run on a thread of their own so
  they never stall the loop.
* PostgreSQL: group commit too, over asyncpg. A few writers, each on a
  connection of its own, take the units queued for them and run a batch of
  them in one ``AsyncConnection.run_sync`` and one transaction, then commit
  once; if a unit fails, the batch runs again with each unit in a savepoint,
  so that only the failing one is undone. Writers run concurrently; a unit's
  ``key`` (e.g. the customer's address) picks its writer, so one customer's
  writes never wait on each other from two transactions. See
  :class:`PostgresDatabase`.

Events a unit emits are stored in its transaction and published on the event
bus after the commit, in commit order: on SQLite by the writer itself, on
PostgreSQL by :class:`hub.db.relay.EventRelay`, which also publishes the events
other hub processes commit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    Connection,
    Text,
    bindparam,
    create_engine,
    event,
    insert,
    text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from hub.clock import Clock
from hub.db import schema
from hub.db.prepared import Prepared
from hub.db.relay import EVENTS_CHANNEL, EventRelay
from hub.db.sqlite_file import private_database_file
from hub.events import Event

log = logging.getLogger(__name__)

T = TypeVar("T")

EVENT_ORDER_LOCK = 7_370_001
"""PostgreSQL advisory lock that makes event ids commit in increasing order."""

UNIQUE_RACE_RETRIES = 3

WRITERS = 2
"""PostgreSQL: writers committing batches of writes concurrently (``database.writers``)."""

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
# PostgreSQL: a batch's events in one statement, which first takes the event-order lock
# and asks for a notification at commit (an empty payload, so a transaction's notifications
# fold into one); ids are given in the order listed (the sort needs every row of the join
# with the lock, so the lock is held before the first id is drawn). Returns the last id.
STORE_EVENTS = Prepared(
    text(
        "WITH ordered AS MATERIALIZED ("
        f" SELECT pg_advisory_xact_lock({EVENT_ORDER_LOCK}), pg_notify('{EVENTS_CHANNEL}', '')),"
        " stored AS ("
        " INSERT INTO events (agent_id, kind, conversation_id, payload, created_at)"
        " SELECT listed.agent_id, listed.kind, listed.conversation_id,"
        " CAST(listed.payload AS JSON), listed.created_at"
        " FROM ordered, unnest(CAST(:agent_ids AS BIGINT[]), CAST(:kinds AS TEXT[]),"
        " CAST(:conversation_ids AS BIGINT[]), CAST(:payloads AS TEXT[]),"
        " CAST(:created_at AS TIMESTAMPTZ[]))"
        " WITH ORDINALITY AS listed (agent_id, kind, conversation_id, payload, created_at, n)"
        " ORDER BY listed.n RETURNING id)"
        " SELECT max(id) FROM stored"
    )
)
SAVEPOINT = Prepared(text("SAVEPOINT unit"))
ROLLBACK_TO_SAVEPOINT = Prepared(text("ROLLBACK TO SAVEPOINT unit"))


@dataclass
class PendingEvent:
    kind: str
    agent_id: int | None
    conversation_id: int | None
    data: str
    """The payload, serialized (JSON) once for the table and every listener."""


@dataclass
class Tx:
    """What a write unit gets: the connection, the instant it runs at, and an event outbox."""

    conn: Connection
    now: datetime
    pending_events: list[PendingEvent] = field(default_factory=list)
    wakes: set[str] = field(default_factory=set)
    """Workers to wake once this commits (see :meth:`Database.wake_on_commit`)."""

    def wake_after_commit(self, worker: str) -> None:
        """Have ``worker`` look for work as soon as what this unit wrote is committed."""
        self.wakes.add(worker)

    def emit(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        to: Iterable[int | None],
        conversation_id: int | None = None,
    ) -> None:
        """Tell each agent in ``to`` (``None``: every agent) about something, after commit."""
        data = json.dumps(payload)
        for agent_id in dict.fromkeys(to):
            self.pending_events.append(PendingEvent(kind, agent_id, conversation_id, data))


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
        self._wakers: dict[str, Callable[[], None]] = {}

    def wake_on_commit(self, worker: str, wake: Callable[[], None]) -> None:
        """Call ``wake`` after each commit holding a unit that asked for ``worker``.

        Units ask with :meth:`Tx.wake_after_commit` (the outbox's ``enqueue`` does).
        """
        self._wakers[worker] = wake

    def _wake(self, txs: Iterable[Tx]) -> None:
        for worker in {worker for tx in txs for worker in tx.wakes}:
            if worker in self._wakers:
                self._wakers[worker]()

    async def start(self) -> None:
        """Begin publishing committed events (after migrations: PostgreSQL reads the table)."""

    async def write(self, unit: WriteUnit[T], key: Hashable | None = None) -> T:
        """Run ``unit`` and commit it; return its result once committed and its events published.

        ``key`` names what the unit works on (e.g. a customer's address): on PostgreSQL,
        units with one key are run by the same writer, so two writers never wait for
        each other's rows in a cycle. Units without one share the first writer.
        """
        raise NotImplementedError

    async def read(self, unit: ReadUnit[T]) -> T:
        raise NotImplementedError

    async def run_maintenance(self, unit: ReadUnit[T]) -> T:
        """Run ``unit`` in a transaction of its own, publishing nothing (migrations)."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError


def open_database(url: str, clock: Clock, sink: EventSink, writers: int = WRITERS) -> Database:
    """The backend ``url`` names; ``writers``: PostgreSQL's (see :class:`PostgresDatabase`)."""
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url, clock, sink)
    return PostgresDatabase(url, clock, sink, writers=writers)


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
            loop.call_soon(loop.call_soon, self._commit)
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


# --- PostgreSQL -------------------------------------------------------------


def asyncpg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


@dataclass
class _Queued:
    unit: WriteUnit[Any]
    future: asyncio.Future[Any]


@dataclass
class _Outcome:
    """What one unit of a batch came to: a result and its events, or an error."""

    result: Any = None
    error: Exception | None = None
    tx: Tx | None = None


@dataclass
class _Writer:
    """A queue of units committed in batches, one batch at a time, on a connection of its own."""

    queue: deque[_Queued] = field(default_factory=deque)
    busy: bool = False


class PostgresDatabase(Database):
    """Writes are committed in batches (group commit); events are published by the relay.

    Each commit waits for an fsync (about 2 ms here), and a unit that emits
    events holds the event-order lock until its commit, so one transaction per
    unit capped ingest at a few hundred writes a second. Instead, each of
    ``writers`` writers takes what is queued for it (at most ``MAX_BATCH``)
    and runs the units in one transaction. The batch's events are stored at
    its end, under the lock, in one statement, so the lock is held for that
    statement and the commit only: writers run their units concurrently and
    queue only to store events and commit.

    Units run plainly first, as nearly all succeed. If one raises, the
    transaction is rolled back and the batch runs again with each unit in a
    savepoint: a unit that fails then rolls back only itself and gets its
    exception, one that loses a uniqueness race to another transaction runs
    again at once (a fresh statement sees the row that won). A savepoint
    costs a round trip per unit, about a seventh of what ingest spends on
    the database. Units may run more than once, as they always could.

    A unit goes to the writer its ``key`` picks. Two writers taking units off
    one queue deadlocked within seconds under load: both ran a customer's
    first messages, each held a row the other's later unit wanted, and
    PostgreSQL aborted one after a second. By key, one customer's units never
    run in two transactions at once. A deadlock that still happens (with
    another process, or through rows no key covers) costs the batch that
    lost it one run: rolling back releases its locks, so the other batch
    goes on, and the rerun finds the rows free (a unit that deadlocks again
    in the rerun gets the error).

    Callers are answered after the commit, once the relay has published the
    batch's events (publishing from here would order events by when each
    batch committed, not by id, and would miss what other processes commit).
    """

    dialect = "postgresql"
    MAX_BATCH = 64
    """PostgreSQL tracks up to 64 subtransactions (savepoints) of a transaction in shared
    memory; past that, every snapshot taken while the batch runs gets slower."""

    def __init__(
        self, url: str, clock: Clock, sink: EventSink, pool_size: int = 10, writers: int = WRITERS
    ) -> None:
        super().__init__(clock, sink)
        self._engine: AsyncEngine = create_async_engine(
            asyncpg_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
        )
        self.relay = EventRelay(url, sink)
        self._writers = [_Writer() for _ in range(writers)]
        self._dispatching = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.relay.start()

    async def write(self, unit: WriteUnit[T], key: Hashable | None = None) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        writer = self._writers[hash(key) % len(self._writers) if key is not None else 0]
        writer.queue.append(_Queued(unit, future))
        if not self._dispatching:
            # Once this turn of the loop is over, so that what it wrote forms one batch.
            self._dispatching = True
            loop.call_soon(self._dispatch)
        return await future

    def _dispatch(self) -> None:
        self._dispatching = False
        for writer in self._writers:
            if writer.queue and not writer.busy:
                writer.busy = True
                self._spawn(self._drain(writer))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, writer: _Writer) -> None:
        """Commit the writer's queue a batch at a time, until it is empty."""
        try:
            while writer.queue:
                await self._drain_on_one_connection(writer)
        finally:
            writer.busy = False

    async def _drain_on_one_connection(self, writer: _Writer) -> None:
        """Commit batches on one connection (no pool round trip each) until one fails."""
        batch = _take_batch(writer.queue, self.MAX_BATCH)
        try:
            async with self._engine.connect() as conn:
                while batch:
                    outcomes, last_event_id = await self._commit_batch(conn, batch)
                    self._wake(outcome.tx for outcome in outcomes if outcome.tx)
                    self._spawn(self._answer(batch, outcomes, last_event_id))
                    batch = _take_batch(writer.queue, self.MAX_BATCH)
        except Exception as error:
            log.exception("batch of %d writes failed", len(batch))
            self._spawn(self._answer(batch, [_Outcome(error=error)] * len(batch), None))

    async def _commit_batch(
        self, conn: AsyncConnection, batch: list[_Queued]
    ) -> tuple[list[_Outcome], int | None]:
        units = [item.unit for item in batch]
        # Explicitly: units may run only prepared statements, which SQLAlchemy does
        # not see, and a transaction it did not see begin it would not commit.
        await conn.begin()
        try:
            outcomes, last_event_id = await conn.run_sync(self._run_batch, units, self._run_plainly)
        except Exception:
            log.debug("a unit of a batch of %d failed; running them in savepoints", len(units))
            await conn.rollback()
            await conn.begin()
            outcomes, last_event_id = await conn.run_sync(
                self._run_batch, units, self._run_in_savepoint
            )
        await conn.commit()
        return outcomes, last_event_id

    async def _answer(
        self, batch: list[_Queued], outcomes: list[_Outcome], last_event_id: int | None
    ) -> None:
        """Answer each caller once the batch's events are published."""
        if last_event_id is not None:
            await self.relay.published(last_event_id)
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future.done():
                continue
            if outcome.error is not None:
                item.future.set_exception(outcome.error)
            else:
                item.future.set_result(outcome.result)

    def _run_batch(
        self,
        conn: Connection,
        units: list[WriteUnit[Any]],
        run: Callable[[Connection, WriteUnit[Any]], _Outcome],
    ) -> tuple[list[_Outcome], int | None]:
        """Run each unit, then store all their events; return the last event id."""
        outcomes = [run(conn, unit) for unit in units]
        pending = [(o.tx.now, event) for o in outcomes if o.tx for event in o.tx.pending_events]
        return outcomes, store_batch_events(conn, pending) if pending else None

    def _run_plainly(self, conn: Connection, unit: WriteUnit[Any]) -> _Outcome:
        """The first try: no savepoint, a round trip less per unit, as nearly all succeed."""
        tx = Tx(conn, self.clock.now())
        return _Outcome(result=unit(tx), tx=tx)

    def _run_in_savepoint(self, conn: Connection, unit: WriteUnit[Any]) -> _Outcome:
        """Run ``unit`` in a savepoint of its own, again if it loses a uniqueness race.

        The savepoint is not released: PostgreSQL keeps a savepoint that another of
        the same name hides (rolling back goes to the newest), and the commit ends
        them all, so not releasing saves a round trip per unit.
        """
        attempt = 1
        while True:
            tx = Tx(conn, self.clock.now())
            SAVEPOINT.run(conn)
            try:
                result = unit(tx)
            except IntegrityError as error:
                ROLLBACK_TO_SAVEPOINT.run(conn)
                if attempt >= UNIQUE_RACE_RETRIES:
                    return _Outcome(error=error)
                attempt += 1
                log.debug("unit lost a uniqueness race; running it again")
                continue
            except Exception as error:
                ROLLBACK_TO_SAVEPOINT.run(conn)
                return _Outcome(error=error)
            return _Outcome(result=result, tx=tx)

    async def read(self, unit: ReadUnit[T]) -> T:
        async with self._engine.connect() as conn:
            return await conn.run_sync(unit)

    async def run_maintenance(self, unit: ReadUnit[T]) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(unit)

    async def close(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks)
        await self.relay.stop()
        await self._engine.dispose()


def _take_batch(queue: deque[_Queued], limit: int) -> list[_Queued]:
    """The queued units whose callers still wait, at most ``limit``."""
    batch: list[_Queued] = []
    while queue and len(batch) < limit:
        item = queue.popleft()
        if not item.future.done():
            batch.append(item)
    return batch


def store_batch_events(conn: Connection, pending: list[tuple[datetime, PendingEvent]]) -> int:
    """Store a batch's events in id order, under the event-order lock; the last id."""
    return STORE_EVENTS.scalar(
        conn,
        agent_ids=[event.agent_id for _, event in pending],
        kinds=[event.kind for _, event in pending],
        conversation_ids=[event.conversation_id for _, event in pending],
        payloads=[event.data for _, event in pending],
        created_at=[at for at, _ in pending],
    )
