"""Crashes and faults under load, with real ``hub run`` processes and the real database.

``kill -9`` while customer messages stream in; ``kill -9`` while a reply is in
flight to a peer that never answers; PostgreSQL restarted while messages
stream in. What the hub acknowledged is kept, once, and routed once; what it
did not acknowledge is stored once when resent; a reply in flight at the
crash is sent again (the peer may see it twice), nothing else is.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import Connection, func, make_url, select

from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.db.schema import audit_log, conversations, customers, events, identities, messages, outbox
from tests.conftest import API_TOKEN, ENVIRON
from tests.support.databases import POSTGRES_URL
from tests.support.hubs import add_agent, queue_reply
from tests.support.outage import StallingPeer
from tests.support.processes import HubProcess, hub_process, write_config
from tests.support.waiting import until

SENDERS = 8
"""Clients posting at once, each its next message as soon as the last one is answered."""
CUSTOMERS = 6
"""Fewer customers than senders: first contacts of one customer race each other."""
BEFORE_THE_FAULT = 60
"""Messages acknowledged before the kill or the database restart."""
AFTER_THE_RESTART = 40
REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=15)
LEASE_SECONDS = 1.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def config_file(directory: Path, database_url: str, **sms: Any) -> Path:
    return write_config(
        directory / "hub.yaml",
        {
            "database": {"url": database_url},
            "http": {"host": "127.0.0.1"},
            "outbox": {"lease_seconds": LEASE_SECONDS, "base_delay_seconds": 1},
            "channels": [{"kind": "api", "name": "sms", "token_env": "SMS_TOKEN", **sms}],
        },
    )


@asynccontextmanager
async def running(config: Path) -> AsyncIterator[HubProcess]:
    async with hub_process(config.parent, "--config", str(config), env=ENVIRON) as process:
        yield process


# Customer messages streaming in


def phone(n: int) -> str:
    return f"+4915100{n % CUSTOMERS:03}"


def message_text(n: int) -> str:
    return f"message {n}"


@dataclass
class Stream:
    """What a crowd of clients posted and what the hub answered."""

    acked: dict[int, int] = field(default_factory=dict)
    """Message number -> the stored id the hub answered 2xx with."""
    unacked: list[int] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    """How the unacknowledged ones failed: ``HTTP <status>`` or the client error's type."""
    numbers: itertools.count = field(default_factory=itertools.count)

    @property
    def disconnects(self) -> int:
        return sum(n for failure, n in self.failures.items() if not failure.startswith("HTTP"))


async def post_message(http: aiohttp.ClientSession, base: str, n: int) -> tuple[int | None, str]:
    """Post message ``n`` through the API channel: ``(stored id, "")`` or ``(None, failure)``."""
    body = {"id": f"m-{n}", "from": {"address": phone(n)}, "text": message_text(n)}
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    try:
        async with http.post(f"{base}/channels/sms/messages", json=body, headers=headers) as answer:
            if answer.status in (200, 202):
                return (await answer.json())["id"], ""
            return None, f"HTTP {answer.status}"
    except (aiohttp.ClientError, TimeoutError) as error:
        return None, type(error).__name__


async def sender(
    http: aiohttp.ClientSession, base: str, stream: Stream, stop: asyncio.Event
) -> None:
    """Post messages one after another until ``stop``, or until the hub stops answering at all."""
    while not stop.is_set():
        n = next(stream.numbers)
        stored_id, failure = await post_message(http, base, n)
        if stored_id is not None:
            stream.acked[n] = stored_id
            continue
        stream.unacked.append(n)
        stream.failures[failure] += 1
        if not failure.startswith("HTTP"):
            return


async def stream_messages(base: str, stream: Stream, stop: asyncio.Event) -> None:
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http:
        await asyncio.gather(*(sender(http, base, stream, stop) for _ in range(SENDERS)))


async def resend(base: str, numbers: list[int]) -> dict[int, int]:
    """Post the unacknowledged messages again; each must now be acknowledged."""
    async with aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http:
        answers = await asyncio.gather(*(post_message(http, base, n) for n in numbers))
    outcomes = dict(zip(numbers, answers, strict=True))
    failed = {n: failure for n, (stored_id, failure) in outcomes.items() if stored_id is None}
    assert not failed, f"resent messages not acknowledged: {failed}"
    return {n: stored_id for n, (stored_id, _) in outcomes.items()}


# What the database holds


@dataclass(frozen=True)
class StoredMessage:
    id: int
    external_id: str
    text: str
    phone: str
    customer_id: int
    conversation_id: int
    owner_id: int | None
    assignee_id: int | None


def read_inbound(conn: Connection) -> list[StoredMessage]:
    query = (
        select(
            messages.c.id,
            messages.c.external_id,
            messages.c.text,
            identities.c.address,
            conversations.c.customer_id,
            messages.c.conversation_id,
            customers.c.owner_id,
            conversations.c.assignee_id,
        )
        .join(identities, identities.c.id == messages.c.identity_id)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(messages.c.channel == "sms", messages.c.direction == "in")
    )
    return [StoredMessage(*row) for row in conn.execute(query)]


def read_owner_assignments(conn: Connection) -> Counter[int]:
    """Customer id -> how many times an owner was chosen for them."""
    query = select(audit_log.c.subject_id).where(audit_log.c.action == "owner.assigned")
    return Counter(conn.execute(query).scalars())


def read_announcements(conn: Connection) -> dict[int, list[int | None]]:
    """Message id -> the agents told of it by ``message.created``."""
    told: dict[int, list[int | None]] = {}
    query = select(events.c.agent_id, events.c.payload).where(events.c.kind == "message.created")
    for agent_id, payload in conn.execute(query):
        told.setdefault(payload["message"]["id"], []).append(agent_id)
    return told


async def assert_stored_once_and_routed_once(hub: Hub, answered: dict[int, int]) -> None:
    """Every message answered 2xx (``number -> stored id``) is stored once, as posted, as
    answered; each customer got one owner once and one conversation; each message was
    announced once, to its owner."""
    stored = await hub.db.read(read_inbound)
    by_external_id = Counter(m.external_id for m in stored)
    assert [e for e, count in by_external_id.items() if count > 1] == [], "stored twice"
    assert sorted(by_external_id) == sorted(f"m-{n}" for n in answered), "stored = answered"
    by_number = {int(m.external_id.removeprefix("m-")): m for m in stored}
    for n, stored_id in answered.items():
        message = by_number[n]
        assert (message.id, message.text, message.phone) == (stored_id, message_text(n), phone(n))

    by_customer: dict[int, list[StoredMessage]] = {}
    for message in stored:
        by_customer.setdefault(message.customer_id, []).append(message)
    assert len(by_customer) == len({phone(n) for n in answered}), "one customer per phone"
    owners_chosen = await hub.db.read(read_owner_assignments)
    assert owners_chosen == dict.fromkeys(by_customer, 1), "an owner chosen once per customer"
    for customer_messages in by_customer.values():
        assert len({m.conversation_id for m in customer_messages}) == 1, "one conversation"
        assert {(m.owner_id, m.assignee_id) for m in customer_messages} == {
            (customer_messages[0].owner_id, customer_messages[0].owner_id)
        }, "handled by the owner"
        assert customer_messages[0].owner_id is not None
    told = await hub.db.read(read_announcements)
    assert {m.id: told.get(m.id) for m in stored} == {m.id: [m.owner_id] for m in stored}


async def add_team(hub: Hub) -> None:
    await add_agent(hub, "maria@example.com")
    await add_agent(hub, "jonas@example.com")


async def test_kill_9_while_messages_stream_in_loses_and_doubles_nothing_acknowledged(
    hub: Hub, database_url: str, tmp_path: Path
):
    await add_team(hub)
    config = config_file(tmp_path, database_url)
    stream = Stream()
    async with running(config) as first:
        streaming = asyncio.create_task(stream_messages(first.base, stream, asyncio.Event()))
        await until(
            lambda: len(stream.acked) >= BEFORE_THE_FAULT, "messages acknowledged", seconds=30
        )
        await first.kill()
        await asyncio.wait_for(streaming, 20)  # each sender ends at its first broken request

    assert len(stream.unacked) == stream.disconnects == SENDERS, (
        f"each sender had one request cut, and only that: {stream.failures}"
    )
    async with running(config) as second:
        resent = await resend(second.base, stream.unacked)

    await assert_stored_once_and_routed_once(hub, {**stream.acked, **resent})


# A reply in flight when the hub dies

IN_FLIGHT = "reply in flight at the crash"


async def outbox_states(hub: Hub) -> dict[str, tuple[str, int]]:
    """Reply text -> (outbox state, attempts)."""

    def read(conn: Connection) -> dict[str, tuple[str, int]]:
        query = select(messages.c.text, outbox.c.state, outbox.c.attempts).join(
            outbox, outbox.c.message_id == messages.c.id
        )
        return {row.text: (row.state, row.attempts) for row in conn.execute(query)}

    return await hub.db.read(read)


async def open_conversation(hub: Hub, n: int) -> int:
    message = InboundMessage(
        channel="sms", external_id=f"in-{n}", sender=Address("phone", phone(n)), text="hello?"
    )
    return (await hub.ingest(message)).conversation_id


async def test_reply_in_flight_at_kill_9_is_sent_again_after_the_lease_and_no_other_is(
    hub: Hub, database_url: str, tmp_path: Path
):
    agent_id = await add_agent(hub, "maria@example.com")
    stalled_one, waiting, other = [await open_conversation(hub, n) for n in range(3)]
    written = {
        stalled_one: [IN_FLIGHT, "queued behind it"],
        waiting: ["first of two", "second of two"],
        other: ["on its own"],
    }
    for conversation_id, texts in written.items():
        for reply_text in texts:
            await queue_reply(hub, agent_id, conversation_id, reply_text)

    async with StallingPeer(stalls=lambda request: request.json()["text"] == IN_FLIGHT) as peer:
        config = config_file(tmp_path, database_url, callback_url=peer.url("/callback"))
        async with running(config) as first:
            await until(lambda: peer.stalled, "the peer took the reply and never answered")
            await until(
                lambda: has_states(
                    hub, dict.fromkeys(["first of two", "second of two", "on its own"], "sent")
                ),
                "the other conversations' replies sent during the stall, recorded as sent",
            )
            assert (await outbox_states(hub))[IN_FLIGHT][0] == "sending"
            await first.kill()

        async with running(config):
            await until(
                lambda: has_states(hub, dict.fromkeys(itertools.chain(*written.values()), "sent")),
                "every reply recorded as sent after the restart",
                seconds=LEASE_SECONDS + 15,
            )

    received = [(r.json()["conversation_id"], r.json()["text"]) for r in peer.received]
    arrivals = Counter(reply_text for _, reply_text in received)
    answered = arrivals[IN_FLIGHT] - len(peer.stalled)
    assert (arrivals[IN_FLIGHT], answered) == (2, 1), "sent again, at most once more than acked"
    assert {t: n for t, n in arrivals.items() if t != IN_FLIGHT} == dict.fromkeys(
        ["queued behind it", "first of two", "second of two", "on its own"], 1
    ), "every other reply exactly once"
    expected = {**written, stalled_one: [IN_FLIGHT, IN_FLIGHT, "queued behind it"]}
    for conversation_id, texts in expected.items():
        assert [t for c, t in received if c == conversation_id] == texts, "in order"
    assert (await outbox_states(hub))[IN_FLIGHT] == ("sent", 2)


async def has_states(hub: Hub, expected: dict[str, str]) -> bool:
    states = await outbox_states(hub)
    return all(states.get(t, ("", 0))[0] == state for t, state in expected.items())


# PostgreSQL restarted under load


def local_cluster(url: str) -> list[str] | None:
    """``<version> <name>`` of the local cluster serving ``url`` (by port), for pg_ctlcluster.

    On the usual single-cluster machine that is ``$(ls /etc/postgresql) main``.
    """
    if shutil.which("pg_lsclusters") is None or make_url(url).host not in LOOPBACK:
        return None
    port = make_url(url).port or 5432
    listing = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=True
    ).stdout
    for line in listing.splitlines():
        version, name, cluster_port, *_ = line.split()
        if int(cluster_port) == port:
            return [version, name]
    return None


async def pg_ctlcluster(cluster: list[str], *action: str) -> int:
    process = await asyncio.create_subprocess_exec(
        "pg_ctlcluster",
        "--skip-systemctl-redirect",
        *cluster,
        *action,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), 60)


@asynccontextmanager
async def up_afterwards(cluster: list[str]) -> AsyncIterator[None]:
    """Whatever happens in the block, the cluster is running after it."""
    try:
        yield
    finally:
        if await pg_ctlcluster(cluster, "status") != 0:
            await pg_ctlcluster(cluster, "start")


async def postmaster_started(hub: Hub) -> datetime:
    return await hub.db.read(
        lambda conn: conn.execute(select(func.pg_postmaster_start_time())).scalar()
    )


async def is_ready(base: str) -> bool:
    try:
        async with (
            aiohttp.ClientSession(timeout=REQUEST_TIMEOUT) as http,
            http.get(f"{base}/readyz") as answer,
        ):
            return answer.status == 200
    except aiohttp.ClientError:
        return False


@pytest.mark.skipif(
    not POSTGRES_URL,
    reason="restarts the PostgreSQL server: set HUB_TEST_DATABASE_URL "
    "(on SQLite there is no database server to restart)",
)
async def test_postgres_restarted_under_load_loses_nothing_acknowledged_and_serves_again(
    hub: Hub, database_url: str, tmp_path: Path
):
    cluster = local_cluster(database_url)
    if cluster is None:
        pytest.skip(f"no local cluster of pg_lsclusters serves {make_url(database_url)!r}")
    await add_team(hub)
    started_before = await postmaster_started(hub)
    stream, stop = Stream(), asyncio.Event()
    async with running(config_file(tmp_path, database_url)) as process:
        streaming = asyncio.create_task(stream_messages(process.base, stream, stop))
        try:
            await until(lambda: len(stream.acked) >= BEFORE_THE_FAULT, "messages acknowledged", 30)
            async with up_afterwards(cluster):
                assert await pg_ctlcluster(cluster, "restart", "-m", "fast") == 0
            acked_at_restart = len(stream.acked)
            await until(lambda: is_ready(process.base), "/readyz 200 again", seconds=30)
            await until(
                lambda: len(stream.acked) >= acked_at_restart + AFTER_THE_RESTART,
                "messages acknowledged again after the restart",
                seconds=30,
            )
        finally:
            stop.set()
            await asyncio.wait_for(streaming, 20)
        refused = {failure for failure in stream.failures if not failure.startswith("HTTP 5")}
        assert refused == set(), f"the hub must answer, if only with 5xx: {stream.failures}"
        resent = await resend(process.base, stream.unacked)

    assert await postmaster_started(hub) > started_before, "PostgreSQL was restarted"
    await assert_stored_once_and_routed_once(hub, {**stream.acked, **resent})
