"""The inbox with a WhatsApp customer, in a real Chromium: when the 24-hour window closes,
under the reply box, what a reply written after it is told and what left instead, a
reply's ticks (sent, delivered, read) as Meta's signed statuses arrive, and a customer's
reaction beside the message it reacts to."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect
from sqlalchemy import update

from hub.app import Hub
from hub.db.schema import messages
from tests.support.chromium import page_without_script_errors, save_screenshot
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, started_hub
from tests.support.replies import stored
from tests.support.whatsapp_api import FakeGraphApi, incoming_text, status_update
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
async def page_in_berlin(chromium_browser: Browser) -> AsyncIterator[Page]:
    """A page whose agent's time zone is Berlin's (receipt times are shown in it), tall enough
    for the screenshot to show every reply."""
    viewport = {"width": 1280, "height": 900}
    context = await chromium_browser.new_context(timezone_id="Europe/Berlin", viewport=viewport)
    try:
        async with page_without_script_errors(context) as page:
            yield page
    finally:
        await context.close()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def lena_wrote_and_is_open(
    hub: Hub, server: TestServer, page: Page, client: aiohttp.ClientSession, text: str, at
) -> int:
    """Lena writes ``text`` on WhatsApp and the agent opens her conversation: its id."""
    await write_in(client, server, incoming_text(LENA_WA, text, at))
    conversation_id = (await stored(hub))[-1]["conversation_id"]
    await open_inbox(page, server)
    await open_conversation(page, conversation_id)
    return conversation_id


async def test_the_reply_box_shows_the_window_and_a_late_reply_is_told(
    hub: Hub,
    server: TestServer,
    page: Page,
    client: aiohttp.ClientSession,
    clock: FakeClock,
    graph: FakeGraphApi,
):
    conversation_id = await lena_wrote_and_is_open(
        hub, server, page, client, "Ist mein Paket unterwegs?", clock.now()
    )
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
    instead = (
        "Not sent as written; sent instead: the template reopen_conversation (de): the "
        "customer's 24-hour window closed at 2026-03-03 09:00 UTC."
    )
    late = message(page, "Sind Sie noch da?")
    await expect(late.get_by_test_id("sent-instead")).to_have_text(instead)  # live
    await expect(late).to_have_attribute("data-receipt", "sent")
    await page.reload()
    await open_conversation(page, conversation_id)
    await expect(late.get_by_test_id("sent-instead")).to_have_text(instead)

    await expect(notice).to_contain_text("The WhatsApp window closed")
    await write_in(client, server, incoming_text(LENA_WA, "Ja, ich bin da.", clock.now()))
    await expect(message(page, "Ja, ich bin da.")).to_be_visible()
    await expect(notice).to_contain_text("The WhatsApp window closes")  # live: she reopened it


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
    lena = await wrote_with_weekday_hours(hub, server, client, browser_factory, LENA_WA)
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


async def wrote_with_weekday_hours(
    hub: Hub, server: TestServer, client: aiohttp.ClientSession, browser_factory, number: str
) -> dict[str, Any]:
    """``number`` writes now and has contact hours 09-17 UTC on weekdays: its message."""
    at = hub.now()
    await write_in(client, server, incoming_text(number, "Kommt der Techniker?", at))
    wrote = (await stored(hub))[-1]
    maria = await (await browser_factory()).login("maria@example.com")
    weekdays = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
    hours = {"hours": {"zone": "UTC", "weekly": weekdays}}
    await maria.call(
        "PUT", f"/api/customers/{wrote['customer_id']}/contact-hours", hours, expect=200
    )
    return wrote


async def test_a_choice_made_in_one_conversation_is_not_carried_to_the_next(
    hub: Hub,
    server: TestServer,
    page: Page,
    client: aiohttp.ClientSession,
    clock: FakeClock,
    graph: FakeGraphApi,
    browser_factory,
):
    clock.set(datetime(2026, 3, 6, 16, 0, tzinfo=UTC))
    lena = await wrote_with_weekday_hours(hub, server, client, browser_factory, LENA_WA)
    other = await wrote_with_weekday_hours(hub, server, client, browser_factory, "4917612345678")
    clock.set(datetime(2026, 3, 6, 18, 0, tzinfo=UTC))
    await open_inbox(page, server)
    await open_conversation(page, lena["conversation_id"])
    await page.get_by_test_id("window-choice-now").check()
    await open_conversation(page, other["conversation_id"])
    await expect(page.get_by_test_id("window-choice")).to_be_visible()
    await expect(page.get_by_test_id("window-choice-now")).not_to_be_checked()
    await page.get_by_test_id("reply-text").fill("Montag um neun.")
    await page.get_by_test_id("reply-send").click()
    await expect(page.locator("#reply-error")).to_contain_text("Choose how this reply leaves")
    assert len(await stored(hub)) == 2


async def send_reply(page: Page, hub: Hub, text: str) -> tuple[Locator, str]:
    """Write ``text`` in the reply box and let the outbox send it: its element and id."""
    await page.get_by_test_id("reply-text").fill(text)
    await page.get_by_test_id("reply-send").click()
    reply = message(page, text)
    await expect(reply).to_have_attribute("data-status", "queued")
    await hub.outbox.run_due()
    await expect(reply).to_have_attribute("data-status", "sent")
    return reply, str(await reply.get_attribute("data-message-id"))


async def expect_ticks(
    reply: Locator, receipt: str, words: str | re.Pattern[str], ticks: int
) -> None:
    """``ticks`` ticks for ``receipt``, labelled ``words`` for screen readers and on hover."""
    status = reply.locator(".message-status")
    await expect(reply).to_have_attribute("data-receipt", receipt)
    await expect(status).to_have_attribute("aria-label", words)
    await expect(status).to_have_attribute("title", words)
    await expect(status).to_have_attribute("role", "img")
    await expect(status.locator("svg.ticks path")).to_have_count(ticks)


async def test_a_replys_ticks_turn_from_one_to_two_to_blue_and_a_failure_shows(
    hub: Hub,
    server: TestServer,
    page_in_berlin: Page,
    client: aiohttp.ClientSession,
    clock: FakeClock,
    graph: FakeGraphApi,
):
    page = page_in_berlin
    conversation_id = await lena_wrote_and_is_open(
        hub, server, page, client, "Ist mein Paket unterwegs?", clock.now()
    )

    async def status(
        index: int, message_id: str, state: str, error: tuple[int, str, str] | None = None
    ) -> None:
        wamid = graph.sent[index]["wamid"]
        payload = status_update(wamid, LENA_WA, state, clock.now(), message_id, error)
        await write_in(client, server, payload)

    first, first_id = await send_reply(page, hub, "Ja, es ist heute losgegangen.")
    await expect_ticks(first, "sent", "Sent", 1)
    await expect(first.locator(".message-status")).to_have_css("color", "rgb(102, 112, 133)")
    await status(0, first_id, "sent")
    await expect_ticks(first, "sent", "Sent 10:00", 1)
    clock.advance(minutes=1)
    await status(0, first_id, "delivered")
    await expect_ticks(first, "delivered", "Delivered 10:01", 2)
    await expect(first.locator(".message-status")).to_have_css("color", "rgb(102, 112, 133)")
    clock.advance(minutes=41)
    await status(0, first_id, "read")
    await expect_ticks(first, "read", "Read 10:42", 2)
    await expect(first.locator(".message-status")).to_have_css("color", "rgb(6, 121, 199)")
    await expect(first.locator(".message-status")).to_have_text("")  # ticks, not words

    second, second_id = await send_reply(page, hub, "Die Sendungsnummer ist 00340434.")
    await status(1, second_id, "delivered")
    await expect_ticks(second, "delivered", "Delivered 10:42", 2)
    third, _ = await send_reply(page, hub, "Melden Sie sich gern wieder.")
    await expect_ticks(third, "sent", "Sent", 1)
    fourth, fourth_id = await send_reply(page, hub, "Oder rufen Sie uns an.")
    await status(3, fourth_id, "failed", (131026, "Message undeliverable", "Undeliverable."))
    failure = (
        "failed: the message could not be delivered (the number may not be on WhatsApp, or the "
        "customer's app is too old or has not accepted WhatsApp's terms) (WhatsApp error 131026)"
    )
    await expect_failed(fourth, failure)
    await save_screenshot(page, "inbox-receipts")

    await page.reload()
    await open_conversation(page, conversation_id)
    await expect_ticks(first, "read", "Read 10:42", 2)
    await expect_ticks(second, "delivered", "Delivered 10:42", 2)
    await expect_ticks(third, "sent", "Sent", 1)
    await expect_failed(fourth, failure)


async def expect_failed(reply: Locator, words: str) -> None:
    """A failed reply: a red mark and the reason, no ticks."""
    status = reply.locator(".message-status")
    await expect(reply).to_have_attribute("data-status", "failed")
    await expect(status.locator("svg.failed-mark")).to_be_visible()
    await expect(status).to_have_text(words)
    await expect(status).to_have_css("color", "rgb(180, 35, 24)")
    assert await reply.get_attribute("data-receipt") is None


async def test_a_reaction_shows_beside_the_message_it_reacts_to_live_and_as_text(
    hub: Hub,
    server: TestServer,
    page: Page,
    client: aiohttp.ClientSession,
    clock: FakeClock,
    graph: FakeGraphApi,
):
    conversation_id = await lena_wrote_and_is_open(
        hub, server, page, client, "Kommt es heute?", clock.now()
    )
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
    await expect(badge).to_have_attribute("aria-label", "The customer reacted \U0001f44d")
    await expect(page.get_by_test_id("message")).to_have_count(2)  # no message of its own
    assert len(await stored(hub)) == 1, "the customer's one message: the reaction is none"

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


async def test_a_reaction_message_stored_the_old_way_shows_no_badge_of_its_own(
    hub: Hub,
    server: TestServer,
    page: Page,
    client: aiohttp.ClientSession,
    clock: FakeClock,
):
    """Before reactions were kept on their target, a reaction was a message whose meta named
    the target as ``reaction`` (no ``at``): that message is the reaction itself."""
    await write_in(client, server, reaction_to("wamid.before-the-hub", "\U0001f44d", clock.now()))
    [old] = await stored(hub)

    def as_stored_before(conn: Any) -> None:
        meta = {"type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": "\U0001f44d"}}
        conn.execute(update(messages).where(messages.c.id == old["id"]).values(meta=meta))

    await hub.db.write(lambda tx: as_stored_before(tx.conn))
    await open_inbox(page, server)
    await open_conversation(page, old["conversation_id"])
    reacted = message(page, "Reacted")
    await expect(reacted).to_be_visible()
    await expect(reacted.get_by_test_id("reaction")).to_have_count(0)
