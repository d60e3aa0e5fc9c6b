"""The inbox's due-soon and overdue markers and views in real Chromium, updated live when
the escalation check tells. The page's clock is pinned to the hub's FakeClock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, expect

from connectors.base import Address, InboundMessage
from hub.app import Hub
from tests.support.chromium import page_without_script_errors, save_screenshot
from tests.support.clock import FakeClock
from tests.support.hubs import Browser as ApiClient
from tests.support.hubs import add_agent
from tests.test_inbox_browser import EMAIL, conversation_item, open_inbox

MONDAY_0900_UTC = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_0900_UTC)


@pytest.fixture
async def context(chromium_browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await chromium_browser.new_context(
        timezone_id="Europe/London", locale="en-GB", viewport={"width": 1280, "height": 640}
    )
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def page(context: BrowserContext, clock: FakeClock) -> AsyncIterator[Page]:
    async with page_without_script_errors(context) as page:
        await page.clock.set_fixed_time(clock.now())
        yield page


@pytest.fixture
async def admin(hub: Hub, browser_factory) -> ApiClient:
    """Ada (an admin, away); Maria answers SMS within 60 minutes."""
    await add_agent(hub, EMAIL, name="Maria")
    await add_agent(hub, "ada@example.com", role="admin", name="Ada")
    ada = await (await browser_factory()).login("ada@example.com")
    await ada.patch("/api/me/status", {"away": True}, expect=200)
    await ada.call(
        "PUT", "/api/admin/channels/sms/rules", {"first_response_minutes": 60}, expect=200
    )
    return ada


async def customer_writes(hub: Hub, number: str, name: str, text: str) -> int:
    started = await hub.ingest(
        InboundMessage(
            channel="sms",
            external_id=number,
            sender=Address("phone", number),
            text=text,
            sender_name=name,
        )
    )
    return started.conversation_id


async def test_due_soon_and_overdue_rows_are_marked_live_and_filtered(
    hub: Hub, clock: FakeClock, server: TestServer, page: Page, admin: ApiClient
):
    omar = await customer_writes(hub, "+447700900001", "Omar Haddad", "Where is my refund?")
    clock.advance(minutes=20)
    lena = await customer_writes(hub, "+447700900002", "Lena Fischer", "Order 1043 is late")
    clock.advance(minutes=35)
    ida = await customer_writes(hub, "+447700900003", "Ida Svensson", "Do you ship to Norway?")
    await page.clock.set_fixed_time(clock.now())
    await open_inbox(page, server)
    rows = page.get_by_test_id("conversation-item")
    await expect(rows).to_have_count(3)
    for conversation_id in (omar, lena, ida):
        row = conversation_item(page, conversation_id)
        await expect(row.get_by_test_id("due-soon-marker")).to_be_hidden()
        await expect(row.get_by_test_id("overdue-marker")).to_be_hidden()

    # 10:00: Omar's reply is due now, Lena's in 20 minutes, Ida's in 55.
    clock.set(MONDAY_0900_UTC + timedelta(hours=1))
    await page.clock.set_fixed_time(clock.now())
    assert await hub.escalations.check() == 3, "Omar: both stages; Lena: due soon"
    omar_row, lena_row, ida_row = (conversation_item(page, c) for c in (omar, lena, ida))
    await expect(lena_row).to_have_attribute("data-escalation", "due_soon")
    await expect(lena_row.get_by_test_id("due-soon-marker")).to_be_visible()
    await expect(lena_row.get_by_test_id("due-soon-marker")).to_have_text("due soon")
    await expect(omar_row).to_have_attribute("data-overdue", "true")
    await expect(omar_row.get_by_test_id("overdue-marker")).to_be_visible()
    await expect(omar_row.get_by_test_id("due-soon-marker")).to_be_hidden()
    await expect(ida_row.get_by_test_id("due-soon-marker")).to_be_hidden()
    await expect(ida_row.get_by_test_id("overdue-marker")).to_be_hidden()
    path = await save_screenshot(page, "inbox-overdue")
    assert path.stat().st_size > 0

    await page.get_by_test_id("due-soon-tab").click()
    await expect(rows).to_have_count(1)
    await expect(lena_row).to_be_visible()
    await page.get_by_test_id("overdue-tab").click()
    await expect(rows).to_have_count(1)
    await expect(omar_row).to_be_visible()

    await page.get_by_test_id("due-soon-tab").click()
    await expect(rows).to_have_count(1)
    await lena_row.click()
    await page.get_by_test_id("reply-text").fill("It leaves the warehouse today.")
    await page.get_by_test_id("reply-send").click()
    await expect(rows).to_have_count(0)
    await expect(page.locator("#list-empty")).to_be_visible()
