"""The PostgreSQL backend: a few writers, each committing batches of units over asyncpg.

See :mod:`hub.db.database` for the programming model.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from hub.clock import Clock
from hub.db.database import WRITERS, Database, EventSink, PendingEvent, ReadUnit, T, Tx, WriteUnit
from hub.db.prepared import Prepared
from hub.db.relay import EVENTS_CHANNEL, EventRelay

log = logging.getLogger(__name__)

EVENT_ORDER_LOCK = 7_370_001
"""PostgreSQL advisory lock that makes event ids commit in increasing order."""

UNIQUE_RACE_RETRIES = 3

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
            # In a context of its own: the batch is every writer's, not the request's
            # whose write started it (its log lines carry no request id).
            loop.call_soon(self._dispatch, context=contextvars.Context())
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
