"""The loop shared by the hub's background workers (outbox, held-message release)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from hub.clock import Clock

log = logging.getLogger(__name__)


async def work_when_due(
    name: str,
    do_pass: Callable[[], Awaitable[object]],
    next_due: Callable[[], Awaitable[datetime | None]],
    clock: Clock,
    wake: asyncio.Event,
    idle_wait: float,
) -> None:
    """Until cancelled: run a pass, then sleep until the next due time, a wake-up or ``idle_wait``.

    A failing pass is logged and tried again at the next wake-up; it never ends the loop.
    """
    while True:
        wake.clear()
        try:
            await do_pass()
        except Exception:
            log.exception("%s pass failed; trying again shortly", name)
        due = await next_due()
        wait = idle_wait
        if due is not None:
            wait = min(wait, max(0.0, (due - clock.now()).total_seconds()))
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=wait)
