"""What every page owes an operator, in a real Chromium: sign-in returns to the page that
asked for it (and only to a page of this site), admins find the console from the inbox, no
page load asks for a missing file, channel icons are drawn, dates carry the month's name,
and the console's time zones are chosen from the hub's own list."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, Response, expect

from hub.app import Hub
from hub.team import update_agent
from hub.web.pages import TIME_ZONES
from tests.support.chromium import page_without_script_errors
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent
from tests.support.messages import chat
from tests.test_admin_browser import (
    ADMIN,
    MARIA,
    console_url,
    show,
    sign_in,
    submit_sign_in,
    url,
)

THURSDAY_3_DECEMBER = datetime(2026, 12, 3, 16, 20, tzinfo=UTC)  # 16:20 in London too
# Where a careless "next" would send the agent once signed in: all off this site.
ELSEWHERE = [
    "//evil.example/",
    "/.//evil.example/",
    "/..//evil.example/",
    "/%2e//evil.example/",
    "/a/..//evil.example/",
    "/\\evil.example/",
    "/\t/evil.example/",
    "https://evil.example/",
    "javascript:alert(1)",
    "admin",
]
EMOJI = re.compile("[\U0001f000-\U0001ffff\u2600-\u27bf\ufe0f]")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(THURSDAY_3_DECEMBER)


@pytest.fixture
async def team(hub: Hub) -> None:
    """Ada, an admin who is away (so customers go to Maria), and Maria."""
    admin_id = await add_agent(hub, ADMIN, role="admin", name="Ada")
    await hub.db.write(partial(update_agent, admin_id, admin_id, {"away": True}))
    await add_agent(hub, MARIA, name="Maria")


async def new_context(browser: Browser, locale: str) -> BrowserContext:
    return await browser.new_context(timezone_id="Europe/London", locale=locale)


@pytest.fixture
async def london(chromium_browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await new_context(chromium_browser, "en-GB")
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def page(london: BrowserContext) -> AsyncIterator[Page]:
    async with page_without_script_errors(london) as page:
        yield page


async def test_signing_in_from_the_console_lands_on_the_console(
    server: TestServer, page: Page, team: None
):
    await page.goto(url(server, "/admin"))
    await expect(page).to_have_url(url(server, "/?next=/admin"))
    await submit_sign_in(page, ADMIN)
    await expect(page).to_have_url(console_url(server))
    await expect(page.get_by_test_id("admin-name")).to_have_text("Ada")


async def test_a_next_page_off_this_site_is_ignored(
    server: TestServer, london: BrowserContext, page: Page, team: None
):
    for elsewhere in ELSEWHERE:
        await london.clear_cookies()
        await page.goto(url(server, f"/?next={quote(elsewhere, safe='')}"))
        await sign_in(page, server, MARIA)
        await expect(page.locator("#agent-name")).to_have_text("Maria")
        assert page.url == url(server, "/"), elsewhere


async def test_the_inbox_links_to_the_console_for_admins_only(
    server: TestServer, london: BrowserContext, page: Page, team: None
):
    await page.goto(url(server))
    await sign_in(page, server, MARIA)
    await expect(page.get_by_test_id("account-link")).to_be_visible()
    await expect(page.get_by_test_id("admin-link")).to_be_hidden()

    await page.locator("#logout").click()
    await sign_in(page, server, ADMIN)
    await page.get_by_test_id("admin-link").click()
    await expect(page).to_have_url(console_url(server))
    await expect(page.get_by_test_id("admin-name")).to_have_text("Ada")


async def test_no_page_load_asks_for_a_missing_file(
    server: TestServer, london: BrowserContext, page: Page, team: None
):
    failed: list[str] = []

    def check(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    await page.goto(url(server))
    await sign_in(page, server, ADMIN)
    page.on("response", check)  # signed in: from now on nothing may be refused or missing
    for path in ("/admin", "/account", "/"):
        await page.goto(url(server, path))
        await page.wait_for_load_state("networkidle")
        icon = await page.locator('link[rel="icon"]').get_attribute("href")
        fetched = await london.request.get(url(server, icon or "/missing-icon"))
        assert (fetched.status, fetched.headers["content-type"]) == (200, "image/svg+xml"), path
    assert (await london.request.get(url(server, "/favicon.ico"))).status == 200
    assert not failed, failed


async def test_channel_icons_are_drawn_and_dates_carry_the_months_name(
    hub: Hub, server: TestServer, chromium_browser: Browser, team: None
):
    await hub.ingest(chat("v1", "1", "Hello there", sender_name="Lena"))
    shown = {"en-GB": "3 Dec 2026, 16:20", "en-US": "Dec 3, 2026, 4:20\u202fPM"}
    for locale, when in shown.items():
        context = await new_context(chromium_browser, locale)
        try:
            page = await context.new_page()
            await page.goto(url(server))
            await sign_in(page, server, MARIA)
            item = page.get_by_test_id("conversation-item")
            await expect(item.locator(".conv-time")).to_have_text(when)
            icon = item.locator(".channel-icon")
            assert await icon.evaluate("icon => icon.namespaceURI + ' ' + icon.localName") == (
                "http://www.w3.org/2000/svg svg"
            )
            await expect(icon.locator("path").first).to_be_attached()
            assert not EMOJI.search(await item.locator(".conv-name").inner_html())
            await item.locator("button").click()
            await expect(page.get_by_test_id("message").locator(".message-time")).to_have_text(when)
        finally:
            await context.close()


async def test_the_consoles_time_zone_is_chosen_from_the_hubs_list(
    server: TestServer, page: Page, team: None, browser_factory
):
    await page.goto(url(server, "/admin"))
    await submit_sign_in(page, ADMIN)
    await expect(page).to_have_url(console_url(server))
    # The console has bound its section tabs once it shows who is signed in.
    await expect(page.get_by_test_id("admin-name")).to_have_text("Ada")
    calendars = await show(page, "calendars")
    zone = calendars.get_by_test_id("calendar-zone")
    choices = calendars.get_by_test_id("zone-choices").locator("option")
    await expect(choices).to_have_count(len(TIME_ZONES))
    assert await zone.evaluate("input => input.list.id") == await calendars.get_by_test_id(
        "zone-choices"
    ).get_attribute("id")
    offered = await choices.evaluate_all("options => options.map((o) => o.value)")
    assert {"Europe/London", "America/New_York", "Asia/Kolkata", "UTC"} <= set(offered)

    await calendars.get_by_test_id("calendar-none").uncheck()
    await zone.fill("Mars/Olympus_Mons")
    await calendars.get_by_test_id("office-preset").click()
    await calendars.get_by_test_id("calendar-save").click()
    await expect(calendars.locator(".problems")).to_contain_text("zone")
    admin = await (await browser_factory()).login(ADMIN)
    hours = {"zone": "Mars/Olympus_Mons", "weekly": {"mon": ["09:00-17:00"]}}
    status, body = await admin.call("PUT", "/api/admin/hours", {"hours": hours})
    assert status == 422
    assert "zone" in body["error"] + str(body.get("problems"))
