"""The inbox with a WhatsApp customer, in a real Chromium: when the 24-hour window closes,
under the reply box, what a reply written after it is told, and a customer's reaction
beside the message it reacts to."""

from __future__ import annotations

from collections.abc import AsyncIterator

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
from tests.test_whatsapp import LENA_WA, TEMPLATE, reaction_to, whatsapp_settings, write_in


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


async def test_a_reaction_shows_beside_the_message_it_reacts_to_live_and_as_text(
    hub: Hub,
    server: TestServer,
    page: Page,
    client: aiohttp.ClientSession,
    clock: FakeClock,
    graph: FakeGraphApi,
):
    await write_in(client, server, incoming_text(LENA_WA, "Kommt es heute?", clock.now()))
    conversation_id = (await stored(hub))[-1]["conversation_id"]
    await open_inbox(page, server)
    await open_conversation(page, conversation_id)
    await page.get_by_test_id("reply-text").fill("Ja, bis 18 Uhr.")
    await page.get_by_test_id("reply-send").click()
    ours = message(page, "Ja, bis 18 Uhr.")
    await expect(ours).to_be_visible()  # stored: the API answered
    await hub.outbox.run_due()
    wamid = graph.sent[0]["wamid"]

    await write_in(client, server, reaction_to(wamid, "\U0001f44d", clock.now()))
    badge = ours.get_by_test_id("reaction")
    await expect(badge).to_have_text("\U0001f44d")  # live, by the event
    await expect(badge).to_have_attribute("title", "the customer reacted")
    await expect(page.get_by_test_id("message")).to_have_count(2)  # no message of its own

    clock.advance(minutes=1)
    await write_in(client, server, reaction_to(wamid, "<b>x</b>", clock.now()))
    await expect(badge).to_have_text("<b>x</b>")  # inserted as text, never as HTML
    await expect(ours.locator("b")).to_have_count(0)
    clock.advance(minutes=1)
    await write_in(client, server, reaction_to(wamid, "", clock.now()))
    await expect(badge).to_have_count(0)
    clock.advance(minutes=1)
    await write_in(client, server, reaction_to(wamid, "\u2764\ufe0f", clock.now()))
    await page.reload()
    await open_conversation(page, conversation_id)
    await expect(message(page, "Ja, bis 18 Uhr.").get_by_test_id("reaction")).to_have_text(
        "\u2764\ufe0f"
    )
