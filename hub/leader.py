"""Work that must run in one hub process at a time, such as polling a mailbox or a bot.

On PostgreSQL each piece of work has a session-level advisory lock, held on a
connection of its own. A process that does not get the lock tries again every
``retry_seconds``; when the holder dies its connection closes, PostgreSQL
releases the lock, and the next try takes over. A process that cannot reach
PostgreSQL tries again in the one retry loop (``connectors.retry``), with
backoff. The holder checks its
connection as often, and stops the work once the connection (so the lock) is
gone. On SQLite there is one process, so the work just runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from connectors.base import ConnectorError, TransientError
from connectors.retry import Backoff, Session, Sleep, keep_trying, unexpected
from hub.db.dedicated import CONNECTION_TROUBLE, dedicated_connection

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[None]]


def connection_trouble(error: Exception) -> ConnectorError:
    """Everything that keeps a process from its lock is worth trying again."""
    if isinstance(error, CONNECTION_TROUBLE):
        return TransientError(f"cannot reach PostgreSQL: {type(error).__name__}: {error}")
    return unexpected(error)


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name`` (the same in every process)."""
    digest = hashlib.sha256(f"hub-leader:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership:
    """Runs named work in exactly one process; ``url`` ``None`` means a single process."""

    def __init__(
        self,
        url: str | None,
        retry_seconds: float,
        *,
        backoff: Backoff | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._url = url
        self._retry = retry_seconds
        self._backoff = backoff or Backoff()
        self._sleep = sleep

    async def run_alone(self, name: str, work: Work) -> None:
        """Run ``work`` while this process holds ``name``'s lock, until it returns or is cancelled.

        If the lock is lost (its connection dropped), ``work`` is cancelled and
        started again once the lock is held again.
        """
        if self._url is None:
            await work()
            return
        while True:
            connection = await self._take(name)
            try:
                if await self._run_while_held(name, connection, work):
                    return
            finally:
                await self._release(connection)
            log.warning("%s: lost its lock (connection to PostgreSQL dropped); stopped", name)

    async def _take(self, name: str) -> asyncpg.Connection:
        """Wait until this process holds the lock; the connection holding it.

        Reaching PostgreSQL is retried by the one retry loop (backoff from the
        start again after each lock held); waiting for another process's turn
        to end is not a failure and asks every ``retry_seconds``.
        """
        held: list[asyncpg.Connection] = []

        async def attempt(_session: Session) -> None:
            held.append(await self._hold(name))

        await keep_trying(
            f"{name}: lock",
            attempt,
            log=log,
            backoff=self._backoff,
            classify=connection_trouble,
            sleep=self._sleep,
        )
        return held[0]

    async def _hold(self, name: str) -> asyncpg.Connection:
        assert self._url is not None
        connection = await dedicated_connection(self._url, f"leader {name}")
        try:
            await self._wait_for_turn(name, connection)
        except BaseException:
            connection.terminate()
            raise
        return connection

    async def _wait_for_turn(self, name: str, connection: asyncpg.Connection) -> None:
        key = lock_key(name)
        told = False
        while not await connection.fetchval(
            "SELECT pg_try_advisory_lock($1)", key, timeout=self._retry
        ):
            if not told:
                log.info("%s: runs in another hub process; taking over if it stops", name)
                told = True
            await self._sleep(self._retry)
        log.info("%s: runs in this process", name)

    async def _run_while_held(self, name: str, connection: asyncpg.Connection, work: Work) -> bool:
        """``True`` when ``work`` ended by itself, ``False`` when the lock was lost first."""
        working = asyncio.ensure_future(work())
        watching = asyncio.ensure_future(self._until_lost(connection))
        try:
            await asyncio.wait({working, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (working, watching):
                task.cancel()
            await asyncio.gather(working, watching, return_exceptions=True)
        if working.cancelled():
            return False
        working.result()  # its exception, if any, is the caller's
        log.info("%s: finished", name)
        return True

    async def _until_lost(self, connection: asyncpg.Connection) -> None:
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _connection: lost.set())
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._retry)
            try:
                await connection.fetchval("SELECT 1", timeout=self._retry)
            except CONNECTION_TROUBLE:
                return

    async def _release(self, connection: asyncpg.Connection) -> None:
        """Close the lock's connection, which releases the lock."""
        try:
            await connection.close(timeout=self._retry)
        except CONNECTION_TROUBLE:
            connection.terminate()
