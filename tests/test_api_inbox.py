from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.db.schema import outbox
from tests.support.hubs import add_agent
from tests.support.messages import chat, proven


def sms(number: str, external_id: str, text: str = "hi", **kw) -> InboundMessage:
    return InboundMessage(
        channel="sms", external_id=external_id, sender=Address("phone", number), text=text, **kw
    )


@pytest.fixture
async def people(hub: Hub, browser_factory):
    ids = {
        "admin": await add_agent(hub, "admin@example.com", role="admin"),
        "maria": await add_agent(hub, "maria@example.com"),
        "tom": await add_agent(hub, "tom@example.com"),
    }
    browsers = {name: await (await browser_factory()).login(f"{name}@example.com") for name in ids}
    return ids, browsers


async def test_owner_sees_conversation_with_cross_channel_history(hub: Hub, people):
    ids, browsers = people
    email = proven("email", "lena@example.org")
    first = await hub.ingest(
        chat("v1", "1", "hi from the website", linked=email, sender_name="Lena")
    )
    await hub.ingest(sms("+49151", "s1", "and now by SMS", linked=email))
    owner = await owner_name(hub, ids, first.conversation_id)
    listing = await browsers[owner].get("/api/conversations")
    assert [c["id"] for c in listing] == [first.conversation_id]
    assert listing[0]["unread_count"] == 2
    detail = await browsers[owner].get(f"/api/conversations/{first.conversation_id}")
    assert [(m["channel"], m["text"]) for m in detail["messages"]] == [
        ("webchat", "hi from the website"),
        ("sms", "and now by SMS"),
    ]
    assert {(i["kind"], i["address"]) for i in detail["identities"]} == {
        ("webchat", "v1"),
        ("email", "lena@example.org"),
        ("phone", "+49151"),
    }


async def owner_of(hub: Hub, conversation_id: int) -> int:
    from hub.db.schema import conversations, customers

    return await hub.db.read(
        lambda conn: conn.execute(
            select(customers.c.owner_id)
            .join(conversations, conversations.c.customer_id == customers.c.id)
            .where(conversations.c.id == conversation_id)
        ).scalar_one()
    )


async def owner_name(hub: Hub, ids: dict[str, int], conversation_id: int) -> str:
    owner_id = await owner_of(hub, conversation_id)
    return next(name for name, agent_id in ids.items() if agent_id == owner_id)


async def test_other_agent_cannot_read_or_reply(hub: Hub, people):
    ids, browsers = people
    result = await hub.ingest(chat("v1", "1"))
    owner = await owner_name(hub, ids, result.conversation_id)
    other = "tom" if owner != "tom" else "maria"
    path = f"/api/conversations/{result.conversation_id}"
    status, body = await browsers[other].call("GET", path)
    assert status == 403
    assert "another agent" in body["error"]
    status, _ = await browsers[other].call("POST", path + "/replies", json={"text": "hi"})
    assert status == 403
    assert await browsers[other].get("/api/conversations") == []
    assert (await browsers["admin"].get(path))["id"] == result.conversation_id


async def test_reply_defaults_to_the_channel_the_customer_last_wrote_on(hub: Hub, people):
    ids, browsers = people
    email = proven("email", "lena@example.org")
    result = await hub.ingest(chat("v1", "1", linked=email))
    await hub.ingest(sms("+49151", "s1", linked=email))
    owner = await owner_name(hub, ids, result.conversation_id)
    path = f"/api/conversations/{result.conversation_id}"
    default = (await browsers[owner].get(path))["default_identity_id"]
    reply = await browsers[owner].post(path + "/replies", {"text": "Got it"}, expect=202)
    assert reply["channel"] == "sms"
    assert reply["identity_id"] == default
    assert reply["state"] == "queued"
    assert reply["direction"] == "out"
    webchat_identity = next(
        i["id"] for i in (await browsers[owner].get(path))["identities"] if i["kind"] == "webchat"
    )
    chosen = await browsers[owner].post(
        path + "/replies", {"text": "Also here", "identity_id": webchat_identity}, expect=202
    )
    assert chosen["channel"] == "webchat"
    queued = await hub.db.read(
        lambda conn: conn.execute(
            select(outbox.c.channel, outbox.c.state).order_by(outbox.c.id)
        ).all()
    )
    assert [tuple(r) for r in queued] == [("sms", "pending"), ("webchat", "pending")]
    detail = await browsers[owner].get(path)
    assert detail["unread_count"] == 0


async def test_reply_to_an_identity_of_another_customer_is_refused(hub: Hub, people):
    _, browsers = people
    mine = await hub.ingest(chat("v1", "1"))
    await hub.ingest(chat("v2", "2"))
    path = f"/api/conversations/{mine.conversation_id}/replies"
    status, body = await browsers["admin"].call("POST", path, json={"text": "x", "identity_id": 2})
    assert status == 422
    assert "not one of this customer's identities" in body["error"]


async def test_notes_are_internal_and_resolve_reopen(hub: Hub, people):
    _, browsers = people
    result = await hub.ingest(chat("v1", "1"))
    admin = browsers["admin"]
    path = f"/api/conversations/{result.conversation_id}"
    note = await admin.post(path + "/notes", {"text": "VIP, be nice"}, expect=201)
    assert note["direction"] == "note"
    assert note["channel"] is None
    history = await hub.identity_history(Address("webchat", "v1"), 10)
    assert [m["text"] for m in history] == ["hello"]
    assert (await admin.post(path + "/resolve", expect=200))["state"] == "resolved"
    again = await hub.ingest(chat("v1", "2", "one more thing"))
    assert again.conversation_id != result.conversation_id
    status, body = await admin.call("POST", path + "/reopen")
    assert status == 422
    assert str(again.conversation_id) in body["error"]
    await admin.post(f"/api/conversations/{again.conversation_id}/resolve", expect=200)
    assert (await admin.post(path + "/reopen", expect=200))["state"] == "open"


async def test_messages_name_their_author(hub: Hub, people):
    ids, browsers = people
    result = await hub.ingest(chat("v1", "1"))
    owner = await owner_name(hub, ids, result.conversation_id)
    path = f"/api/conversations/{result.conversation_id}"
    with hub.bus.subscribe(ids[owner]) as owner_feed:
        note = await browsers["admin"].post(path + "/notes", {"text": "VIP"}, expect=201)
        live = await asyncio.wait_for(owner_feed.next_batch(), 5)
    assert note["author_name"] == "Admin"
    assert [e.payload["message"]["author_name"] for e in live] == ["Admin"]
    history = (await browsers[owner].get(path))["messages"]
    assert [(m["author_id"], m["author_name"]) for m in history] == [
        (None, None),
        (ids["admin"], "Admin"),
    ]


async def test_filters_mine_by_state(hub: Hub, people):
    _, browsers = people
    a = await hub.ingest(chat("v1", "1"))
    await hub.ingest(chat("v2", "2"))
    admin = browsers["admin"]
    await admin.post(f"/api/conversations/{a.conversation_id}/resolve", expect=200)
    everything = await admin.get("/api/conversations?scope=all")
    assert len(everything) == 2
    resolved = await admin.get("/api/conversations?scope=all&state=resolved")
    assert [c["id"] for c in resolved] == [a.conversation_id]
    status, _ = await browsers["maria"].call("GET", "/api/conversations?scope=all")
    assert status == 403
