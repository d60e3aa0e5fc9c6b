"""Platform payloads as the platforms send them (tests/payloads/), replayed through each
channel's real webhook on a running hub: what the hub stores, or that it ignores them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from hub.app import Hub
from hub.db.schema import attachments, customers, identities, messages
from tests.support.clock import FakeClock
from tests.support.hubs import started_hub
from tests.support.slack_api import SlackApi, signed_headers
from tests.support.telegram_api import FakeBotApi
from tests.support.twilio_api import FakeTwilioApi
from tests.support.whatsapp_api import FakeGraphApi
from tests.test_slack import LENA, LENA_EMAIL, SECRET, slack_settings
from tests.test_telegram import HOOK_SECRET, TOKEN, telegram_settings
from tests.test_twilio import post_signed, twilio_settings
from tests.test_whatsapp import post_webhook, whatsapp_settings

PAYLOADS = Path(__file__).parent / "payloads"


def captured(platform: str) -> list[Any]:
    """Each capture of ``platform`` as a test parameter named after its file."""
    return [
        pytest.param(json.loads(path.read_text()), id=path.stem)
        for path in sorted((PAYLOADS / platform).glob("*.json"))
    ]


async def stored_messages(hub: Hub) -> list[dict[str, Any]]:
    def read(conn: Any) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(messages.c.id, messages.c.text, identities.c.address, customers.c.name)
            .join(identities, identities.c.id == messages.c.identity_id)
            .join(customers, customers.c.id == identities.c.customer_id)
            .where(messages.c.direction == "in")
            .order_by(messages.c.id)
        )
        found = []
        for row in rows:
            names = conn.execute(
                select(attachments.c.name)
                .where(attachments.c.message_id == row.id)
                .order_by(attachments.c.id)
            ).scalars()
            found.append(
                {
                    "text": row.text,
                    "sender": row.address,
                    "sender_name": row.name,
                    "attachments": list(names),
                }
            )
        return found

    return await hub.db.read(read)


async def replay(hub: Hub, post: Any, case: dict[str, Any], session: aiohttp.ClientSession) -> None:
    assert await post(session, case["payload"]) == 200
    found = await stored_messages(hub)
    if "ignored" in case["expect"]:
        assert found == [], case["expect"]["ignored"]
    else:
        assert found == [case["expect"]["stored"]]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.mark.parametrize("case", captured("telegram"))
async def test_telegram_update(
    case: dict[str, Any], database_url: str, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with (
        FakeBotApi(TOKEN) as bot_api,
        started_hub(telegram_settings(database_url, bot_api.base_url), clock) as hub,
        TestServer(hub.web_app()) as server,
    ):

        async def post(session: aiohttp.ClientSession, payload: Any) -> int:
            body = json.dumps(payload).encode()
            headers = {
                "X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET,
                "Content-Type": "application/json",
            }
            url = server.make_url("/telegram/tg/webhook")
            async with session.post(url, data=body, headers=headers) as response:
                return response.status

        await replay(hub, post, case, session)


@pytest.mark.parametrize("case", captured("slack"))
async def test_slack_event(
    case: dict[str, Any], database_url: str, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with SlackApi() as slack_api:
        slack_api.add_user(LENA, "Lena Fischer", LENA_EMAIL)
        settings = slack_settings(database_url, slack_api.base_url)
        async with started_hub(settings, clock) as hub, TestServer(hub.web_app()) as server:

            async def post(session: aiohttp.ClientSession, payload: Any) -> int:
                body = json.dumps(payload).encode()
                url = server.make_url("/slack/slack/events")
                headers = signed_headers(SECRET, body, None)
                async with session.post(url, data=body, headers=headers) as response:
                    return response.status

            await replay(hub, post, case, session)


@pytest.mark.parametrize("case", captured("twilio"))
async def test_twilio_webhook(
    case: dict[str, Any], database_url: str, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with FakeTwilioApi() as twilio:
        settings = twilio_settings(database_url, twilio.base_url)
        async with started_hub(settings, clock) as hub, TestServer(hub.web_app()) as server:

            async def post(session: aiohttp.ClientSession, form: dict[str, str]) -> int:
                status, _ = await post_signed(session, server, "/twilio/text/messages", form)
                return status

            await replay(hub, post, case, session)


@pytest.mark.parametrize("case", captured("whatsapp"))
async def test_whatsapp_webhook(
    case: dict[str, Any], database_url: str, clock: FakeClock, session: aiohttp.ClientSession
) -> None:
    async with FakeGraphApi() as graph:
        settings = whatsapp_settings(database_url, graph.base_url)
        async with started_hub(settings, clock) as hub, TestServer(hub.web_app()) as server:

            async def post(session: aiohttp.ClientSession, payload: dict[str, Any]) -> int:
                status, _ = await post_webhook(session, server, payload)
                return status

            await replay(hub, post, case, session)
