"""The API channel's inbound endpoint: per-channel bearer token, 202 with the stored id."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select

from hub.app import Hub
from hub.db.schema import messages
from tests.conftest import API_TOKEN

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(session, server, body, headers=AUTH):
    async with session.post(
        server.make_url("/channels/sms/messages"), json=body, headers=headers
    ) as response:
        return response.status, await response.json()


def sms(external_id: str = "gw-1", **extra):
    return {
        "id": external_id,
        "from": {"address": "+4915100", "name": "Lena"},
        "text": "hi",
        **extra,
    }


async def stored(hub: Hub) -> int:
    return await hub.db.read(
        lambda conn: conn.execute(select(func.count()).select_from(messages)).scalar_one()
    )


async def test_message_is_stored_and_answered_202_with_its_id(hub: Hub, server, session):
    status, body = await post(session, server, sms())
    assert status == 202
    assert body["duplicate"] is False
    assert body["id"] >= 1
    assert await stored(hub) == 1


async def test_repeated_id_is_acknowledged_not_stored_again(hub: Hub, server, session):
    _, first = await post(session, server, sms())
    status, again = await post(session, server, sms())
    assert status == 200
    assert again == {**first, "duplicate": True}
    assert await stored(hub) == 1


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {API_TOKEN}"}],
)
async def test_missing_or_wrong_token_gets_401_and_stores_nothing(hub, server, session, headers):
    status, body = await post(session, server, sms(), headers=headers)
    assert status == 401
    assert "bearer token" in body["error"]
    assert await stored(hub) == 0


async def test_invalid_body_gets_422_naming_the_field(hub: Hub, server, session):
    status, body = await post(session, server, {"id": "x", "from": {}, "text": ""})
    assert status == 422
    assert {p["field"] for p in body["problems"]} == {"from.address", "text"}
    assert await stored(hub) == 0
