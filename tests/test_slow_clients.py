"""The HTTP port under slow and greedy clients: deadlines for heads and bodies, a cap per address.

Each test serves a real hub the way ``hub run`` does (``Listener``) with
timeouts of half a second, and talks to it over raw sockets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from config import Settings
from hub.listener import Listener
from tests.conftest import make_settings
from tests.support.clock import FakeClock
from tests.support.hubs import started_hub

HEAD = b"GET /healthz HTTP/1.1\r\nHost: hub.test\r\n"
SERVED = b"HTTP/1.1 200 OK\r\n"
QUICK = 0.5


@asynccontextmanager
async def listening(settings: Settings) -> AsyncIterator[int]:
    async with started_hub(settings, FakeClock()) as hub:
        listener = Listener("127.0.0.1", 0)
        await listener.start(hub)
        try:
            yield listener.port
        finally:
            await listener.stop()


def limits(database_url: str, **http: object) -> Settings:
    timeouts = {"header_timeout_seconds": QUICK, "body_timeout_seconds": QUICK, **http}
    return make_settings(database_url, http=timeouts)


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(port: int, source: str = "127.0.0.1") -> Connection:
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))


async def closed_after(reader: asyncio.StreamReader, within: float) -> float:
    """Seconds until the hub closed the connection (read everything it sent until then)."""
    started = time.monotonic()
    while await asyncio.wait_for(reader.read(4096), within):
        pass
    return time.monotonic() - started


async def served(port: int, source: str = "127.0.0.1") -> bool:
    reader, writer = await connect(port, source)
    writer.write(HEAD + b"Connection: close\r\n\r\n")
    try:
        return (await asyncio.wait_for(reader.read(), 2)).startswith(SERVED)
    finally:
        writer.close()


@pytest.fixture
def hub_with(database_url: str) -> Callable[..., object]:
    return lambda **http: listening(limits(database_url, **http))


async def test_a_head_that_never_ends_is_cut_off_while_others_are_served(hub_with):
    async with hub_with() as port:
        reader, writer = await connect(port)
        writer.write(HEAD)  # the blank line that ends the head never comes
        waited = await closed_after(reader, within=2)
        assert QUICK * 0.9 < waited < QUICK + 1
        assert await served(port)
        writer.close()


async def trickle(writer: asyncio.StreamWriter, data: bytes) -> None:
    for byte in data:
        writer.write(bytes([byte]))
        await asyncio.sleep(0.05)


async def test_a_head_sent_a_byte_at_a_time_is_cut_off_too(hub_with):
    """Bytes arriving do not buy time: the head as a whole has to arrive in time."""
    async with hub_with() as port:
        reader, writer = await connect(port)
        sending = asyncio.create_task(trickle(writer, HEAD * 4))
        try:
            assert await closed_after(reader, within=2) < QUICK + 1
        finally:
            sending.cancel()
            writer.close()


async def test_a_connection_that_sends_nothing_is_closed(hub_with):
    async with hub_with() as port:
        reader, writer = await connect(port)
        assert await closed_after(reader, within=2) < QUICK + 1
        writer.close()


async def test_a_body_that_never_ends_gets_408(hub_with):
    async with hub_with() as port:
        reader, writer = await connect(port)
        writer.write(
            b"POST /api/login HTTP/1.1\r\nHost: hub.test\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"email": '
        )
        started = time.monotonic()
        answer = await asyncio.wait_for(reader.read(), QUICK + 1)
        assert time.monotonic() - started < QUICK + 1, "answered, and the connection closed"
        assert answer.startswith(b"HTTP/1.1 408 ")
        assert answer.endswith(b'{"error": "request body not complete within 0.5 s"}')
        writer.close()


async def test_an_idle_keep_alive_connection_stays_open_between_requests(hub_with):
    """What a proxy does: reuse a connection after a pause longer than the head timeout."""
    async with hub_with() as port:
        reader, writer = await connect(port)
        writer.write(HEAD + b"\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"}"), 2)).startswith(SERVED)
        await asyncio.sleep(QUICK * 2)
        writer.write(HEAD + b"\r\n")
        assert (await asyncio.wait_for(reader.readuntil(b"}"), 2)).startswith(SERVED)
        writer.close()


async def test_connections_beyond_the_cap_per_address_are_closed_others_are_served(hub_with):
    async with hub_with(header_timeout_seconds=10, max_connections_per_client=3) as port:
        held = [await connect(port) for _ in range(3)]
        reader, writer = await connect(port)
        assert await closed_after(reader, within=1) < 1, "the fourth is refused"
        assert await served(port, source="127.0.0.2"), "another address is served"
        held.pop()[1].close()
        await asyncio.sleep(0.1)
        assert await served(port), "a freed slot is given again"
        for _, other in held:
            other.close()
        writer.close()
