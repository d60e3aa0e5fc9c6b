"""Contact hours in the inbox page, in a real Chromium: held messages, scheduled replies, SLA.

The hub works in London office hours; the browser sits in Tokyo, so every time the
page shows must have been converted to the agent's own zone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Locator, Page, expect
from sqlalchemy import update

from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.db.schema import messages
from tests.support.chromium import save_screenshot
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, started_hub
from tests.support.peers import RecordingPeer
from tests.test_contact_hours import WEEKDAYS_9_TO_5, contact_settings
from tests.test_inbox_browser import EMAIL, conversation_item, message, open_inbox, url

SUNDAY_22_LONDON = datetime(2026, 3, 8, 22, 0, tzinfo=UTC)
MONDAY_9_LONDON = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)
TUESDAY_0930_LONDON = datetime(2026, 3, 10, 9, 30, tzinfo=UTC)  # 05:30 in New York
BROWSER_ZONE = "Asia/Tokyo"  # UTC+9 all year
NEW_YORK_OFFICE = {"zone": "America/New_York", "weekly": WEEKDAYS_9_TO_5}


@pytest.fixture
async def peer() -> AsyncIterator[RecordingPeer]:
    async with RecordingPeer() as peer:
        yield peer


@pytest.fixture
def clock() -> FakeClock:
    """Late on Sunday: the release on Monday morning is within one 12-hour session."""
    return FakeClock(SUNDAY_22_LONDON)


@pytest.fixture
async def hub(database_url: str, clock: FakeClock, peer: RecordingPeer) -> AsyncIterator[Hub]:
    """The hub under test (also behind ``server``): London office hours, SMS to ``peer``."""
    async with started_hub(contact_settings(database_url, peer.url("/sms")), clock) as hub:
        yield hub


@pytest.fixture
async def context(chromium_browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await chromium_browser.new_context(timezone_id=BROWSER_ZONE, locale="en-GB")
    try:
        yield context
    finally:
        await context.close()


async def watched_page(context: BrowserContext, errors: list[str]) -> Page:
    page = await context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    script_errors: list[str] = []
    yield await watched_page(context, script_errors)
    assert not script_errors, f"the page's script failed: {script_errors}"


@pytest.fixture
async def maria(hub: Hub) -> int:
    return await add_agent(hub, EMAIL, name="Maria")


def sms(external_id: str, text: str) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        external_id=external_id,
        sender=Address("phone", "+447700900123"),
        sender_name="Lena",
        text=text,
    )


async def open_conversation(page: Page, conversation_id: int) -> None:
    await conversation_item(page, conversation_id).click()
    await expect(page.get_by_test_id("message").first).to_be_visible()


async def hours_editor(page: Page) -> Locator:
    """The customer panel's structured editor of agreed hours, opened and loaded."""
    disclosure = page.get_by_test_id("contact-hours")
    if not await disclosure.evaluate("details => details.open"):
        await disclosure.locator("summary").click()
    await expect(page.get_by_test_id("hours-summary")).not_to_be_empty()
    return disclosure


async def save_hours(page: Page) -> None:
    await page.get_by_test_id("hours-save").click()


async def add_span(editor: Locator, day: str, opens: str, closes: str) -> Locator:
    await editor.get_by_test_id(f"span-add-{day}").click()
    span = editor.get_by_test_id(f"weekday-{day}").get_by_test_id("span").last
    await span.get_by_test_id("span-from").fill(opens)
    await span.get_by_test_id("span-to").fill(closes)
    return span


async def reply(page: Page, text: str) -> None:
    await page.get_by_test_id("reply-text").fill(text)
    await page.get_by_test_id("reply-send").click()
    await expect(message(page, text)).to_be_visible()


async def test_weekend_message_waits_in_held_and_arrives_as_new_on_monday(
    hub: Hub, clock: FakeClock, server: TestServer, context: BrowserContext, page: Page, maria: int
):
    held = await hub.ingest(sms("s1", "Is my order shipped?"))
    await open_inbox(page, server)
    mine = conversation_item(page, held.conversation_id)
    await expect(mine).to_be_visible()
    await expect(mine.locator(".badge")).to_have_count(0)

    await page.get_by_test_id("held-tab").click()
    waiting = page.get_by_test_id("held-item")
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_contain_text("Lena")
    await expect(waiting).to_contain_text("Is my order shipped?")
    release = waiting.locator(".waiting-release")
    await expect(release).to_contain_text("held until Mon, 9 Mar 2026, 18:00")  # 09:00 UTC in Tokyo
    await expect(release.locator("time")).to_have_attribute("datetime", MONDAY_9_LONDON.isoformat())
    await waiting.click()
    held_message = message(page, "Is my order shipped?")
    await expect(held_message.locator(".message-status")).to_contain_text("held until Mon, 9 Mar")
    auto_reply = message(page, "it is saved")
    await expect(auto_reply.get_by_test_id("automatic-label")).to_have_text("Automatic reply")
    await expect(page.get_by_test_id("automatic-label")).to_have_count(1)

    # One tab on Held, another on Mine: the release shows in both without a reload.
    await page.reload()
    await expect(page.get_by_test_id("live-status")).to_have_text("live")
    await page.get_by_test_id("held-tab").click()
    await expect(waiting).to_have_count(1)
    watcher_errors: list[str] = []
    watcher = await watched_page(context, watcher_errors)
    await watcher.goto(url(server))
    await expect(watcher.get_by_test_id("live-status")).to_have_text("live")
    await expect(conversation_item(watcher, held.conversation_id)).to_be_visible()
    await watcher.evaluate("window.notReloaded = true")

    clock.set(MONDAY_9_LONDON)
    assert await hub.holds.release_due() == 1
    await expect(waiting).to_have_count(0)
    await expect(page.locator("#held-empty")).to_be_visible()
    arrived = conversation_item(watcher, held.conversation_id)
    await expect(arrived.locator(".badge")).to_have_text("1")
    assert await watcher.evaluate("window.notReloaded") is True
    assert not watcher_errors, watcher_errors

    await page.locator('.tab[data-view="open"]').click()
    await expect(mine.locator(".badge")).to_have_text("1")
    await open_conversation(page, held.conversation_id)
    released = message(page, "Is my order shipped?")
    await expect(released).to_have_attribute("data-status", "received")
    await expect(released.locator(".message-status")).to_be_hidden()


async def test_reply_outside_the_customers_hours_is_scheduled_and_can_be_changed(
    hub: Hub,
    clock: FakeClock,
    server: TestServer,
    page: Page,
    maria: int,
    peer: RecordingPeer,
    browser_factory,
):
    clock.set(TUESDAY_0930_LONDON)
    started = await hub.ingest(sms("s1", "Please call me back"))
    await open_inbox(page, server)
    await open_conversation(page, started.conversation_id)
    editor = await hours_editor(page)
    await expect(editor.get_by_test_id("hours-none")).to_be_checked()
    await editor.get_by_test_id("hours-none").uncheck()
    await editor.get_by_test_id("calendar-zone").fill(NEW_YORK_OFFICE["zone"])
    await editor.get_by_test_id("office-preset").click()
    await save_hours(page)
    await expect(page.get_by_test_id("hours-summary")).to_have_text(
        "America/New_York · mon 09:00-17:00 · tue 09:00-17:00 · wed 09:00-17:00"
        " · thu 09:00-17:00 · fri 09:00-17:00"
    )
    await expect(page.get_by_test_id("hours-problems")).to_be_empty()

    await reply(page, "Tomorrow at ten?")
    first = message(page, "Tomorrow at ten?")
    await expect(first).to_have_attribute("data-status", "scheduled")
    # 09:00 in New York is 13:00 UTC, 22:00 in Tokyo.
    await expect(first.locator(".message-status")).to_have_text(
        "scheduled for Tue, 10 Mar 2026, 22:00 GMT+9"
    )
    await first.get_by_test_id("scheduled-edit").click()
    await first.get_by_test_id("scheduled-edit-text").fill("Today at 10:30?")
    await first.get_by_test_id("scheduled-save").click()
    first = message(page, "Today at 10:30?")
    await expect(first).to_have_attribute("data-status", "scheduled")
    await expect(first.get_by_test_id("scheduled-edit-text")).to_have_count(0)
    await hub.outbox.run_due()
    assert peer.received == [], "a scheduled reply waits for the customer's hours"

    await first.get_by_test_id("scheduled-send-now").click()
    await expect(first).to_have_attribute("data-status", "queued")
    await expect(first.get_by_test_id("scheduled-send-now")).to_have_count(0)
    await hub.outbox.run_due()
    await expect(first).to_have_attribute("data-status", "sent")
    assert [r.json()["text"] for r in peer.received] == ["Today at 10:30?"]

    await reply(page, "Never mind")
    second = message(page, "Never mind")
    await second.get_by_test_id("scheduled-cancel").click()
    await expect(second).to_have_attribute("data-status", "cancelled")
    await expect(second.get_by_test_id("scheduled-cancel")).to_have_count(0)

    # A change made elsewhere arrives live (message.updated) ...
    await reply(page, "Call you at nine")
    third_id = int(await message(page, "Call you at nine").get_attribute("data-message-id"))
    elsewhere = await (await browser_factory()).login(EMAIL)
    await elsewhere.patch(f"/api/messages/{third_id}", {"text": "Call you at ten"}, expect=200)
    third = message(page, "Call you at ten")
    await expect(third).to_have_attribute("data-status", "scheduled")
    await expect(page.get_by_test_id("message")).to_have_count(4)

    # ... and one the page missed is refused with the API's reason.
    await hub.db.write(
        lambda tx: tx.conn.execute(
            update(messages).where(messages.c.id == third_id).values(state="sent")
        )
    )
    await third.get_by_test_id("scheduled-send-now").click()
    await expect(page.locator("#reply-error")).to_have_text(
        f"reply {third_id} is sent: only a scheduled reply can change"
    )
    await hub.outbox.run_due()
    assert [r.json()["text"] for r in peer.received] == ["Today at 10:30?"]


async def test_invalid_contact_hours_show_the_apis_problems(
    hub: Hub, clock: FakeClock, server: TestServer, context: BrowserContext, page: Page, maria: int
):
    clock.set(TUESDAY_0930_LONDON)
    started = await hub.ingest(sms("s1", "hello"))
    await open_inbox(page, server)
    await open_conversation(page, started.conversation_id)
    editor = await hours_editor(page)
    await page.get_by_test_id("hours-always").check()
    await editor.get_by_test_id("hours-none").uncheck()
    await editor.get_by_test_id("calendar-zone").fill("Mars/Olympus")
    await add_span(editor, "mon", "09:00", "12:00")
    clash = await add_span(editor, "mon", "11:00", "13:00")
    await save_hours(page)
    problems = page.get_by_test_id("hours-problems").locator("li")
    overlap = problems.filter(has_text="hours.weekly.mon.1: overlaps 09:00-12:00")
    await expect(problems.filter(has_text="hours.zone: unknown time zone")).to_have_count(1)
    await expect(overlap).to_have_count(1)
    await expect(page.get_by_test_id("hours-error")).to_have_text("The hours were not saved:")
    agreed = url(server, f"/api/customers/{started.customer_id}/contact-hours")
    unchanged = await (await context.request.get(agreed)).json()
    assert (unchanged["hours"], unchanged["always_reachable"]) == (None, False)

    await expect(clash).to_have_class("span-row invalid")
    await expect(clash.get_by_test_id("span-from")).to_have_attribute("aria-invalid", "true")
    await expect(editor.get_by_test_id("calendar-zone")).to_have_attribute("aria-invalid", "true")
    await save_screenshot(page, "customer-hours-editor")

    await editor.get_by_test_id("hours-none").check()
    await save_hours(page)
    await expect(page.get_by_test_id("hours-problems")).to_be_empty()
    await expect(page.get_by_test_id("hours-summary")).to_have_text(
        "always reachable · no hours agreed with this customer"
    )


async def test_reply_due_time_is_shown_and_overdue_is_marked_by_the_browsers_clock(
    hub: Hub, clock: FakeClock, server: TestServer, page: Page, maria: int, browser_factory
):
    clock.set(TUESDAY_0930_LONDON)
    await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    await admin.call("PATCH", "/api/me/status", {"away": True}, expect=200)
    await admin.call(
        "PUT", "/api/admin/channels/sms/rules", {"first_response_minutes": 30}, expect=200
    )
    started = await hub.ingest(sms("s1", "where is my parcel?"))
    await page.clock.set_fixed_time(TUESDAY_0930_LONDON)
    await open_inbox(page, server)
    item = conversation_item(page, started.conversation_id)
    await expect(item).to_be_visible()
    await expect(item).not_to_have_attribute("data-overdue", "true")
    await open_conversation(page, started.conversation_id)
    due = page.get_by_test_id("reply-due")
    await expect(due).to_have_text("reply due by Tue, 10 Mar 2026, 19:00 GMT+9")  # 10:00 UTC
    await expect(due).not_to_have_attribute("data-overdue", "true")

    await page.clock.set_fixed_time(datetime(2026, 3, 10, 10, 1, tzinfo=UTC))
    await page.locator('.tab[data-view="open"]').click()
    await expect(item).to_have_attribute("data-overdue", "true")
    await expect(item.locator(".overdue")).to_be_visible()
    await expect(due).to_have_attribute("data-overdue", "true")

    await reply(page, "It left this morning.")
    await expect(due).to_be_hidden()
    await expect(item).not_to_have_attribute("data-overdue", "true")


async def test_scheduled_view_lists_the_waiting_reply_until_it_is_sent_now(
    hub: Hub,
    clock: FakeClock,
    server: TestServer,
    page: Page,
    maria: int,
    peer: RecordingPeer,
    browser_factory,
):
    clock.set(TUESDAY_0930_LONDON)
    started = await hub.ingest(sms("s1", "Please call me back"))
    api = await (await browser_factory()).login(EMAIL)
    hours = f"/api/customers/{started.customer_id}/contact-hours"
    await api.call("PUT", hours, {"hours": NEW_YORK_OFFICE}, expect=200)
    await open_inbox(page, server)
    await open_conversation(page, started.conversation_id)
    await reply(page, "Calling you at nine.")
    await expect(message(page, "Calling you at nine.").locator(".message-status")).to_have_text(
        "scheduled for Tue, 10 Mar 2026, 22:00 GMT+9"
    )
    await page.reload()  # the list as drawn afresh: the scheduled reply is not said yet
    preview = conversation_item(page, started.conversation_id).get_by_test_id(
        "conversation-preview"
    )
    await expect(preview).to_have_text("Please call me back")

    await page.get_by_test_id("scheduled-tab").click()
    waiting = page.get_by_test_id("scheduled-item")
    await expect(waiting).to_have_count(1)
    await expect(waiting).to_contain_text("Lena")
    await expect(waiting).to_contain_text("Calling you at nine.")
    await expect(waiting.locator(".waiting-release")).to_have_text(
        "sends Tue, 10 Mar 2026, 22:00 GMT+9"
    )
    await waiting.click()
    scheduled = message(page, "Calling you at nine.")
    await scheduled.get_by_test_id("scheduled-send-now").click()
    await expect(scheduled).to_have_attribute("data-status", "queued")
    await expect(waiting).to_have_count(0)
    await expect(page.locator("#scheduled-empty")).to_be_visible()
    await hub.outbox.run_due()
    await expect(scheduled).to_have_attribute("data-status", "sent")
    assert [r.json()["text"] for r in peer.received] == ["Calling you at nine."]
