"""The admin console's API: channel switches, calendar and auto-reply previews, the page itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from config import Settings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.errors import NotFound
from tests.conftest import API_TOKEN, make_settings
from tests.support.clock import FakeClock
from tests.support.hubs import Browser, add_agent, started_hub
from tests.test_contact_hours import LONDON_OFFICE, WEEKDAYS_9_TO_5

ADMIN = "admin@example.com"
AGENT = "maria@example.com"
SATURDAY_10_LONDON = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
SMS_IN = "/channels/sms/messages"
PREVIEW = "/api/admin/hours/preview"
TEMPLATE = "/api/admin/templates/preview"


@asynccontextmanager
async def running(settings: Settings, clock: FakeClock) -> AsyncIterator[tuple[Hub, TestServer]]:
    """A started hub behind its own web server (for restarts within one test)."""
    async with started_hub(settings, clock) as hub:
        server = TestServer(hub.web_app(), host="127.0.0.1")
        await server.start_server()
        try:
            yield hub, server
        finally:
            await server.close()


def cookie_session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def signed_in(server: TestServer, session: aiohttp.ClientSession, email: str) -> Browser:
    return await Browser(server, session).login(email)


@pytest.fixture
async def admin(hub: Hub, browser_factory) -> Browser:
    await add_agent(hub, ADMIN, role="admin", name="Ada")
    return await (await browser_factory()).login(ADMIN)


@pytest.fixture
async def agent(hub: Hub, browser_factory) -> Browser:
    await add_agent(hub, AGENT, name="Maria")
    return await (await browser_factory()).login(AGENT)


@pytest.fixture
async def anonymous(browser_factory) -> Browser:
    return await browser_factory()


async def post_sms(server: TestServer, external_id: str) -> tuple[int, Any]:
    body = {"id": external_id, "from": {"address": "+4915100", "name": "Lena"}, "text": "hi"}
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(server.make_url(SMS_IN), json=body, headers=headers) as response,
    ):
        return response.status, await response.json()


def by_name(channels: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {channel["name"]: channel for channel in channels}


async def test_channels_name_their_credential_variables_but_never_the_values(admin: Browser):
    async with admin.session.get(admin.url("/api/admin/channels")) as response:
        text = await response.text()
    channels = by_name(await admin.get("/api/admin/channels"))
    assert channels["sms"]["credentials"] == ["SMS_TOKEN"]
    assert channels["webchat"]["credentials"] == []
    assert (channels["sms"]["enabled"], channels["sms"]["kind"]) == (True, "api")
    assert API_TOKEN not in text


async def test_a_switched_off_channel_refuses_input_until_switched_on_even_after_a_restart(
    settings: Settings, clock: FakeClock
):
    async with running(settings, clock) as (hub, server), cookie_session() as session:
        await add_agent(hub, ADMIN, role="admin", name="Ada")
        admin = await signed_in(server, session, ADMIN)
        off = await admin.patch("/api/admin/channels/sms", {"enabled": False}, expect=200)
        assert (off["name"], off["enabled"], off["enabled_in_config"]) == ("sms", False, True)
        assert await post_sms(server, "gw-1") == (404, {"error": "channel 'sms' is disabled"})
        status, body = await admin.call("POST", "/api/admin/channels/sms/test")
        assert (status, body["error"]) == (404, "channel 'sms' is not configured or not enabled")
        (entry, *_) = await admin.get("/api/admin/audit")
        assert (entry["action"], entry["actor_name"], entry["details"]) == (
            "channel.disabled",
            "Ada",
            {"channel": "sms"},
        )

    async with running(settings, clock) as (hub, server), cookie_session() as session:
        assert "sms" not in hub.connectors
        with pytest.raises(NotFound, match="channel 'sms' is disabled"):
            await hub.ingest(InboundMessage("sms", "direct-1", Address("phone", "+4915100"), "hi"))
        admin = await signed_in(server, session, ADMIN)
        assert by_name(await admin.get("/api/admin/channels"))["sms"]["enabled"] is False
        on = await admin.patch("/api/admin/channels/sms", {"enabled": True}, expect=200)
        assert on["enabled"] is True
        status, _ = await post_sms(server, "gw-2")
        assert status == 202
        test = await admin.post("/api/admin/channels/sms/test", expect=200)
        assert test["ok"] is True

    async with running(settings, clock) as (hub, _server):
        assert list(hub.connectors) == ["webchat", "sms"], "config order is kept"


async def test_a_channel_disabled_in_the_config_can_be_switched_on(
    database_url: str, clock: FakeClock
):
    settings = make_settings(
        database_url,
        channels=[
            {"kind": "webchat", "name": "webchat"},
            {
                "kind": "api",
                "name": "sms",
                "token_env": "SMS_TOKEN",
                "identity_kind": "phone",
                "enabled": False,
            },
        ],
    )
    async with running(settings, clock) as (hub, server), cookie_session() as session:
        await add_agent(hub, ADMIN, role="admin")
        admin = await signed_in(server, session, ADMIN)
        assert (await post_sms(server, "gw-1"))[0] == 404
        channel = await admin.patch("/api/admin/channels/sms", {"enabled": True}, expect=200)
        assert (channel["enabled"], channel["enabled_in_config"]) == (True, False)
        assert (await post_sms(server, "gw-1"))[0] == 202


async def test_switching_channels_is_for_admins_and_validated(
    admin: Browser, agent: Browser, anonymous: Browser
):
    path = "/api/admin/channels/sms"
    assert (await agent.call("PATCH", path, {"enabled": False}))[0] == 403
    assert (await anonymous.call("PATCH", path, {"enabled": False}))[0] == 401
    status, body = await admin.call("PATCH", "/api/admin/channels/fax", {"enabled": False})
    assert (status, body["error"]) == (404, "channel 'fax' is not configured")
    status, body = await admin.call("PATCH", path, {"enabled": "sometimes"})
    assert status == 422
    assert [p["field"] for p in body["problems"]] == ["enabled"]


async def test_a_cookie_session_without_the_csrf_header_cannot_change_anything(admin: Browser):
    admin.csrf = None
    status, body = await admin.call("PATCH", "/api/admin/channels/sms", {"enabled": False})
    assert (status, body["error"]) == (
        403,
        "missing or wrong X-CSRF-Token header for a cookie session",
    )
    assert by_name(await admin.get("/api/admin/channels"))["sms"]["enabled"] is True


def spans(day: dict[str, Any]) -> list[str]:
    return [f"{span['from']}-{span['to']}" for span in day["open"]]


async def test_hours_preview_lists_the_next_days_in_the_calendars_zone(
    admin: Browser, clock: FakeClock
):
    clock.set(datetime(2026, 3, 25, 12, 0, tzinfo=UTC))  # a Wednesday; DST starts on the 29th
    await admin.login(ADMIN)  # the first session expired meanwhile
    hours = {
        "zone": "Europe/London",
        "weekly": {**WEEKDAYS_9_TO_5, "fri": [{"span": "22:00-02:00", "overnight": True}]},
        "exceptions": {"2026-03-26": [], "2026-04-07": ["10:00-12:00", "13:00-24:00"]},
        "holidays": {"country": "GB", "subdivision": "ENG"},
    }
    preview = await admin.post(PREVIEW, {"hours": hours}, expect=200)
    days = preview["days"]
    assert preview["zone"] == "Europe/London"
    assert [day["date"] for day in days][:3] == ["2026-03-25", "2026-03-26", "2026-03-27"]
    assert len(days) == 14
    listed = {
        day["date"]: (day["weekday"], spans(day), day["exception"], day["holiday"]) for day in days
    }
    assert listed["2026-03-25"] == ("wed", ["09:00-17:00"], False, None)
    assert listed["2026-03-26"] == ("thu", [], True, None)
    assert listed["2026-03-27"] == ("fri", ["22:00-24:00"], False, None)
    assert listed["2026-03-28"] == ("sat", ["00:00-02:00"], False, None)
    assert listed["2026-04-03"] == ("fri", [], False, "Good Friday")
    assert listed["2026-04-06"] == ("mon", [], False, "Easter Monday")
    assert listed["2026-04-07"] == ("tue", ["10:00-12:00", "13:00-24:00"], True, None)
    monday_before, monday_after = days[5], days[12]
    assert monday_before["open"][0]["start"] == "2026-03-30T08:00:00+00:00"  # BST: UTC+1
    assert monday_after["date"] == "2026-04-06"
    assert days[0]["open"][0]["start"] == "2026-03-25T09:00:00+00:00"  # GMT

    short = await admin.post(PREVIEW, {"hours": LONDON_OFFICE, "days": 2}, expect=200)
    assert [day["date"] for day in short["days"]] == ["2026-03-25", "2026-03-26"]


async def test_hours_preview_names_every_problem_with_its_field(admin: Browser):
    hours = {
        "zone": "Mars/Olympus",
        "weekly": {"mon": ["09:00-12:00", "11:00-13:00"]},
        "holidays": {"country": "XX"},
    }
    status, body = await admin.call("POST", PREVIEW, {"hours": hours, "days": 0})
    assert status == 422
    problems = {p["field"]: p["reason"] for p in body["problems"]}
    assert problems["hours.zone"] == "unknown time zone 'Mars/Olympus'"
    assert problems["hours.weekly.mon.1"] == "overlaps 09:00-12:00"
    assert problems["hours.holidays.country"] == "unknown country 'XX'"
    assert "greater than or equal to 1" in problems["days"]


async def test_previews_are_for_admins(agent: Browser, anonymous: Browser):
    for path, body in ((PREVIEW, {"hours": LONDON_OFFICE}), (TEMPLATE, {"template": "hi"})):
        assert (await agent.call("POST", path, body))[0] == 403
        assert (await anonymous.call("POST", path, body))[0] == 401


async def test_template_preview_renders_as_the_hub_would_send_it(admin: Browser, clock: FakeClock):
    clock.set(SATURDAY_10_LONDON)
    await admin.login(ADMIN)
    await admin.call("PUT", "/api/admin/hours", {"hours": LONDON_OFFICE}, expect=200)
    preview = await admin.post(
        TEMPLATE, {"template": "{owner} is back at {opens} ({zone})", "channel": "sms"}, expect=200
    )
    assert preview == {
        "text": "Ada is back at 09:00 Monday (Europe/London)",
        "opens_at": "2026-03-09T09:00:00+00:00",
        "zone": "Europe/London",
    }
    stored = await admin.post(TEMPLATE, {"channel": "sms"}, expect=200)
    assert stored["text"] == (
        "Thanks for your message; it is saved. Ada will reply here at 09:00 Monday, London Time."
    )

    rules = {"hours": None, "autoreply_template": "Closed until {opens}"}
    await admin.call("PUT", "/api/admin/channels/sms/rules", rules, expect=200)
    assert (await admin.post(TEMPLATE, {"channel": "sms"}, expect=200))["text"] == (
        "Closed until 09:00 Monday"
    )
    clock.set(datetime(2026, 3, 9, 12, 0, tzinfo=UTC))
    await admin.login(ADMIN)
    while_open = await admin.post(TEMPLATE, {"template": "{opens}"}, expect=200)
    assert while_open["text"] == "09:00 Tuesday", "while open: the opening after closing time"


async def test_template_preview_names_the_placeholder_problem(admin: Browser):
    status, body = await admin.call("POST", TEMPLATE, {"template": "Back {until}"})
    assert status == 422
    (problem,) = body["problems"]
    assert problem["field"] == "template"
    assert "unknown placeholder {until}" in problem["reason"]
    status, body = await admin.call("POST", TEMPLATE, {"template": "hi", "channel": "fax"})
    assert (status, body["problems"]) == (
        422,
        [{"field": "channel", "reason": "channel 'fax' is not configured"}],
    )


async def test_audit_entries_name_their_actor(admin: Browser, hub: Hub):
    created = await admin.post(
        "/api/admin/agents",
        {"email": "tom@example.com", "name": "Tom", "password": "long enough pw"},
        expect=201,
    )
    (entry, *_) = await admin.get("/api/admin/audit")
    assert (entry["action"], entry["actor_name"], entry["subject_id"]) == (
        "agent.created",
        "Ada",
        created["id"],
    )


async def test_the_console_page_is_for_admins_only(
    hub: Hub, admin: Browser, agent: Browser, anonymous: Browser
):
    async with anonymous.session.get(anonymous.url("/admin"), allow_redirects=False) as response:
        assert (response.status, response.headers["Location"]) == (303, "/?next=/admin")
    async with agent.session.get(agent.url("/admin")) as response:
        assert response.status == 403
        assert "Only admins may open the admin console." in await response.text()
        assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    async with admin.session.get(admin.url("/admin")) as response:
        assert response.status == 200
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert '<script type="module" src="/static/admin.js"></script>' in await response.text()
    for name in ("admin.js", "admin.css"):
        async with anonymous.session.get(anonymous.url(f"/static/{name}")) as response:
            assert response.status == 200
