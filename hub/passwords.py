"""Password hashing and checking (argon2) on threads of their own, a few at a time.

An argon2 check takes tens of milliseconds of CPU and 64 MiB of memory by
design. On the event loop it stalls every request; on the database's reader
threads it stalls every read. Here it runs on ``workers`` threads (argon2
releases the GIL), and no more than ``max_waiting`` checks queue behind them:
past that the hub answers "busy" at once instead of letting a flood of
sign-ins grow a queue that everyone's sign-in waits in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from hub.auth import hash_password, password_matches
from hub.errors import TooManyRequests

T = TypeVar("T")

WORKERS = 2
MAX_WAITING = 32


class PasswordWork:
    def __init__(self, workers: int = WORKERS, max_waiting: int = MAX_WAITING) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="argon2")
        self._limit = workers + max_waiting
        self._in_flight = 0

    def check_capacity(self) -> None:
        """Refuse (429) when the queue is full; called before anything is counted or stored."""
        if self._in_flight >= self._limit:
            raise TooManyRequests("the hub is busy checking passwords: try again in a few seconds")

    async def hash(self, password: str) -> str:
        self.check_capacity()
        return await self._run(hash_password, password)

    async def matches(self, password_hash: str, password: str) -> bool:
        """Check a password; the caller checked the capacity first, before counting the
        attempt, so that an attempt refused as "busy" is not counted as a failure."""
        return await self._run(password_matches, password_hash, password)

    async def _run(self, work: Callable[..., T], *args: str) -> T:
        self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work, *args)
        finally:
            self._in_flight -= 1

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
