"""The widget says who will answer and when, before the visitor writes, in their own time."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser as Chromium
from playwright.async_api import BrowserContext, Page, expect

from config import Settings
from hub.app import Hub
from tests.support.chromium import save_screenshot
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent
from tests.test_contact_hours import SATURDAY, contact_settings

DEMO = "/webchat/webchat/demo"


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A London office hub (Mon-Fri 09:00-17:00); the sms channel's peer is never called."""
    return contact_settings(database_url, "http://127.0.0.1:9/sms")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SATURDAY)


async def visitor_context(chromium: Chromium, zone: str, locale: str) -> BrowserContext:
    return await chromium.new_context(timezone_id=zone, locale=locale)


async def open_chat(context: BrowserContext, server) -> Page:
    page = await context.new_page()
    await page.goto(str(server.make_url(DEMO)))
    await page.get_by_test_id("hubchat-launcher").click()
    await expect(page.get_by_test_id("hubchat-status")).to_have_text("Connected")
    return page


@pytest.fixture
async def new_yorker(chromium_browser: Chromium, server) -> AsyncIterator[BrowserContext]:
    context = await visitor_context(chromium_browser, "America/New_York", "en-US")
    try:
        yield context
    finally:
        await context.close()


async def test_a_new_visitor_sees_the_team_and_when_it_is_back_in_their_time(
    hub: Hub, server, new_yorker: BrowserContext
):
    await add_agent(hub, "maria@example.com", name="Maria")
    page = await open_chat(new_yorker, server)
    who = page.get_by_test_id("hubchat-who")
    await expect(who).to_have_text("Our team, back at 05:00 Monday, your time")
    await save_screenshot(page, "widget-who-and-when")

    box = page.get_by_test_id("hubchat-input")
    await box.fill("Do you ship to Norway?")
    await box.press("Enter")
    await expect(who).to_be_hidden()
    sent = page.get_by_test_id("hubchat-message").and_(page.locator('[data-from="visitor"]'))
    await expect(sent).to_have_attribute("data-state", "sent")  # stored: Maria owns them now

    returning = await open_chat(new_yorker, server)
    (
        await expect(returning.get_by_test_id("hubchat-who")).to_have_text(
            "Maria, back at 05:00 Monday, your time"
        ),
        "a returning visitor hears their owner's name",
    )


async def test_a_german_visitor_reads_the_day_and_zone_in_german(
    hub: Hub, server, chromium_browser: Chromium
):
    await add_agent(hub, "maria@example.com", name="Maria")
    context = await visitor_context(chromium_browser, "Europe/Berlin", "de-DE")
    try:
        page = await open_chat(context, server)
        await expect(page.get_by_test_id("hubchat-who")).to_have_text(
            "Our team, back at 10:00 Montag, Berlin (Ortszeit)"
        )
    finally:
        await context.close()


async def test_while_someone_is_there_the_visitor_is_told_so(
    hub: Hub, clock: FakeClock, server, new_yorker: BrowserContext
):
    await add_agent(hub, "maria@example.com", name="Maria")
    clock.set(clock.now().replace(day=9, hour=10))  # Monday 10:00 London: open
    page = await open_chat(new_yorker, server)
    await expect(page.get_by_test_id("hubchat-who")).to_have_text("Our team is here to answer")
