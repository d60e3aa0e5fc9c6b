"""The inbox's views, customer panel, canned responses, shortcuts and layouts in real Chromium.

A small demo team: Maria (signed in), Tom (her backup) and Ada (an admin, away),
with customers on the web chat and by SMS. The hub's clock is a FakeClock; the
page's clock is pinned to it, so what the page marks due or overdue agrees with
the hub.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, expect

from connectors.base import Address, InboundMessage, IngestResult
from hub.app import Hub
from tests.support.chromium import save_screenshot
from tests.support.clock import FakeClock
from tests.support.hubs import Browser as ApiClient
from tests.support.hubs import add_agent
from tests.support.messages import proven
from tests.test_inbox_browser import EMAIL, chat, conversation_item, message, open_inbox
from tests.test_widget_browser import visit

MONDAY_0900_UTC = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BROWSER_ZONE = "Europe/Berlin"  # UTC+1 in March
NEW_YORK_OFFICE = {
    "zone": "America/New_York",
    "weekly": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
}
SATURDAY_MORNINGS = {"zone": "Europe/London", "weekly": {"sat": ["10:00-12:00"]}}
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(MONDAY_0900_UTC)


@pytest.fixture
async def context(chromium_browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await chromium_browser.new_context(
        timezone_id=BROWSER_ZONE, locale="en-GB", viewport=LAPTOP
    )
    try:
        yield context
    finally:
        await context.close()


def watch(page: Page, expected: tuple[str, ...] = ()) -> list[str]:
    """What went wrong on the page: script errors, dialogs (alert()), console errors.

    A failed HTTP request (the sign-in check's 401) is not a script problem;
    ``expected`` are the starts of console errors the test provokes on purpose.
    """
    problems: list[str] = []

    def console(note: ConsoleMessage) -> None:
        text = note.text
        if note.type == "error" and not text.startswith(("Failed to load resource", *expected)):
            problems.append(f"console: {text}")

    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    page.on("console", console)
    return problems


@pytest.fixture
async def page(context: BrowserContext, clock: FakeClock) -> AsyncIterator[Page]:
    """The inbox tab; the test fails on any script error, dialog or console error."""
    page = await context.new_page()
    await page.clock.set_fixed_time(clock.now())
    problems = watch(page)
    yield page
    assert not problems, problems


@pytest.fixture
async def team(hub: Hub, browser_factory) -> dict[str, ApiClient]:
    """Maria, Tom and Ada (admin, away so customers go to the agents), signed in for the API."""
    await add_agent(hub, EMAIL, name="Maria")
    await add_agent(hub, "tom@example.com", name="Tom")
    await add_agent(hub, "ada@example.com", role="admin", name="Ada")
    clients = {
        name: await (await browser_factory()).login(email)
        for name, email in (
            ("maria", EMAIL),
            ("tom", "tom@example.com"),
            ("ada", "ada@example.com"),
        )
    }
    await clients["ada"].patch("/api/me/status", {"away": True}, expect=200)
    return clients


async def for_maria(team: dict[str, ApiClient], started: IngestResult) -> int:
    """Maria owns the customer, Tom is the backup; the conversation's id."""
    body = {"owner_id": team["maria"].agent["id"], "backup_id": team["tom"].agent["id"]}
    await team["ada"].patch(f"/api/admin/customers/{started.customer_id}", body, expect=200)
    return started.conversation_id


def sms(number: str, external_id: str, text: str, name: str) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        external_id=external_id,
        sender=Address("phone", number),
        text=text,
        sender_name=name,
    )


async def demo_customers(hub: Hub, team: dict[str, ApiClient]) -> dict[str, int]:
    """Three of Maria's customers on two channels, with a little history."""
    lena = await hub.ingest(
        chat(
            "v-lena",
            "1",
            "Hi! My order #1043 hasn't arrived yet.",
            sender_name="Lena Fischer",
            linked=proven("email", "lena@example.org"),
        )
    )
    omar = await hub.ingest(
        sms("+447700900456", "s1", "Can I change the delivery address?", "Omar Haddad")
    )
    ida = await hub.ingest(chat("v-ida", "2", "Do you ship to Norway?", sender_name="Ida Svensson"))
    await hub.ingest(chat("v-ida", "3", "And how long does it take?"))
    ids = {
        name: await for_maria(team, started)
        for name, started in (("lena", lena), ("omar", omar), ("ida", ida))
    }
    await team["maria"].post(
        f"/api/conversations/{ids['lena']}/replies",
        {"text": "Sorry about that! Let me check with the carrier."},
        expect=202,
    )
    await hub.outbox.run_due()
    return ids


async def test_widget_message_reaches_the_inbox_live_and_the_reply_reaches_the_widget(
    hub: Hub, server: TestServer, context: BrowserContext, page: Page, team
):
    await open_inbox(page, server)
    await page.evaluate("window.notReloaded = true")
    visitor = await visit(context, server)
    await visitor.open_chat()
    await visitor.page.get_by_test_id("hubchat-name").fill("Lena")
    sent = await visitor.say("Do you ship to Norway?")
    await expect(sent).to_have_attribute("data-state", "sent")

    item = page.get_by_test_id("conversation-item").filter(has_text="Lena")
    await expect(item).to_contain_text("Do you ship to Norway?")
    await expect(item.locator(".badge")).to_have_text("1")
    await item.click()
    await expect(message(page, "Do you ship to Norway?")).to_be_visible()
    await page.get_by_test_id("reply-text").fill("Yes, in 3 to 5 days.")
    await page.get_by_test_id("reply-send").click()
    reply = message(page, "Yes, in 3 to 5 days.")
    await expect(reply).to_have_attribute("data-status", "queued")
    await hub.outbox.run_due()
    await expect(reply).to_have_attribute("data-status", "sent")
    await expect(visitor.agent_messages).to_contain_text(["Yes, in 3 to 5 days."])
    assert await page.evaluate("window.notReloaded") is True
    assert visitor.errors == []


async def test_list_views_search_and_screenshots(
    hub: Hub, clock: FakeClock, server: TestServer, page: Page, team
):
    ada = team["ada"]
    await ada.call(
        "PUT", "/api/admin/channels/webchat/rules", {"first_response_minutes": 30}, expect=200
    )
    ids = await demo_customers(hub, team)
    await open_inbox(page, server)
    items = page.get_by_test_id("conversation-item")
    await expect(items).to_have_count(3)
    lena, omar, ida = (conversation_item(page, ids[name]) for name in ("lena", "omar", "ida"))
    await expect(lena.get_by_test_id("conversation-preview")).to_have_text(
        "You: Sorry about that! Let me check with the carrier."
    )
    await expect(ida.get_by_test_id("conversation-preview")).to_have_text(
        "And how long does it take?"
    )
    await expect(ida.locator(".badge")).to_have_text("2")
    await expect(omar.locator(".badge")).to_have_text("1")
    await expect(ida.locator("svg.channel-icon")).to_have_attribute("data-kind", "webchat")
    await expect(omar.locator("svg.channel-icon")).to_have_attribute("data-kind", "api")
    await expect(ida.locator(".due")).to_be_visible()
    await expect(ida).not_to_have_attribute("data-overdue", "true")

    # Held: the hub's hours close; a new message waits, and its conversation counts it.
    await ada.call("PUT", "/api/admin/hours", {"hours": SATURDAY_MORNINGS}, expect=200)
    await hub.ingest(sms("+447700900456", "s2", "Hello? Still there?", "Omar Haddad"))
    await page.locator('.tab[data-view="open"]').click()  # a held message tells nobody
    await expect(omar.get_by_test_id("held-count")).to_have_text("1 held")
    await expect(omar.get_by_test_id("conversation-preview")).to_contain_text(
        "Auto-reply: Thanks for your message; it is saved."
    )
    await page.get_by_test_id("held-tab").click()
    await expect(page.get_by_test_id("held-item")).to_have_count(1)
    await expect(page.get_by_test_id("held-item")).to_contain_text("Hello? Still there?")
    await ada.call("PUT", "/api/admin/hours", {"hours": None}, expect=200)
    await hub.holds.release_due()
    await expect(page.get_by_test_id("held-item")).to_have_count(0)
    await expect(page.locator("#held-empty")).to_be_visible()

    # Overdue by the hub's clock: Ida waits longer than 30 minutes.
    await page.get_by_test_id("overdue-tab").click()
    await expect(page.locator("#list-empty")).to_be_visible()
    clock.advance(minutes=31)
    await page.clock.set_fixed_time(clock.now())
    await page.get_by_test_id("overdue-tab").click()
    await expect(items).to_have_count(1)
    await expect(ida).to_have_attribute("data-overdue", "true")
    await expect(ida.locator(".overdue")).to_be_visible()

    # Search by name, address and text, in every state.
    await page.locator('.tab[data-view="open"]').click()
    await ida.click()
    await page.get_by_test_id("resolve").click()
    await expect(ida).to_have_count(0)
    search = page.get_by_test_id("search")
    hits = page.get_by_test_id("search-hit")
    for query, found in (
        ("svensson", "ida"),
        ("447700900456", "omar"),
        ("lena@example", "lena"),
        ("CARRIER", "lena"),
    ):
        await search.fill(query)
        await expect(hits).to_have_count(1)
        await expect(hits).to_have_attribute("data-conversation-id", str(ids[found]))
    await search.fill("nobody wrote this")
    await expect(page.locator("#list-empty")).to_be_visible()
    await search.fill("")
    await expect(items).to_have_count(2)
    await page.locator('.tab[data-view="resolved"]').click()
    await expect(items).to_have_count(1)
    await expect(ida).to_be_visible()

    await page.locator('.tab[data-view="open"]').click()
    await expect(items).to_have_count(2)
    await save_screenshot(page, "inbox")


async def test_conversation_and_customer_panel(
    hub: Hub, clock: FakeClock, server: TestServer, page: Page, team
):
    ids = await demo_customers(hub, team)
    maria, ada = team["maria"], team["ada"]
    lena_id = (await maria.get(f"/api/conversations/{ids['lena']}"))["customer"]["id"]
    await maria.call(
        "PUT", f"/api/customers/{lena_id}/contact-hours", {"hours": NEW_YORK_OFFICE}, expect=200
    )
    await ada.post(
        "/api/admin/canned-responses",
        {
            "title": "Tracking link",
            "text": "You can follow your parcel here: https://track.example",
        },
        expect=201,
    )
    await maria.post(
        f"/api/conversations/{ids['lena']}/notes", {"text": "VIP: second late order"}, expect=201
    )
    await open_inbox(page, server)
    await conversation_item(page, ids["lena"]).click()

    panel = page.get_by_test_id("customer-panel")
    await expect(panel.get_by_test_id("panel-name")).to_have_text("Lena Fischer")
    await expect(panel.get_by_test_id("panel-owner")).to_have_text("Maria")
    await expect(panel.get_by_test_id("panel-backup")).to_have_text("Tom")
    await expect(panel.locator("#identities")).to_contain_text("lena@example.org")
    # 09:00 UTC is 04:00 in New York, 10:00 in Berlin; they open at 09:00 New York time.
    await expect(panel.get_by_test_id("contact-now")).to_have_text(
        "now 04:00 for them, window opens in 5 h"
    )
    await expect(panel.get_by_test_id("contact-next")).to_have_text(
        "10:00 for you · opens Mon 09:00 their time, Mon 15:00 yours"
    )
    await expect(panel.get_by_test_id("contact-source")).to_have_text(
        "America/New_York · hours agreed with them"
    )
    note = message(page, "VIP: second late order")
    await expect(note).to_have_attribute("data-direction", "note")
    await expect(note).to_contain_text("Internal note")
    sent = message(page, "Sorry about that!")
    await expect(sent).to_have_attribute("data-receipt", "sent")  # one tick: no receipts here
    await expect(sent.locator(".message-status")).to_have_attribute("aria-label", "Sent")
    await expect(sent.locator("svg.channel-icon")).to_have_attribute("data-kind", "webchat")

    # The canned response goes into the reply box; the reply waits for New York's morning.
    await page.get_by_test_id("reply-text").fill("Hi Lena, ")
    await page.get_by_test_id("canned").select_option(label="Tracking link")
    await expect(page.get_by_test_id("reply-text")).to_have_value(
        "Hi Lena, You can follow your parcel here: https://track.example"
    )
    await page.get_by_test_id("reply-send").click()
    scheduled = message(page, "Hi Lena, You can follow")
    await expect(scheduled.locator(".message-status")).to_have_text(
        "scheduled for Mon, 2 Mar 2026, 15:00 CET"
    )
    await save_screenshot(page, "conversation")

    # The panel follows the hub's clock: later, the window is open.
    clock.set(datetime(2026, 3, 2, 15, 30, tzinfo=UTC))
    await page.clock.set_fixed_time(clock.now())
    await conversation_item(page, ids["omar"]).click()
    await expect(panel.get_by_test_id("panel-name")).to_have_text("Omar Haddad")
    await conversation_item(page, ids["lena"]).click()
    await expect(panel.get_by_test_id("contact-now")).to_have_text(
        "now 10:30 for them, window open, closes in 6 h 30 min"
    )
    await panel.get_by_test_id("contact-hours").locator("summary").click()
    await expect(panel.get_by_test_id("hours-summary")).to_contain_text("America/New_York")
    await save_screenshot(page, "customer-panel")


async def test_keyboard_shortcuts(hub: Hub, server: TestServer, page: Page, team):
    ids = await demo_customers(hub, team)
    await open_inbox(page, server)
    items = page.get_by_test_id("conversation-item")
    await expect(items).to_have_count(3)
    order = [
        int(i) for i in await items.evaluate_all("els => els.map(e => e.dataset.conversationId)")
    ]
    assert set(order) == set(ids.values())

    await page.keyboard.press("j")
    await expect(conversation_item(page, order[0])).to_have_class("conversation-item is-selected")
    await page.keyboard.press("j")
    await expect(conversation_item(page, order[1])).to_have_class("conversation-item is-selected")
    await page.keyboard.press("k")
    await expect(conversation_item(page, order[0])).to_have_class("conversation-item is-selected")
    selected_name = (
        await conversation_item(page, order[0]).locator(".conv-name > span").text_content()
    )
    await expect(page.get_by_test_id("customer-name")).to_have_text(selected_name)

    await page.keyboard.press("r")
    await expect(page.get_by_test_id("reply-text")).to_be_focused()
    await page.keyboard.type("just typing: jkre")
    await expect(page.get_by_test_id("reply-text")).to_have_value("just typing: jkre")
    await expect(page.get_by_test_id("customer-name")).to_have_text(selected_name)
    await page.get_by_test_id("reply-text").fill("")
    await page.get_by_test_id("reply-text").blur()

    await page.keyboard.press("e")
    await expect(page.get_by_test_id("reopen")).to_be_visible()
    await expect(conversation_item(page, order[0])).to_have_count(0)
    await expect(items).to_have_count(2)

    await page.keyboard.press("?")
    help_dialog = page.get_by_test_id("shortcuts")
    await expect(help_dialog).to_be_visible()
    await expect(help_dialog).to_contain_text("next conversation")
    await page.keyboard.press("Escape")
    await expect(help_dialog).to_be_hidden()
    await page.get_by_role("button", name="Keyboard shortcuts: press ?").focus()
    outline = await page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid", "focus is visible"


async def test_every_field_has_a_label(page: Page, server: TestServer, team):
    await open_inbox(page, server)
    unlabelled = await page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea'))
            .filter((field) => !field.labels.length && !field.getAttribute('aria-label'))
            .map((field) => field.id || field.outerHTML)"""
    )
    assert unlabelled == []


async def test_phone_width_shows_one_column_with_a_way_back(
    hub: Hub, server: TestServer, page: Page, team
):
    ids = await demo_customers(hub, team)
    await page.set_viewport_size(PHONE)
    await open_inbox(page, server)
    items = page.get_by_test_id("conversation-item")
    await expect(items).to_have_count(3)
    await save_screenshot(page, "inbox-phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "nothing sticks out sideways"

    await conversation_item(page, ids["lena"]).click()
    await expect(message(page, "My order #1043")).to_be_visible()
    await expect(items.first).to_be_hidden()
    await expect(page.get_by_test_id("customer-panel")).to_be_hidden()
    await page.get_by_role("button", name="Customer").click()
    await expect(page.get_by_test_id("panel-owner")).to_have_text("Maria")
    await expect(page.get_by_test_id("reply-text")).to_be_visible()
    await page.get_by_role("button", name="← Back").click()
    await expect(items).to_have_count(3)
    await expect(page.get_by_test_id("reply-text")).to_be_hidden()


XSS_NAME = "<script>alert(1)</script>"
XSS_TEXTS = (
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click me</a>',
    "javascript:alert(1)",
)


async def test_markup_in_names_and_messages_stays_text(
    hub: Hub, server: TestServer, page: Page, team
):
    started = await hub.ingest(chat("v-evil", "1", XSS_TEXTS[0], sender_name=XSS_NAME))
    for number, text in enumerate(XSS_TEXTS[1:], start=2):
        await hub.ingest(chat("v-evil", str(number), text))
    conversation_id = await for_maria(team, started)
    await open_inbox(page, server)
    item = conversation_item(page, conversation_id)
    await expect(item).to_contain_text(XSS_NAME)
    await expect(item.get_by_test_id("conversation-preview")).to_have_text(XSS_TEXTS[-1])
    await page.get_by_test_id("search").fill("<script> alert")  # PostgreSQL drops "tags"
    await expect(page.locator("#search-status")).to_contain_text("<script>")
    hit = page.get_by_test_id("search-hit").first
    await expect(hit.locator(".conv-name")).to_contain_text(XSS_NAME)
    await hit.click()
    texts = page.get_by_test_id("message").locator(".message-text")
    await expect(texts).to_have_text(list(XSS_TEXTS))
    await expect(page.get_by_test_id("panel-name")).to_have_text(XSS_NAME)
    await expect(page.get_by_test_id("customer-name")).to_have_text(XSS_NAME)
    assert await page.locator("#inbox-view img, #inbox-view script, #messages a").count() == 0
    await asyncio.sleep(0.2)  # any handler would have run by now
