"""The access log: one line per request with its route pattern, status, time and id; the id
echoed to the client and on every line logged while the request is handled; no tokens."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from config import Settings
from hub.app import Hub
from tests.conftest import make_settings
from tests.support.hubs import add_agent
from tests.support.telegram_api import FakeBotApi, server_error
from tests.support.waiting import until
from tests.test_admin_api import cookie_session, running, signed_in
from tests.test_log_policy import TG_TOKEN, hub_logging

GENERATED_ID = re.compile(r"[0-9a-f]{16}")
QUERY_TOKEN = "query-token-4f9a1c77e2"
BEARER_TOKEN = "bearer-token-80d3b5a6c1"
HOOK_SECRET = "hook-secret-5e1d0c"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url, log={"format": "json"})


@pytest.fixture
def hub_log(settings: Settings) -> Iterator[io.StringIO]:
    with hub_logging(settings) as stream:
        yield stream


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TG_TOKEN) as api:
        yield api


@pytest.fixture
async def session(hub_log: io.StringIO) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def lines(log: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in log.getvalue().splitlines()]


def access_lines(log: io.StringIO) -> list[dict[str, object]]:
    return [line for line in lines(log) if line["logger"] == "hub.access"]


async def request_id_of(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> str:
    async with session.get(url, headers=headers or {}, allow_redirects=False) as reply:
        return reply.headers["X-Request-ID"]


@pytest.mark.parametrize("path", ["/healthz", "/api/conversations", "/no/such/page"])
async def test_a_plain_request_id_is_echoed_and_any_other_replaced(server, session, path):
    url = server.make_url(path)
    assert await request_id_of(session, url, {"X-Request-ID": "edge-7f3.a_b"}) == "edge-7f3.a_b"
    made = [
        await request_id_of(session, url),
        await request_id_of(session, url, {"X-Request-ID": "x" * 65}),
        await request_id_of(session, url, {"X-Request-ID": "two words"}),
        await request_id_of(session, url, {"X-Request-ID": "a\u00e9"}),
    ]
    assert all(GENERATED_ID.fullmatch(request_id) for request_id in made), made
    assert len(set(made)) == len(made)


async def test_the_access_line_names_the_route_pattern_never_the_path_query_or_token(
    server, session, hub_log
):
    url = server.make_url(f"/api/conversations/987654321?token={QUERY_TOKEN}")
    headers = {"Authorization": f"Bearer {BEARER_TOKEN}", "Cookie": f"session={BEARER_TOKEN}"}
    async with session.get(url, headers=headers) as reply:
        assert reply.status == 401
        request_id = reply.headers["X-Request-ID"]
    [line] = access_lines(hub_log)
    assert line["level"] == "INFO"
    assert line["message"] == f"GET /api/conversations/{{conversation_id}} 401 {line['ms']} ms"
    assert (line["method"], line["route"], line["status"]) == (
        "GET",
        "/api/conversations/{conversation_id}",
        401,
    )
    assert isinstance(line["ms"], float)
    assert line["ms"] >= 0
    assert line["request_id"] == request_id
    logged = hub_log.getvalue()
    for private in (QUERY_TOKEN, BEARER_TOKEN, "987654321"):
        assert private not in logged


async def test_a_line_the_handler_logs_carries_the_requests_id(
    database_url, clock, hub_log, bot_api, session
):
    hook = {"mode": "webhook", "webhook_secret_env": "TG_HOOK_SECRET"}
    async with running(telegram(database_url, bot_api, **hook), clock) as (_hub, server):
        url = server.make_url("/telegram/tg/webhook")
        headers = {"X-Telegram-Bot-Api-Secret-Token": HOOK_SECRET}
        async with session.post(url, data=b"{", headers=headers) as reply:
            assert reply.status == 200
            request_id = reply.headers["X-Request-ID"]
    [warning] = [line for line in lines(hub_log) if "quarantined" in str(line["message"])]
    assert warning["request_id"] == request_id
    assert access_lines(hub_log)[-1]["request_id"] == request_id


async def test_lines_outside_a_request_have_no_request_id(hub: Hub, server, session, hub_log):
    await request_id_of(session, server.make_url("/healthz"))
    await hub.quarantine("webchat", b"{", "not json")
    [outside] = [line for line in lines(hub_log) if line["logger"] == "hub.app"]
    assert "request_id" not in outside


async def test_a_channel_an_admin_switches_on_logs_without_that_requests_id(
    database_url, clock, hub_log, bot_api
):
    bot_api.script("getUpdates", *[server_error()] * 3)
    settings = telegram(database_url, bot_api, mode="polling", enabled=False)
    async with running(settings, clock) as (hub, server), cookie_session() as session:
        await add_agent(hub, "admin@example.com", role="admin")
        admin = await signed_in(server, session, "admin@example.com")
        await admin.patch("/api/admin/channels/tg", {"enabled": True}, expect=200)
        await until(lambda: poll_failures(hub_log), "a failed poll logged")
    switched = [line for line in access_lines(hub_log) if line["method"] == "PATCH"]
    assert [line["route"] for line in switched] == ["/api/admin/channels/{name}"]
    assert "request_id" in switched[0]
    assert [line for line in poll_failures(hub_log) if "request_id" in line] == []


def telegram(database_url: str, bot_api: FakeBotApi, **channel: object) -> Settings:
    """Settings with one Telegram channel, ``tg``, on the test's Bot API."""
    tg = {"kind": "telegram", "name": "tg", "token_env": "TG_TOKEN", "base_url": bot_api.base_url}
    return Settings.model_validate(
        {"database": {"url": database_url}, "channels": [{**tg, **channel}]},
        context={"environ": {"TG_TOKEN": TG_TOKEN, "TG_HOOK_SECRET": HOOK_SECRET}},
    )


def poll_failures(log: io.StringIO) -> list[dict[str, object]]:
    return [line for line in lines(log) if "trying again" in str(line["message"])]
