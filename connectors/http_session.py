"""The one HTTP session a connector keeps to its platform's API."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from connectors.send_errors import TransientError


class HttpSession:
    """Opened when the connector starts, closed when it stops; a call in between is an error
    the outbox retries, since the channel may be starting again."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def open(
        self, timeout: aiohttp.ClientTimeout, headers: Mapping[str, str] | None = None
    ) -> None:
        self._session = aiohttp.ClientSession(headers=headers, timeout=timeout)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def client(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise TransientError("channel is not started")
        return self._session
