"""The outbox: stored first, sent by the worker, retried with backoff, failures kept with reason."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
from collections.abc import AsyncIterator
from functools import partial

import pytest
from sqlalchemy import select

from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.auth import Principal
from hub.conversations import post_reply
from hub.db.schema import events, messages, outbox
from tests.conftest import make_settings
from tests.support.hubs import add_agent, queue_reply
from tests.support.outage import StallingPeer
from tests.support.peers import Answer, RecordingPeer
from tests.support.waiting import until


@pytest.fixture
async def peer() -> AsyncIterator[RecordingPeer]:
    async with RecordingPeer() as peer:
        yield peer


def sms_settings(database_url: str, callback_url: str, **outbox_settings):
    settings = make_settings(database_url, outbox={"base_delay_seconds": 10, **outbox_settings})
    sms = settings.channels[1].model_copy(
        update={"callback_url": callback_url, "callback_secret_env": None}
    )
    return settings.model_copy(update={"channels": [settings.channels[0], sms]})


@pytest.fixture
async def sms_hub(database_url, clock, peer) -> AsyncIterator[Hub]:
    hub = Hub(sms_settings(database_url, peer.url("/callback")), clock)
    await hub.start(run_workers=False)
    try:
        yield hub
    finally:
        await hub.stop()


async def customer_writes(hub: Hub, text: str = "hi") -> tuple[Principal, int]:
    agent_id = await add_agent(hub, "maria@example.com")
    result = await hub.ingest(
        InboundMessage(
            channel="sms", external_id="in-1", sender=Address("phone", "+4915100"), text=text
        )
    )
    return Principal(agent_id, "Maria", "agent", "", False), result.conversation_id


async def reply(hub: Hub, agent: Principal, conversation_id: int, text: str) -> int:
    message = await hub.db.write(
        partial(post_reply, agent, conversation_id, text, None, hub.channels_by_kind)
    )
    return message["id"]


async def message_state(hub: Hub, message_id: int) -> tuple[str, str | None]:
    return await hub.db.read(
        lambda conn: tuple(
            conn.execute(
                select(messages.c.state, messages.c.error).where(messages.c.id == message_id)
            ).one()
        )
    )


async def status_events(hub: Hub) -> list[dict]:
    return await hub.db.read(
        lambda conn: [
            r.payload
            for r in conn.execute(
                select(events.c.payload)
                .where(events.c.kind == "message.status")
                .order_by(events.c.id)
            )
        ]
    )


async def test_reply_is_delivered_to_the_callback(sms_hub: Hub, peer: RecordingPeer):
    agent, conversation_id = await customer_writes(sms_hub)
    message_id = await reply(sms_hub, agent, conversation_id, "Thanks, on it!")
    assert await message_state(sms_hub, message_id) == ("queued", None)
    assert await sms_hub.outbox.run_due() == 1
    assert [r.json() for r in peer.received] == [
        {
            "message_id": message_id,
            "conversation_id": conversation_id,
            "to": "+4915100",
            "text": "Thanks, on it!",
        }
    ]
    assert await message_state(sms_hub, message_id) == ("sent", None)
    assert (await status_events(sms_hub))[-1]["state"] == "sent"
    assert await sms_hub.outbox.run_due() == 0


async def test_transient_failures_are_retried_with_backoff(sms_hub: Hub, peer, clock):
    agent, conversation_id = await customer_writes(sms_hub)
    peer.answer(Answer(500, {"error": "down"}), Answer(503, {"error": "still down"}))
    message_id = await reply(sms_hub, agent, conversation_id, "hello")
    assert await sms_hub.outbox.run_due() == 1
    state, error = await message_state(sms_hub, message_id)
    assert state == "queued"
    assert "500" in error
    assert await sms_hub.outbox.run_due() == 0, "not due before the backoff ends"
    clock.advance(seconds=5)
    assert await sms_hub.outbox.run_due() == 0, "first delay is between 5 and 10 seconds"
    clock.advance(seconds=5.01)
    assert await sms_hub.outbox.run_due() == 1
    assert (await message_state(sms_hub, message_id))[0] == "queued"
    clock.advance(seconds=9.9)
    assert await sms_hub.outbox.run_due() == 0, "second delay is between 10 and 20 seconds"
    clock.advance(seconds=10.2)
    assert await sms_hub.outbox.run_due() == 1
    assert await message_state(sms_hub, message_id) == ("sent", None)
    assert len(peer.received) == 3
    states = [e["state"] for e in await status_events(sms_hub)]
    assert states == ["queued", "queued", "sent"]


async def test_permanent_failure_is_marked_failed_with_the_reason(sms_hub: Hub, peer):
    agent, conversation_id = await customer_writes(sms_hub)
    peer.answer(Answer(400, {"error": "number not reachable"}))
    message_id = await reply(sms_hub, agent, conversation_id, "hello")
    await sms_hub.outbox.run_due()
    state, error = await message_state(sms_hub, message_id)
    assert state == "failed"
    assert error == 'callback answered 400: {"error": "number not reachable"}'
    assert (await status_events(sms_hub))[-1]["error"] == error


async def test_gives_up_after_max_attempts(database_url, clock, peer):
    hub = Hub(sms_settings(database_url, peer.url("/cb"), max_attempts=3), clock)
    await hub.start(run_workers=False)
    try:
        peer.default = Answer(502, {"error": "bad gateway"})
        agent, conversation_id = await customer_writes(hub)
        message_id = await reply(hub, agent, conversation_id, "hello")
        for _ in range(3):
            await hub.outbox.run_due()
            clock.advance(hours=1)
        assert await hub.outbox.run_due() == 0
        state, error = await message_state(hub, message_id)
        assert state == "failed"
        assert "502" in error
        assert len(peer.received) == 3
    finally:
        await hub.stop()


async def test_rate_limit_honours_retry_after(sms_hub: Hub, peer, clock):
    agent, conversation_id = await customer_writes(sms_hub)
    peer.answer(Answer(429, {"error": "slow down"}, {"Retry-After": "30"}))
    message_id = await reply(sms_hub, agent, conversation_id, "hello")
    await sms_hub.outbox.run_due()
    clock.advance(seconds=29)
    assert await sms_hub.outbox.run_due() == 0
    clock.advance(seconds=1)
    assert await sms_hub.outbox.run_due() == 1
    assert await message_state(sms_hub, message_id) == ("sent", None)


async def test_unreachable_peer_is_retried(database_url, clock):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    hub = Hub(sms_settings(database_url, f"http://127.0.0.1:{closed_port}/cb"), clock)
    await hub.start(run_workers=False)
    try:
        agent, conversation_id = await customer_writes(hub)
        message_id = await reply(hub, agent, conversation_id, "hello")
        await hub.outbox.run_due()
        state, error = await message_state(hub, message_id)
        assert state == "queued"
        assert error.startswith("callback unreachable")
    finally:
        await hub.stop()


async def test_messages_of_one_conversation_leave_in_order(sms_hub: Hub, peer, clock):
    agent, conversation_id = await customer_writes(sms_hub)
    peer.answer(Answer(500, {"error": "hiccup"}))
    first = await reply(sms_hub, agent, conversation_id, "first")
    second = await reply(sms_hub, agent, conversation_id, "second")
    assert await sms_hub.outbox.run_due() == 1, "the second waits for the first"
    assert (await message_state(sms_hub, second))[0] == "queued"
    clock.advance(minutes=1)
    assert await sms_hub.outbox.run_due() == 2
    assert [r.json()["text"] for r in peer.received] == ["first", "first", "second"]
    assert (await message_state(sms_hub, first))[0] == "sent"
    assert (await message_state(sms_hub, second))[0] == "sent"


async def test_callback_is_signed_when_a_secret_is_configured(database_url, clock, peer):
    settings = sms_settings(database_url, peer.url("/cb"))
    signed = settings.channels[1].model_validate(
        {**settings.channels[1].model_dump(), "callback_secret_env": "SMS_CALLBACK_SECRET"},
        context={"environ": {"SMS_TOKEN": "t" * 20, "SMS_CALLBACK_SECRET": "s3cret"}},
    )
    hub = Hub(settings.model_copy(update={"channels": [settings.channels[0], signed]}), clock)
    await hub.start(run_workers=False)
    try:
        agent, conversation_id = await customer_writes(hub)
        await reply(hub, agent, conversation_id, "signed")
        await hub.outbox.run_due()
    finally:
        await hub.stop()
    request = peer.received[0]
    timestamp = request.headers["X-Hub-Timestamp"]
    assert timestamp == str(int(clock.now().timestamp())), "signed at the hub's time"
    expected = hmac.new(b"s3cret", timestamp.encode() + b"." + request.body, hashlib.sha256)
    assert request.headers["X-Hub-Signature"] == "sha256=" + expected.hexdigest()


async def test_restart_loses_nothing_from_the_outbox(database_url, clock, peer):
    settings = sms_settings(database_url, peer.url("/cb"))
    first_run = Hub(settings, clock)
    await first_run.start(run_workers=False)
    agent, conversation_id = await customer_writes(first_run)
    message_id = await reply(first_run, agent, conversation_id, "survives a restart")
    await first_run.stop()
    assert peer.received == []

    second_run = Hub(settings, clock)
    await second_run.start(run_workers=False)
    try:
        assert await second_run.outbox.run_due() == 1
        assert await message_state(second_run, message_id) == ("sent", None)
    finally:
        await second_run.stop()
    assert [r.json()["text"] for r in peer.received] == ["survives a restart"]


async def test_send_interrupted_by_a_crash_is_retried_after_the_lease(sms_hub: Hub, peer, clock):
    from hub.outbox import MAX_IN_FLIGHT
    from hub.outbox_claims import claim_due

    agent, conversation_id = await customer_writes(sms_hub)
    message_id = await reply(sms_hub, agent, conversation_id, "hello")
    claimed = await sms_hub.db.write(partial(claim_due, sms_hub.outbox.lease, MAX_IN_FLIGHT))
    assert len(claimed) == 1, "a process claimed it and then died before recording the outcome"
    assert await sms_hub.outbox.run_due() == 0, "the lease keeps others off meanwhile"
    clock.advance(seconds=sms_hub.settings.outbox.lease_seconds)
    assert await sms_hub.outbox.run_due() == 1
    assert await message_state(sms_hub, message_id) == ("sent", None)
    rows = await sms_hub.db.read(lambda conn: conn.execute(select(outbox.c.attempts)).all())
    assert rows[0].attempts == 2


async def test_the_running_worker_sends_a_reply_as_soon_as_it_is_committed(
    database_url, clock, peer
):
    """Whatever queues a message wakes the outbox on commit; nobody has to remember to."""
    hub = Hub(sms_settings(database_url, peer.url("/callback")), clock)
    await hub.start(run_workers=True)
    try:
        agent, conversation_id = await customer_writes(hub)
        await reply(hub, agent, conversation_id, "sent by the worker")
        await until(lambda: bool(peer.received), "the worker sends the reply", 2.0)
        assert [r.json()["text"] for r in peer.received] == ["sent by the worker"]
    finally:
        await hub.stop()


async def test_a_peer_that_never_answers_holds_up_only_its_own_conversation(database_url, clock):
    """A stalled send waits for its connector's timeout; every other conversation goes on."""
    async with StallingPeer(stalls=lambda request: request.json()["text"] == "stalls") as peer:
        hub = Hub(sms_settings(database_url, peer.url("/callback")), clock)
        await hub.start(run_workers=False)
        try:
            agent_id = await add_agent(hub, "maria@example.com")
            stalled, other, later = [await conversation_of(hub, n) for n in range(3)]
            for conversation_id, text in [
                (stalled, "stalls"),
                (stalled, "behind the stalled one"),
                (other, "first"),
                (other, "second"),
            ]:
                await queue_reply(hub, agent_id, conversation_id, text)
            passing = asyncio.create_task(hub.outbox.run_due())
            await until(
                lambda: {"stalls", "first", "second"} <= texts_received(peer),
                "the other conversation's replies leave while one send stalls",
            )
            await queue_reply(hub, agent_id, later, "written during the stall")
            hub.outbox.wake()
            await until(
                lambda: "written during the stall" in texts_received(peer),
                "a reply written during the stall leaves at once",
            )
            assert "behind the stalled one" not in texts_received(peer)
            assert not passing.done()
        finally:
            peer.stalls = None
    try:
        assert await asyncio.wait_for(passing, 20) == 4
    finally:
        await hub.stop()


async def conversation_of(hub: Hub, number: int) -> int:
    message = InboundMessage(
        channel="sms",
        external_id=f"in-{number}",
        sender=Address("phone", f"+49151{number:05d}"),
        text="hello?",
    )
    return (await hub.ingest(message)).conversation_id


def texts_received(peer: RecordingPeer) -> set[str]:
    return {request.json()["text"] for request in peer.received}
