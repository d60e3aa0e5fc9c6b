"""The inbox with a WhatsApp customer, in a real Chromium: when the 24-hour window closes,
under the reply box, and what a reply written after it is told."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, expect

from hub.app import Hub
from tests.support.chromium import page_without_script_errors, save_screenshot
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, started_hub
from tests.support.replies import stored
from tests.support.whatsapp_api import FakeGraphApi, incoming_text
from tests.test_inbox_browser import message, open_conversation, open_inbox
from tests.test_whatsapp import LENA_WA, TEMPLATE, whatsapp_settings, write_in


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraphApi]:
    async with FakeGraphApi() as api:
        yield api


@pytest.fixture
async def hub(database_url: str, clock: FakeClock, graph: FakeGraphApi) -> AsyncIterator[Hub]:
    settings = whatsapp_settings(database_url, graph.base_url, reengagement_template=TEMPLATE)
    async with started_hub(settings, clock) as hub:
        await add_agent(hub, "maria@example.com", name="Maria")
        yield hub


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    async with page_without_script_errors(context) as page:
        yield page


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_reply_box_shows_the_window_and_a_late_reply_is_told(
    hub: Hub,
    server: TestServer,
    page: Page,
    client: aiohttp.ClientSession,
    clock: FakeClock,
    graph: FakeGraphApi,
):
    await write_in(client, server, incoming_text(LENA_WA, "Ist mein Paket unterwegs?", clock.now()))
    conversation_id = (await stored(hub))[-1]["conversation_id"]
    await open_inbox(page, server)
    await open_conversation(page, conversation_id)
    notice = page.get_by_test_id("window-notice")
    await expect(notice).to_contain_text("The WhatsApp window closes")
    await expect(notice).to_contain_text("after that only a template can be sent")
    icon = message(page, "Ist mein Paket").locator(".channel-icon")
    await expect(icon).to_have_attribute("data-kind", "whatsapp")
    await save_screenshot(page, "inbox-whatsapp-window")

    clock.advance(hours=25)
    await open_inbox(page, server)
    await open_conversation(page, conversation_id)
    await expect(notice).to_contain_text("The WhatsApp window closed")
    await page.get_by_test_id("reply-text").fill("Sind Sie noch da?")
    await page.get_by_test_id("reply-send").click()
    await expect(message(page, "Sind Sie noch da?")).to_be_visible()
    await expect(notice).to_contain_text("only the re-engagement template can be sent then")
    await hub.outbox.run_due()
    assert [call["type"] for call in graph.sent] == ["template"]
    await page.reload()
    await open_conversation(page, conversation_id)
    await expect(message(page, "Sind Sie noch da?").get_by_test_id("sent-instead")).to_have_text(
        "Not sent as written; sent instead: the template reopen_conversation (de): the "
        "customer's 24-hour window closed at 2026-03-03 09:00 UTC."
    )


async def test_hours_that_open_after_the_window_make_the_agent_choose(
    hub: Hub,
    server: TestServer,
    page: Page,
    client: aiohttp.ClientSession,
    clock: FakeClock,
    graph: FakeGraphApi,
    browser_factory,
):
    clock.set(datetime(2026, 3, 6, 16, 0, tzinfo=UTC))  # a Friday: the window closes Saturday
    await write_in(client, server, incoming_text(LENA_WA, "Kommt der Techniker?", clock.now()))
    [lena] = await stored(hub)
    maria = await (await browser_factory()).login("maria@example.com")
    weekdays = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    hours = {"hours": {"zone": "UTC", "weekly": weekdays}}
    await maria.call(
        "PUT", f"/api/customers/{lena['customer_id']}/contact-hours", hours, expect=200
    )
    clock.set(datetime(2026, 3, 6, 18, 0, tzinfo=UTC))
    await open_inbox(page, server)
    await open_conversation(page, lena["conversation_id"])
    choice = page.get_by_test_id("window-choice")
    await expect(choice).to_contain_text("Their contact hours open")
    await expect(choice).to_contain_text("after the window closes")
    await save_screenshot(page, "inbox-whatsapp-choice")

    await page.get_by_test_id("reply-text").fill("Ja, am Montag um neun.")
    await page.get_by_test_id("reply-send").click()
    await expect(page.locator("#reply-error")).to_contain_text("Choose how this reply leaves")
    assert len(await stored(hub)) == 1

    await page.get_by_test_id("window-choice-now").check()
    await page.get_by_test_id("reply-send").click()
    sent = message(page, "Ja, am Montag um neun.")
    await expect(sent.get_by_test_id("outside-hours-label")).to_be_visible()
    await expect(page.get_by_test_id("window-choice-now")).not_to_be_checked()
    assert await hub.outbox.run_due() == 1
    assert [(c["type"], c["text"]["body"]) for c in graph.sent] == [
        ("text", "Ja, am Montag um neun.")
    ]
