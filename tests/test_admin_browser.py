"""The admin console in a real Chromium: channels, agents, customers, calendars, auto-replies.

The hub's clock stands on a Saturday morning in London; the browsers sit in London too.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pyotp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Locator, Page, expect
from sqlalchemy import Connection, select

from config import Settings
from config.schema import HoursSettings
from connectors.base import Address, InboundMessage
from hub.api.hours import channel_rules_json
from hub.app import Hub
from hub.contact import CHANNEL_SCOPE, DEFAULT_SCOPE, hours_definition, read_hours, write_hours
from hub.db.database import Tx
from hub.db.schema import agents
from hub.demo_accounts import record_demo_seed
from hub.team import update_agent
from hub.two_factor import confirm_enrolment
from tests.conftest import make_settings
from tests.support.chromium import save_screenshot
from tests.support.clock import FakeClock
from tests.support.hubs import PASSWORD, add_agent, started_hub
from tests.support.telegram_api import FakeBotApi
from tests.support.waiting import until
from tests.test_admin_api import running
from tests.test_contact_hours import LONDON_OFFICE
from tests.test_inbox_browser import set_up_two_factor
from tests.test_telegram import TOKEN as TG_TOKEN
from tests.test_widget_browser import visit

ADMIN = "admin@example.com"
MARIA = "maria@example.com"
SATURDAY_10_LONDON = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
XSS = '<img src=x onerror="window.pwned=1">'


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SATURDAY_10_LONDON)


@pytest.fixture
async def hub(settings: Settings, clock: FakeClock) -> AsyncIterator[Hub]:
    """The hub under test with its workers running: held messages are released by the worker."""
    async with started_hub(settings, clock, run_workers=True) as hub:
        yield hub


@pytest.fixture
async def admin_id(hub: Hub) -> int:
    """Ada, an admin who is away, so customers go to the agents."""
    agent_id = await add_agent(hub, ADMIN, role="admin", name="Ada")
    await hub.db.write(partial(update_agent, agent_id, agent_id, {"away": True}))
    return agent_id


@pytest.fixture
async def maria(hub: Hub) -> int:
    return await add_agent(hub, MARIA, name="Maria")


@pytest.fixture
def problems() -> list[str]:
    """Script errors, console errors and dialogs of every watched page: none may happen."""
    found: list[str] = []
    yield found
    assert not found, f"the pages misbehaved: {found}"


def watch(page: Page, problems: list[str]) -> Page:
    """Record what must not happen. Refused requests are expected: the page shows them."""

    def console(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            problems.append(f"console: {message.text}")

    page.on("pageerror", lambda error: problems.append(f"script: {error}"))
    page.on("console", console)
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    return page


@pytest.fixture
async def laptop(chromium_browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await chromium_browser.new_context(
        viewport=LAPTOP, timezone_id="Europe/London", locale="en-GB"
    )
    try:
        yield context
    finally:
        await context.close()


async def new_page(context: BrowserContext, problems: list[str]) -> Page:
    return watch(await context.new_page(), problems)


def url(server: TestServer, path: str = "/") -> str:
    return str(server.make_url(path))


def console_url(server: TestServer) -> re.Pattern[str]:
    """The console's address, with whichever section it shows."""
    return re.compile(re.escape(url(server, "/admin")) + "(#[a-z-]*)?$")


async def submit_sign_in(page: Page, email: str) -> None:
    """Fill in and send the inbox page's sign-in form (the hub's one sign-in form)."""
    await page.get_by_test_id("login-email").fill(email)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()


async def sign_in(page: Page, server: TestServer, email: str) -> None:
    """Sign in on the inbox page, which then shows the inbox."""
    await submit_sign_in(page, email)
    await expect(page.locator("#inbox-view")).to_be_visible()


async def open_console(page: Page, server: TestServer, section: str = "channels") -> None:
    """Go to the console as an anonymous visitor is sent: to sign in first, then back."""
    await page.goto(url(server, "/admin"))
    await expect(page).to_have_url(url(server, "/?next=/admin"))
    await submit_sign_in(page, ADMIN)
    await expect(page).to_have_url(console_url(server))
    # The console has bound its section tabs once it shows who is signed in.
    await expect(page.get_by_test_id("admin-name")).to_have_text("Ada")
    await page.locator(f'.section-tab[data-section="{section}"]').click()
    await expect(page.locator(f"#{section}")).to_be_visible()


@pytest.fixture
async def console(
    hub: Hub, server: TestServer, laptop: BrowserContext, problems: list[str], admin_id: int
) -> Page:
    page = await new_page(laptop, problems)
    await open_console(page, server)
    return page


async def show(page: Page, section: str) -> Locator:
    await page.locator(f'.section-tab[data-section="{section}"]').click()
    shown = page.get_by_test_id(f"{section}-section")
    await expect(shown).to_be_visible()
    return shown


def span(opens: str, closes: str) -> str:
    """A span as the preview shows it."""
    return f"{opens}\N{EN DASH}{closes}"


def preview_day(page: Page, day: str) -> Locator:
    return page.locator(f'[data-testid="preview-day"][data-date="{day}"]')


def weekday(page: Page, day: str) -> Locator:
    return page.get_by_test_id(f"weekday-{day}")


async def edit_calendar(page: Page, which: str) -> None:
    await show(page, "calendars")
    await page.get_by_test_id("calendar-picker").select_option(which)
    await expect(page.get_by_test_id("calendar-none")).to_be_checked()
    await page.get_by_test_id("calendar-none").uncheck()
    await page.get_by_test_id("calendar-zone").fill("Europe/London")
    await page.get_by_test_id("office-preset").click()


async def save_calendar(page: Page) -> None:
    saved = page.get_by_test_id("calendar-saved")
    await expect(saved).to_be_empty()
    await page.get_by_test_id("calendar-save").click()
    await expect(saved).to_have_text("Saved.")


async def test_closed_web_chat_holds_the_message_until_the_admin_opens_the_hours(
    hub: Hub,
    server: TestServer,
    chromium_browser: Browser,
    laptop: BrowserContext,
    console: Page,
    problems: list[str],
    maria: int,
):
    await edit_calendar(console, "webchat")
    await expect(preview_day(console, "2026-03-07")).to_contain_text("closed")
    await expect(preview_day(console, "2026-03-09")).to_contain_text(span("09:00", "17:00"))
    await save_calendar(console)

    inbox_context = await chromium_browser.new_context(viewport=LAPTOP, locale="en-GB")
    customer_context = await chromium_browser.new_context()
    try:
        inbox = await new_page(inbox_context, problems)
        await inbox.goto(url(server))
        await sign_in(inbox, server, MARIA)
        await expect(inbox.get_by_test_id("live-status")).to_have_text("live")
        await inbox.get_by_test_id("held-tab").click()
        await expect(inbox.locator("#held-empty")).to_be_visible()

        visitor = await visit(customer_context, server)
        watch(visitor.page, problems)
        await visitor.open_chat()
        await visitor.page.get_by_test_id("hubchat-name").fill("Lena")
        await expect(await visitor.say("Is my order on its way?")).to_have_attribute(
            "data-state", "sent"
        )
        await inbox.get_by_test_id("held-tab").click()  # a held message tells nobody live
        held = inbox.get_by_test_id("held-item")
        await expect(held).to_contain_text("Is my order on its way?")
        await expect(held).to_contain_text("Lena")
        # An auto-reply is queued by the ingest, which does not wake the outbox worker.
        hub.outbox.wake()
        await expect(visitor.agent_messages).to_have_count(1)
        await expect(visitor.agent_messages).to_contain_text(
            "Thanks for your message; it is saved. Maria will reply here at 09:00 Monday, "
            "your time."  # the widget reported the browser's zone (UTC, London's winter time)
        )

        await console.get_by_test_id("span-add-sat").click()
        await expect(weekday(console, "sat").get_by_test_id("span-to")).to_have_value("17:00")
        await expect(preview_day(console, "2026-03-07")).to_contain_text(span("09:00", "17:00"))
        await save_calendar(console)

        await expect(held).to_have_count(0)
        await inbox.locator('.tab[data-view="open"]').click()
        arrived = inbox.get_by_test_id("conversation-item")
        await expect(arrived).to_have_count(1)
        await expect(arrived).to_contain_text("Lena")
        await expect(arrived.locator(".badge")).to_have_text("1")
    finally:
        await customer_context.close()
        await inbox_context.close()


async def test_an_agent_gets_no_console_and_no_admin_api(
    hub: Hub, server: TestServer, laptop: BrowserContext, problems: list[str], maria: int
):
    page = await new_page(laptop, problems)
    await page.goto(url(server))
    await sign_in(page, server, MARIA)
    response = await page.goto(url(server, "/admin"))
    assert response is not None
    assert response.status == 403
    await expect(page.get_by_role("heading")).to_have_text("Admins only")
    await expect(page.locator("body")).to_contain_text("Only admins may open the admin console.")
    refused = await laptop.request.get(url(server, "/api/admin/agents"))
    assert refused.status == 403
    assert (await refused.json())["error"] == "this endpoint is for admins"


async def test_a_change_from_the_page_without_the_csrf_token_is_refused(
    hub: Hub, server: TestServer, console: Page
):
    forged = await console.evaluate(
        """async () => {
            const response = await fetch("/api/admin/channels/sms", {
                method: "PATCH",
                headers: {"Content-Type": "application/json"},
                body: JSON.stringify({enabled: false}),
            });
            return [response.status, (await response.json()).error];
        }"""
    )
    assert forged == [403, "missing or wrong X-CSRF-Token header for a cookie session"]
    assert "sms" in hub.connectors


async def test_calendar_editor_previews_14_days_with_exceptions_holidays_and_problems(
    hub: Hub, server: TestServer, clock: FakeClock, console: Page
):
    await edit_calendar(console, "")
    days = console.get_by_test_id("preview-day")
    await expect(days).to_have_count(14)
    await expect(days.first).to_have_attribute("data-date", "2026-03-07")
    await expect(days.last).to_have_attribute("data-date", "2026-03-20")

    await console.get_by_test_id("holiday-country").fill("gb")
    await console.get_by_test_id("holiday-subdivision").fill("nir")
    st_patrick = preview_day(console, "2026-03-17")
    await expect(st_patrick).to_contain_text("closed")
    await expect(st_patrick.locator(".preview-why")).to_have_text("Saint Patrick's Day")
    await console.get_by_test_id("exception-add").click()
    exception = console.get_by_test_id("exception")
    await exception.get_by_test_id("exception-date").fill("2026-03-11")
    await expect(exception.get_by_test_id("exception-closed")).to_be_checked()
    wednesday = preview_day(console, "2026-03-11")
    await expect(wednesday).to_contain_text("closed")
    await expect(wednesday.locator(".preview-why")).to_have_text("exception")

    friday = weekday(console, "fri")
    await friday.get_by_test_id("span-add-fri").click()
    late = friday.get_by_test_id("span").nth(1)
    await late.get_by_test_id("span-from").fill("22:00")
    await late.get_by_test_id("span-to").fill("02:00")
    await expect(late.get_by_test_id("span-overnight")).to_have_text("overnight")
    await expect(preview_day(console, "2026-03-14")).to_contain_text(span("00:00", "02:00"))

    monday = weekday(console, "mon")
    await monday.get_by_test_id("span-add-mon").click()
    clash = monday.get_by_test_id("span").nth(1)
    await clash.get_by_test_id("span-from").fill("16:00")
    await clash.get_by_test_id("span-to").fill("18:00")
    problems = console.get_by_test_id("calendar-problems").locator("li")
    await expect(problems).to_have_text(["hours.weekly.mon.1: overlaps 09:00-17:00"])
    await expect(clash).to_have_class("span-row invalid")
    await expect(clash.get_by_test_id("span-from")).to_have_attribute("aria-invalid", "true")
    await console.get_by_test_id("calendar-save").click()
    await expect(console.get_by_test_id("calendar-error")).to_have_text("The hours were not saved:")
    assert await hub.db.read(default_hours) is None
    await clash.get_by_role("button", name="Remove this span").click()
    await expect(problems).to_have_count(0)
    await save_calendar(console)
    await save_screenshot(console, "calendar-editor")

    stored = await hub.db.read(default_hours)
    assert stored["exceptions"] == {"2026-03-11": []}
    assert stored["holidays"] == {"country": "GB", "subdivision": "NIR"}
    assert stored["weekly"]["fri"] == ["09:00-17:00", {"span": "22:00-02:00", "overnight": True}]


def default_hours(conn: Connection) -> dict[str, Any] | None:
    return read_hours(conn, DEFAULT_SCOPE, "")


async def test_auto_reply_preview_follows_the_typing_and_rules_keep_the_hours(
    hub: Hub, server: TestServer, console: Page, maria: int
):
    await hub.db.write(partial(write_hours_of, CHANNEL_SCOPE, "sms", LONDON_OFFICE))
    rules = await show(console, "rules")
    await rules.get_by_test_id("rules-channel").select_option("sms")
    preview = console.get_by_test_id("template-preview")
    await expect(preview).to_have_text(
        "Thanks for your message; it is saved. Ada will reply here at 09:00 Monday, London Time."
    )
    template = console.get_by_test_id("rules-template")
    await template.fill("Back at {opens} ({zone}). {owner} & <b>team</b>")
    await expect(preview).to_have_text("Back at 09:00 Monday (Europe/London). Ada & <b>team</b>")
    await template.press_sequentially(" {until}")
    await expect(console.get_by_test_id("template-error")).to_contain_text(
        "template: unknown placeholder {until}; use {owner}, {opens}, {zone}"
    )
    await expect(preview).to_have_text("Back at 09:00 Monday (Europe/London). Ada & <b>team</b>")
    await template.fill("We open {opens}.")
    await expect(preview).to_have_text("We open 09:00 Monday.")
    await expect(console.get_by_test_id("template-error")).to_be_hidden()

    await console.get_by_test_id("rules-first").fill("0")
    await console.get_by_test_id("rules-save").click()
    await expect(console.get_by_test_id("rules-problems")).to_contain_text(
        "first_response_minutes: Input should be greater than or equal to 1"
    )
    await console.get_by_test_id("rules-first").fill("30")
    await console.get_by_test_id("rules-next").fill("240")
    await console.get_by_test_id("rules-save").click()
    await expect(console.get_by_test_id("rules-saved")).to_have_text("Saved.")
    await expect(console.get_by_test_id("rules-problems")).to_be_empty()
    stored = await hub.db.read(partial(channel_rules_json, "sms"))
    assert stored["autoreply_template"] == "We open {opens}."
    assert (stored["first_response_minutes"], stored["next_response_minutes"]) == (30, 240)
    assert stored["hours"] == hours_definition(HoursSettings.model_validate(LONDON_OFFICE))


def write_hours_of(scope: str, subject: str, hours: dict[str, Any], tx: Tx) -> None:
    write_hours(tx, scope, subject, HoursSettings.model_validate(hours))


def channel_card(page: Page, name: str) -> Locator:
    return page.locator(f'[data-testid="channel"][data-channel="{name}"]')


async def test_channels_switch_off_and_on_across_a_restart_and_test_their_connection(
    database_url: str, clock: FakeClock, laptop: BrowserContext, problems: list[str]
):
    unreachable = {"callback_url": "http://127.0.0.1:9/gone"}
    settings = make_settings(
        database_url,
        channels=[
            {"kind": "webchat", "name": "webchat"},
            {"kind": "api", "name": "sms", "token_env": "SMS_TOKEN", "identity_kind": "phone"},
            {"kind": "api", "name": "fax", "token_env": "SMS_TOKEN", **unreachable},
        ],
    )
    page = await new_page(laptop, problems)
    async with running(settings, clock) as (hub, server):
        await add_agent(hub, ADMIN, role="admin", name="Ada")
        await open_console(page, server)
        sms = channel_card(page, "sms")
        await expect(sms).to_contain_text("Credentials from: SMS_TOKEN")
        await expect(channel_card(page, "webchat")).to_contain_text("No credentials needed")
        await save_screenshot(page, "admin-console")

        await channel_card(page, "webchat").get_by_test_id("channel-test").click()
        result = channel_card(page, "webchat").get_by_test_id("channel-test-result")
        await expect(result).to_have_text(
            "Connection ok: web chat ready; 0 visitor(s) connected now"
        )
        await expect(result).to_have_attribute("data-ok", "true")
        fax = channel_card(page, "fax")
        await fax.get_by_test_id("channel-test").click()
        failed = fax.get_by_test_id("channel-test-result")
        await expect(failed).to_contain_text("Connection failed: callback http://127.0.0.1:9/gone")
        await expect(failed).to_have_attribute("data-ok", "false")

        await sms.get_by_test_id("channel-toggle").click()
        await expect(sms.get_by_test_id("channel-status")).to_have_text("disabled")
        await expect(sms.get_by_test_id("channel-toggle")).to_have_text("Enable")
        await expect(sms.get_by_test_id("channel-test")).to_be_disabled()
        assert "sms" not in hub.connectors

    async with running(settings, clock) as (hub, server):
        assert "sms" not in hub.connectors
        await page.goto(url(server, "/admin#channels"))
        sms = channel_card(page, "sms")
        await expect(sms.get_by_test_id("channel-status")).to_have_text("disabled")
        await sms.get_by_test_id("channel-toggle").click()
        await expect(sms.get_by_test_id("channel-status")).to_have_text("enabled")
        assert "sms" in hub.connectors
        await sms.get_by_test_id("channel-test").click()
        await expect(sms.get_by_test_id("channel-test-result")).to_have_text(
            "Connection ok: inbound ready; no callback_url, so replies cannot be delivered"
        )
        await show(page, "audit")
        entries = page.get_by_test_id("audit-entry")
        await expect(entries.first).to_contain_text("Ada")
        await expect(entries.first).to_contain_text("channel.enabled")
        await expect(entries.nth(1)).to_contain_text("channel.disabled")


async def test_a_channel_that_stopped_by_itself_shows_why(
    database_url: str, clock: FakeClock, laptop: BrowserContext, problems: list[str]
):
    async with FakeBotApi("999:another-bots-token") as bot_api:
        polling = {"kind": "telegram", "name": "tg", "token_env": "TG_TOKEN", "mode": "polling"}
        settings = Settings.model_validate(
            {
                "database": {"url": database_url},
                "channels": [{**polling, "base_url": bot_api.base_url, "poll_seconds": 1}],
            },
            context={"environ": {"TG_TOKEN": TG_TOKEN}},
        )
        page = await new_page(laptop, problems)
        async with running(settings, clock) as (hub, server):
            await until(lambda: hub.connectors["tg"].halted is not None, "polling stopped")
            await add_agent(hub, ADMIN, role="admin", name="Ada")
            await open_console(page, server)
            halted = channel_card(page, "tg").get_by_test_id("channel-halted")
            await expect(halted).to_have_text(
                "Stopped: Telegram refused the bot token (Unauthorized)"
            )


def agent_card(page: Page, email: str) -> Locator:
    email_line = page.locator("p.email").get_by_text(email, exact=True)
    return page.get_by_test_id("agent").filter(has=email_line)


async def test_agents_are_created_deactivated_and_sent_away_with_a_backup(
    hub: Hub, console: Page, maria: int
):
    await show(console, "agents")
    form = console.locator("#agent-form")
    await form.get_by_test_id("agent-email").fill("tom@example.com")
    await form.get_by_test_id("agent-name").fill(XSS)
    await form.get_by_test_id("agent-password").fill("short")
    await form.get_by_test_id("agent-create").click()
    await expect(form.get_by_test_id("agent-form-error")).to_contain_text(
        "password: String should have at least 8 characters"
    )
    await form.get_by_test_id("agent-password").fill("long enough password")
    await form.get_by_test_id("agent-create").click()
    tom = agent_card(console, "tom@example.com")
    await expect(tom.locator("strong")).to_have_text(XSS)
    await expect(form.get_by_test_id("agent-email")).to_have_value("")

    await tom.get_by_test_id("agent-toggle").click()
    await expect(tom.get_by_test_id("agent-status")).to_have_text("deactivated")
    await expect(tom.get_by_test_id("agent-toggle")).to_have_text("Reactivate")
    marias = agent_card(console, MARIA)
    tom_id = await tom.get_attribute("data-agent-id")
    await marias.get_by_test_id("agent-away").check()
    await expect(
        marias.get_by_test_id("agent-backup").locator(f'option[value="{tom_id}"]')
    ).to_have_count(0)
    await tom.get_by_test_id("agent-toggle").click()
    await expect(tom.get_by_test_id("agent-status")).to_have_text("active")
    await marias.get_by_test_id("agent-away").check()
    await marias.get_by_test_id("agent-backup").select_option(tom_id)
    await marias.get_by_test_id("agent-save").click()
    await expect(marias.get_by_test_id("agent-status")).to_have_text(f"away, backup {XSS}")
    assert await console.evaluate("window.pwned") is None


async def test_customers_get_owners_and_one_agents_customers_move_in_bulk(
    hub: Hub, console: Page, maria: int
):
    tom = await add_agent(hub, "tom@example.com", name="Tom")
    await hub.db.write(partial(update_agent, tom, tom, {"away": True}))
    for n, name in enumerate(["Lena", "Ole", XSS]):
        await hub.ingest(sms(f"s{n}", f"+4915100{n}", name))
    await hub.db.write(partial(update_agent, tom, tom, {"away": False}))

    section = await show(console, "customers")
    customers = section.get_by_test_id("customer")
    await expect(customers).to_have_count(3)
    await expect(customers.nth(2).locator("strong")).to_have_text(XSS)
    await section.get_by_test_id("customer-query").fill("ole")
    await section.get_by_test_id("customer-search").click()
    await expect(customers).to_have_count(1)
    ole = customers.first
    await expect(ole).to_contain_text("phone: +49151001")
    await expect(ole.get_by_test_id("customer-owner")).to_have_text("owner Maria")
    await ole.get_by_test_id("customer-backup-select").select_option(str(tom))
    await ole.get_by_test_id("customer-save").click()
    await expect(ole.get_by_test_id("customer-backup-select")).to_have_value(str(tom))

    form = section.locator("#reassign-form")
    await form.get_by_test_id("reassign-from").select_option(str(maria))
    await form.get_by_test_id("reassign-to").select_option(str(maria))
    await form.get_by_test_id("reassign-submit").click()
    await expect(form.get_by_test_id("reassign-error")).not_to_be_empty()
    await form.get_by_test_id("reassign-to").select_option(str(tom))
    await form.get_by_test_id("reassign-submit").click()
    await expect(form.get_by_test_id("reassign-result")).to_have_text(
        "Moved 3 customers from Maria to Tom."
    )
    await expect(ole.get_by_test_id("customer-owner")).to_have_text("owner Tom")
    assert await console.evaluate("window.pwned") is None


def sms(external_id: str, phone: str, name: str) -> InboundMessage:
    return InboundMessage("sms", external_id, Address("phone", phone), "hello", sender_name=name)


async def test_canned_responses_and_the_audit_log(hub: Hub, console: Page, maria: int):
    section = await show(console, "canned")
    await section.get_by_test_id("canned-title").fill("Shipping")
    await section.get_by_test_id("canned-text").fill(f"We ship in 2 days {XSS}")
    await section.get_by_test_id("canned-add").click()
    item = section.get_by_test_id("canned")
    await expect(item).to_have_count(1)
    await expect(item.locator(".canned-text")).to_have_text(f"We ship in 2 days {XSS}")
    await section.get_by_test_id("canned-add").click()
    await expect(section.get_by_test_id("canned-error")).to_contain_text("title")
    await item.get_by_role("button", name="Delete canned response Shipping").click()
    await expect(item).to_have_count(0)

    await show(console, "audit")
    entries = console.get_by_test_id("audit-entry")
    await expect(entries.first).to_contain_text("Ada")
    actions = await entries.locator(".action").all_text_contents()
    assert actions[-1] == "agent.created", "newest first: the agents came first"
    assert await console.evaluate("window.pwned") is None


async def agent_hash(hub: Hub, agent_id: int) -> str:
    return await hub.db.read(
        lambda conn: conn.execute(
            select(agents.c.password_hash).where(agents.c.id == agent_id)
        ).scalar_one()
    )


async def test_demo_passwords_the_two_factor_rule_and_a_lost_phone(
    hub: Hub, server: TestServer, console: Page, maria: int, clock: FakeClock
):
    await hub.db.write(partial(record_demo_seed, {MARIA: await agent_hash(hub, maria)}))
    await console.reload()
    warning = console.get_by_test_id("demo-warning")
    await expect(warning).to_contain_text(f"still take their published demo passwords: {MARIA}")

    section = await show(console, "agents")
    rule = section.get_by_test_id("require-two-factor")
    # A click, not check(): the page puts the box back when the hub refuses, which may
    # happen before check() looks at it.
    await rule.click()
    await expect(section.get_by_test_id("two-factor-policy-error")).to_contain_text(
        "set up your own two-factor sign-in first"
    )
    await expect(rule).not_to_be_checked()

    await console.goto(url(server, "/account"))
    await set_up_two_factor(console, clock)
    await console.goto(url(server, "/admin#agents"))
    await expect(agent_card(console, ADMIN).get_by_test_id("agent-status")).to_contain_text(
        "two-factor on"
    )
    await rule.check()
    await expect(section.get_by_test_id("two-factor-policy-error")).to_be_empty()
    await console.reload()
    await expect(rule).to_be_checked()

    secret = pyotp.random_base32()
    code = pyotp.TOTP(secret).at(clock.now())
    await hub.db.write(partial(confirm_enrolment, maria, secret, code))
    await hub.db.write(partial(update_agent, maria, maria, {"password_hash": "a new one"}))
    await console.reload()
    await expect(warning).to_be_hidden()
    marias = agent_card(console, MARIA)
    await expect(marias.get_by_test_id("agent-status")).to_have_text("active, two-factor on")
    await marias.get_by_test_id("agent-two-factor-off").click()
    await expect(marias.get_by_test_id("agent-status")).to_have_text("active")
    await expect(marias.get_by_test_id("agent-two-factor-off")).to_have_count(0)

    await show(console, "audit")
    entries = console.get_by_test_id("audit-entry")
    await expect(entries.first.locator(".action")).to_have_text("two_factor.disabled")
    actions = await entries.locator(".action").all_text_contents()
    assert actions[:3] == ["two_factor.disabled", "agent.updated", "two_factor.enabled"]
    assert {"two_factor.policy", "signin.succeeded"} <= set(actions)


async def test_the_console_fits_a_phone(
    hub: Hub, server: TestServer, chromium_browser: Browser, problems: list[str], admin_id: int
):
    context = await chromium_browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, timezone_id="Europe/London"
    )
    try:
        page = await new_page(context, problems)
        await open_console(page, server, "calendars")
        await page.get_by_test_id("calendar-none").uncheck()
        await page.get_by_test_id("calendar-zone").fill("Europe/London")
        await page.get_by_test_id("office-preset").click()
        await expect(page.get_by_test_id("preview-day")).to_have_count(14)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"the page scrolls sideways: {width}px"
        nav = page.locator(".sections")
        box = await nav.bounding_box()
        assert box is not None
        assert box["width"] <= PHONE["width"]
        await save_screenshot(page, "admin-console-phone")
    finally:
        await context.close()
