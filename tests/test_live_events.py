"""The inbox's live WebSocket: events as they happen, and exact replay after a drop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import aiohttp
import pytest

from hub.api.live import REPLAY_LIMIT, newest_event_id
from hub.app import Hub
from hub.db.database import Tx
from hub.events import store_broadcast
from tests.support.hubs import Browser, add_agent
from tests.support.live import LiveEvents
from tests.support.messages import chat


@pytest.fixture
async def maria(hub: Hub, browser_factory):
    await add_agent(hub, "maria@example.com")
    return await (await browser_factory()).login("maria@example.com")


async def test_new_message_reaches_the_owner_live(hub: Hub, maria):
    async with maria.session.ws_connect(maria.url("/api/events")) as socket:
        live = LiveEvents(socket)
        _, ready = await live.until_ready()
        result = await hub.ingest(chat("v1", "1", "is anyone there?"))
        event = await live.next()
    assert event["kind"] == "message.created"
    assert event["id"] > ready["last_id"]
    assert event["conversation_id"] == result.conversation_id
    assert event["data"]["message"]["text"] == "is anyone there?"
    assert event["data"]["customer"]["name"] == "v1"


async def test_messages_arriving_together_share_a_frame(hub: Hub, maria):
    async with maria.session.ws_connect(maria.url("/api/events")) as socket:
        await LiveEvents(socket).until_ready()
        await asyncio.gather(*(hub.ingest(chat(f"v{n}", str(n), f"burst {n}")) for n in range(10)))
        frames: list[list[dict]] = []
        while sum(len(frame) for frame in frames) < 10:
            frames.append(json.loads((await socket.receive(timeout=5)).data))

    texts = sorted(event["data"]["message"]["text"] for frame in frames for event in frame)
    assert texts == sorted(f"burst {n}" for n in range(10))
    assert len(frames) < 10, "events published together leave in one frame"


async def test_reconnect_replays_exactly_the_missed_events(hub: Hub, maria, browser_factory):
    await add_agent(hub, "tom@example.com")
    async with maria.session.ws_connect(maria.url("/api/events")) as socket:
        events = LiveEvents(socket)
        await events.until_ready()
        await hub.ingest(chat("v1", "1", "before the drop"))
        seen = await events.next()
    last_seen = seen["id"]

    await hub.ingest(chat("v1", "2", "during the drop 1"))
    await hub.ingest(chat("v2", "3", "for tom, not maria"))
    await hub.ingest(chat("v1", "4", "during the drop 2"))

    async with maria.session.ws_connect(maria.url(f"/api/events?after={last_seen}")) as socket:
        events = LiveEvents(socket)
        replayed, ready = await events.until_ready()
        await hub.ingest(chat("v1", "5", "after reconnecting"))
        live = await events.next()
        await hub.ingest(chat("v1", "6", "and one more"))
        live_2 = await events.next()

    texts = [f["data"]["message"]["text"] for f in replayed]
    assert texts == ["during the drop 1", "during the drop 2"]
    assert [f["id"] for f in replayed] == sorted(f["id"] for f in replayed)
    assert ready["last_id"] == replayed[-1]["id"]
    assert live["data"]["message"]["text"] == "after reconnecting"
    assert live_2["data"]["message"]["text"] == "and one more"


async def test_events_socket_needs_a_session(server):
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(server.make_url("/api/events"))
    assert refused.value.status == 401


async def test_cookie_socket_from_another_origin_is_refused(maria):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await maria.session.ws_connect(
            maria.url("/api/events"), headers={"Origin": "https://evil.example"}
        )
    assert refused.value.status == 403


async def test_bad_after_parameter_is_refused(maria):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await maria.session.ws_connect(maria.url("/api/events?after=yesterday"))
    assert refused.value.status == 400


async def closed_with(socket: aiohttp.ClientWebSocketResponse) -> tuple[int, str]:
    """The close code and reason the hub sent, skipping any event frames before it."""
    while True:
        frame = await socket.receive(timeout=5)
        if frame.type is aiohttp.WSMsgType.CLOSE:
            return frame.data, frame.extra
        assert frame.type is aiohttp.WSMsgType.TEXT, frame


async def still_live(browser: Browser, socket: aiohttp.ClientWebSocketResponse) -> None:
    """The socket still gets events: the agent marks themselves away, which all are told."""
    await browser.patch("/api/me/status", {"away": True}, expect=200)
    me = browser.agent["id"]
    seen = await LiveEvents(socket).until(
        lambda e: e["kind"] == "agent.updated" and e["data"]["id"] == me
    )
    assert seen[-1]["data"]["away"] is True


@asynccontextmanager
async def listening(browser: Browser) -> AsyncIterator[aiohttp.ClientWebSocketResponse]:
    """The browser's live-event socket, once it is ready."""
    async with browser.session.ws_connect(browser.url("/api/events")) as socket:
        await LiveEvents(socket).until_ready()
        yield socket


async def test_signing_out_closes_that_sessions_sockets_only(hub: Hub, maria, browser_factory):
    elsewhere = await (await browser_factory()).login("maria@example.com")
    async with listening(maria) as signing_out, listening(elsewhere) as staying:
        await maria.post("/api/logout", expect=204)
        assert await closed_with(signing_out) == (4401, "session ended")
        await still_live(elsewhere, staying)


@pytest.mark.parametrize(
    ("change", "reason"),
    [({"password": "a whole new password"}, "password"), ({"active": False}, "deactivated")],
)
async def test_a_password_reset_or_deactivation_closes_the_agents_sockets(
    hub: Hub, maria, browser_factory, change, reason
):
    await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    async with listening(maria) as socket, listening(admin) as admins_socket:
        await admin.patch(f"/api/admin/agents/{maria.agent['id']}", change, expect=200)
        assert await closed_with(socket) == (4401, "session ended"), reason
        await still_live(admin, admins_socket)


async def test_a_socket_closes_when_its_session_expires(hub: Hub, maria, clock):
    async with listening(maria) as socket:
        clock.advance(hours=hub.settings.auth.session_hours, seconds=1)
        await hub.ingest(chat("v1", "late", "after the session's end"))
        assert await closed_with(socket) == (4401, "session ended")


async def test_session_ends_are_not_replayed_as_events(hub: Hub, maria, browser_factory):
    other = await (await browser_factory()).login("maria@example.com")
    await other.post("/api/logout", expect=204)
    async with maria.session.ws_connect(maria.url("/api/events?after=0")) as socket:
        replayed, _ = await LiveEvents(socket).until_ready()
    assert [event["kind"] for event in replayed] == []


async def first_frame_and_close(browser: Browser, after: int) -> tuple[dict, int | None]:
    """What a socket resuming after ``after`` is sent first, and how it closes."""
    async with browser.session.ws_connect(browser.url(f"/api/events?after={after}")) as socket:
        first = await LiveEvents(socket).next()
        closing = await socket.receive(timeout=5)
    assert closing.type is aiohttp.WSMsgType.CLOSE, closing
    return first, closing.data


async def test_a_cursor_above_the_newest_event_gets_reset_at_once(hub: Hub, maria):
    await hub.ingest(chat("v1", "1", "the newest event"))
    newest = await hub.db.read(newest_event_id)
    first, code = await first_frame_and_close(maria, newest + 1000)
    assert first["kind"] == "reset"
    assert str(newest) in first["reason"]
    assert code == aiohttp.WSCloseCode.OK


async def test_a_cursor_too_far_behind_gets_reset_before_any_event(hub: Hub, maria):
    def many_events(tx: Tx) -> None:
        for n in range(REPLAY_LIMIT + 1):
            tx.emit("agent.updated", {"n": n}, to=[maria.agent["id"]])

    await hub.db.write(many_events)
    first, code = await first_frame_and_close(maria, 0)
    assert first["kind"] == "reset", "nothing is replayed to a client that must reload anyway"
    assert code == aiohttp.WSCloseCode.OK


async def test_agents_are_never_sent_what_is_broadcast_to_channels(hub: Hub, maria):
    async with maria.session.ws_connect(maria.url("/api/events")) as socket:
        live = LiveEvents(socket)
        _, ready = await live.until_ready()
        relayed = {"visitor": "v1", "frame": {"type": "message"}}
        await hub.db.write(partial(store_broadcast, "webchat", relayed))
        await hub.ingest(chat("v1", "1", "after the broadcast"))
        first = await live.next()
    async with maria.session.ws_connect(
        maria.url(f"/api/events?after={ready['last_id']}")
    ) as socket:
        replayed, _ = await LiveEvents(socket).until_ready()
    assert first["kind"] == "message.created"
    assert [event["kind"] for event in replayed] == ["message.created"]
