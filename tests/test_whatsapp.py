"""The WhatsApp channel's webhook against Meta's signed posts: handshake, signatures,
messages in, statuses; one phone identity with SMS by E.164."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from config import Settings
from connectors.whatsapp.payloads import signature
from hub.app import Hub
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
    incoming_text,
    sign,
    status_update,
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


def whatsapp_channel(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "whatsapp",
        "name": "whatsapp",
        "phone_number_id": PHONE_NUMBER_ID,
        "access_token_env": "WA_TOKEN",
        "app_secret_env": "WA_SECRET",
        "verify_token_env": "WA_VERIFY",
        "base_url": base_url,
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
async def hub(database_url: str, clock: FakeClock, graph: FakeGraphApi) -> AsyncIterator[Hub]:
    async with started_hub(whatsapp_settings(database_url, graph.base_url), clock) as hub:
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
