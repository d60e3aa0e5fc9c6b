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

import json
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection

from hub.clock import Clock
from hub.events import Event

T = TypeVar("T")

WRITERS = 2
"""PostgreSQL: writers committing batches of writes concurrently (``database.writers``)."""


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
    """The backend ``url`` names; ``writers``: PostgreSQL's (see
    :class:`hub.db.postgres_backend.PostgresDatabase`). Each backend module imports this
    one, so they are imported here, when one is asked for."""
    if url.startswith("sqlite:///"):
        from hub.db.sqlite_backend import SqliteDatabase

        return SqliteDatabase(url, clock, sink)
    from hub.db.postgres_backend import PostgresDatabase

    return PostgresDatabase(url, clock, sink, writers=writers)
