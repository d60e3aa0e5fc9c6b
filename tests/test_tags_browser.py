"""Tags in real Chromium: an agent tags a conversation from its header, the list shows the
chips and filters by tag, an admin's rename reaches the open inbox live, and the console's
Tags section creates, renames, recolours and deletes them. Names with markup stay text."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Locator, Page, expect
from sqlalchemy import select

from hub.app import Hub
from hub.db.schema import audit_log
from hub.tags import create_tag, update_tag
from hub.team import update_agent
from tests.support.chromium import page_without_script_errors, save_screenshot
from tests.support.hubs import add_agent
from tests.support.messages import chat
from tests.test_admin_browser import ADMIN, open_console
from tests.test_inbox_browser import XSS, conversation_item, open_inbox

DOCS_SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
LAPTOP = {"width": 1280, "height": 760}


@pytest.fixture
async def context(chromium_browser) -> AsyncIterator[BrowserContext]:
    context = await chromium_browser.new_context(
        viewport=LAPTOP, timezone_id="Europe/London", locale="en-GB"
    )
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    async with page_without_script_errors(context) as page:
        yield page


@pytest.fixture
async def admin_id(hub: Hub) -> int:
    """Ada, an admin who is away, so customers go to Maria."""
    agent_id = await add_agent(hub, ADMIN, role="admin", name="Ada")
    await hub.db.write(partial(update_agent, agent_id, agent_id, {"away": True}))
    return agent_id


@pytest.fixture
async def maria(hub: Hub, admin_id: int) -> int:
    return await add_agent(hub, "maria@example.com", name="Maria")


async def add(hub: Hub, admin_id: int, name: str, colour: str) -> dict[str, Any]:
    return await hub.db.write(partial(create_tag, admin_id, name, colour))


def chips(where: Locator) -> Locator:
    return where.get_by_test_id("tag-chip")


def names(where: Locator) -> Locator:
    """The names on the chips (without the header's remove buttons)."""
    return chips(where).locator(".tag-name")


async def colour_of(chip: Locator) -> str:
    return await chip.evaluate("c => c.style.getPropertyValue('--tag-colour')")


async def keep_screenshot(page: Page, name: str) -> None:
    shutil.copyfile(await save_screenshot(page, name), DOCS_SCREENSHOTS / f"{name}.png")


async def test_tagging_a_conversation_the_list_chips_and_the_tag_filter(
    hub: Hub, server: TestServer, page: Page, maria: int, admin_id: int, browser_factory
):
    vip = await add(hub, admin_id, "VIP", "#D62728")
    await add(hub, admin_id, "billing", "#1f77b4")
    odd = await add(hub, admin_id, XSS, "#2ca02c")
    lena = await hub.ingest(chat("v1", "1", "Where is my parcel?", sender_name="Lena"))
    omar = await hub.ingest(chat("v2", "2", "Can I change my invoice?", sender_name="Omar"))
    await open_inbox(page, server)
    await conversation_item(page, lena.conversation_id).click()
    header = page.get_by_test_id("conversation-tags")
    await expect(page.get_by_test_id("customer-name")).to_have_text("Lena")
    await expect(chips(header)).to_have_count(0)

    menu = page.get_by_test_id("tag-add")
    await menu.select_option(label="VIP")
    await expect(names(header)).to_have_text(["VIP"])
    await menu.select_option(label="billing")
    await expect(names(header)).to_have_text(["billing", "VIP"])
    assert await colour_of(chips(header).nth(1)) == "#d62728"
    assert await menu.locator("option").all_text_contents() == ["Add tag…", XSS]
    listed = chips(conversation_item(page, lena.conversation_id))
    await expect(listed.locator(".tag-name")).to_have_text(["billing", "VIP"])
    await expect(chips(conversation_item(page, omar.conversation_id))).to_have_count(0)
    await keep_screenshot(page, "tags")

    await menu.select_option(label=XSS)
    await expect(names(header)).to_have_text([XSS, "billing", "VIP"])
    await expect(menu).to_be_disabled()
    await page.get_by_role("button", name="Remove tag billing").click()
    await expect(names(header)).to_have_text([XSS, "VIP"])
    await page.get_by_role("button", name="Remove tag VIP").click()
    await expect(names(header)).to_have_text([XSS])
    await expect(listed.locator(".tag-name")).to_have_text([XSS])

    tag_filter = page.get_by_test_id("tag-filter")
    await tag_filter.select_option(label=XSS)
    items = page.get_by_test_id("conversation-item")
    await expect(items).to_have_count(1)
    await expect(items).to_have_attribute("data-conversation-id", str(lena.conversation_id))
    await tag_filter.select_option(label="VIP")
    await expect(items).to_have_count(0)
    await tag_filter.select_option(label="Every tag")
    await expect(items).to_have_count(2)

    # Someone else tags the open conversation: the header and the list follow, live.
    ada = await (await browser_factory()).login(ADMIN)
    await ada.call("PUT", f"/api/conversations/{lena.conversation_id}/tags/{vip['id']}", expect=200)
    await expect(names(header)).to_have_text([XSS, "VIP"])
    await expect(listed.locator(".tag-name")).to_have_text([XSS, "VIP"])
    await ada.call(
        "DELETE", f"/api/conversations/{lena.conversation_id}/tags/{vip['id']}", expect=200
    )
    await expect(names(header)).to_have_text([XSS])

    # An admin renames and recolours a tag: the open inbox follows, live.
    await hub.db.write(partial(update_tag, admin_id, odd["id"], "Urgent", "#ff7f0e"))
    await expect(names(header)).to_have_text(["Urgent"])
    assert await colour_of(chips(header).first) == "#ff7f0e"
    await expect(listed.locator(".tag-name")).to_have_text(["Urgent"])
    await expect(tag_filter.locator("option")).to_have_text(
        ["Every tag", "billing", "Urgent", "VIP"]
    )
    assert await page.evaluate("window.pwned") is None
    assert vip["colour"] == "#d62728", "stored in lower case"


async def test_the_console_tags_section(
    hub: Hub, server: TestServer, page: Page, maria: int, admin_id: int
):
    await open_console(page, server, "tags")
    section = page.get_by_test_id("tags-section")
    cards = section.get_by_test_id("tag")
    for name, colour in (("VIP", "#d62728"), ("billing", "#1f77b4"), (XSS, "#9467bd")):
        await section.get_by_test_id("tag-add-name").fill(name)
        await section.get_by_test_id("tag-add-colour").fill(colour)
        await section.get_by_test_id("tag-add").click()
        await expect(section.get_by_test_id("tag-add-name")).to_have_value("")
    await expect(names(cards)).to_have_text([XSS, "billing", "VIP"])

    await section.get_by_test_id("tag-add-name").fill("vip")
    await section.get_by_test_id("tag-add").click()
    await expect(section.get_by_test_id("tag-add-error")).to_contain_text("already exists")
    await expect(cards).to_have_count(3)
    await section.get_by_test_id("tag-add-name").fill("x" * 41)
    assert len(await section.get_by_test_id("tag-add-name").input_value()) == 40, "maxlength"

    vip_card = cards.filter(has=page.get_by_text("VIP", exact=True))
    await vip_card.get_by_test_id("tag-name").fill("Key account")
    await vip_card.get_by_test_id("tag-colour").fill("#2ca02c")
    await vip_card.get_by_test_id("tag-save").click()
    await expect(names(cards)).to_have_text([XSS, "billing", "Key account"])
    renamed = chips(cards).nth(2)
    assert await colour_of(renamed) == "#2ca02c"

    billing_card = cards.filter(has=page.get_by_text("billing", exact=True))
    await billing_card.get_by_test_id("tag-name").fill("Key Account")
    await billing_card.get_by_test_id("tag-save").click()
    await expect(billing_card.get_by_test_id("tag-error")).to_contain_text("already exists")

    page.once("dialog", lambda dialog: dialog.dismiss())
    await page.get_by_role("button", name=f"Delete tag {XSS}").click()
    await expect(cards).to_have_count(3)
    page.once("dialog", lambda dialog: dialog.accept())
    await page.get_by_role("button", name=f"Delete tag {XSS}").click()
    await expect(names(cards)).to_have_text(["billing", "Key account"])
    await section.get_by_test_id("tag-add-name").fill("")
    await expect(section.get_by_test_id("tag-add-error")).to_be_hidden()
    await keep_screenshot(page, "admin-tags")

    actions = await hub.db.read(
        lambda conn: (
            conn.execute(
                select(audit_log.c.action)
                .where(audit_log.c.subject_type == "tag")
                .order_by(audit_log.c.id)
            )
            .scalars()
            .all()
        )
    )
    assert actions == ["tag.created"] * 3 + ["tag.updated", "tag.deleted"]
    assert await page.evaluate("window.pwned") is None
