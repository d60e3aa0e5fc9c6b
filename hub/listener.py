"""The hub's HTTP port: aiohttp's server, guarded against slow and greedy clients.

aiohttp keeps a connection whose request head never ends open for its
keep-alive time (an hour by default) and waits for a body without a
deadline, so a few hundred clients sending a byte now and then hold every
file descriptor. Here a connection has ``header_timeout_seconds`` from
opening, or from the first byte of its next request, to a complete request
head; a body has ``body_timeout_seconds`` to arrive (else 408); and one TCP
peer address holds at most ``max_connections_per_client`` connections.
Between requests an idle keep-alive connection waits ``IDLE_SECONDS``,
longer than proxies keep idle connections to the hub, so a proxy never
reuses one the hub is closing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, cast

from aiohttp import web

from config.schema import HttpSettings
from hub.api.framework import streams_a_file
from hub.errors import RequestTimeout

if TYPE_CHECKING:
    from hub.app import Hub

log = logging.getLogger(__name__)

IDLE_SECONDS = 150.0
"""Caddy keeps idle connections to an upstream for 2 minutes, nginx and Go for less."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ConnectionGuard:
    """Counts open connections per peer address and knows which connection a request came on."""

    def __init__(self, settings: HttpSettings) -> None:
        self.settings = settings
        self._open: dict[str, int] = {}
        self._at_cap: set[str] = set()
        self._by_transport: dict[asyncio.BaseTransport, GuardedConnection] = {}

    def admit(self, connection: GuardedConnection) -> bool:
        peer, cap = connection.peer, self.settings.max_connections_per_client
        if cap and self._open.get(peer, 0) >= cap:
            if peer not in self._at_cap:
                self._at_cap.add(peer)
                log.warning("%s has %d connections open: refusing more", peer, cap)
            return False
        self._open[peer] = self._open.get(peer, 0) + 1
        self._by_transport[connection.transport] = connection
        return True

    def release(self, connection: GuardedConnection) -> None:
        peer = connection.peer
        self._by_transport.pop(connection.transport, None)
        self._open[peer] -= 1
        if not self._open[peer]:  # warned once until then, however often it hits the cap
            del self._open[peer]
            self._at_cap.discard(peer)

    def connection_of(self, request: web.Request) -> GuardedConnection | None:
        """``None`` for servers the guard does not watch (tests' own servers)."""
        transport = request.transport
        return self._by_transport.get(transport) if transport is not None else None


class GuardedConnection(asyncio.Protocol):
    """One client connection: aiohttp's protocol inside, a deadline for each request head."""

    def __init__(self, guard: ConnectionGuard, server: web.Server) -> None:
        self.guard = guard
        self.server = server
        self.inner: web.RequestHandler | None = None
        self.transport: asyncio.Transport | None = None
        self.peer = ""
        self._head_deadline: asyncio.TimerHandle | None = None
        self._idle = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else ""
        if not self.guard.admit(self):
            transport.close()
            return
        self.inner = self.server()
        self.inner.connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        if self._idle and self._head_deadline is None:
            self._await_head()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        if self.inner is not None:
            self.guard.release(self)
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def request_started(self) -> None:
        self._idle = False
        self._stop_waiting()

    def request_finished(self) -> None:
        self._idle = True

    def _await_head(self) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.guard.settings.header_timeout_seconds
        self._head_deadline = loop.call_later(timeout, self._head_too_slow)

    def _stop_waiting(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.transport is not None:
            self.transport.close()


def guard_middleware(guard: ConnectionGuard) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Tell the connection its request head arrived, and read the body within its deadline
    (a file upload's handler streams it in under that deadline itself)."""

    @web.middleware
    async def guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
        connection = guard.connection_of(request)
        if connection is not None:
            connection.request_started()
        try:
            reads_now = request.body_exists and not streams_a_file(request)
            if reads_now and not await body_in_time(request, guard.settings):
                return await refuse_slow_body(request, guard.settings.body_timeout_seconds)
            return await handler(request)
        finally:
            if connection is not None:
                connection.request_finished()

    return guarded


async def body_in_time(request: web.Request, settings: HttpSettings) -> bool:
    """Read the whole body now (handlers then get it from memory); ``False`` if it was late."""
    try:
        async with asyncio.timeout(settings.body_timeout_seconds):
            await request.read()
    except TimeoutError:
        return False
    return True


async def refuse_slow_body(request: web.Request, seconds: float) -> web.StreamResponse:
    """408, then hang up: aiohttp would otherwise wait 10 s more for the rest of the body."""
    error = RequestTimeout(f"request body not complete within {seconds:g} s")
    response = web.json_response(error.to_json(), status=error.status)
    response.force_close()
    await response.prepare(request)
    await response.write_eof()
    request.protocol.force_close()
    return response


class Listener:
    """Serves the hub's app on a port, as ``hub run`` does.

    The port is taken (``bind``) before the hub exists, so ``hub run`` learns
    the real port of ``port: 0`` for its URLs and that a port is busy before
    any connector has talked to its platform.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._connection: Callable[[], asyncio.Protocol] | None = None

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, hub: Hub) -> None:
        await self.bind()
        await self.serve(hub)

    async def bind(self) -> None:
        """Take the port without answering yet (``OSError`` if it is taken)."""
        self._server = await asyncio.get_running_loop().create_server(
            self._new_connection, self.host, self._port, start_serving=False
        )

    async def serve(self, hub: Hub) -> None:
        """Accept connections on the bound port with the hub's app (once the hub has started)."""
        assert self._server is not None
        self._runner = web.AppRunner(hub.web_app(), access_log=None, keepalive_timeout=IDLE_SECONDS)
        await self._runner.setup()
        server, guard = self._runner.server, hub.connection_guard
        assert server is not None
        self._connection = lambda: GuardedConnection(guard, server)
        await self._server.start_serving()

    def _new_connection(self) -> asyncio.Protocol:
        assert self._connection is not None, "connections are accepted only once serving"
        return self._connection()

    async def stop(self) -> None:
        """Stop accepting, then let aiohttp close the open connections."""
        if self._server is not None:
            self._server.close()
        if self._runner is not None:
            await self._runner.cleanup()
