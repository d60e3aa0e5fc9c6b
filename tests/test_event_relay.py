"""PostgreSQL, in one test process: events reach every hub's bus through LISTEN/NOTIFY,
and work that must run alone (pollers) runs in one place and moves when that place dies.

Several hubs sharing a database need PostgreSQL; on SQLite these tests are skipped.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.engine import make_url

from config import Settings
from connectors.base import Address, InboundMessage
from connectors.retry import Backoff
from hub.app import Hub
from hub.db.relay import RECONNECT_FIRST, EventRelay
from hub.events import Event, EventBus, Subscription
from hub.leader import Leadership
from tests.conftest import make_settings
from tests.support.clock import FakeClock
from tests.support.databases import POSTGRES_URL
from tests.support.hubs import add_agent, started_hub
from tests.support.live import LiveEvents
from tests.support.outage import TcpGate
from tests.support.waiting import until
from tests.test_contact_hours import LONDON_OFFICE, MONDAY_9_LONDON, SATURDAY

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="several hubs on one database need PostgreSQL: set HUB_TEST_DATABASE_URL",
)

TIMEOUT = 10
TAKEOVER_SECONDS = 0.2


def chat(visitor: str, external_id: str) -> InboundMessage:
    return InboundMessage(
        channel="webchat",
        external_id=external_id,
        sender=Address("webchat", visitor),
        text=f"message {external_id}",
    )


@pytest.fixture
async def other_hub(settings: Settings) -> AsyncIterator[Hub]:
    """A second hub on the same database, as another process would be."""
    async with started_hub(settings, FakeClock()) as other:
        yield other


async def receive_messages(subscription: Subscription, count: int) -> list[Event]:
    """Events until ``count`` message.created arrived (and any that came with them)."""
    received: list[Event] = []
    async with asyncio.timeout(TIMEOUT):
        while sum(e.kind == "message.created" for e in received) < count:
            received.extend(await subscription.next_batch())
    return received


def texts(received: list[Event]) -> list[str]:
    return [e.payload["message"]["text"] for e in received if e.kind == "message.created"]


def stored_order(received: list[Event]) -> list[int]:
    return [e.id for e in received]


async def test_events_written_by_another_hub_arrive_once_and_in_id_order(hub: Hub, other_hub: Hub):
    maria = await add_agent(hub, "maria@example.com")
    with hub.bus.subscribe(maria) as subscription:
        await asyncio.gather(
            *(other_hub.ingest(chat(f"v{n % 5}", f"far-{n}")) for n in range(30)),
            *(hub.ingest(chat(f"v{n % 5}", f"near-{n}")) for n in range(10)),
        )
        # A last message after all others: anything published twice would come before it.
        await other_hub.ingest(chat("v1", "last"))
        received = await receive_messages(subscription, 41)

    ids = stored_order(received)
    assert ids == sorted(set(ids)), "each event once, in id order"
    expected = {f"message far-{n}" for n in range(30)} | {f"message near-{n}" for n in range(10)}
    assert sorted(texts(received)[:-1]) == sorted(expected)
    assert texts(received)[-1] == "message last"


async def test_relay_reconnects_after_its_connection_is_killed_and_catches_up(
    hub: Hub, other_hub: Hub
):
    maria = await add_agent(hub, "maria@example.com")
    relay = hub.db.relay
    killed = relay.server_pid
    with hub.bus.subscribe(maria) as subscription:
        await other_hub.ingest(chat("v1", "before"))
        before = await receive_messages(subscription, 1)
        await terminate_backend(killed)
        # Written while the relay is down (it waits before reconnecting): only the table has them.
        await asyncio.gather(*(other_hub.ingest(chat(f"v{n}", f"during-{n}")) for n in range(5)))
        after = await receive_messages(subscription, 5)

    assert relay.server_pid not in (None, killed), "the relay has a new connection"
    assert texts(before) == ["message before"]
    assert sorted(texts(after)) == [f"message during-{n}" for n in range(5)]
    ids = stored_order(before + after)
    assert ids == sorted(set(ids))


async def terminate_backend(pid: int | None) -> None:
    assert pid is not None
    assert POSTGRES_URL is not None
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        assert await connection.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await connection.close()


async def lock_holders(name: str) -> list[int]:
    """Backends named for ``name``'s lock that hold an advisory lock."""
    assert POSTGRES_URL is not None
    connection = await asyncpg.connect(POSTGRES_URL)
    try:
        rows = await connection.fetch(
            "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND a.application_name = $1",
            f"hub leader {name}",
        )
    finally:
        await connection.close()
    return [row["pid"] for row in rows]


def endless(who: str, running: list[str], stopped: list[str]):
    async def work() -> None:
        running.append(who)
        try:
            await asyncio.Event().wait()
        finally:
            stopped.append(who)

    return work


async def test_work_runs_alone_restarts_after_losing_its_lock_and_moves_on_stop(
    database_url: str,
):
    running: list[str] = []
    stopped: list[str] = []
    tasks = {
        who: asyncio.create_task(
            Leadership(database_url, TAKEOVER_SECONDS).run_alone(
                "telegram:tg", endless(who, running, stopped)
            )
        )
        for who in ("a", "b")
    }
    try:
        await until(lambda: running, "one place runs the work")
        await asyncio.sleep(5 * TAKEOVER_SECONDS)
        assert len(running) == 1, f"only one place runs the work: {running}"
        [holder] = await lock_holders("telegram:tg")

        await terminate_backend(holder)  # its lock is gone: the work must stop, then run again
        await until(lambda: len(running) == 2, "the work runs again")
        assert stopped == running[:1]
        assert len(await lock_holders("telegram:tg")) == 1

        current = running[-1]
        tasks[current].cancel()  # that process stops: the other takes over
        await until(lambda: len(running) == 3, "the other place takes over")
        assert running[-1] != current
        assert stopped == running[:2]
    finally:
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    assert await lock_holders("telegram:tg") == [], "cancelled work releases its lock"


async def test_work_that_ends_releases_its_lock(database_url: str):
    done = asyncio.Event()

    async def work() -> None:
        done.set()

    await Leadership(database_url, TAKEOVER_SECONDS).run_alone("imap:mail", work)
    assert done.is_set()
    assert await lock_holders("imap:mail") == []


async def test_two_hubs_releasing_the_same_held_messages_release_each_once(database_url: str):
    """Both hubs run their release pass at the same instant; SKIP LOCKED splits the work."""
    settings = make_settings(database_url, hours=LONDON_OFFICE)
    clocks = (FakeClock(SATURDAY), FakeClock(SATURDAY))
    async with AsyncExitStack() as stack:
        one, two = [await stack.enter_async_context(started_hub(settings, c)) for c in clocks]
        maria = await add_agent(one, "maria@example.com")
        for n in range(200):
            await (one if n % 2 else two).ingest(chat(f"v{n % 20}", f"held-{n}"))
        for clock in clocks:
            clock.set(MONDAY_9_LONDON)
        with one.bus.subscribe(maria) as subscription:
            released = await asyncio.gather(one.holds.release_due(), two.holds.release_due())
            received = await receive_messages(subscription, 200)
    assert sum(released) == 200, f"released {released}: none twice, none left"
    ids = stored_order(received)
    assert ids == sorted(set(ids)), "each event once, in id order"
    assert sorted(texts(received)) == sorted(f"message held-{n}" for n in range(200))


async def test_signing_out_on_one_hub_closes_the_socket_open_on_another(
    hub: Hub, other_hub: Hub, browser_factory
):
    await add_agent(hub, "maria@example.com")
    maria = await (await browser_factory()).login("maria@example.com")
    other_server = TestServer(other_hub.web_app(), host="127.0.0.1")
    await other_server.start_server()
    try:
        async with maria.session.ws_connect(other_server.make_url("/api/events")) as socket:
            await LiveEvents(socket).until_ready()
            await maria.post("/api/logout", expect=204)
            closing = await socket.receive(timeout=TIMEOUT)
    finally:
        await other_server.close()
    assert (closing.type, closing.data, closing.extra) == (
        aiohttp.WSMsgType.CLOSE,
        4401,
        "session ended",
    )


async def test_relay_backs_off_while_refused_and_starts_over_once_it_reads_again(
    database_url: str, caplog: pytest.LogCaptureFixture
):
    inside = await asyncpg.connect(database_url)
    database = await inside.fetchval("SELECT current_database()")
    admin = await asyncpg.connect(database_url, database="postgres")
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        """Instead of waiting: PostgreSQL refuses the relay after its first failure, until its
        third."""
        delays.append(seconds)
        allow = {1: "false", 3: "true"}.get(len(delays))
        if allow is not None:
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {allow}')

    bus = EventBus()
    relay = EventRelay(database_url, bus, sleep=sleep)
    await relay.start()
    try:
        with bus.subscribe(1) as subscription:
            await terminate_backend(relay.server_pid)
            await until(lambda: len(delays) == 3, "three failures in a row")
            await inside.execute(STORE_ONE_EVENT)
            async with asyncio.timeout(TIMEOUT):
                assert await subscription.next_batch(), "the relay reads again"
        await terminate_backend(relay.server_pid)
        await until(lambda: len(delays) == 4, "a failure after reading again")
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
        await relay.stop()
        await admin.close()
        await inside.close()

    first = RECONNECT_FIRST
    assert [first / 2 <= d <= first for d in delays] == [True, False, False, True]
    assert first <= delays[1] <= 2 * first
    assert 2 * first <= delays[2] <= 4 * first
    warnings = [r.getMessage() for r in caplog.records if r.name == "hub.db.relay"]
    assert len(warnings) == 4
    assert all(w.startswith("event relay: PostgreSQL connection lost") for w in warnings)


STORE_ONE_EVENT = (
    "INSERT INTO events (kind, payload, created_at) VALUES ('agent.updated', '{}', now());"
    " SELECT pg_notify('hub_events', '')"
)


class Enough(Exception):
    """Raised by the injected sleep to end a loop that would go on for ever."""


async def test_a_leader_waits_short_again_once_it_held_its_lock(database_url: str):
    url = make_url(database_url)
    async with TcpGate(url.port or 5432, url.host or "127.0.0.1") as gate:
        through_gate = url.set(host=gate.host, port=gate.port)
        await gate.shut("refuse")
        waits: list[float] = []

        async def sleep(seconds: float) -> None:
            waits.append(seconds)
            if len(waits) == 3:
                await gate.open()
            if len(waits) == 4:
                raise Enough

        running: list[str] = []
        leadership = Leadership(
            through_gate.render_as_string(hide_password=False),
            TAKEOVER_SECONDS,
            backoff=Backoff(rng=random.Random(5)),
            sleep=sleep,
        )
        leading = asyncio.create_task(leadership.run_alone("imap:mail", endless("a", running, [])))
        await until(lambda: running, "the work runs once the lock is held")
        await gate.shut("refuse")  # the lock's connection is cut: lost, then unreachable again
        with pytest.raises(Enough):
            await asyncio.wait_for(leading, TIMEOUT)
    for wait, ceiling in zip(waits, [1, 2, 4, 1], strict=True):
        assert ceiling / 2 <= wait <= ceiling
