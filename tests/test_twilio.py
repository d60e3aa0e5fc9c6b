"""The Twilio SMS channel against a local Twilio API, with webhooks signed as Twilio signs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from config import Settings
from connectors.base import AuthFailed
from connectors.twilio.payloads import twilio_signature
from hub.app import Hub
from hub.db.schema import attachments, customers
from tests.support.clock import FakeClock
from tests.support.hubs import Browser, signed_in_team, started_hub
from tests.support.replies import message_state, reply, stored
from tests.support.twilio_api import (
    ACCOUNT_SID,
    API_KEY_SECRET,
    API_KEY_SID,
    AUTH_TOKEN,
    HUB_NUMBER,
    FakeTwilioApi,
    incoming_mms,
    incoming_sms,
    sign,
    status_callback,
    too_many_requests,
    twilio_error,
    unsubscribed,
)
from tests.test_outbox import status_events

PUBLIC = "http://hub.example"
"""Plain http: the session cookies of a signed-in team are not secure-only then."""
LENA = "+4915123456789"
ENVIRON = {
    "TWILIO_TOKEN": AUTH_TOKEN,
    "TWILIO_KEY_SECRET": API_KEY_SECRET,
    "GATEWAY_TOKEN": "gateway-token-123",
}
WITH_API_KEY = {"api_key_sid": API_KEY_SID, "api_key_secret_env": "TWILIO_KEY_SECRET"}


def twilio_settings(
    database_url: str,
    base_url: str,
    token: str = AUTH_TOKEN,
    channel: dict[str, Any] | None = None,
    **http: Any,
) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": database_url},
            "http": {"public_url": PUBLIC, **http},
            "outbox": {"base_delay_seconds": 10},
            "channels": [
                {
                    "kind": "twilio",
                    "name": "text",
                    "account_sid": ACCOUNT_SID,
                    "auth_token_env": "TWILIO_TOKEN",
                    "from_number": HUB_NUMBER,
                    "base_url": base_url,
                    "max_media_bytes": 1000,
                    **(channel or {}),
                },
                {
                    "kind": "api",
                    "name": "gateway",
                    "token_env": "GATEWAY_TOKEN",
                    "identity_kind": "phone",
                },
            ],
        },
        context={"environ": {**ENVIRON, "TWILIO_TOKEN": token}},
    )


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioApi]:
    async with FakeTwilioApi() as api:
        yield api


@pytest.fixture
async def hub(database_url: str, clock: FakeClock, twilio: FakeTwilioApi) -> AsyncIterator[Hub]:
    async with started_hub(twilio_settings(database_url, twilio.base_url), clock) as hub:
        yield hub


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def team(hub: Hub, browser_factory: Any) -> dict[str, Browser]:
    return await signed_in_team(hub, browser_factory)


async def post_signed(
    client: aiohttp.ClientSession,
    server: TestServer,
    path: str,
    form: dict[str, str],
    *,
    signed_url: str | None = None,
    signature: str | None = "sign",
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    """POST ``form`` as Twilio does, signed for ``signed_url`` (default: the public URL)."""
    sent = dict(headers or {})
    if signature == "sign":
        sent["X-Twilio-Signature"] = sign(signed_url or PUBLIC + path, form)
    elif signature is not None:
        sent["X-Twilio-Signature"] = signature
    async with client.post(server.make_url(path), data=form, headers=sent) as response:
        return response.status, await response.text()


async def text_in(client: aiohttp.ClientSession, server: TestServer, form: dict[str, str]) -> str:
    status, body = await post_signed(client, server, "/twilio/text/messages", form)
    assert status == 200, body
    return body


# signatures


def test_the_signature_is_twilios_documented_example():
    """The example of Twilio's security documentation: URL, form and token give that digest."""
    form = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio_signature("12345", url, form.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    assert sign(url, form, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


async def test_a_signed_text_is_stored_and_twilio_hears_empty_twiml(hub, server, client):
    body = await text_in(client, server, incoming_sms(LENA, "Where is my parcel?", sid="SM1"))
    assert body == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    [message] = await stored(hub)
    assert (message["external_id"], message["text"]) == ("SM1", "Where is my parcel?")
    assert (message["kind"], message["address"]) == ("phone", LENA)
    assert message["meta"] == {"to": HUB_NUMBER, "segments": "1"}


@pytest.mark.parametrize(
    "how",
    ["missing", "wrong token", "another URL", "body changed after signing", "https not http"],
)
async def test_a_wrong_or_missing_signature_is_refused_and_nothing_stored(hub, server, client, how):
    form = incoming_sms(LENA, "hello")
    path = "/twilio/text/messages"
    signed = {
        "missing": None,
        "wrong token": sign(PUBLIC + path, form, "another-token"),
        "another URL": sign(PUBLIC + "/twilio/other/messages", form),
        "body changed after signing": sign(PUBLIC + path, {**form, "Body": "hi"}),
        "https not http": sign("https://hub.example" + path, form),
    }[how]
    status, body = await post_signed(client, server, path, form, signature=signed)
    assert status == 403
    assert "X-Twilio-Signature" in body
    assert await stored(hub) == []


async def test_behind_a_trusted_proxy_the_forwarded_url_is_the_signed_one(
    database_url, clock, twilio, client
):
    """A hub reached under another name through its proxy: Twilio signed that URL."""
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.shop.example"}
    path = "/twilio/text/messages"
    for trusted, expected in ((["127.0.0.1"], 200), ([], 403)):
        settings = twilio_settings(database_url, twilio.base_url, trusted_proxies=trusted)
        async with started_hub(settings, clock) as hub:
            server = TestServer(hub.web_app(), host="127.0.0.1")
            await server.start_server()
            try:
                status, _ = await post_signed(
                    client,
                    server,
                    path,
                    incoming_sms(LENA, "via the proxy"),
                    signed_url="https://sms.shop.example" + path,
                    headers=forwarded,
                )
            finally:
                await server.close()
            assert status == expected, trusted


async def test_a_repeated_message_sid_is_stored_once(hub, server, client):
    form = incoming_sms(LENA, "once", sid="SM2")
    await text_in(client, server, form)
    await text_in(client, server, form)
    assert [m["external_id"] for m in await stored(hub)] == ["SM2"]


async def test_mms_media_are_fetched_with_the_account_credentials_and_stored(
    hub, server, client, twilio
):
    picture = twilio.add_media(b"\xff\xd8 a small jpeg", "image/jpeg", on_cdn=True)
    too_big = twilio.add_media(b"x" * 1001, "video/mp4")
    elsewhere = "https://files.example/secret.png"
    form = incoming_mms(
        LENA,
        "The box arrived broken",
        [(picture, "image/jpeg"), (too_big, "video/mp4"), (elsewhere, "image/png")],
    )
    await text_in(client, server, form)
    [message] = await stored(hub)

    def read(conn: Any) -> list[Any]:
        return conn.execute(
            select(attachments.c.name, attachments.c.content_type, attachments.c.data)
            .where(attachments.c.message_id == message["id"])
            .order_by(attachments.c.position)
        ).all()

    rows = await hub.db.read(read)
    sid = form["MessageSid"]
    assert [(r.name, r.content_type) for r in rows] == [
        (f"{sid}-1.jpg", "image/jpeg"),
        (f"{sid}-2.mp4", "video/mp4"),
        (f"{sid}-3.png", "image/png"),
    ]
    assert [r.data for r in rows] == [b"\xff\xd8 a small jpeg", None, None]
    assert len(twilio.media_fetches) == 2  # never the URL outside Twilio's API
    assert twilio.cdn_authorizations == [None]  # the credentials stay with Twilio's API
    assert [a["stored"] for a in message["meta"]["attachments"]] == [True, False, False]


# replies


async def conversation_of_lena(hub, server, client) -> int:
    await text_in(client, server, incoming_sms(LENA, "Hello, my order?"))
    return (await stored(hub))[-1]["conversation_id"]


async def test_a_reply_leaves_through_the_messages_api_with_its_status_callback(
    hub, server, client, team, twilio
):
    conversation = await conversation_of_lena(hub, server, client)
    sent = await reply(team, conversation, "It left today.")
    assert await hub.outbox.run_due() == 1
    [call] = twilio.sent
    assert {k: call[k] for k in ("To", "From", "Body", "StatusCallback")} == {
        "To": LENA,
        "From": HUB_NUMBER,
        "Body": "It left today.",
        "StatusCallback": f"{PUBLIC}/twilio/text/status/{sent['id']}",
    }
    state, error, meta = await message_state(hub, sent["id"])
    assert (state, error, meta["delivery_id"]) == ("sent", None, call["sid"])


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (too_many_requests(), "Too Many Requests"),
        (twilio_error(503, 20500, "Service Unavailable"), "Twilio answered 503"),
    ],
)
async def test_a_rate_limited_or_failing_send_is_retried_and_delivered_once(
    hub, server, client, team, twilio, clock, answer, said
):
    conversation = await conversation_of_lena(hub, server, client)
    twilio.errors.append(answer)
    sent = await reply(team, conversation, "Thanks, we are on it.")
    await hub.outbox.run_due()
    state, error, _ = await message_state(hub, sent["id"])
    assert state == "queued"
    assert said in (error or "")
    assert twilio.sent == []
    clock.advance(seconds=20)  # past Retry-After (2 s) and the backoff (10 s, half jittered)
    assert await hub.outbox.run_due() == 1
    assert [c["Body"] for c in twilio.sent] == ["Thanks, we are on it."]
    assert (await message_state(hub, sent["id"]))[0] == "sent"


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (
            unsubscribed(),
            "the customer texted STOP to this number: they must text START first "
            "(Twilio error 21610)",
        ),
        (
            twilio_error(400, 21211, "Invalid 'To' Phone Number"),
            "the number is not a valid phone number (Twilio error 21211)",
        ),
        (twilio_error(400, 21999, "Something new"), "Something new (Twilio error 21999)"),
    ],
)
async def test_a_refused_send_fails_with_twilios_reason(
    hub, server, client, team, twilio, clock, answer, reason
):
    conversation = await conversation_of_lena(hub, server, client)
    twilio.errors.append(answer)
    sent = await reply(team, conversation, "Hello?")
    await hub.outbox.run_due()
    state, error, _ = await message_state(hub, sent["id"])
    assert (state, error) == ("failed", f"Twilio refused the message: {reason}")
    clock.advance(hours=1)
    assert await hub.outbox.run_due() == 0


async def test_status_callbacks_record_delivery_and_never_go_back(
    hub, server, client, team, twilio
):
    conversation = await conversation_of_lena(hub, server, client)
    sent = await reply(team, conversation, "Your refund is on its way.")
    await hub.outbox.run_due()
    sid = twilio.sent[0]["sid"]
    path = f"/twilio/text/status/{sent['id']}"
    for status in ("sent", "delivered", "sent"):
        answer, _ = await post_signed(client, server, path, status_callback(sid, LENA, status))
        assert answer == 204
    state, error, meta = await message_state(hub, sent["id"])
    assert (state, error) == ("sent", None)
    assert (meta["receipt"]["state"], meta["receipt"]["id"]) == ("delivered", sid)
    detail = await team["admin"].get(f"/api/conversations/{conversation}")
    [shown] = [m for m in detail["messages"] if m["id"] == sent["id"]]
    assert shown["meta"]["receipt"]["state"] == "delivered"


async def test_a_filtered_message_becomes_failed_with_the_reason(hub, server, client, team, twilio):
    conversation = await conversation_of_lena(hub, server, client)
    sent = await reply(team, conversation, "Click here for 50% off")
    await hub.outbox.run_due()
    form = status_callback(twilio.sent[0]["sid"], LENA, "undelivered", error_code="30007")
    path = f"/twilio/text/status/{sent['id']}"
    assert (await post_signed(client, server, path, form))[0] == 204
    state, error, _ = await message_state(hub, sent["id"])
    assert (state, error) == (
        "failed",
        "the carrier filtered the message (taken for spam) (Twilio error 30007)",
    )
    delivered = status_callback(twilio.sent[0]["sid"], LENA, "delivered")
    assert (await post_signed(client, server, path, delivered))[0] == 204
    assert (await message_state(hub, sent["id"]))[0] == "failed"


async def test_a_failure_receipt_that_outruns_the_send_keeps_the_reply_failed(
    hub, server, client, team, twilio
):
    """Twilio may call the status callback before its API answer reached the hub."""
    conversation = await conversation_of_lena(hub, server, client)
    sent = await reply(team, conversation, "Hi")
    form = status_callback("SM" + "f" * 32, LENA, "failed", error_code="30005")
    assert (await post_signed(client, server, f"/twilio/text/status/{sent['id']}", form))[0] == 204
    await hub.outbox.run_due()
    state, error, meta = await message_state(hub, sent["id"])
    assert (state, error) == (
        "failed",
        "the number is unknown or no longer in service (Twilio error 30005)",
    )
    assert meta["delivery_id"] == twilio.sent[0]["sid"]


async def test_a_receipt_that_outruns_the_send_is_told_with_the_send(
    hub, server, client, team, twilio, clock
):
    """The send's status event carries the receipt already kept: the inbox shows two ticks."""
    conversation = await conversation_of_lena(hub, server, client)
    sent = await reply(team, conversation, "Hi")
    form = status_callback("SM" + "f" * 32, LENA, "delivered")
    assert (await post_signed(client, server, f"/twilio/text/status/{sent['id']}", form))[0] == 204
    await hub.outbox.run_due()
    *_, told = [event for event in await status_events(hub) if event["message_id"] == sent["id"]]
    assert (told["state"], told["receipt"], told["receipt_at"]) == (
        "sent",
        "delivered",
        clock.now().isoformat(),
    )


async def test_a_status_callback_without_the_signature_changes_nothing(
    hub, server, client, team, twilio
):
    conversation = await conversation_of_lena(hub, server, client)
    sent = await reply(team, conversation, "Hi")
    await hub.outbox.run_due()
    form = status_callback(twilio.sent[0]["sid"], LENA, "failed", error_code="30005")
    path = f"/twilio/text/status/{sent['id']}"
    assert (await post_signed(client, server, path, form, signature=None))[0] == 403
    assert (await message_state(hub, sent["id"]))[0] == "sent"


# opting out


@pytest.mark.parametrize("keyword", ["STOP", " stop ", "Unsubscribe", "QUIT", "stopall"])
async def test_stop_opts_out_and_replies_are_refused_with_the_reason(
    hub, server, client, team, twilio, keyword
):
    conversation = await conversation_of_lena(hub, server, client)
    await text_in(client, server, incoming_sms(LENA, keyword))
    refused = await reply(team, conversation, "But wait!", expect=409)
    assert refused["reason"] == "opted_out"
    assert "opted out of channel text" in refused["error"]
    assert "START" in refused["error"]
    detail = await team["admin"].get(f"/api/conversations/{conversation}")
    assert [i["opted_out_channel"] for i in detail["identities"]] == ["text"]
    assert await hub.outbox.run_due() == 0
    assert twilio.sent == []


async def test_start_opts_back_in(hub, server, client, team, twilio):
    conversation = await conversation_of_lena(hub, server, client)
    await text_in(client, server, incoming_sms(LENA, "STOP"))
    await text_in(client, server, incoming_sms(LENA, "start"))
    detail = await team["admin"].get(f"/api/conversations/{conversation}")
    assert [i["opted_out_channel"] for i in detail["identities"]] == [None]
    await reply(team, conversation, "Welcome back")
    await hub.outbox.run_due()
    assert [c["Body"] for c in twilio.sent] == ["Welcome back"]


async def test_a_reply_queued_before_stop_never_leaves(hub, server, client, team, twilio):
    conversation = await conversation_of_lena(hub, server, client)
    sent = await reply(team, conversation, "A reply written before the STOP")
    await text_in(client, server, incoming_sms(LENA, "STOP"))
    await hub.outbox.run_due()
    assert twilio.sent == []
    state, error, _ = await message_state(hub, sent["id"])
    assert state == "failed"
    assert "opted out of channel text" in (error or "")


# one person, one phone identity


async def test_the_api_channel_and_sms_share_one_phone_identity_by_e164(hub, server, client, team):
    posted = {"id": "gw-1", "from": {"address": "+49 151 2345-6789"}, "text": "via gateway"}
    headers = {"Authorization": "Bearer gateway-token-123"}
    async with client.post(
        server.make_url("/channels/gateway/messages"), json=posted, headers=headers
    ) as response:
        assert response.status == 202
    await text_in(client, server, incoming_sms(LENA, "and now by SMS"))
    first, second = await stored(hub)
    assert first["address"] == second["address"] == LENA
    assert first["customer_id"] == second["customer_id"]
    assert first["conversation_id"] == second["conversation_id"]

    def owners(conn: Any) -> list[Any]:
        return conn.execute(select(customers.c.owner_id)).scalars().all()

    [owner] = await hub.db.read(owners)
    assert owner == team["maria"].agent["id"] or owner == team["tom"].agent["id"]


async def test_the_composer_can_ask_how_many_sms_a_reply_costs(team):
    agent = team["maria"]
    long_gsm = await agent.post("/api/sms/segments", {"text": "a" * 150 + "[]" * 5}, expect=200)
    assert long_gsm == {
        "encoding": "GSM-7",
        "count": 2,
        "units": 170,
        "per_segment": 153,
        "left": 135,
    }
    emoji = await agent.post("/api/sms/segments", {"text": "Danke 🙂"}, expect=200)
    assert (emoji["encoding"], emoji["count"], emoji["units"]) == ("UCS-2", 1, 8)
    await agent.post("/api/sms/segments", {"text": "  "}, expect=422)


# connection and settings


async def test_the_consoles_test_connection_reads_the_account(team):
    answer = await team["admin"].post("/api/admin/channels/text/test", expect=200)
    assert answer == {
        "channel": "text",
        "ok": True,
        "detail": f"account 'Shop support' active; replies from {HUB_NUMBER}",
    }


async def test_a_refused_auth_token_is_reported_without_showing_it(database_url, clock, twilio):
    settings = twilio_settings(database_url, twilio.base_url, token="another-token-0123456")
    async with started_hub(settings, clock) as hub:
        with pytest.raises(AuthFailed) as refused:
            await hub.connectors["text"].test_connection()
    assert refused.value.reason == (
        "Twilio refused the account SID or Auth Token (Authenticate (Twilio error 20003))"
    )
    assert "another-token" not in refused.value.reason


async def test_with_an_api_key_the_api_calls_never_carry_the_auth_token(
    database_url, clock, twilio
):
    settings = twilio_settings(database_url, twilio.base_url, channel=WITH_API_KEY)
    async with started_hub(settings, clock) as hub:
        assert "replies from" in await hub.connectors["text"].test_connection()
    assert twilio.api_users == [API_KEY_SID]


async def test_a_refused_api_key_is_named(database_url, clock, twilio):
    unknown_key = {**WITH_API_KEY, "api_key_sid": "SK" + "0" * 32}
    settings = twilio_settings(database_url, twilio.base_url, channel=unknown_key)
    async with started_hub(settings, clock) as hub:
        with pytest.raises(AuthFailed) as refused:
            await hub.connectors["text"].test_connection()
    assert refused.value.reason == (
        f"Twilio refused the API key SK{'0' * 32} or its secret (Authenticate (Twilio error 20003))"
    )
    assert API_KEY_SECRET not in refused.value.reason


def test_an_api_key_needs_its_secret(database_url):
    channel = {**WITH_API_KEY, "api_key_secret_env": None}
    with pytest.raises(ValueError, match="set api_key_sid and api_key_secret_env together"):
        twilio_settings(database_url, "https://api.twilio.com", channel=channel)
    with pytest.raises(ValueError, match="must be SK followed by 32"):
        twilio_settings(database_url, "https://api.twilio.com", channel={"api_key_sid": "SK1"})


def test_a_channel_needs_a_sender(database_url):
    channel = {
        "kind": "twilio",
        "name": "text",
        "account_sid": ACCOUNT_SID,
        "auth_token_env": "TWILIO_TOKEN",
    }
    with pytest.raises(ValueError, match="set from_number or messaging_service_sid"):
        Settings.model_validate(
            {"database": {"url": database_url}, "channels": [channel]},
            context={"environ": ENVIRON},
        )
    with pytest.raises(ValueError, match=r"from_number\n.*country code"):
        Settings.model_validate(
            {"database": {"url": database_url}, "channels": [{**channel, "from_number": "0151"}]},
            context={"environ": ENVIRON},
        )
