"""Search in the inbox, in a real Chromium: hits across channels with the words marked, only
the agent's own customers, markup as text, and a hit opening its conversation."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Page, expect

from hub.app import Hub
from tests.support.chromium import page_without_script_errors, save_screenshot
from tests.test_inbox_browser import chat, open_inbox
from tests.test_inbox_views_browser import for_maria, sms, team  # noqa: F401 - the fixture

XSS = '<img src=x onerror="window.pwned=1">'


@pytest.fixture
async def page(context: BrowserContext) -> AsyncIterator[Page]:
    async with page_without_script_errors(context) as page:
        yield page


async def test_search_shows_marked_hits_of_my_customers_and_opens_the_conversation(
    hub: Hub,
    server: TestServer,
    page: Page,
    team,  # noqa: F811 - the imported fixture
):
    lena = await hub.ingest(
        chat("v-lena", "1", f"The parcel never came {XSS}", sender_name="Lena Fischer")
    )
    omar = await hub.ingest(
        sms("+447700900456", "s1", "Refund for the parcel, please", "Omar Haddad")
    )
    ida = await hub.ingest(chat("v-ida", "2", "Parcel for Tom", sender_name="Ida Svensson"))
    tom = {"owner_id": team["tom"].agent["id"]}
    await team["ada"].patch(f"/api/admin/customers/{ida.customer_id}", tom, expect=200)
    for started in (lena, omar):
        await for_maria(team, started)
    await open_inbox(page, server)

    await page.get_by_test_id("search").fill("parcel")
    hits = page.get_by_test_id("search-hit")
    await expect(hits).to_have_count(2)
    await expect(page.locator("#search-status")).to_contain_text("every channel")
    await expect(hits.first.get_by_test_id("hit-snippet").locator("mark")).to_have_text("parcel")
    lena_hit = hits.filter(has_text="Lena Fischer")
    await expect(lena_hit.get_by_test_id("hit-snippet")).to_contain_text(XSS)
    assert await page.locator("#inbox-view img").count() == 0
    await expect(hits.filter(has_text="Ida")).to_have_count(0)
    await save_screenshot(page, "search")

    await lena_hit.click()
    await expect(page.get_by_test_id("customer-name")).to_have_text("Lena Fischer")
    await expect(page.get_by_test_id("message").first).to_contain_text("The parcel never came")
    assert await page.evaluate("window.pwned") is None
