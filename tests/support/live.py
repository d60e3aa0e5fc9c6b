"""Reading the inbox's live WebSocket one event (or control frame) at a time."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import aiohttp

TIMEOUT = 5


class LiveEvents:
    """``/api/events`` frames hold arrays of events, or one control object; this unpacks them."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self._waiting: deque[dict[str, Any]] = deque()

    async def next(self) -> dict[str, Any]:
        while not self._waiting:
            frame = await asyncio.wait_for(self.socket.receive_json(), TIMEOUT)
            self._waiting.extend(frame if isinstance(frame, list) else [frame])
        return self._waiting.popleft()

    async def until(self, done: Any) -> list[dict[str, Any]]:
        """Events up to and including the first for which ``done(event)`` holds."""
        seen = [await self.next()]
        while not done(seen[-1]):
            seen.append(await self.next())
        return seen

    async def until_ready(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The replayed events, and the ``ready`` frame after them."""
        *replayed, ready = await self.until(lambda event: event["kind"] == "ready")
        return replayed, ready
