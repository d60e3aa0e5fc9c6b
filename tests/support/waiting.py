"""Waiting for outside state (a peer's log, the database) to become true, with a deadline."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable

Check = Callable[[], bool] | Callable[[], Awaitable[bool]]


async def until(check: Check, what: str, seconds: float = 10.0) -> float:
    """Poll ``check`` until true; the seconds it took. If never: AssertionError naming ``what``."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        async with asyncio.timeout(seconds):
            while True:
                outcome = check()
                if await outcome if inspect.isawaitable(outcome) else outcome:
                    return loop.time() - started
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {seconds} s: {what}") from None
