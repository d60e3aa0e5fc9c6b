"""The web chat connector over its real WebSocket, as the widget speaks it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from connectors.base import Address, OutboundMessage
from connectors.webchat import connector as webchat_connector
from connectors.webchat.connector import MAX_FRAME_BYTES
from hub.app import Hub
from hub.db.schema import identities, identity_claims, messages
from hub.events import store_broadcast
from tests.conftest import make_settings
from tests.support.hubs import add_agent

TIMEOUT = 5


class Widget:
    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket

    async def frame(self) -> dict:
        return await asyncio.wait_for(self.socket.receive_json(), TIMEOUT)

    async def hello(self, token: str | None = None, **fields) -> dict:
        await self.socket.send_json({"type": "hello", "token": token, **fields})
        return await self.frame()

    async def say(self, client_id: str, text: str, **fields) -> dict:
        await self.socket.send_json(
            {"type": "message", "client_id": client_id, "text": text, **fields}
        )
        return await self.frame()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def open_widget(session, server, **headers) -> Widget:
    socket = await session.ws_connect(server.make_url("/webchat/webchat/ws"), headers=headers)
    return Widget(socket)


async def count_messages(hub: Hub) -> int:
    return await hub.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar_one()
    )


async def test_visitor_message_is_stored_and_acknowledged(hub: Hub, server, session):
    widget = await open_widget(session, server)
    welcome = await widget.hello(name="Lena")
    assert welcome["type"] == "welcome"
    assert welcome["history"] == []
    ack = await widget.say("client-0001", "Hello from the website")
    assert ack == {
        "type": "ack",
        "client_id": "client-0001",
        "message_id": ack["message_id"],
        "duplicate": False,
    }
    assert await count_messages(hub) == 1


async def test_resent_message_after_a_drop_is_stored_once(hub: Hub, server, session):
    widget = await open_widget(session, server)
    token = (await widget.hello())["token"]
    first = await widget.say("client-0001", "Hello")
    await widget.socket.close()
    widget = await open_widget(session, server)
    await widget.hello(token)
    again = await widget.say("client-0001", "Hello")
    assert again["duplicate"] is True
    assert again["message_id"] == first["message_id"]
    assert await count_messages(hub) == 1


async def test_token_keeps_the_same_customer_and_shows_history(hub: Hub, server, session):
    widget = await open_widget(session, server)
    token = (await widget.hello())["token"]
    await widget.say("client-0001", "first visit")
    await widget.socket.close()
    widget = await open_widget(session, server)
    welcome = await widget.hello(token)
    assert [(m["from"], m["text"]) for m in welcome["history"]] == [("visitor", "first visit")]
    await widget.say("client-0002", "second visit")
    visitors = await hub.db.read(
        lambda conn: conn.execute(
            select(func.count()).select_from(identities).where(identities.c.kind == "webchat")
        ).scalar_one()
    )
    assert visitors == 1


async def test_forged_token_gets_a_new_visitor_not_someone_elses_history(hub, server, session):
    widget = await open_widget(session, server)
    token = (await widget.hello())["token"]
    await widget.say("client-0001", "private")
    visitor = token.split(".")[0]
    stranger = await open_widget(session, server)
    welcome = await stranger.hello(f"{visitor}.{'0' * 32}")
    assert welcome["history"] == []
    assert welcome["token"].split(".")[0] != visitor


async def conversations_of(hub: Hub, *acks: dict) -> set[int]:
    ids = [ack["message_id"] for ack in acks]
    return await hub.db.read(
        lambda conn: set(
            conn.execute(select(messages.c.conversation_id).where(messages.c.id.in_(ids))).scalars()
        )
    )


async def test_a_typed_email_is_each_visitors_unverified_claim(hub: Hub, server, session):
    laptop = await open_widget(session, server)
    await laptop.hello(email="Lena@Example.org")
    one = await laptop.say("client-0001", "from my laptop")
    phone = await open_widget(session, server)
    await phone.hello()
    two = await phone.say("client-0002", "from my phone", email="lena@example.org")
    assert len(await conversations_of(hub, one, two)) == 2
    claims = await hub.db.read(
        lambda conn: conn.execute(select(identity_claims.c.address, identity_claims.c.reason)).all()
    )
    assert [tuple(c) for c in claims] == [("lena@example.org", "typed")] * 2
    emails = await hub.db.read(
        lambda conn: conn.execute(
            select(func.count()).select_from(identities).where(identities.c.kind == "email")
        ).scalar_one()
    )
    assert emails == 0


async def test_agent_reply_appears_live_and_after_reopening(
    hub: Hub, server, session, browser_factory
):
    await add_agent(hub, "maria@example.com")
    maria = await (await browser_factory()).login("maria@example.com")
    widget = await open_widget(session, server)
    token = (await widget.hello())["token"]
    await widget.say("client-0001", "Do you ship to Norway?")
    conversation = (await maria.get("/api/conversations"))[0]
    reply = await maria.post(
        f"/api/conversations/{conversation['id']}/replies", {"text": "Yes, we do!"}, expect=202
    )
    await hub.outbox.run_due()
    live = await widget.frame()
    assert live["type"] == "message"
    assert live["message"]["id"] == reply["id"]
    assert live["message"]["text"] == "Yes, we do!"
    assert live["message"]["from"] == "agent"
    await widget.socket.close()

    await maria.post(
        f"/api/conversations/{conversation['id']}/replies",
        {"text": "While you were away"},
        expect=202,
    )
    await hub.outbox.run_due()
    reopened = await open_widget(session, server)
    welcome = await reopened.hello(token)
    assert [(m["from"], m["text"]) for m in welcome["history"]] == [
        ("visitor", "Do you ship to Norway?"),
        ("agent", "Yes, we do!"),
        ("agent", "While you were away"),
    ]


async def test_bad_frames_get_an_error_and_nothing_is_stored(hub: Hub, server, session):
    widget = await open_widget(session, server)
    await widget.socket.send_str("not json")
    assert (await widget.frame())["type"] == "error"
    await widget.socket.send_json({"type": "message", "client_id": "client-0001", "text": "x"})
    assert (await widget.frame())["error"] == "say hello first"
    await widget.hello()
    bad = await widget.say("no", "client id too short")
    assert bad["type"] == "error"
    assert "client_id" in bad["error"]
    too_long = await widget.say("client-0002", "x" * 5001)
    assert too_long["error"] == "over 5000 characters"
    assert await count_messages(hub) == 0


async def test_an_oversized_frame_closes_the_socket_as_too_big(hub: Hub, server, session):
    widget = await open_widget(session, server)
    await widget.hello()
    await widget.socket.send_str("x" * (MAX_FRAME_BYTES + 1))
    closing = await widget.socket.receive()
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert widget.socket.close_code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
    assert await count_messages(hub) == 0


async def test_a_frame_nested_too_deep_is_refused_and_the_socket_stays_open(
    hub: Hub, server, session
):
    widget = await open_widget(session, server)
    await widget.hello()
    await widget.socket.send_str("[" * 16_000 + "]" * 16_000)
    refused = await widget.frame()
    assert refused["type"] == "error"
    assert refused["error"].startswith("bad frame")
    ack = await widget.say("client-0001", "still here")
    assert ack["type"] == "ack"


async def test_a_refused_message_names_its_client_id(hub: Hub, server, session):
    widget = await open_widget(session, server)
    await widget.hello()
    blank = await widget.say("client-0001", "   ")
    assert (blank["type"], blank["client_id"]) == ("error", "client-0001")
    assert "text" in blank["error"]
    odd = await widget.say("client-0002", "hi", colour="red")
    assert odd["client_id"] == "client-0002"
    numbered = await widget.say(42, "hi")
    assert numbered["type"] == "error"
    assert "client_id" not in numbered
    assert await count_messages(hub) == 0


class ClosingSocket:
    """A visitor's socket that closed after the open check, as a dropped tab's does."""

    closed = False

    async def send_json(self, _data: object) -> None:
        raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")

    async def close(self, **_how: object) -> None:
        pass


async def test_a_reply_reaches_the_open_widget_when_another_tab_just_closed(
    hub: Hub, server, session, browser_factory
):
    await add_agent(hub, "maria@example.com")
    maria = await (await browser_factory()).login("maria@example.com")
    widget = await open_widget(session, server)
    token = (await widget.hello())["token"]
    await widget.say("client-0001", "Anyone there?")
    hub.connectors["webchat"]._sockets[token.split(".")[0]].add(ClosingSocket())
    conversation = (await maria.get("/api/conversations"))[0]
    path = f"/api/conversations/{conversation['id']}"
    await maria.post(path + "/replies", {"text": "Yes!"}, expect=202)
    await hub.outbox.run_due()
    assert (await widget.frame())["message"]["text"] == "Yes!"
    assert [m["state"] for m in (await maria.get(path))["messages"]] == ["received", "sent"]


class StuckSocket:
    """A visitor's socket whose client stopped reading: every write waits forever."""

    closed = False

    async def send_json(self, _data: object) -> None:
        await asyncio.Event().wait()

    async def close(self, **_how: object) -> None:
        pass


async def test_a_widget_that_stopped_reading_holds_up_no_other(
    hub: Hub, server, session, monkeypatch
):
    monkeypatch.setattr(webchat_connector, "PUSH_SECONDS", 0.2)
    widget = await open_widget(session, server)
    visitor = (await widget.hello())["token"].split(".")[0]
    webchat = hub.connectors["webchat"]
    webchat._sockets["stuck"].add(StuckSocket())
    for n, to in enumerate(("stuck", visitor)):
        sent = await webchat.send(
            OutboundMessage(n, 1, "webchat", Address("webchat", to), f"to {to}")
        )
        assert sent.relay is not None
        await hub.db.write(partial(store_broadcast, "webchat", dict(sent.relay)))
    assert (await widget.frame())["message"]["text"] == f"to {visitor}"


async def test_a_flood_is_slowed_down(hub: Hub, server, session):
    widget = await open_widget(session, server)
    await widget.hello()
    answers = [await widget.say(f"client-{i:04d}", f"message {i}") for i in range(12)]
    kinds = [a["type"] for a in answers]
    assert kinds.count("ack") >= 10
    assert "error" in kinds
    assert await count_messages(hub) == kinds.count("ack")


@pytest.fixture
async def shop_only_server(database_url, clock) -> AsyncIterator[TestServer]:
    """A hub whose widget may only be embedded on https://shop.example."""
    settings = make_settings(database_url)
    webchat = settings.channels[0].model_copy(update={"allowed_origins": ["https://shop.example"]})
    hub = Hub(settings.model_copy(update={"channels": [webchat]}), clock)
    await hub.start(run_workers=False)
    server = TestServer(hub.web_app(), host="127.0.0.1")
    await server.start_server()
    try:
        yield server
    finally:
        await server.close()
        await hub.stop()


async def test_origins_outside_the_allowed_list_are_refused(shop_only_server, session):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_widget(session, shop_only_server, Origin="https://evil.example")
    assert refused.value.status == 403
    widget = await open_widget(session, shop_only_server, Origin="https://shop.example")
    await widget.socket.close()


async def test_the_hubs_own_demo_page_may_open_the_widget(shop_only_server, session):
    own_origin = f"http://{shop_only_server.host}:{shop_only_server.port}"
    widget = await open_widget(session, shop_only_server, Origin=own_origin)
    assert (await widget.hello())["type"] == "welcome"


async def test_stopping_the_web_server_closes_open_widgets_as_going_away(hub: Hub, session):
    server = TestServer(hub.web_app(), host="127.0.0.1")
    await server.start_server()
    widget = await open_widget(session, server)
    await widget.hello()
    await asyncio.wait_for(server.close(), TIMEOUT)
    closing = await asyncio.wait_for(widget.socket.receive(), TIMEOUT)
    assert closing.type == aiohttp.WSMsgType.CLOSE
    assert closing.data == aiohttp.WSCloseCode.GOING_AWAY
