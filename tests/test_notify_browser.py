"""Notifications in a real Chromium: the permission asked from a click, browser notifications
and the title count while the inbox tab is in the background, and the settings section."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, expect

from config import Settings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from tests.support.chromium import page_without_script_errors, save_screenshot
from tests.support.hubs import add_agent
from tests.support.smtp import SmtpPeer
from tests.support.telegram_api import BOT_USER, FakeBotApi
from tests.test_inbox_browser import EMAIL, open_inbox, url
from tests.test_notification_chats import CHATS_ENVIRON, TG_TOKEN

RECORD_NOTIFICATIONS = """
window.__shown = [];
const Real = window.Notification;
window.Notification = class extends Real {
  constructor(title, options) {
    super(title, options);
    window.__shown.push({ title, body: options && options.body });
  }
};
"""
"""Keeps what the page showed as notifications, for the test to read (the real ones are shown)."""


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(TG_TOKEN) as api:
        yield api


@pytest.fixture
def settings(database_url: str, relay: SmtpPeer, bot_api: FakeBotApi) -> Settings:
    data = {
        "database": {"url": database_url},
        "channels": [
            {"kind": "api", "name": "sms", "token_env": "SMS_TOKEN", "identity_kind": "phone"},
            {
                "kind": "email",
                "name": "mail",
                "address": "support@shop.example",
                "smtp_out": {"host": "127.0.0.1", "port": relay.port, "security": "none"},
                "authentication": {"check": False},
            },
            {
                "kind": "telegram",
                "name": "tg",
                "token_env": "TG_TOKEN",
                "webhook_secret_env": "TG_HOOK_SECRET",
                "base_url": bot_api.base_url,
            },
        ],
    }
    return Settings.model_validate(data, context={"environ": CHATS_ENVIRON})


@pytest.fixture
async def maria(hub: Hub) -> int:
    return await add_agent(hub, EMAIL, name="Maria")


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    await context.add_init_script(RECORD_NOTIFICATIONS)
    async with page_without_script_errors(context) as page:
        yield page


async def test_permission_from_a_click_then_notifications_and_title_in_the_background(
    hub: Hub, server: TestServer, context: BrowserContext, page: Page, maria: int
):
    await open_inbox(page, server)
    button = page.get_by_test_id("desktop-alerts")
    await expect(button).to_be_visible()
    assert await page.evaluate("Notification.permission") == "default"
    await context.grant_permissions(["notifications"], origin=url(server).rstrip("/"))
    await button.click()
    await expect(page.get_by_test_id("desktop-alerts-status")).to_have_text(
        "Desktop notifications on"
    )
    await expect(button).to_be_hidden()
    await save_screenshot(page, "inbox-desktop-notifications")
    focus = await context.new_cdp_session(page)
    # Playwright tells every page it has the focus; let Chromium say which one really has.
    await focus.send("Emulation.setFocusEmulationEnabled", {"enabled": False})
    other = await context.new_page()
    await other.goto("about:blank")
    await other.bring_to_front()
    assert not await page.evaluate("document.hasFocus()")
    await hub.ingest(InboundMessage("sms", "1", Address("phone", "+491701"), "Where is it?"))
    await hub.ingest(InboundMessage("sms", "2", Address("phone", "+491701"), "Hello?"))
    await expect(page).to_have_title("(2) Inbox")
    shown = await page.evaluate("window.__shown")
    assert shown == [{"title": "+491701", "body": "New message"}] * 2
    await other.close()
    await page.bring_to_front()
    await expect(page).to_have_title("Inbox")


async def test_no_count_while_the_agent_is_looking(
    hub: Hub, server: TestServer, page: Page, maria: int
):
    await open_inbox(page, server)
    await hub.ingest(InboundMessage("sms", "1", Address("phone", "+491701"), "Hi"))
    await expect(page.get_by_test_id("conversation-item")).to_have_count(1)
    await expect(page).to_have_title("Inbox")
    assert await page.evaluate("window.__shown") == []


async def test_settings_section_saves_and_links_telegram(
    hub: Hub, server: TestServer, page: Page, maria: int
):
    await open_inbox(page, server)
    await page.goto(url(server, "/account"))
    await page.get_by_test_id("notify-channel").select_option("email")
    await expect(page.get_by_test_id("notify-via")).to_have_value("mail")
    await page.get_by_test_id("notify-address").fill("maria.private@example.net")
    await page.locator("#notify-form input[name=backup_message]").uncheck()
    await page.get_by_test_id("notify-text").select_option("first_line")
    await page.get_by_test_id("notify-save").click()
    await expect(page.get_by_test_id("notify-saved")).to_have_text("Saved.")
    await page.reload()
    await expect(page.get_by_test_id("notify-address")).to_have_value("maria.private@example.net")
    await expect(page.locator("#notify-form input[name=backup_message]")).not_to_be_checked()
    await expect(page.get_by_test_id("notify-text")).to_have_value("first_line")
    await save_screenshot(page, "account-notifications")
    await page.get_by_test_id("notify-channel").select_option("telegram")
    await page.get_by_test_id("notify-link").click()
    deep_link = page.get_by_test_id("notify-deep-link")
    await expect(deep_link).to_be_visible()
    href = await deep_link.get_attribute("href")
    assert href is not None
    assert href.startswith(f"https://t.me/{BOT_USER['username']}?start=")
    await expect(page.get_by_test_id("notify-link-help")).to_contain_text("/start ")


async def test_a_refused_setting_is_explained(hub: Hub, server: TestServer, page: Page, maria: int):
    await open_inbox(page, server)
    await page.goto(url(server, "/account"))
    await page.get_by_test_id("notify-channel").select_option("email")
    await page.get_by_test_id("notify-address").fill("not an address")
    await page.get_by_test_id("notify-save").click()
    await expect(page.get_by_test_id("notify-error")).to_contain_text("address")
