"""The inbox with an SMS customer, in a real Chromium: the SMS count under the reply box,
a sent reply's ticks as Twilio's status callbacks arrive (or its failure), and a refused
reply after the customer's STOP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, expect

from hub.app import Hub
from tests.support.chromium import page_without_script_errors, save_screenshot
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, started_hub
from tests.support.twilio_api import FakeTwilioApi, incoming_sms, status_callback
from tests.test_inbox_browser import message, open_conversation, open_inbox
from tests.test_twilio import LENA, post_signed, stored, text_in, twilio_settings
from tests.test_whatsapp_browser import expect_failed, expect_ticks, send_reply


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilioApi]:
    async with FakeTwilioApi() as api:
        yield api


@pytest.fixture
async def hub(database_url: str, clock: FakeClock, twilio: FakeTwilioApi) -> AsyncIterator[Hub]:
    async with started_hub(twilio_settings(database_url, twilio.base_url), clock) as hub:
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


async def lena_texted_and_is_open(
    hub: Hub, server: TestServer, page: Page, client: aiohttp.ClientSession, text: str
) -> None:
    """Lena texts ``text`` and the agent opens her conversation."""
    await text_in(client, server, incoming_sms(LENA, text))
    await open_inbox(page, server)
    await open_conversation(page, (await stored(hub))[-1]["conversation_id"])


async def test_the_reply_box_counts_sms_and_a_sent_reply_shows_its_ticks(
    hub: Hub, server: TestServer, page: Page, client: aiohttp.ClientSession, twilio: FakeTwilioApi
):
    await lena_texted_and_is_open(hub, server, page, client, "Is my parcel on its way?")

    count = page.get_by_test_id("sms-count")
    await page.get_by_test_id("reply-text").fill("a" * 161)
    await expect(count).to_have_text("2 SMS · GSM-7 · 145 left in the last one")
    await page.get_by_test_id("reply-text").fill("Yes, it left today 📦")
    await expect(count).to_have_text("1 SMS · UCS-2 · 49 left in the last one")
    await save_screenshot(page, "inbox-sms-count")

    await page.get_by_test_id("reply-send").click()
    await expect(count).to_be_hidden()
    reply = message(page, "Yes, it left today")
    await expect(reply).to_have_attribute("data-status", "queued")
    await hub.outbox.run_due()
    await expect(reply).to_have_attribute("data-status", "sent")
    await expect_ticks(reply, "sent", "Sent", 1)
    [sent] = twilio.sent
    path = sent["StatusCallback"].removeprefix("http://hub.example")
    await post_signed(client, server, path, status_callback(sent["sid"], LENA, "delivered"))
    await expect_ticks(reply, "delivered", re.compile(r"^Delivered \d\d:\d\d$"), 2)
    await post_signed(client, server, path, status_callback(sent["sid"], LENA, "read"))
    await expect_ticks(reply, "read", re.compile(r"^Read \d\d:\d\d$"), 2)
    await expect(reply.locator(".message-status")).to_have_css("color", "rgb(6, 121, 199)")


async def test_an_undelivered_reply_shows_the_failure_live(
    hub: Hub, server: TestServer, page: Page, client: aiohttp.ClientSession, twilio: FakeTwilioApi
):
    await lena_texted_and_is_open(hub, server, page, client, "Is my parcel on its way?")
    reply, _ = await send_reply(page, hub, "Yes, it left today.")
    [sent] = twilio.sent
    path = sent["StatusCallback"].removeprefix("http://hub.example")
    form = status_callback(sent["sid"], LENA, "undelivered", error_code="30003")
    await post_signed(client, server, path, form)
    await expect_failed(
        reply, "failed: the phone is unreachable (off or out of coverage) (Twilio error 30003)"
    )


async def test_after_stop_a_reply_is_refused_with_the_reason(
    hub: Hub, server: TestServer, page: Page, client: aiohttp.ClientSession, twilio: FakeTwilioApi
):
    await lena_texted_and_is_open(hub, server, page, client, "STOP")
    await expect(page.get_by_test_id("opted-out")).to_have_text("opted out of text (STOP)")
    await page.get_by_test_id("reply-text").fill("Are you sure?")
    await page.get_by_test_id("reply-send").click()
    await expect(page.locator("#reply-error")).to_contain_text("opted out of channel text")
    assert twilio.sent == []
