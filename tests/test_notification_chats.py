"""Notifications as a Slack DM and in a Telegram chat linked with a one-time code.

Real slack_sdk against ``tests/support/slack_api.py`` and the real
python-telegram-bot against ``tests/support/telegram_api.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from config import Settings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.db.schema import agent_link_codes, customers, messages, notice_batches
from tests.conftest import ENVIRON
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent
from tests.support.slack_api import SlackApi
from tests.support.telegram_api import BOT_USER, FakeBotApi, private_message, server_error

TG_TOKEN = "123456789:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-bs"
HOOK_SECRET = "hook-secret_42"
CHATS_ENVIRON = {
    **ENVIRON,
    "TG_TOKEN": TG_TOKEN,
    "TG_HOOK_SECRET": HOOK_SECRET,
    "SLACK_BOT_TOKEN": "xoxb-17-test-token",
    "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99e1f2c3d4a5",
}
MARIA = "maria@example.com"
MARIAS_CHAT = 4242


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TG_TOKEN) as api:
        yield api


@pytest.fixture
async def slack_api() -> AsyncIterator[SlackApi]:
    async with SlackApi() as api:
        yield api


@pytest.fixture
def settings(database_url: str, bot_api: FakeBotApi, slack_api: SlackApi) -> Settings:
    data = {
        "database": {"url": database_url},
        "outbox": {"base_delay_seconds": 10, "max_delay_seconds": 10},
        "channels": [
            {"kind": "api", "name": "sms", "token_env": "SMS_TOKEN", "identity_kind": "phone"},
            {
                "kind": "telegram",
                "name": "tg",
                "token_env": "TG_TOKEN",
                "webhook_secret_env": "TG_HOOK_SECRET",
                "base_url": bot_api.base_url,
            },
            {
                "kind": "slack",
                "name": "slack",
                "bot_token_env": "SLACK_BOT_TOKEN",
                "signing_secret_env": "SLACK_SIGNING_SECRET",
                "base_url": slack_api.base_url,
            },
        ],
    }
    return Settings.model_validate(data, context={"environ": CHATS_ENVIRON})


@pytest.fixture
async def maria(hub: Hub, browser_factory):
    agent_id = await add_agent(hub, MARIA, name="Maria")
    return agent_id, await (await browser_factory()).login(MARIA)


async def send_to_bot(server: TestServer, update: dict) -> dict:
    async with (
        aiohttp.ClientSession() as client,
        client.post(
            server.make_url("/telegram/tg/webhook"),
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET},
        ) as response,
    ):
        assert response.status == 200
        return await response.json()


def sms(phone: str, external_id: str, text: str = "hello") -> InboundMessage:
    return InboundMessage("sms", external_id, Address("phone", phone), text)


async def count(hub: Hub, table) -> int:
    return await hub.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(table)).scalar_one()
    )


async def test_slack_dm_reaches_the_agent(hub: Hub, maria, slack_api: SlackApi):
    _agent_id, browser = maria
    chosen = {"channel": "slack", "via": "slack", "address": "U0MARIA"}
    await browser.call("PUT", "/api/me/notifications", chosen, expect=200)
    await hub.ingest(sms("+491701", "1"))
    assert await hub.notifier.run_due() == 1
    assert slack_api.called("conversations.open")[-1]["users"] == "U0MARIA"
    (posted,) = slack_api.called("chat.postMessage")
    assert posted["channel"] == "D0MARIA"
    assert "+491701" in posted["text"]


async def test_a_customer_name_is_no_slack_link_or_mention_in_a_dm(
    hub: Hub, maria, slack_api: SlackApi
):
    _agent_id, browser = maria
    chosen = {"channel": "slack", "via": "slack", "address": "U0MARIA"}
    await browser.call("PUT", "/api/me/notifications", chosen, expect=200)
    disguised = "<https://evil.example|Open your inbox> <!channel> & co"
    await hub.ingest(replace(sms("+491701", "1"), sender_name=disguised))
    assert await hub.notifier.run_due() == 1
    (posted,) = slack_api.called("chat.postMessage")
    assert (
        "&lt;https://evil.example|Open your inbox&gt; &lt;!channel&gt; &amp; co" in posted["text"]
    )
    assert "<https://evil.example" not in posted["text"]


async def test_telegram_chat_linked_with_a_code_then_notified(
    hub: Hub, server: TestServer, maria, bot_api: FakeBotApi, clock: FakeClock
):
    _agent_id, browser = maria
    _status, issued = await browser.call("POST", "/api/me/notifications/telegram-code", expect=201)
    assert issued["link"] == f"https://t.me/{BOT_USER['username']}?start={issued['code']}"
    stored_code = await hub.db.read(
        lambda conn: conn.execute(select(agent_link_codes.c.code_hash)).scalar_one()
    )
    assert issued["code"] not in stored_code, "only a hash is kept"
    link = private_message(1, 1, f"/start {issued['code']}", user_id=MARIAS_CHAT)
    assert (await send_to_bot(server, link))["stored"] is False
    assert await count(hub, customers) == 0, "the code message is no customer's"
    assert await count(hub, messages) == 0
    confirmation = bot_api.called("sendMessage")[-1]
    assert int(confirmation["chat_id"]) == MARIAS_CHAT
    _status, mine = await browser.call("GET", "/api/me/notifications", expect=200)
    assert (mine["channel"], mine["via"], mine["address"]) == ("telegram", "tg", str(MARIAS_CHAT))
    await hub.ingest(sms("+491701", "1"))
    assert await hub.notifier.run_due() == 1
    notice = bot_api.called("sendMessage")[-1]
    assert int(notice["chat_id"]) == MARIAS_CHAT
    assert "+491701" in notice["text"]


async def test_a_code_works_once_and_not_after_ten_minutes(
    hub: Hub, server: TestServer, maria, clock: FakeClock
):
    _agent_id, browser = maria
    _s, used = await browser.call("POST", "/api/me/notifications/telegram-code", expect=201)
    await send_to_bot(server, private_message(1, 1, f"/start {used['code']}", user_id=MARIAS_CHAT))
    again = await send_to_bot(server, private_message(2, 2, f"/start {used['code']}", user_id=99))
    assert again["stored"] is True, "a spent code is just a customer's message"
    _s, late = await browser.call("POST", "/api/me/notifications/telegram-code", expect=201)
    clock.advance(minutes=10)
    expired = await send_to_bot(server, private_message(3, 3, f"/start {late['code']}", user_id=98))
    assert expired["stored"] is True
    _s, mine = await browser.call("GET", "/api/me/notifications", expect=200)
    assert mine["address"] == str(MARIAS_CHAT)


async def link_marias_chat(server: TestServer, browser) -> None:
    _status, issued = await browser.call("POST", "/api/me/notifications/telegram-code", expect=201)
    link = private_message(90, 90, f"/start {issued['code']}", user_id=MARIAS_CHAT)
    assert (await send_to_bot(server, link))["stored"] is False


async def test_a_telegram_chat_is_only_ever_linked_never_typed_in(
    hub: Hub, server: TestServer, maria
):
    """Anyone's chat id is visible in the inbox: typed in, it would send customers' names
    (and text) to a stranger's chat."""
    _agent_id, browser = maria
    typed = {"channel": "telegram", "via": "tg", "address": "555"}
    status, body = await browser.call("PUT", "/api/me/notifications", typed)
    assert status == 422, body
    assert "link" in body["error"]
    await link_marias_chat(server, browser)
    await browser.call("PUT", "/api/me/notifications", {**typed, "text": "full"}, expect=200)
    _status, mine = await browser.call("GET", "/api/me/notifications", expect=200)
    assert (mine["address"], mine["text"]) == (str(MARIAS_CHAT), "full"), "the linked chat stays"


async def test_failing_bot_api_is_retried_without_blocking_customers(
    hub: Hub, server: TestServer, maria, bot_api: FakeBotApi, clock: FakeClock
):
    _agent_id, browser = maria
    await link_marias_chat(server, browser)
    bot_api.script("sendMessage", server_error())
    await hub.ingest(sms("+491701", "1"))
    assert await hub.notifier.run_due() == 1
    state = await hub.db.read(
        lambda conn: conn.execute(select(notice_batches.c.state)).scalar_one()
    )
    assert state == "pending"
    customer = await send_to_bot(server, private_message(5, 5, "hi", user_id=555))
    assert customer["stored"] is True
    clock.advance(seconds=10)
    assert await hub.notifier.run_due() == 1
    state = await hub.db.read(
        lambda conn: conn.execute(select(notice_batches.c.state)).scalar_one()
    )
    assert state == "sent"
