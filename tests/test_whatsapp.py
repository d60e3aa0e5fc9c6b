"""The WhatsApp channel against a local Graph API and Meta's signed webhook posts: the
handshake, signatures, messages in, statuses, one phone identity with SMS by E.164, and
replies: free-form inside the 24-hour window, the re-engagement template (or a failure)
after it, retries and refusals."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from config import Settings
from connectors.base import AuthFailed
from connectors.whatsapp.payloads import signature
from hub.app import Hub
from hub.conversation_access import load_access
from hub.db.schema import attachments, conversations, events, messages, quarantine
from hub.db.schema_reach import agent_notices
from hub.db.schema_reports import waits
from tests.support.clock import FakeClock
from tests.support.hubs import Browser, signed_in_team, started_hub
from tests.support.replies import message_state, reply, stored
from tests.support.twilio_api import ACCOUNT_SID, AUTH_TOKEN, HUB_NUMBER, incoming_sms
from tests.support.whatsapp_api import (
    ACCESS_TOKEN,
    APP_SECRET,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    FakeGraphApi,
    encoded,
    graph_error,
    incoming,
    incoming_text,
    reengagement_needed,
    sign,
    status_update,
    too_many_requests,
)
from tests.test_twilio import PUBLIC, text_in

LENA = "+4915123456789"
LENA_WA = LENA.lstrip("+")
ENVIRON = {
    "WA_TOKEN": ACCESS_TOKEN,
    "WA_SECRET": APP_SECRET,
    "WA_VERIFY": VERIFY_TOKEN,
    "TWILIO_TOKEN": AUTH_TOKEN,
}
WEBHOOK = "/whatsapp/whatsapp/webhook"
TEMPLATE = {"name": "reopen_conversation", "language": "de"}


def whatsapp_channel(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "whatsapp",
        "name": "whatsapp",
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token_env": "WA_TOKEN",
        "app_secret_env": "WA_SECRET",
        "verify_token_env": "WA_VERIFY",
        "base_url": base_url,
        "max_media_bytes": 1000,
        **extra,
    }


def whatsapp_settings(database_url: str, base_url: str, **extra: Any) -> Settings:
    twilio = {
        "kind": "twilio",
        "name": "text",
        "account_sid": ACCOUNT_SID,
        "auth_token_env": "TWILIO_TOKEN",
        "from_number": HUB_NUMBER,
        "base_url": "http://127.0.0.1:9",
    }
    return Settings.model_validate(
        {
            "database": {"url": database_url},
            "http": {"public_url": PUBLIC},
            "outbox": {"base_delay_seconds": 10},
            "channels": [whatsapp_channel(base_url, **extra), twilio],
        },
        context={"environ": ENVIRON},
    )


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi() as api:
        yield api


@pytest.fixture
def template(request: pytest.FixtureRequest) -> dict[str, str] | None:
    """The channel's re-engagement template (a test may set ``None`` through parametrize)."""
    return getattr(request, "param", TEMPLATE)


@pytest.fixture
async def hub(
    database_url: str, clock: FakeClock, graph: FakeGraphApi, template: dict[str, str] | None
) -> AsyncIterator[Hub]:
    settings = whatsapp_settings(database_url, graph.base_url, reengagement_template=template)
    async with started_hub(settings, clock) as hub:
        yield hub


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def team(hub: Hub, browser_factory: Any) -> dict[str, Browser]:
    return await signed_in_team(hub, browser_factory)


async def post_webhook(
    client: aiohttp.ClientSession,
    server: TestServer,
    payload: dict[str, Any],
    *,
    signed: str | None = "sign",
) -> tuple[int, str]:
    """POST ``payload`` as Meta does, signed with the app secret unless told otherwise."""
    body = encoded(payload)
    headers = {"Content-Type": "application/json"}
    if signed == "sign":
        headers["X-Hub-Signature-256"] = sign(body)
    elif signed is not None:
        headers["X-Hub-Signature-256"] = signed
    async with client.post(server.make_url(WEBHOOK), data=body, headers=headers) as response:
        return response.status, await response.text()


async def write_in(client, server, payload: dict[str, Any]) -> None:
    status, body = await post_webhook(client, server, payload)
    assert status == 200, body


# the handshake


def test_the_signature_is_the_hex_hmac_sha256_of_the_raw_body():
    body = b'{"object":"whatsapp_business_account","entry":[]}'
    assert signature("secret", body) == sign(body, "secret")
    assert signature("secret", body) != signature("secret", body + b" ")
    assert len(signature("secret", body)) == len("sha256=") + 64


async def test_the_handshake_echoes_the_challenge_for_our_verify_token(hub, server, client):
    query = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }
    async with client.get(server.make_url(WEBHOOK), params=query) as response:
        assert (response.status, await response.text()) == (200, "1158201444")


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guessed", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {},
    ],
)
async def test_a_handshake_without_our_verify_token_is_refused(hub, server, client, query):
    async with client.get(server.make_url(WEBHOOK), params=query) as response:
        assert response.status == 403
        assert await response.text() != "1"


# messages in


async def test_a_signed_text_is_stored_with_the_profile_name_and_an_e164_identity(
    hub, server, client, clock, team
):
    await write_in(
        client, server, incoming_text(LENA_WA, "Wo ist mein Paket?", clock.now(), wamid="wamid.A1")
    )
    [message] = await stored(hub)
    assert (message["external_id"], message["text"]) == ("wamid.A1", "Wo ist mein Paket?")
    assert (message["kind"], message["address"]) == ("phone", LENA)
    assert message["meta"]["timestamp"] == clock.now().replace(microsecond=0).isoformat()
    detail = await team["admin"].get(f"/api/conversations/{message['conversation_id']}")
    assert detail["customer"]["name"] == "Lena Vogel"


@pytest.mark.parametrize(
    ("how", "expected"),
    [("missing", 401), ("wrong secret", 403), ("body changed after signing", 403), ("sha1", 403)],
)
async def test_a_wrong_or_missing_signature_is_refused_and_nothing_stored(
    hub, server, client, clock, how, expected
):
    payload = incoming_text(LENA_WA, "hello", clock.now())
    body = encoded(payload)
    signed = {
        "missing": None,
        "wrong secret": sign(body, "another-secret"),
        "body changed after signing": sign(encoded(incoming_text(LENA_WA, "hi", clock.now()))),
        "sha1": "sha1=" + sign(body)[7:47],
    }[how]
    status, answer = await post_webhook(client, server, payload, signed=signed)
    assert status == expected
    assert "X-Hub-Signature-256" in answer
    assert await stored(hub) == []


async def test_a_signed_body_that_is_not_json_is_quarantined(hub, server, client):
    body = b"not json {"
    headers = {"X-Hub-Signature-256": sign(body), "Content-Type": "application/json"}
    async with client.post(server.make_url(WEBHOOK), data=body, headers=headers) as response:
        assert response.status == 200
    assert await stored(hub) == []

    def reasons(conn: Any) -> list[str]:
        return conn.execute(select(quarantine.c.reason)).scalars().all()

    assert await hub.db.read(reasons) == ["a WhatsApp webhook that is not JSON"]


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "whatsapp_business_account", "entry": "x"},
        {"entry": [{"changes": [{"field": "messages", "value": {"messages": "x"}}]}]},
        {"entry": [{"changes": [{"field": "messages", "value": {"contacts": [1]}}]}]},
        {
            "entry": [
                {
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messages": [
                                    {"id": "wamid.S", "from": LENA_WA, "type": "text", "text": "x"}
                                ]
                            },
                        }
                    ]
                }
            ]
        },
    ],
)
async def test_a_signed_webhook_of_an_unexpected_shape_is_quarantined(
    hub, server, client, payload, caplog
):
    with caplog.at_level(logging.INFO):
        status, _ = await post_webhook(client, server, payload)
    assert status == 200
    assert await stored(hub) == []
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert warnings == [
        "channel whatsapp: quarantined input 1: a WhatsApp webhook of a shape the hub does not read"
    ], "one line, naming the quarantined input"

    def reasons(conn: Any) -> list[str]:
        return conn.execute(select(quarantine.c.reason)).scalars().all()

    assert await hub.db.read(reasons) == ["a WhatsApp webhook of a shape the hub does not read"]


async def test_a_redelivered_message_is_stored_once(hub, server, client, clock):
    payload = incoming_text(LENA_WA, "once", clock.now(), wamid="wamid.A2")
    await write_in(client, server, payload)
    await write_in(client, server, payload)
    assert [m["external_id"] for m in await stored(hub)] == ["wamid.A2"]


async def test_sms_and_whatsapp_from_one_number_are_one_identity(hub, server, client, clock):
    await write_in(client, server, incoming_text(LENA_WA, "on WhatsApp", clock.now()))
    await text_in(client, server, incoming_sms(LENA, "and by SMS"))
    first, second = await stored(hub)
    assert first["address"] == second["address"] == LENA
    assert first["customer_id"] == second["customer_id"]


PHOTO = b"\xff\xd8\xff\xe0 a small jpeg"


async def attachments_of(hub: Hub, message_id: int) -> list[tuple[str, str, bytes | None]]:
    def read(conn: Any) -> list[Any]:
        return conn.execute(
            select(attachments.c.name, attachments.c.content_type, attachments.c.data)
            .where(attachments.c.message_id == message_id)
            .order_by(attachments.c.position)
        ).all()

    return [tuple(row) for row in await hub.db.read(read)]


async def test_a_picture_is_fetched_through_the_media_endpoint_and_stored(
    hub, server, client, clock, graph
):
    media_id = graph.add_media(PHOTO, "image/jpeg")
    image = {"caption": "So kam es an", "mime_type": "image/jpeg", "sha256": "x", "id": media_id}
    await write_in(client, server, incoming(LENA_WA, "image", image, clock.now()))
    [message] = await stored(hub)
    assert message["text"] == "So kam es an"
    assert await attachments_of(hub, message["id"]) == [
        (f"image-{media_id}.jpg", "image/jpeg", PHOTO)
    ]
    assert graph.downloads == [media_id]


async def test_a_document_over_the_limit_is_listed_not_stored(hub, server, client, clock, graph):
    media_id = graph.add_media(b"%PDF" + b"x" * 2000, "application/pdf")
    document = {"filename": "Rechnung.pdf", "mime_type": "application/pdf", "id": media_id}
    await write_in(client, server, incoming(LENA_WA, "document", document, clock.now()))
    [message] = await stored(hub)
    assert await attachments_of(hub, message["id"]) == [("Rechnung.pdf", "application/pdf", None)]
    assert graph.downloads == []  # the declared size was enough to say no


@pytest.mark.parametrize(
    ("kind", "content", "text"),
    [
        (
            "location",
            {
                "latitude": 52.52,
                "longitude": 13.405,
                "name": "Packstation 123",
                "address": "Alexanderplatz 1, Berlin",
            },
            "Location: Packstation 123, Alexanderplatz 1, Berlin (52.52, 13.405)",
        ),
        (
            "contacts",
            [
                {
                    "name": {"formatted_name": "Jonas Vogel", "first_name": "Jonas"},
                    "phones": [{"phone": "+49 30 1234567", "type": "HOME"}],
                }
            ],
            "Contact: Jonas Vogel (+49 30 1234567)",
        ),
        (
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Ja, bitte"}},
            "Chose: Ja, bitte",
        ),
        (
            "interactive",
            {
                "type": "list_reply",
                "list_reply": {"id": "slot-2", "title": "Dienstag", "description": "9-12"},
            },
            "Chose: Dienstag",
        ),
        ("button", {"payload": "reopen", "text": "Antworten"}, "Chose: Antworten"),
        ("reaction", {"message_id": "wamid.OURS", "emoji": "\U0001f44d"}, "Reacted \U0001f44d"),
        ("order", {"catalog_id": "1"}, "(a WhatsApp order message the hub cannot show)"),
    ],
)
async def test_every_other_inbound_type_is_stored_in_words(
    hub, server, client, clock, kind, content, text
):
    await write_in(client, server, incoming(LENA_WA, kind, content, clock.now()))
    [message] = await stored(hub)
    assert message["text"] == text
    assert message["meta"]["type"] == kind


# reactions


THUMBS = "\U0001f44d"


def reaction_to(target: str, emoji: str | None, at: datetime, **extra: Any) -> dict[str, Any]:
    """A reaction as Meta posts it; ``emoji`` empty or left out: the customer took it back."""
    content = {"message_id": target} if emoji is None else {"message_id": target, "emoji": emoji}
    return incoming(LENA_WA, "reaction", content, at, **extra)


async def work_of(hub: Hub, conversation_id: int) -> dict[str, Any]:
    """What a customer message makes: messages, unread, a due reply, waits, notices, events."""

    def read(conn: Any) -> dict[str, Any]:
        def count(table: Any, *where: Any) -> int:
            return conn.execute(select(func.count()).select_from(table).where(*where)).scalar()

        row = conn.execute(
            select(conversations.c.unread_count, conversations.c.reply_due_at).where(
                conversations.c.id == conversation_id
            )
        ).one()
        return {
            "messages": count(messages),
            "unread": row.unread_count,
            "due": row.reply_due_at,
            "waits": count(waits),
            "notices": count(agent_notices),
            "created": count(events, events.c.kind == "message.created"),
        }

    return await hub.db.read(read)


async def reaction_events(hub: Hub) -> list[dict[str, Any]]:
    def read(conn: Any) -> list[Any]:
        return conn.execute(
            select(events.c.payload, events.c.conversation_id, events.c.agent_id)
            .where(events.c.kind == "message.reaction")
            .order_by(events.c.id)
        ).all()

    return [
        {**row.payload, "conversation_id": row.conversation_id, "to": row.agent_id}
        for row in await hub.db.read(read)
    ]


async def sent_reply(hub, server, client, clock, team, graph) -> tuple[int, int, str]:
    """Lena wrote, the admin answered: (conversation, our reply's id, its wamid)."""
    conversation = await conversation_of_lena(hub, server, client, clock)
    sent = await reply(team, conversation, "Sie ist unterwegs.")
    await hub.outbox.run_due()
    return conversation, sent["id"], graph.sent[-1]["wamid"]


async def test_a_reaction_to_our_reply_is_kept_on_it_once_however_often_meta_sends_it(
    hub, server, client, clock, team, graph
):
    conversation, reply_id, wamid = await sent_reply(hub, server, client, clock, team, graph)
    before = await work_of(hub, conversation)
    clock.advance(minutes=5)
    payload = reaction_to(wamid, THUMBS, clock.now(), wamid="wamid.R1")
    await write_in(client, server, payload)
    await write_in(client, server, payload)  # Meta delivers at least once
    reacted = {"emoji": THUMBS, "at": clock.now().replace(microsecond=0).isoformat()}
    assert (await message_state(hub, reply_id))[2]["reaction"] == reacted
    assert await work_of(hub, conversation) == before  # no message, wait, unread or notice
    [event] = await reaction_events(hub)
    access = await hub.db.read(lambda conn: load_access(conn, conversation))
    assert access.audience == [access.assignee_id], "Lena's owner handles her conversation"
    assert event == {
        "message_id": reply_id,
        "reaction": reacted,
        "conversation_id": conversation,
        "to": access.assignee_id,
    }
    detail = await team["admin"].get(f"/api/conversations/{conversation}")
    [shown] = [m for m in detail["messages"] if m["id"] == reply_id]
    assert shown["meta"]["reaction"] == reacted


async def test_a_reaction_to_the_customers_own_message_is_kept_on_it(
    hub, server, client, clock, team
):
    await write_in(client, server, incoming_text(LENA_WA, "Paket?", clock.now(), wamid="wamid.L1"))
    await write_in(client, server, reaction_to("wamid.L1", "\u2753", clock.now()))
    [message] = await stored(hub)
    assert message["meta"]["reaction"]["emoji"] == "\u2753"


@pytest.mark.parametrize("removed", [None, ""])
async def test_a_removed_reaction_leaves_none_and_a_late_redelivery_does_not_bring_it_back(
    hub, server, client, clock, team, graph, removed
):
    _, reply_id, wamid = await sent_reply(hub, server, client, clock, team, graph)
    thumbs = reaction_to(wamid, THUMBS, clock.now())
    await write_in(client, server, thumbs)
    clock.advance(minutes=1)
    await write_in(client, server, reaction_to(wamid, removed, clock.now()))
    taken_back = {"emoji": None, "at": clock.now().replace(microsecond=0).isoformat()}
    assert (await message_state(hub, reply_id))[2]["reaction"] == taken_back
    await write_in(client, server, thumbs)  # the first one again, late
    assert (await message_state(hub, reply_id))[2]["reaction"] == taken_back
    assert [e["reaction"]["emoji"] for e in await reaction_events(hub)] == [THUMBS, None]
    assert len(await stored(hub)) == 1


async def test_a_reaction_to_a_message_the_hub_does_not_know_is_kept_as_a_message(
    hub, server, client, clock, team
):
    await write_in(client, server, reaction_to("wamid.BEFORE-THE-HUB", THUMBS, clock.now()))
    [message] = await stored(hub)
    assert message["text"] == f"Reacted {THUMBS}"
    assert message["meta"]["reacts_to"] == "wamid.BEFORE-THE-HUB"
    assert "reaction" not in message["meta"]  # that key is for a reaction to the message
    assert await reaction_events(hub) == []


async def test_a_reaction_never_lands_on_another_customers_message(
    hub, server, client, clock, team
):
    await write_in(client, server, incoming_text(LENA_WA, "Paket?", clock.now(), wamid="wamid.L2"))
    jonas = incoming(
        "4917098765432",
        "reaction",
        {"message_id": "wamid.L2", "emoji": THUMBS},
        clock.now(),
        name="Jonas Vogel",
    )
    await write_in(client, server, jonas)
    lenas, jonass = await stored(hub)
    assert "reaction" not in lenas["meta"]
    assert (jonass["address"], jonass["text"]) == ("+4917098765432", f"Reacted {THUMBS}")


# statuses


async def test_statuses_record_delivery_and_read_and_never_go_back(
    hub, server, client, clock, team, graph
):
    await write_in(client, server, incoming_text(LENA_WA, "Hello?", clock.now()))
    conversation = (await stored(hub))[-1]["conversation_id"]
    sent = await reply(team, conversation, "Hi Lena")
    await hub.outbox.run_due()
    wamid = graph.sent[0]["wamid"]
    for status in ("sent", "read", "delivered"):
        payload = status_update(wamid, LENA_WA, status, clock.now(), str(sent["id"]))
        await write_in(client, server, payload)
    state, error, meta = await message_state(hub, sent["id"])
    assert (state, error) == ("sent", None)
    assert (meta["receipt"]["state"], meta["receipt"]["id"]) == ("read", wamid)


async def test_a_failed_status_fails_the_reply_with_the_error_code(
    hub, server, client, clock, team, graph
):
    await write_in(client, server, incoming_text(LENA_WA, "Hello?", clock.now()))
    conversation = (await stored(hub))[-1]["conversation_id"]
    sent = await reply(team, conversation, "Hi Lena")
    await hub.outbox.run_due()
    error = (131026, "Message undeliverable", "Message Undeliverable.")
    payload = status_update(
        graph.sent[0]["wamid"], LENA_WA, "failed", clock.now(), str(sent["id"]), error
    )
    await write_in(client, server, payload)
    state, reason, _ = await message_state(hub, sent["id"])
    assert (state, reason) == (
        "failed",
        "the message could not be delivered (the number may not be on WhatsApp, or the "
        "customer's app is too old or has not accepted WhatsApp's terms) (WhatsApp error 131026)",
    )


async def test_a_status_without_the_signature_changes_nothing(
    hub, server, client, clock, team, graph
):
    await write_in(client, server, incoming_text(LENA_WA, "Hello?", clock.now()))
    conversation = (await stored(hub))[-1]["conversation_id"]
    sent = await reply(team, conversation, "Hi Lena")
    await hub.outbox.run_due()
    error = (131026, "Message undeliverable", "")
    payload = status_update(
        graph.sent[0]["wamid"], LENA_WA, "failed", clock.now(), str(sent["id"]), error
    )
    assert (await post_webhook(client, server, payload, signed=None))[0] == 401
    assert (await message_state(hub, sent["id"]))[0] == "sent"


async def test_a_status_for_a_message_of_another_channel_changes_nothing(
    hub, server, client, clock, team
):
    """Callback data naming a message sent elsewhere (or a customer's) is not ours to mark."""
    await write_in(client, server, incoming_text(LENA_WA, "Hello?", clock.now()))
    theirs = (await stored(hub))[-1]
    payload = status_update("wamid.X", LENA_WA, "read", clock.now(), str(theirs["id"]))
    await write_in(client, server, payload)
    assert "receipt" not in (await message_state(hub, theirs["id"]))[2]


@pytest.mark.parametrize("callback_data", ["\u00b2", "\u0663", "12a"])
async def test_a_status_naming_no_id_of_ours_is_answered_and_changes_nothing(
    hub, server, client, clock, callback_data
):
    """Callback data that only looks like digits (a superscript two, an Arabic-Indic
    three) is not an id of ours: 200, so Meta does not send it again and again."""
    await write_in(client, server, incoming_text(LENA_WA, "Hello?", clock.now()))
    payload = status_update("wamid.Y", LENA_WA, "read", clock.now(), callback_data)
    status, _ = await post_webhook(client, server, payload)
    assert status == 200
    assert "receipt" not in (await message_state(hub, (await stored(hub))[-1]["id"]))[2]


# replies


async def sign_in_again(team: dict[str, Browser], browser_factory: Any) -> None:
    """The admin's session, anew after the clock moved past the old one's life."""
    team["admin"] = await (await browser_factory()).login("admin@example.com")


async def conversation_of_lena(hub, server, client, clock) -> int:
    await write_in(client, server, incoming_text(LENA_WA, "Hallo, meine Bestellung?", clock.now()))
    return (await stored(hub))[-1]["conversation_id"]


async def test_a_reply_inside_the_window_leaves_as_free_form_text(
    hub, server, client, clock, team, graph, browser_factory
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    clock.advance(hours=23, minutes=59)
    await sign_in_again(team, browser_factory)
    sent = await reply(team, conversation, "Sie ist heute rausgegangen.")
    assert "window_notice" not in sent
    assert await hub.outbox.run_due() == 1
    [call] = graph.sent
    assert call == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": LENA,
        "biz_opaque_callback_data": str(sent["id"]),
        "type": "text",
        "text": {"preview_url": False, "body": "Sie ist heute rausgegangen."},
        "wamid": call["wamid"],
    }
    state, error, meta = await message_state(hub, sent["id"])
    assert (state, error, meta["delivery_id"]) == ("sent", None, call["wamid"])


async def test_a_long_reply_leaves_in_parts_of_4096_characters(
    hub, server, client, clock, team, graph
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    text = "\n\n".join(["a" * 3000, "b" * 3000])
    sent = await reply(team, conversation, text)
    await hub.outbox.run_due()
    assert [c["text"]["body"] for c in graph.sent] == ["a" * 3000, "b" * 3000]
    meta = (await message_state(hub, sent["id"]))[2]
    assert (meta["delivery_id"], meta["parts_sent"]) == (graph.sent[0]["wamid"], 2)


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (too_many_requests(), "too many requests"),
        (graph_error(400, 130429, "(#130429) Rate limit hit"), "throughput"),
        (graph_error(503, 131000, "Something went wrong"), "WhatsApp answered 503"),
    ],
)
async def test_a_rate_limited_or_failing_send_is_retried_and_delivered_once(
    hub, server, client, clock, team, graph, answer, said
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    graph.errors.append(answer)
    sent = await reply(team, conversation, "Danke, wir sind dran.")
    await hub.outbox.run_due()
    state, error, _ = await message_state(hub, sent["id"])
    assert state == "queued"
    assert said in (error or "")
    assert graph.sent == []
    clock.advance(seconds=20)  # past Retry-After (2 s, else 5 s) and the backoff (10 s at most)
    assert await hub.outbox.run_due() == 1
    assert [c["text"]["body"] for c in graph.sent] == ["Danke, wir sind dran."]
    assert (await message_state(hub, sent["id"]))[0] == "sent"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            reengagement_needed(),
            "more than 24 hours have passed since the customer last wrote: only a template "
            "can be sent until they write again (WhatsApp error 131047)",
        ),
        (
            graph_error(400, 131026, "Message undeliverable"),
            "the message could not be delivered (the number may not be on WhatsApp, or the "
            "customer's app is too old or has not accepted WhatsApp's terms) "
            "(WhatsApp error 131026)",
        ),
        (
            graph_error(400, 100, "(#100) Invalid parameter"),
            "(#100) Invalid parameter (WhatsApp error 100)",
        ),
    ],
)
async def test_a_refused_send_fails_with_the_reason(
    hub, server, client, clock, team, graph, answer, reason
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    graph.errors.append(answer)
    sent = await reply(team, conversation, "Hallo?")
    await hub.outbox.run_due()
    state, error, _ = await message_state(hub, sent["id"])
    assert (state, error) == ("failed", f"WhatsApp refused the message: {reason}")
    clock.advance(hours=1)
    assert await hub.outbox.run_due() == 0
    assert graph.sent == []


# the 24-hour window


async def test_after_the_window_the_template_leaves_instead_of_the_reply(
    hub, server, client, clock, team, graph, browser_factory
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    wrote = clock.now()
    clock.advance(hours=24)
    await sign_in_again(team, browser_factory)
    sent = await reply(team, conversation, "Sind Sie noch da?")
    assert sent["window_notice"] == (
        f"the WhatsApp window closed at {clock.now():%Y-%m-%d %H:%M} UTC and this reply leaves "
        f"at {clock.now():%Y-%m-%d %H:%M} UTC: only the re-engagement template can be sent "
        "then, not this text"
    )
    assert clock.now() == wrote + timedelta(hours=24)
    await hub.outbox.run_due()
    [call] = graph.sent
    assert (call["type"], call["template"]) == (
        "template",
        {"name": "reopen_conversation", "language": {"code": "de"}},
    )
    assert "text" not in call
    assert call["biz_opaque_callback_data"] == str(sent["id"])
    state, error, meta = await message_state(hub, sent["id"])
    assert (state, error, meta["delivery_id"]) == ("sent", None, call["wamid"])
    assert meta["sent_instead"] == (
        f"the template reopen_conversation (de): the customer's 24-hour window closed at "
        f"{clock.now():%Y-%m-%d %H:%M} UTC"
    )


@pytest.mark.parametrize(
    "template",
    [{**TEMPLATE, "body_parameters": ["customer_name", "agent_name", "customer_name"]}],
    indirect=True,
)
async def test_the_template_names_the_customer_and_the_agent_in_its_variables(
    hub, server, client, clock, team, graph, browser_factory
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    clock.advance(hours=25)
    await sign_in_again(team, browser_factory)
    await reply(team, conversation, "Sind Sie noch da?")
    await hub.outbox.run_due()
    [call] = graph.sent
    parameters = [{"type": "text", "text": name} for name in ("Lena Vogel", "Ada", "Lena Vogel")]
    assert call["template"] == {
        "name": "reopen_conversation",
        "language": {"code": "de"},
        "components": [{"type": "body", "parameters": parameters}],
    }


@pytest.mark.parametrize(
    "template",
    [{**TEMPLATE, "body_parameters": ["customer_name"], "unknown_name": "du"}],
    indirect=True,
)
@pytest.mark.parametrize(
    ("name", "given"),
    [
        ("", "du"),  # a name the hub does not know is the configured word
        (" \t ", "du"),
        # Meta refuses a line break, a tab or more than four spaces in a row (132018):
        # that would fail the reply for good.
        ("Lena\n\tVogel      (Kundin)", "Lena Vogel (Kundin)"),
    ],
)
async def test_the_customers_name_in_the_template_is_one_line_or_the_configured_word(
    hub, server, client, clock, team, graph, browser_factory, name, given
):
    await write_in(client, server, incoming_text(LENA_WA, "Hallo?", clock.now(), name=name))
    conversation = (await stored(hub))[-1]["conversation_id"]
    clock.advance(hours=25)
    await sign_in_again(team, browser_factory)
    await reply(team, conversation, "Sind Sie noch da?")
    await hub.outbox.run_due()
    [call] = graph.sent
    assert call["template"]["components"] == [
        {"type": "body", "parameters": [{"type": "text", "text": given}]}
    ]


async def test_a_new_customer_message_reopens_the_window(
    hub, server, client, clock, team, graph, browser_factory
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    clock.advance(days=3)
    await write_in(client, server, incoming_text(LENA_WA, "Hallo nochmal", clock.now()))
    await sign_in_again(team, browser_factory)
    await reply(team, conversation, "Ja, hier!")
    await hub.outbox.run_due()
    assert [c["type"] for c in graph.sent] == ["text"]


@pytest.mark.parametrize("template", [None], indirect=True)
async def test_without_a_template_a_reply_after_the_window_fails_with_the_reason(
    hub, server, client, clock, team, graph, browser_factory
):
    wrote = clock.now()
    conversation = await conversation_of_lena(hub, server, client, clock)
    clock.advance(hours=30)
    await sign_in_again(team, browser_factory)
    sent = await reply(team, conversation, "Sind Sie noch da?")
    await hub.outbox.run_due()
    assert graph.sent == []
    state, error, _ = await message_state(hub, sent["id"])
    closed = wrote + timedelta(hours=24)
    assert (state, error) == (
        "failed",
        f"the customer's 24-hour WhatsApp window closed at {closed:%Y-%m-%d %H:%M} UTC: only "
        "a template can be sent until they write again, and channel whatsapp has no "
        "reengagement_template",
    )


async def lena_on_weekdays_friday_evening(hub, server, client, clock, team, browser_factory) -> int:
    """Lena wrote on Friday 16:00 (the window closes Saturday 16:00) and agreed to hear from
    us on weekdays 09:00-17:00; it is Friday 18:00: her hours open Monday, after the window."""
    clock.set(datetime(2026, 3, 6, 16, 0, tzinfo=UTC))  # a Friday
    await sign_in_again(team, browser_factory)
    conversation = await conversation_of_lena(hub, server, client, clock)
    customer = (await stored(hub))[-1]["customer_id"]
    weekdays = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    await team["admin"].call(
        "PUT",
        f"/api/customers/{customer}/contact-hours",
        {"hours": {"zone": "UTC", "weekly": weekdays}},
        expect=200,
    )
    clock.set(datetime(2026, 3, 6, 18, 0, tzinfo=UTC))
    return conversation


async def test_a_reply_scheduled_for_the_customers_hours_after_the_window_goes_as_the_template(
    hub, server, client, clock, team, graph, browser_factory
):
    conversation = await lena_on_weekdays_friday_evening(
        hub, server, client, clock, team, browser_factory
    )
    sent = await reply(team, conversation, "Am Montag kommt der Techniker.")
    assert sent["state"] == "scheduled"
    assert sent["window_notice"] == (
        "the WhatsApp window closes at 2026-03-07 16:00 UTC and this reply leaves at "
        "2026-03-09 09:00 UTC: only the re-engagement template can be sent then, not this text"
    )
    clock.set(datetime(2026, 3, 9, 9, 0, tzinfo=UTC))
    assert await hub.outbox.run_due() == 1
    assert [c["type"] for c in graph.sent] == ["template"]


async def test_hours_that_open_after_the_window_are_a_choice_and_now_sends_free_form(
    hub, server, client, clock, team, graph, browser_factory
):
    conversation = await lena_on_weekdays_friday_evening(
        hub, server, client, clock, team, browser_factory
    )
    detail = await team["admin"].get(f"/api/conversations/{conversation}")
    assert detail["service_windows"] == [
        {
            "channel": "whatsapp",
            "identity_id": identity_of(detail, LENA),
            "closes_at": "2026-03-07T16:00:00+00:00",
            "open": True,
            "hours_open_at": "2026-03-09T09:00:00+00:00",
        }
    ]
    sent = await team["admin"].post(
        f"/api/conversations/{conversation}/replies",
        {"text": "Der Techniker kommt am Montag.", "send_now": True},
        expect=202,
    )
    assert (sent["state"], sent["release_at"], sent["meta"]) == (
        "queued",
        None,
        {"outside_hours": True},
    )
    assert "window_notice" not in sent
    assert await hub.outbox.run_due() == 1
    [call] = graph.sent
    assert (call["type"], call["text"]["body"]) == ("text", "Der Techniker kommt am Montag.")


async def test_the_conversation_shows_when_the_window_closes(
    hub, server, client, clock, team, browser_factory
):
    wrote = clock.now()
    conversation = await conversation_of_lena(hub, server, client, clock)
    await text_in(client, server, incoming_sms(LENA, "and by SMS"))
    closes = (wrote + timedelta(hours=24)).isoformat()
    detail = await team["admin"].get(f"/api/conversations/{conversation}")
    lena = identity_of(detail, LENA)
    assert detail["service_windows"] == [
        {
            "channel": "whatsapp",
            "identity_id": lena,
            "closes_at": closes,
            "open": True,
            "hours_open_at": None,
        }
    ]
    clock.advance(hours=24)
    await sign_in_again(team, browser_factory)
    detail = await team["admin"].get(f"/api/conversations/{conversation}")
    assert detail["service_windows"] == [
        {
            "channel": "whatsapp",
            "identity_id": lena,
            "closes_at": closes,
            "open": False,
            "hours_open_at": None,
        }
    ]


def identity_of(detail: dict[str, Any], address: str) -> int:
    [found] = [i["id"] for i in detail["identities"] if i["address"] == address]
    return found


async def test_the_window_is_the_customers_number_not_the_conversation(
    hub, server, client, clock, team, graph, browser_factory
):
    """A message in a newer conversation opens the window for a reply in an older one."""
    older = await conversation_of_lena(hub, server, client, clock)
    await team["admin"].post(f"/api/conversations/{older}/resolve", expect=200)
    clock.advance(days=3)
    await sign_in_again(team, browser_factory)
    await write_in(client, server, incoming_text(LENA_WA, "Noch eine Frage", clock.now()))
    newer = (await stored(hub))[-1]["conversation_id"]
    assert newer != older
    detail = await team["admin"].get(f"/api/conversations/{older}")
    closes = (clock.now().replace(microsecond=0) + timedelta(hours=24)).isoformat()
    assert detail["service_windows"] == [
        {
            "channel": "whatsapp",
            "identity_id": identity_of(detail, LENA),
            "closes_at": closes,
            "open": True,
            "hours_open_at": None,
        }
    ]
    sent = await reply(team, older, "Zu Ihrer alten Bestellung: ist da.")
    assert "window_notice" not in sent
    await hub.outbox.run_due()
    assert [c["type"] for c in graph.sent] == ["text"]


async def test_one_number_does_not_open_the_window_of_another_of_the_customer(
    hub, server, client, clock, team, graph, browser_factory
):
    conversation = await conversation_of_lena(hub, server, client, clock)
    lena_customer = (await stored(hub))[-1]["customer_id"]
    clock.advance(days=3)
    await sign_in_again(team, browser_factory)
    jonas_wa = "4917098765432"
    await write_in(client, server, incoming_text(jonas_wa, "Ich bin Lenas Mann", clock.now()))
    jonas_customer = (await stored(hub))[-1]["customer_id"]
    await team["admin"].post(
        f"/api/admin/customers/{lena_customer}/merge",
        {"merge_customer_id": jonas_customer},
        expect=200,
    )
    detail = await team["admin"].get(f"/api/conversations/{conversation}")
    lena, jonas = identity_of(detail, LENA), identity_of(detail, "+" + jonas_wa)
    assert {(w["identity_id"], w["open"]) for w in detail["service_windows"]} == {
        (lena, False),
        (jonas, True),
    }
    sent = await team["admin"].post(
        f"/api/conversations/{conversation}/replies",
        {"text": "Frau Vogel, sind Sie da?", "identity_id": lena},
        expect=202,
    )
    assert sent["window_notice"].startswith("the WhatsApp window closed at")
    await hub.outbox.run_due()
    assert [(c["type"], c["to"]) for c in graph.sent] == [("template", LENA)]


# connection


async def test_the_consoles_test_connection_reads_the_number(team, graph):
    answer = await team["admin"].post("/api/admin/channels/whatsapp/test", expect=200)
    assert answer == {
        "channel": "whatsapp",
        "ok": True,
        "detail": "number +1 555-078-3881 ('Shop Support'), quality GREEN",
    }
    assert graph.number_reads == 1


async def test_a_refused_access_token_is_reported_without_showing_it(database_url, clock, graph):
    settings = whatsapp_settings(database_url, graph.base_url)
    environ = {**ENVIRON, "WA_TOKEN": "EAAG-revoked-token"}
    settings = Settings.model_validate(
        settings.model_dump(mode="json"), context={"environ": environ}
    )
    async with started_hub(settings, clock) as hub:
        with pytest.raises(AuthFailed) as refused:
            await hub.connectors["whatsapp"].test_connection()
    assert refused.value.reason == (
        "WhatsApp refused the access token (the access token is expired or invalid "
        "(WhatsApp error 190))"
    )
    assert "revoked" not in refused.value.reason


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("phone_number_id", "+15550783881", "phone number ID"),
        ("api_version", "21", "Graph API version"),
    ],
)
def test_settings_name_what_is_wrong(database_url, field, value, said):
    with pytest.raises(ValueError, match=said):
        whatsapp_settings(database_url, "http://127.0.0.1:9", **{field: value})
