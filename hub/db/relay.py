"""PostgreSQL: every committed event, whichever hub process wrote it, on this process's bus.

A transaction that stores events also runs ``pg_notify('hub_events', '')``
(on the statement that takes the event-order lock, so it costs no round
trip); PostgreSQL delivers it at commit. Each process LISTENs on one
connection of its own and, when told, reads the events after the last one it
published, in id order, a page at a time. Event ids commit in increasing
order (the lock), so reading ``id > last`` never skips one: each event is
published once per process and in id order, local or not. Notifications
that arrive during a read cost one more read, not one each.

A writer waits (``published``) until its own events are on the bus, so that,
as on SQLite, what a write emitted has been published when it returns.

A dropped connection is opened again (by :func:`connectors.retry.keep_trying`,
with its backoff reset by each good read) and the relay catches up from the
table. Without notifications for ``idle_check`` seconds it reads
anyway, which also tells it whether the connection is still alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from typing import TYPE_CHECKING

import asyncpg

from connectors.base import ConnectorError, TransientError
from connectors.retry import Backoff, Session, Sleep, keep_trying, unexpected
from hub.db.dedicated import CONNECTION_TROUBLE, dedicated_connection
from hub.events import Event

if TYPE_CHECKING:
    from hub.db.database import EventSink

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "hub_events"
PAGE = 1000
QUERY_SECONDS = 10.0
IDLE_CHECK_SECONDS = 30.0
RECONNECT_FIRST = 0.5
RECONNECT_MAX = 10.0
PUBLISHED_WAIT_SECONDS = 2.0
"""A writer waits at most this long for its events: they are committed, and are published
once the relay is back, but a relay reconnecting must not stall the hub's writes."""

NEWEST_ID = "SELECT coalesce(max(id), 0) FROM events"
EVENTS_AFTER = (
    "SELECT id, kind, agent_id, conversation_id, payload, created_at"
    " FROM events WHERE id > $1 ORDER BY id LIMIT $2"
)


def event_of(row: asyncpg.Record) -> Event:
    return Event(
        id=row["id"],
        kind=row["kind"],
        agent_id=row["agent_id"],
        conversation_id=row["conversation_id"],
        data=row["payload"],
        created_at=row["created_at"],
    )


def lost_connection(error: Exception) -> ConnectorError:
    """Every failure is worth another try: without the relay no process hears of any event."""
    if isinstance(error, CONNECTION_TROUBLE):
        name = type(error).__name__
        return TransientError(f"PostgreSQL connection lost ({name}: {error})")
    return unexpected(error)


class EventRelay:
    def __init__(
        self,
        url: str,
        sink: EventSink,
        idle_check_seconds: float = IDLE_CHECK_SECONDS,
        *,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._url = url
        self._sink = sink
        self._idle_check = idle_check_seconds
        self._backoff = backoff or Backoff(RECONNECT_FIRST, RECONNECT_MAX)
        self._sleep = sleep
        self._connection: asyncpg.Connection | None = None
        self._wanted = asyncio.Event()
        self._last_id = 0
        self._task: asyncio.Task[None] | None = None
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._tiebreak = itertools.count()

    @property
    def server_pid(self) -> int | None:
        """The PostgreSQL backend listening for this process (``None`` while reconnecting)."""
        return self._connection.get_server_pid() if self._connection is not None else None

    async def start(self) -> None:
        """Listen, then publish what commits from now on (nobody is subscribed yet)."""
        connection = await self._listen()
        self._last_id = await connection.fetchval(NEWEST_ID, timeout=QUERY_SECONDS)
        self._task = asyncio.create_task(self._run(), name="event relay")

    async def published(self, event_id: int) -> None:
        """Return once ``event_id`` was published here (at most ``PUBLISHED_WAIT_SECONDS``)."""
        if self._task is None or event_id <= self._last_id:
            return
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (event_id, next(self._tiebreak), future))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(future), PUBLISHED_WAIT_SECONDS)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close(timeout=QUERY_SECONDS)

    async def _listen(self) -> asyncpg.Connection:
        connection = await dedicated_connection(self._url, "events")
        try:
            connection.add_termination_listener(self._wake)
            await connection.add_listener(EVENTS_CHANNEL, self._wake)
        except BaseException:
            connection.terminate()
            raise
        self._connection = connection
        return connection

    def _wake(self, *_details: object) -> None:
        self._wanted.set()

    async def _run(self) -> None:
        await keep_trying(
            "event relay",
            self._publish_while_connected,
            log=log,
            backoff=self._backoff,
            classify=lost_connection,
            sleep=self._sleep,
        )

    async def _publish_while_connected(self, session: Session) -> None:
        """Publish what is new when told (or after ``idle_check``) until the connection fails."""
        try:
            connection = self._connection or await self._listen()
            while True:
                await self._publish_new(connection)
                session.connected()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wanted.wait(), self._idle_check)
        except Exception:
            self._drop_connection()
            raise

    async def _publish_new(self, connection: asyncpg.Connection) -> None:
        """Publish every event after the last one published, in id order."""
        self._wanted.clear()
        while True:
            rows = await connection.fetch(EVENTS_AFTER, self._last_id, PAGE, timeout=QUERY_SECONDS)
            if rows:
                self._sink.publish([event_of(row) for row in rows])
                self._last_id = rows[-1]["id"]
                self._release_waiters()
            if len(rows) < PAGE:
                return

    def _release_waiters(self) -> None:
        while self._waiters and self._waiters[0][0] <= self._last_id:
            future = heapq.heappop(self._waiters)[2]
            if not future.done():
                future.set_result(None)

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.terminate()
