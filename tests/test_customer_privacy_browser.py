"""Export and erasure in the admin console, in a real Chromium: the zip downloads, and a
customer is deleted only once the admin has typed their name."""

from __future__ import annotations

import json
import zipfile
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, expect

from hub.app import Hub
from tests.support.chromium import page_without_script_errors, save_screenshot
from tests.support.privacy import LENA_TEXTS, Story, hub, tell_story
from tests.test_admin_browser import open_console

__all__ = ["hub"]


@pytest.fixture
async def story(hub: Hub, browser_factory: Any) -> Story:
    return await tell_story(hub, browser_factory)


async def test_admin_exports_then_deletes_a_customer_after_typing_their_name(
    hub: Hub, server: TestServer, story: Story, context: BrowserContext
):
    async with page_without_script_errors(context) as page:
        await page.set_viewport_size({"width": 1100, "height": 800})
        await open_console(page, server, "customers")
        section = page.get_by_test_id("customers-section")
        await section.get_by_test_id("customer-query").fill("Lena")
        await section.get_by_test_id("customer-search").click()
        cards = section.get_by_test_id("customer")
        await expect(cards).to_have_count(1)
        lena = cards.first

        async with page.expect_download() as download_info:
            await lena.get_by_test_id("customer-export").click()
        download = await download_info.value
        assert download.suggested_filename == f"customer-{story.lena_id}.zip"
        with zipfile.ZipFile(await download.path()) as archive:
            assert json.loads(archive.read("customer.json"))["name"] == "Lena Fischer"
            (conversation,) = json.loads(archive.read("conversations.json"))
            assert conversation["messages"][0]["text"] == LENA_TEXTS[0]

        await lena.get_by_test_id("customer-delete").click()
        typed = lena.get_by_test_id("customer-delete-confirm")
        submit = lena.get_by_test_id("customer-delete-submit")
        await typed.fill("Lena")
        await expect(submit).to_be_disabled()
        await typed.fill("Lena Fischer")
        await expect(submit).to_be_enabled()
        await save_screenshot(page, "customer-privacy")
        await submit.click()
        await expect(section.get_by_test_id("customer-result")).to_have_text(
            f"Deleted customer #{story.lena_id}: 1 conversation, 6 messages, 3 files, 3 addresses."
        )
        await expect(cards).to_have_count(0)
    status, _ = await story.admin.call("GET", f"/api/admin/customers/{story.lena_id}")
    assert status == 404
    assert (await story.admin.get(f"/api/admin/customers/{story.omar_id}"))["name"] == "Omar"
