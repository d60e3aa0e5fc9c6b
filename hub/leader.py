"""Work that must run in one hub process at a time, such as polling a mailbox or a bot.

On PostgreSQL each piece of work has a session-level advisory lock, held on a
connection of its own. A process that does not get the lock tries again every
``retry_seconds``; when the holder dies its connection closes, PostgreSQL
releases the lock, and the next try takes over. The holder checks its
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

from hub.db.dedicated import CONNECTION_TROUBLE, dedicated_connection

log = logging.getLogger(__name__)

Work = Callable[[], Awaitable[None]]


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name`` (the same in every process)."""
    digest = hashlib.sha256(f"hub-leader:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Leadership:
    """Runs named work in exactly one process; ``url`` ``None`` means a single process."""

    def __init__(self, url: str | None, retry_seconds: float) -> None:
        self._url = url
        self._retry = retry_seconds

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
        """Wait until this process holds the lock; the connection holding it."""
        assert self._url is not None
        connection: asyncpg.Connection | None = None
        told = False
        while True:
            try:
                connection = connection or await dedicated_connection(self._url, f"leader {name}")
                if await connection.fetchval(
                    "SELECT pg_try_advisory_lock($1)", lock_key(name), timeout=self._retry
                ):
                    log.info("%s: runs in this process", name)
                    return connection
                if not told:
                    log.info("%s: runs in another hub process; taking over if it stops", name)
                    told = True
            except CONNECTION_TROUBLE as error:
                log.warning("%s: cannot reach PostgreSQL for its lock: %s", name, error)
                if connection is not None:
                    connection.terminate()
                connection = None
            await asyncio.sleep(self._retry)

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
