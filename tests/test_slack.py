"""The Slack channel with the real slack-bolt and slack_sdk against a local Slack Web API."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from functools import partial
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from pydantic import ValidationError
from sqlalchemy import select

from config import Settings
from connectors.base import Address, AuthFailed, InboundMessage, OutboundMessage
from connectors.slack.blocks import link_buttons
from hub.app import Hub
from hub.auth import Principal
from hub.conversations import post_reply
from hub.db.schema import conversations, customers, identities, messages
from tests.conftest import ENVIRON
from tests.support.hubs import add_agent
from tests.support.slack_api import BOT_ID, BOT_USER_ID, TEAM_ID, Scripted, SlackApi, signed_headers

SECRET = "8f742231b10e8888abcd99e1f2c3d4a5"
SLACK_ENVIRON = {
    **ENVIRON,
    "SLACK_BOT_TOKEN": "xoxb-17-test-token",
    "SLACK_SIGNING_SECRET": SECRET,
    "SLACK_APP_TOKEN": "xapp-1-test",
}
SUPPORT_CHANNEL = "C0SUPPORT"
LENA = "U0LENA"
LENA_EMAIL = "lena@example.org"


def slack_settings(
    database_url: str, base_url: str, *, public_url: str | None = None, **slack: Any
) -> Settings:
    data: dict[str, Any] = {
        "database": {"url": database_url},
        "http": {"public_url": public_url},
        "channels": [
            {
                "kind": "slack",
                "name": "slack",
                "bot_token_env": "SLACK_BOT_TOKEN",
                "signing_secret_env": "SLACK_SIGNING_SECRET",
                "channels": [SUPPORT_CHANNEL],
                "base_url": base_url,
                **slack,
            },
            {"kind": "api", "name": "mailin", "token_env": "SMS_TOKEN", "identity_kind": "email"},
        ],
    }
    return Settings.model_validate(data, context={"environ": SLACK_ENVIRON})


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackApi]:
    async with SlackApi() as api:
        api.add_user(LENA, "Lena Fischer", LENA_EMAIL)
        yield api


@pytest.fixture
def settings(database_url: str, slack_api: SlackApi) -> Settings:
    return slack_settings(database_url, slack_api.base_url)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def message_event(
    ts: str = "1772442000.000200",
    event_id: str = "Ev0001",
    *,
    text: str = "Where is my parcel?",
    channel: str = SUPPORT_CHANNEL,
    channel_type: str = "channel",
    **event: Any,
) -> dict[str, Any]:
    return {
        "token": "legacy",
        "team_id": TEAM_ID,
        "api_app_id": "A0HUB",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(float(ts)),
        "event": {
            "type": "message",
            "user": LENA,
            "text": text,
            "ts": ts,
            "team": TEAM_ID,
            "channel": channel,
            "channel_type": channel_type,
            "event_ts": ts,
            **event,
        },
    }


async def post_event(
    session: aiohttp.ClientSession,
    server: Any,
    payload: dict[str, Any],
    *,
    secret: str = SECRET,
    timestamp: float | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    body = json.dumps(payload).encode()
    return await post_signed(
        session, server, body, secret=secret, timestamp=timestamp, headers=headers
    )


async def post_signed(
    session: aiohttp.ClientSession,
    server: Any,
    body: bytes,
    *,
    secret: str = SECRET,
    timestamp: float | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, str]:
    sent = {**signed_headers(secret, body, timestamp), **(headers or {})}
    async with session.post(
        server.make_url("/slack/slack/events"), data=body, headers=sent
    ) as response:
        return response.status, await response.text()


async def stored(hub: Hub) -> list[dict[str, Any]]:
    rows = await hub.db.read(
        lambda conn: conn.execute(select(messages).order_by(messages.c.id)).all()
    )
    return [row._asdict() for row in rows]


async def reply(hub: Hub, conversation_id: int, text: str = "We are on it") -> int:
    agent_id = await hub.db.read(
        lambda conn: conn.execute(select(conversations.c.assignee_id)).scalar()
    )
    agent = Principal(agent_id, "Maria", "agent", "", False)
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


# inbound


async def test_signed_message_in_a_support_channel_is_stored(hub, server, session, slack_api):
    await add_agent(hub, "maria@example.com")
    status, _ = await post_event(session, server, message_event())
    assert status == 200
    (message,) = await stored(hub)
    assert (message["channel"], message["external_id"], message["text"]) == (
        "slack",
        f"{SUPPORT_CHANNEL}:1772442000.000200",
        "Where is my parcel?",
    )
    assert message["meta"]["thread_ts"] == "1772442000.000200"
    identity = await hub.db.read(
        lambda conn: conn.execute(
            select(identities.c.address, identities.c.display_name).where(
                identities.c.kind == "slack"
            )
        ).one()
    )
    assert tuple(identity) == (f"{TEAM_ID}:{LENA}", "Lena Fischer")


async def test_direct_message_to_the_app_is_stored(hub, server, session):
    event = message_event(channel="D0LENA", channel_type="im")
    assert (await post_event(session, server, event))[0] == 200
    (message,) = await stored(hub)
    assert message["external_id"] == "D0LENA:1772442000.000200"


@pytest.mark.parametrize(
    ("secret", "age"),
    [("0" * 32, 0), (SECRET, 301)],
    ids=["wrong-signature", "301-seconds-old"],
)
async def test_bad_or_stale_signature_gets_401_and_stores_nothing(
    hub, server, session, slack_api, secret, age
):
    status, _ = await post_event(
        session, server, message_event(), secret=secret, timestamp=time.time() - age
    )
    assert status == 401
    assert await stored(hub) == []
    assert slack_api.called("users.info") == []


async def test_url_verification_is_answered_with_the_challenge(hub, server, session):
    payload = {
        "token": "legacy",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY",
        "type": "url_verification",
    }
    status, body = await post_event(session, server, payload)
    assert status == 200
    assert json.loads(body) == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY"}


async def test_retried_event_is_stored_once_and_acknowledged_each_time(
    hub, server, session, slack_api
):
    event = message_event()
    answers = [await post_event(session, server, event)]
    for retry in ("1", "2"):
        retry_headers = {"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}
        answers.append(await post_event(session, server, event, headers=retry_headers))
    assert [status for status, _ in answers] == [200, 200, 200]
    assert len(await stored(hub)) == 1
    assert len(slack_api.called("users.info")) == 1, "the work ran once"


async def test_retries_arriving_during_the_first_delivery_wait_for_it(
    hub, server, session, slack_api
):
    event = message_event()
    answers = await asyncio.gather(
        *(
            post_event(session, server, event, headers={"X-Slack-Retry-Num": str(n)} if n else {})
            for n in range(3)
        )
    )
    assert [status for status, _ in answers] == [200, 200, 200]
    assert len(await stored(hub)) == 1
    assert len(slack_api.called("users.info")) == 1


@pytest.mark.parametrize(
    "event",
    [
        message_event(user=BOT_USER_ID, bot_id=BOT_ID, subtype="bot_message"),
        message_event(user=BOT_USER_ID),
        message_event(bot_id="B0OTHER", user="U0OTHERBOT"),
        message_event(subtype="message_changed"),
        message_event(channel="C0TEAMONLY"),
    ],
    ids=["own-bot-post", "own-user", "other-bot", "edit", "unconfigured-channel"],
)
async def test_what_is_not_a_customer_message_is_acknowledged_and_ignored(
    hub, server, session, event
):
    assert (await post_event(session, server, event))[0] == 200
    assert await stored(hub) == []


# outbound


async def customer_writes(hub: Hub, server, session, **event: Any) -> int:
    await add_agent(hub, "maria@example.com")
    assert (await post_event(session, server, message_event(**event)))[0] == 200
    return (await stored(hub))[-1]["conversation_id"]


async def test_reply_goes_into_the_thread_of_the_customer_message(hub, server, session, slack_api):
    conversation_id = await customer_writes(
        hub, server, session, ts="1772442100.000300", thread_ts="1772442000.000200"
    )
    message_id = await reply(hub, conversation_id)
    assert await hub.outbox.run_due() == 1
    (posted,) = slack_api.called("chat.postMessage")
    assert (posted["channel"], posted["thread_ts"], posted["text"]) == (
        SUPPORT_CHANNEL,
        "1772442000.000200",
        "We are on it",
    )
    assert "blocks" not in posted, "a reply without choices is text alone"
    assert await message_state(hub, message_id) == ("sent", None)
    (_, sent) = await stored(hub)
    assert sent["meta"]["delivery_id"].endswith(".000100"), "the posted message's ts"


async def test_reply_to_a_top_level_message_starts_its_thread(hub, server, session, slack_api):
    conversation_id = await customer_writes(hub, server, session)
    await reply(hub, conversation_id)
    await hub.outbox.run_due()
    (posted,) = slack_api.called("chat.postMessage")
    assert posted["thread_ts"] == "1772442000.000200"


async def test_reply_to_a_direct_message_is_a_plain_dm(hub, server, session, slack_api):
    conversation_id = await customer_writes(
        hub, server, session, channel="D0LENA", channel_type="im"
    )
    await reply(hub, conversation_id)
    await hub.outbox.run_due()
    (posted,) = slack_api.called("chat.postMessage")
    assert posted["channel"] == "D0LENA"
    assert "thread_ts" not in posted


async def test_rate_limited_reply_is_delivered_exactly_once(hub, server, session, slack_api, clock):
    conversation_id = await customer_writes(hub, server, session)
    slack_api.script(
        "chat.postMessage",
        Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}),
    )
    message_id = await reply(hub, conversation_id)
    assert await hub.outbox.run_due() == 1
    state, error = await message_state(hub, message_id)
    assert state == "queued"
    assert "ratelimited" in error
    assert await hub.outbox.run_due() == 0, "Retry-After is honoured"
    clock.advance(seconds=1.01)
    assert await hub.outbox.run_due() == 1
    assert await message_state(hub, message_id) == ("sent", None)
    assert len(slack_api.called("chat.postMessage")) == 2, "one refused, one delivered"
    clock.advance(seconds=600)
    assert await hub.outbox.run_due() == 0


def long_reply() -> str:
    """About 45,000 characters in paragraphs: over what Slack keeps of one message's text."""
    return "\n\n".join(f"{n}. " + "x" * 996 for n in range(45))


async def test_a_reply_slack_would_truncate_leaves_in_parts_and_a_retry_sends_only_the_rest(
    hub, server, session, slack_api, clock
):
    conversation_id = await customer_writes(hub, server, session)
    first_ts = "1772443000.000100"
    slack_api.script(
        "chat.postMessage",
        Scripted(200, {"ok": True, "channel": SUPPORT_CHANNEL, "ts": first_ts}),
        Scripted(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"}),
    )
    text = long_reply()
    message_id = await reply(hub, conversation_id, text)
    await hub.outbox.run_due()
    (_, held) = await stored(hub)
    assert (held["state"], held["meta"]["delivery_id"], held["meta"]["parts_sent"]) == (
        "queued",
        first_ts,
        1,
    )
    clock.advance(seconds=1.01)
    await hub.outbox.run_due()
    posts = slack_api.called("chat.postMessage")
    assert len(posts) == 3, "part 1, part 2 refused, part 2 again"
    first, refused, second = (post["text"] for post in posts)
    assert refused == second != first
    assert all(len(part) <= 40_000 for part in (first, second))
    assert f"{first}\n\n{second}" == text, "cut at a paragraph"
    assert {post["thread_ts"] for post in posts} == {"1772442000.000200"}
    assert await message_state(hub, message_id) == ("sent", None)
    assert (await stored(hub))[1]["meta"]["delivery_id"] == first_ts


async def test_choices_longer_than_a_section_block_are_buttons_under_the_last_part(hub, slack_api):
    choices = tuple((str(n), f"https://hub.example/answer?score={n}") for n in (1, 2))
    text = "How did we do? " + "Really, tell us. " * 200  # over a section block's 3000
    message = OutboundMessage(
        message_id=1,
        conversation_id=1,
        channel="slack",
        to=Address("slack", f"{TEAM_ID}:{LENA}"),
        text=text,
        choices=choices,
    )
    delivery = await hub.connectors["slack"].send(message)
    assert delivery.parts_sent == 2
    first, last = slack_api.called("chat.postMessage")
    assert "blocks" not in first
    assert all(len(post["text"]) <= 3000 for post in (first, last))
    section, actions = blocks_of(last)
    assert section["text"]["text"] == last["text"]
    assert [button["url"] for button in actions["elements"]] == [url for _, url in choices]


def test_only_https_choices_within_slacks_limits_become_buttons():
    fine = ("1", "https://hub.example/satisfaction/t?score=1")
    choices = (
        fine,
        ("2", "http://127.0.0.1:8080/satisfaction/t?score=2"),
        ("3", "https://hub.example/" + "x" * 3000),
        ("4" * 76, "https://hub.example/satisfaction/t?score=4"),
    )
    assert [(b["value"], b["url"], b["action_id"]) for b in link_buttons(choices)] == [
        (*fine, "hub-choice-1")
    ]
    many = tuple((str(n), fine[1]) for n in range(1, 31))
    assert len(link_buttons(many)) == 25, "what one actions block holds"


def blocks_of(posted: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = posted["blocks"]
    return json.loads(blocks) if isinstance(blocks, str) else blocks


async def test_channel_not_found_fails_the_reply_with_that_reason(hub, server, session, slack_api):
    conversation_id = await customer_writes(hub, server, session)
    slack_api.script("chat.postMessage", Scripted(200, {"ok": False, "error": "channel_not_found"}))
    message_id = await reply(hub, conversation_id)
    assert await hub.outbox.run_due() == 1
    state, error = await message_state(hub, message_id)
    assert state == "failed"
    assert "channel_not_found" in error


async def test_server_error_is_retried(hub, server, session, slack_api, clock):
    conversation_id = await customer_writes(hub, server, session)
    slack_api.script("chat.postMessage", Scripted(500, "upstream trouble"))
    message_id = await reply(hub, conversation_id)
    assert await hub.outbox.run_due() == 1
    assert (await message_state(hub, message_id))[0] == "queued"
    clock.advance(seconds=600)
    assert await hub.outbox.run_due() == 1
    assert await message_state(hub, message_id) == ("sent", None)


async def test_test_connection_names_bot_and_team(hub):
    assert await hub.connectors["slack"].test_connection() == "bot hubbot in team Shop"


# interactivity: Slack posts a block_actions payload when a link button is clicked


def button_click(action_id: str = "hub-choice-4", value: str = "4") -> dict[str, Any]:
    """A ``block_actions`` payload as Slack sends it for a click on one of our link buttons."""
    return {
        "type": "block_actions",
        "user": {"id": LENA, "username": "lena", "name": "lena", "team_id": TEAM_ID},
        "api_app_id": "A0HUB",
        "token": "legacy",
        "container": {
            "type": "message",
            "message_ts": "1772443000.000100",
            "channel_id": "D0LENA",
            "is_ephemeral": False,
        },
        "trigger_id": "1772443001.0001.abcdef",
        "team": {"id": TEAM_ID, "domain": "shop"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": "D0LENA", "name": "directmessage"},
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0SHOP/1/abc",
        "actions": [
            {
                "action_id": action_id,
                "block_id": "hub-choices",
                "text": {"type": "plain_text", "text": value, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": "1772443001.000200",
            }
        ],
    }


async def post_click(session: aiohttp.ClientSession, server: Any, *, secret: str = SECRET) -> int:
    """The click as Slack posts it to the Interactivity Request URL: a signed form."""
    body = urlencode({"payload": json.dumps(button_click())}).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return (await post_signed(session, server, body, secret=secret, headers=form))[0]


async def test_a_signed_link_button_click_is_acknowledged(hub, server, session, slack_api):
    assert await post_click(session, server) == 200
    assert await stored(hub) == []


async def test_a_wrongly_signed_click_is_refused_and_nothing_is_taken(
    hub, server, session, slack_api
):
    assert await post_click(session, server, secret="0" * 32) == 401
    assert await stored(hub) == []
    assert slack_api.calls == [], "not even authorized"


# one customer across channels


async def test_slack_then_email_is_one_customer_one_conversation_one_owner(hub, server, session):
    await add_agent(hub, "tom@example.com")
    conversation_id = await customer_writes(hub, server, session)
    by_mail = await hub.ingest(
        InboundMessage(
            channel="mailin",
            external_id="mail-1",
            sender=Address("email", LENA_EMAIL),
            text="Also: the invoice address is wrong",
        )
    )
    assert by_mail.conversation_id == conversation_id
    assert not by_mail.duplicate

    def owners(conn):
        customer = conn.execute(select(customers.c.id, customers.c.owner_id)).all()
        assignee = conn.execute(
            select(conversations.c.assignee_id).where(conversations.c.id == conversation_id)
        ).scalar_one()
        return customer, assignee

    customer_rows, assignee = await hub.db.read(owners)
    ((customer_id, owner_id),) = customer_rows
    assert by_mail.customer_id == customer_id
    assert owner_id is not None
    assert assignee == owner_id


# configuration


def settings_problem(**slack: Any) -> str:
    environ = {**SLACK_ENVIRON, **slack.pop("environ", {})}
    channel = {
        "kind": "slack",
        "name": "slack",
        "bot_token_env": "SLACK_BOT_TOKEN",
        "signing_secret_env": "SLACK_SIGNING_SECRET",
        **slack,
    }
    with pytest.raises(ValidationError) as raised:
        Settings.model_validate({"channels": [channel]}, context={"environ": environ})
    return str(raised.value)


def test_a_user_token_is_refused_without_showing_it():
    problem = settings_problem(environ={"SLACK_BOT_TOKEN": "xoxp-very-secret"})
    assert "SLACK_BOT_TOKEN must hold a bot token starting with xoxb-" in problem
    assert "very-secret" not in problem


def test_a_malformed_signing_secret_is_refused_without_showing_it():
    problem = settings_problem(environ={"SLACK_SIGNING_SECRET": "not-hex-at-all-zz"})
    assert "SLACK_SIGNING_SECRET must hold the app's signing secret" in problem
    assert "not-hex-at-all-zz" not in problem


def test_socket_mode_needs_an_app_token():
    assert "mode: socket needs app_token_env" in settings_problem(mode="socket")


# socket mode


@pytest.fixture
async def socket_hub(database_url, slack_api, clock) -> AsyncIterator[Hub]:
    settings = slack_settings(
        database_url, slack_api.base_url, mode="socket", app_token_env="SLACK_APP_TOKEN"
    )
    hub = Hub(settings, clock)
    await hub.start(run_workers=False)
    try:
        yield hub
    finally:
        await hub.stop()


def envelope(envelope_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "envelope_id": envelope_id,
        "type": "events_api",
        "payload": body,
        "accepts_response_payload": False,
        "retry_attempt": 0,
        "retry_reason": "",
    }


async def test_socket_mode_message_is_stored_then_acknowledged(socket_hub, slack_api):
    (opened,) = [c for c in slack_api.calls if c.method == "apps.connections.open"]
    assert opened.authorization == "Bearer xapp-1-test"
    assert socket_hub.connectors["slack"].routes() == []
    await slack_api.push(envelope("env-1", message_event()))
    assert await slack_api.ack_for("env-1") == {"envelope_id": "env-1"}
    (message,) = await stored(socket_hub)  # already there when the ack came
    assert (message["channel"], message["external_id"], message["text"]) == (
        "slack",
        f"{SUPPORT_CHANNEL}:1772442000.000200",
        "Where is my parcel?",
    )
    assert message["meta"]["event_id"] == "Ev0001"


async def test_socket_mode_redelivered_event_is_stored_once_and_acked_each_time(
    socket_hub, slack_api
):
    await slack_api.push(envelope("env-1", message_event()))
    await slack_api.ack_for("env-1")
    redelivery = {**envelope("env-2", message_event()), "retry_attempt": 1}
    await slack_api.push(redelivery)
    assert await slack_api.ack_for("env-2") == {"envelope_id": "env-2"}
    assert len(await stored(socket_hub)) == 1
    assert len(slack_api.called("users.info")) == 1, "the work ran once"


async def test_socket_mode_event_is_not_acked_while_slack_cannot_say_who_we_are(
    socket_hub, slack_api
):
    slack_api.script("auth.test", Scripted(500, "down"))
    await slack_api.push(envelope("env-1", message_event()))
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await slack_api.ack_for("env-1")
    assert await stored(socket_hub) == []
    await slack_api.push(envelope("env-2", message_event()))
    await slack_api.ack_for("env-2")
    assert len(await stored(socket_hub)) == 1


async def test_socket_mode_link_button_click_is_acknowledged(socket_hub, slack_api):
    click = {
        "envelope_id": "env-click",
        "type": "interactive",
        "payload": button_click(),
        "accepts_response_payload": False,
    }
    await slack_api.push(click)
    assert await slack_api.ack_for("env-click") == {"envelope_id": "env-click"}
    assert await stored(socket_hub) == []


async def test_socket_mode_with_a_refused_app_token_does_not_start(database_url, slack_api, clock):
    slack_api.script("apps.connections.open", Scripted(200, {"ok": False, "error": "invalid_auth"}))
    settings = slack_settings(
        database_url, slack_api.base_url, mode="socket", app_token_env="SLACK_APP_TOKEN"
    )
    hub = Hub(settings, clock)
    connector = hub.connectors["slack"]
    with pytest.raises(AuthFailed, match=r"apps\.connections\.open: invalid_auth"):
        await connector.start()
    await connector.stop()
    await hub.db.close()


async def test_event_is_refused_500_while_slack_cannot_say_who_we_are(
    hub, server, session, slack_api
):
    slack_api.script("auth.test", Scripted(500, "down"))
    assert (await post_event(session, server, message_event()))[0] == 500
    assert await stored(hub) == []
    retry = {"X-Slack-Retry-Num": "1"}
    assert (await post_event(session, server, message_event(), headers=retry))[0] == 200
    assert len(await stored(hub)) == 1


# what the log says


def slack_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("connectors.slack", "slack_"))]


async def test_slack_api_down_is_one_line_per_event_without_a_traceback(
    hub, server, session, slack_api, caplog
):
    slack_api.script("auth.test", Scripted(500, "down"), Scripted(503, "down"))
    caplog.set_level(logging.INFO)
    for event_id in ("Ev0001", "Ev0002"):
        assert (await post_event(session, server, message_event(event_id=event_id)))[0] == 500
    lines = [(r.levelname, r.getMessage(), r.exc_info) for r in slack_lines(caplog)]
    said = "channel slack: slack auth.test: HTTP {}; the event is left for Slack to send again"
    assert lines == [("WARNING", said.format(status), None) for status in (500, 503)]


async def test_no_bolt_warning_about_an_unused_token_when_slack_bot_token_is_set(
    settings, clock, monkeypatch, caplog
):
    monkeypatch.setenv("SLACK_BOT_TOKEN", SLACK_ENVIRON["SLACK_BOT_TOKEN"])
    await Hub(settings, clock).db.close()
    assert [r.getMessage() for r in slack_lines(caplog)] == []


async def test_a_refused_bot_token_is_one_error_and_the_channel_shows_it_stopped(
    hub, server, session, slack_api, caplog
):
    refused = Scripted(200, {"ok": False, "error": "invalid_auth"})
    slack_api.script("auth.test", refused, refused)
    for event_id in ("Ev0001", "Ev0002"):
        assert (await post_event(session, server, message_event(event_id=event_id)))[0] == 500
    lines = [(r.levelname, r.getMessage(), r.exc_info) for r in slack_lines(caplog)]
    said = (
        "channel slack: slack auth.test: invalid_auth; no event is taken while the token is refused"
    )
    assert lines == [("ERROR", said, None)]
    halted = hub.connectors["slack"].halted
    assert halted is not None
    assert halted.reason == "slack auth.test: invalid_auth"
