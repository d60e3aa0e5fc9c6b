"""Faults put between the hub and its peers: a TCP gate that can be shut, a peer that stalls.

``TcpGate`` listens on a loopback port and pipes each connection to a peer.
Shut, it either refuses connections (nothing listens: ECONNREFUSED) or
accepts and resets them at once; either way the connections it was piping
are reset too, so a client's pooled keep-alive connection cannot slip
through an outage. Opened again, it listens on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import Literal

from aiohttp import web

from tests.support.peers import Received, RecordingPeer

Shutting = Literal["refuse", "reset"]
CHUNK = 64 * 1024


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with an RST (SO_LINGER 0), as a crashed or firewalled peer does, not a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def pump(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    """Copy bytes until end of stream, then pass the end of stream on."""
    with contextlib.suppress(OSError):
        while data := await source.read(CHUNK):
            target.write(data)
            await target.drain()
        if target.can_write_eof():
            target.write_eof()


class TcpGate:
    """A loopback port in front of ``upstream_port``, opened and shut by the test."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = "127.0.0.1"
        self.port = 0
        self.shut_by: Shutting | None = None
        self._server: asyncio.Server | None = None
        self._open_writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def shut(self, how: Shutting) -> None:
        """From now on refuse (nothing listens) or reset every connection; cut the open ones."""
        self.shut_by = how
        if how == "refuse" and self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._open_writers):
            reset(writer)

    async def open(self) -> None:
        self.shut_by = None
        if self._server is None:
            await self._listen()

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.shut_by is not None:
            reset(writer)
            return
        try:
            peer_reader, peer_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            reset(writer)
            return
        self._open_writers |= {writer, peer_writer}
        try:
            await asyncio.gather(pump(reader, peer_writer), pump(peer_reader, writer))
        finally:
            for end in (writer, peer_writer):
                self._open_writers.discard(end)
                end.close()

    async def __aenter__(self) -> TcpGate:
        await self._listen()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.shut("refuse")


class StallingPeer(RecordingPeer):
    """A :class:`RecordingPeer` that takes the first request ``stalls`` picks and never answers it.

    The stalled request is recorded as received (the peer has it, as a real
    platform that accepted a message would) and appears in ``stalled``; its
    handler waits until the peer is closed. Later requests are answered as usual.
    """

    def __init__(self, stalls: Callable[[Received], bool]) -> None:
        super().__init__()
        self.stalls: Callable[[Received], bool] | None = stalls
        self.stalled: list[Received] = []
        self._closing = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        arrived = Received(request.path, dict(request.headers), body)
        if self.stalls is not None and self.stalls(arrived):
            self.stalls = None
            self.received.append(arrived)
            self.stalled.append(arrived)
            await self._closing.wait()
            raise web.HTTPServiceUnavailable()
        return await super().handle(request)

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        await super().__aexit__(*exc)
