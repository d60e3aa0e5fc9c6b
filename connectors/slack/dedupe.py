"""Slack retries an event it thinks we missed (X-Slack-Retry-Num); bolt does not dedupe."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable


class EventDedupe:
    """Runs the work for one ``event_id`` once.

    A retry arriving while the first delivery is still being handled waits
    for it (and fails with it, so Slack tries again); one arriving later is
    acknowledged without doing anything. The work itself keeps running if
    the request that started it goes away. Ingest is idempotent on the
    message's external id as well, so a retry after a restart is stored
    once too; this only saves the repeated work.
    """

    def __init__(self, remember: int = 10_000) -> None:
        self._remember = remember
        self._done: OrderedDict[str, None] = OrderedDict()
        self._running: dict[str, asyncio.Task[None]] = {}

    def seen(self, event_id: str) -> bool:
        return event_id in self._done

    async def once(self, event_id: str | None, work: Callable[[], Awaitable[None]]) -> bool:
        """Do ``work`` unless this event was (or is being) handled; whether it ran now."""
        if event_id is None:
            await work()
            return True
        if event_id in self._done:
            return False
        running = self._running.get(event_id)
        if running is not None:
            await asyncio.shield(running)
            return False
        task = asyncio.ensure_future(work())
        self._running[event_id] = task
        task.add_done_callback(lambda finished: self._finished(event_id, finished))
        await asyncio.shield(task)
        return True

    def _finished(self, event_id: str, task: asyncio.Task[None]) -> None:
        self._running.pop(event_id, None)
        if task.cancelled() or task.exception() is not None:
            return
        self._done[event_id] = None
        while len(self._done) > self._remember:
            self._done.popitem(last=False)
