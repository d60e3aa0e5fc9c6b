"""The satisfaction question: asked once per resolved conversation, in the customer's hours,
answered 1-5 on a public page behind a signed link, shown to the owner, counted for reports.

Real peers: the web chat widget's WebSocket, an SMTP server for email.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from config import Settings
from connectors.base import Address, InboundMessage
from hub.api.satisfaction import asking_of
from hub.app import Hub
from hub.auth import Principal
from hub.db.schema import messages, satisfaction_surveys
from hub.satisfaction import LIFETIME, resolve_and_ask, satisfaction_scores
from hub.signed import sign
from tests.conftest import ENVIRON, make_settings
from tests.support.clock import FakeClock
from tests.support.hubs import Browser, add_agent, started_hub
from tests.support.messages import chat
from tests.support.slack_api import TEAM_ID, SlackApi
from tests.support.smtp import SmtpPeer
from tests.support.telegram_api import FakeBotApi
from tests.test_email_channel import customer_mail, deliver
from tests.test_slack import LENA, blocks_of, slack_settings
from tests.test_telegram import TOKEN as TELEGRAM_TOKEN
from tests.test_telegram import customer_conversation, telegram_settings

QUESTION = "How did we do? One click (1 to 5):"
ASKING = {"enabled": True, "question": QUESTION}
MONDAY_9_LONDON = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
FRIDAY_16_LONDON = datetime(2026, 3, 6, 16, 0, tzinfo=UTC)
NEXT_MONDAY_9_LONDON = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
WEEKDAYS_9_TO_5 = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
LONDON_OFFICE = {"zone": "Europe/London", "weekly": WEEKDAYS_9_TO_5}
LINK = re.compile(r"https?://\S+/satisfaction/(\S+)")
TIMEOUT = 5


class Widget:
    """The web chat widget's side of its WebSocket."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket

    async def frame(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.socket.receive_json(), TIMEOUT)

    async def say(self, text: str) -> None:
        await self.socket.send_json({"type": "message", "client_id": "client-0001", "text": text})
        assert (await self.frame())["type"] == "ack"


def webchat_settings(database_url: str, satisfaction: dict[str, Any]) -> Settings:
    return make_settings(
        database_url,
        channels=[{"kind": "webchat", "name": "webchat", "satisfaction": satisfaction}],
    )


@pytest.fixture
def settings(database_url: str) -> Settings:
    return webchat_settings(database_url, ASKING)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def maria(hub: Hub, browser_factory) -> Browser:
    await add_agent(hub, "maria@example.com")
    return await (await browser_factory()).login("maria@example.com")


async def visitor_writes(session: aiohttp.ClientSession, server: TestServer) -> Widget:
    socket = await session.ws_connect(server.make_url("/webchat/webchat/ws"))
    widget = Widget(socket)
    await socket.send_json({"type": "hello", "token": None, "name": "Lena"})
    assert (await widget.frame())["type"] == "welcome"
    await widget.say("Do you ship to Norway?")
    return widget


async def the_conversation(agent: Browser) -> int:
    (conversation,) = await agent.get("/api/conversations")
    return conversation["id"]


async def surveys(hub: Hub) -> list[dict[str, Any]]:
    rows = await hub.db.read(
        lambda conn: conn.execute(select(satisfaction_surveys).order_by("id")).mappings().all()
    )
    return [dict(row) for row in rows]


async def questions_sent(hub: Hub) -> list[dict[str, Any]]:
    rows = await hub.db.read(
        lambda conn: (
            conn.execute(
                select(messages).join(
                    satisfaction_surveys, satisfaction_surveys.c.message_id == messages.c.id
                )
            )
            .mappings()
            .all()
        )
    )
    return [dict(row) for row in rows]


def token_in(text: str) -> str:
    match = LINK.search(text)
    assert match, text
    return match.group(1)


async def test_resolving_asks_the_web_chat_visitor_once_with_a_link(
    hub: Hub, server: TestServer, session, maria: Browser
):
    widget = await visitor_writes(session, server)
    conversation = await the_conversation(maria)
    await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
    await hub.outbox.run_due()
    live = await widget.frame()
    assert live["type"] == "message"
    assert live["message"]["text"].startswith(QUESTION)
    token = token_in(live["message"]["text"])
    (survey,) = await surveys(hub)
    assert (survey["conversation_id"], survey["channel"]) == (conversation, "webchat")
    assert survey["owner_id"] == maria.agent["id"]
    assert survey["expires_at"] == hub.clock.now() + LIFETIME
    (question,) = await questions_sent(hub)
    assert question["state"] == "sent"
    async with session.get(server.make_url(f"/api/satisfaction/{token}")) as response:
        assert response.status == 200
        assert (await response.json())["question"] == QUESTION


async def test_resolved_reopened_and_resolved_again_asks_still_once(
    hub: Hub, server: TestServer, session, maria: Browser
):
    await visitor_writes(session, server)
    conversation = await the_conversation(maria)
    for _ in range(2):
        await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
        await maria.post(f"/api/conversations/{conversation}/reopen", expect=200)
    await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
    await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
    await hub.outbox.run_due()
    assert len(await surveys(hub)) == 1
    assert len(await questions_sent(hub)) == 1


@pytest.mark.parametrize("satisfaction", [{}, {"enabled": False, "question": QUESTION}])
async def test_a_channel_that_does_not_ask_sends_nothing(
    database_url: str, clock: FakeClock, satisfaction: dict[str, Any], session
):
    """Off by default, and off when an admin turns it off."""
    async with started_hub(webchat_settings(database_url, satisfaction), clock) as hub:
        server = TestServer(hub.web_app(), host="127.0.0.1")
        await server.start_server()
        try:
            await add_agent(hub, "maria@example.com")
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as own:
                maria = await Browser(server, own).login("maria@example.com")
                await visitor_writes(session, server)
                conversation = await the_conversation(maria)
                await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
        finally:
            await server.close()
        assert await surveys(hub) == []
        count = select(func.count()).select_from(messages).where(messages.c.direction == "out")
        assert await hub.db.read(lambda conn: conn.execute(count).scalar_one()) == 0


async def answered(session, server: TestServer, token: str, body: Any) -> tuple[int, Any]:
    async with session.post(server.make_url(f"/api/satisfaction/{token}"), json=body) as response:
        return response.status, await response.json()


async def test_the_answer_page_stores_score_and_comment_and_refuses_bad_links(
    hub: Hub, server: TestServer, session, maria: Browser
):
    widget = await visitor_writes(session, server)
    conversation = await the_conversation(maria)
    await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
    await hub.outbox.run_due()
    token = token_in((await widget.frame())["message"]["text"])

    for score in (0, 6, "five"):
        status, _ = await answered(session, server, token, {"score": score})
        assert status == 422
    assert (await surveys(hub))[0]["score"] is None

    comment = '<img src=x onerror="alert(1)"> fast & kind'
    status, answer = await answered(session, server, token, {"score": 4, "comment": comment})
    assert status == 200
    assert (answer["score"], answer["comment"]) == (4, comment)
    (survey,) = await surveys(hub)
    assert (survey["score"], survey["comment"], survey["answered_at"]) == (
        4,
        comment,
        hub.clock.now(),
    )

    detail = await maria.get(f"/api/conversations/{conversation}")
    assert detail["satisfaction"]["score"] == 4
    assert detail["satisfaction"]["comment"] == comment
    assert detail["satisfaction"]["state"] == "sent"

    hub.clock.advance(days=1)
    status, answer = await answered(session, server, token, {"score": 5})
    assert (status, answer["score"], answer["comment"]) == (200, 5, None)

    body = token.split(".")[0]
    forged = f"{body}.{'0' * 64}"
    status, refusal = await answered(session, server, forged, {"score": 1})
    assert (status, refusal["error"]) == (
        404,
        "this link is not one we sent: check it was copied whole",
    )
    other = sign(b"another hub's key", "satisfaction", {"survey": 1}, hub.clock.now() + LIFETIME)
    assert (await answered(session, server, other, {"score": 1}))[0] == 404
    async with session.get(server.make_url("/api/satisfaction/not-a-token")) as response:
        assert response.status == 404

    hub.clock.set(survey["expires_at"] + timedelta(seconds=1))
    status, refusal = await answered(session, server, token, {"score": 1})
    assert (status, refusal["error"]) == (410, "this link has expired: thank you all the same")
    assert (await surveys(hub))[0]["score"] == 5


async def test_an_agent_who_does_not_see_the_conversation_does_not_see_its_answer(
    hub: Hub, server: TestServer, session, maria: Browser, browser_factory
):
    await visitor_writes(session, server)
    conversation = await the_conversation(maria)
    await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
    await add_agent(hub, "tom@example.com")
    tom = await (await browser_factory()).login("tom@example.com")
    await tom.get(f"/api/conversations/{conversation}", expect=403)


async def test_a_merged_customers_question_and_answer_follow_their_conversation(
    hub: Hub, server: TestServer, session, maria: Browser, browser_factory
):
    await visitor_writes(session, server)
    asked = await the_conversation(maria)
    await maria.post(f"/api/conversations/{asked}/resolve", expect=200)
    await hub.outbox.run_due()
    await maria.post(f"/api/conversations/{asked}/reopen", expect=200)
    other = await hub.ingest(chat("lena-phone", "phone-1", "It's me again", sender_name="Lena"))
    await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    (survey,) = await surveys(hub)
    body = {"merge_customer_id": survey["customer_id"]}
    await admin.post(f"/api/admin/customers/{other.customer_id}/merge", body, expect=200)

    (survey,) = await surveys(hub)
    assert (survey["conversation_id"], survey["customer_id"]) == (
        other.conversation_id,
        other.customer_id,
    )


async def test_scores_for_reports_per_owner_and_channel_over_a_date_range(
    hub: Hub, server: TestServer, session, maria: Browser
):
    await visitor_writes(session, server)
    conversation = await the_conversation(maria)
    await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
    await hub.outbox.run_due()
    (question,) = await questions_sent(hub)
    await answered(session, server, token_in(question["text"]), {"score": 2})
    now = hub.clock.now()
    scores = await hub.db.read(
        partial(satisfaction_scores, since=now - timedelta(days=1), until=now + timedelta(days=1))
    )
    assert scores == [
        {
            "owner_id": maria.agent["id"],
            "channel": "webchat",
            "asked": 1,
            "answered": 1,
            "mean": 2.0,
            "scores": {1: 0, 2: 1, 3: 0, 4: 0, 5: 0},
        }
    ]
    later = await hub.db.read(
        partial(
            satisfaction_scores, since=now + timedelta(seconds=1), until=now + timedelta(days=1)
        )
    )
    assert later == []


# Email, through a real SMTP peer, with the customer's hours.


def email_settings(database_url: str, relay_port: int) -> Settings:
    data: dict[str, object] = {
        "database": {"url": database_url},
        "channels": [
            {
                "kind": "email",
                "name": "mail",
                "address": "support@shop.example",
                "smtp_in": {"host": "127.0.0.1", "port": 0},
                "smtp_out": {"host": "127.0.0.1", "port": relay_port, "security": "none"},
                "authentication": {"check": False},
                "satisfaction": ASKING,
            }
        ],
    }
    return Settings.model_validate(data, context={"environ": ENVIRON})


async def london_customer_after_hours(hub: Hub, clock: FakeClock, maria: Browser) -> int:
    """Lena mailed on Friday afternoon, her agreed hours are London's office hours, and
    now it is 17:30: her conversation."""
    await deliver(hub, customer_mail("Where is my parcel?"))
    (listed,) = await maria.get("/api/conversations")
    hours = {"hours": LONDON_OFFICE}
    await maria.call("PUT", f"/api/customers/{listed['customer']['id']}/contact-hours", hours, 200)
    clock.set(FRIDAY_16_LONDON + timedelta(hours=1, minutes=30))
    return listed["id"]


async def test_reopened_before_the_question_left_it_is_withdrawn_and_the_last_resolve_asks(
    relay: SmtpPeer, browser_factory_of_email
):
    hub, clock, maria, _session, _server = browser_factory_of_email
    conversation = await london_customer_after_hours(hub, clock, maria)
    await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
    (first,) = await surveys(hub)
    await maria.post(f"/api/conversations/{conversation}/reopen", expect=200)
    assert await surveys(hub) == []
    withdrawn = await hub.db.read(
        lambda conn: conn.execute(
            select(messages.c.state).where(messages.c.id == first["message_id"])
        ).scalar_one()
    )
    assert withdrawn == "cancelled"
    await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
    (survey,) = await surveys(hub)
    assert survey["message_id"] != first["message_id"]

    clock.set(NEXT_MONDAY_9_LONDON)
    await hub.outbox.run_due()
    assert len(relay.received) == 1, "asked once"
    await maria.login("maria@example.com")  # the weekend outlasted her session
    await maria.post(f"/api/conversations/{conversation}/reopen", expect=200)
    assert len(await surveys(hub)) == 1, "a question sent stays asked"


async def test_resolved_after_hours_the_email_question_waits_for_the_customers_hours(
    database_url: str, relay: SmtpPeer, browser_factory_of_email
):
    hub, clock, maria, session, server = browser_factory_of_email
    conversation = await london_customer_after_hours(hub, clock, maria)
    await maria.post(f"/api/conversations/{conversation}/resolve", expect=200)
    (question,) = await questions_sent(hub)
    assert (question["state"], question["release_at"]) == ("scheduled", NEXT_MONDAY_9_LONDON)
    await hub.outbox.run_due()
    clock.set(NEXT_MONDAY_9_LONDON - timedelta(minutes=1))
    await hub.outbox.run_due()
    assert relay.received == [], "never outside the customer's hours"

    clock.set(NEXT_MONDAY_9_LONDON)
    await hub.outbox.run_due()
    (mail,) = relay.received
    assert mail.rcpt_tos == ["lena@example.org"]
    assert mail.message["Auto-Submitted"] == "auto-replied", "out-of-office mails stay quiet"
    text = mail.message.get_body(("plain",)).get_content()
    assert QUESTION in text
    token = token_in(text)
    (survey,) = await surveys(hub)
    assert survey["expires_at"] == NEXT_MONDAY_9_LONDON + LIFETIME
    status, answer = await answered(session, server, token, {"score": 5, "comment": "Thanks!"})
    assert (status, answer["score"]) == (200, 5)


@pytest.fixture
async def browser_factory_of_email(
    database_url: str, relay: SmtpPeer
) -> AsyncIterator[tuple[Hub, FakeClock, Browser, aiohttp.ClientSession, TestServer]]:
    clock = FakeClock(FRIDAY_16_LONDON)
    async with started_hub(email_settings(database_url, relay.port), clock) as hub:
        server = TestServer(hub.web_app(), host="127.0.0.1")
        await server.start_server()
        try:
            await add_agent(hub, "maria@example.com")
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as own:
                maria = await Browser(server, own).login("maria@example.com")
                yield hub, clock, maria, own, server
        finally:
            await server.close()


# Telegram, through the local Bot API server: the link, and buttons with it.


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TELEGRAM_TOKEN) as api:
        yield api


async def test_on_telegram_the_question_has_the_link_and_a_row_of_score_buttons(
    database_url: str, clock: FakeClock, bot_api: FakeBotApi
):
    settings = telegram_settings(database_url, bot_api.base_url, satisfaction=ASKING)
    async with started_hub(settings, clock) as hub:
        agent, conversation = await customer_conversation(hub)
        await hub.db.write(partial(resolve_and_ask, agent, conversation, asking_of(hub)))
        await hub.outbox.run_due()
    (sent,) = bot_api.called("sendMessage")
    assert sent["text"].startswith(QUESTION)
    link = sent["text"].split("\n")[1]
    assert link.startswith(f"{hub.public_url.rstrip('/')}/satisfaction/")
    markup = sent["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    assert markup == {
        "inline_keyboard": [[{"text": str(n), "url": f"{link}?score={n}"} for n in range(1, 6)]]
    }


# Slack, through the local Web API: the link, and Block Kit link buttons with it.


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackApi]:
    async with SlackApi() as api:
        yield api


async def test_on_slack_the_question_has_the_link_and_a_row_of_score_buttons(
    database_url: str, clock: FakeClock, slack_api: SlackApi
):
    settings = slack_settings(
        database_url, slack_api.base_url, public_url="https://hub.example/", satisfaction=ASKING
    )
    async with started_hub(settings, clock) as hub:
        agent_id = await add_agent(hub, "maria@example.com")
        customer = await hub.ingest(
            InboundMessage(
                channel="slack",
                external_id="D0LENA:1772442000.000200",
                sender=Address("slack", f"{TEAM_ID}:{LENA}"),
                text="hi",
                meta={"slack_channel": "D0LENA", "ts": "1772442000.000200"},
            )
        )
        agent = Principal(agent_id, "Maria", "agent", "", False)
        await hub.db.write(
            partial(resolve_and_ask, agent, customer.conversation_id, asking_of(hub))
        )
        await hub.outbox.run_due()
    (posted,) = slack_api.called("chat.postMessage")
    assert posted["channel"] == "D0LENA"
    question, link = posted["text"].split("\n")
    assert question == QUESTION
    assert link.startswith("https://hub.example/satisfaction/")
    assert blocks_of(posted) == [
        {"type": "section", "text": {"type": "mrkdwn", "text": posted["text"]}},
        {
            "type": "actions",
            "block_id": "hub-choices",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": str(n)},
                    "url": f"{link}?score={n}",
                    "action_id": f"hub-choice-{n}",
                    "value": str(n),
                }
                for n in range(1, 6)
            ],
        },
    ]
