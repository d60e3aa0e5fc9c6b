"""The reports page in real Chromium: every report drawn with data from the stored week of
tests/test_reports.py (an admin's and an agent's view), with screenshots for the docs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Page, expect

from hub.api.reports import ROWS
from hub.app import Hub
from tests.support.chromium import page_without_script_errors, save_screenshot
from tests.support.clock import FakeClock
from tests.support.hubs import PASSWORD
from tests.test_reports import week  # noqa: F401  (the fixture)

CHARTS = (
    "chart-responses-owner",
    "chart-responses-week",
    "chart-sla",
    "chart-autoreplies",
    "chart-continuity",
    "chart-load",
    "chart-satisfaction",
    "chart-tags",
)


@pytest.fixture
async def context(chromium_browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await chromium_browser.new_context(
        timezone_id="Europe/Berlin", locale="en-GB", viewport={"width": 1280, "height": 900}
    )
    try:
        yield context
    finally:
        await context.close()


@pytest.fixture
async def page(context: BrowserContext, clock: FakeClock, week) -> AsyncIterator[Page]:  # noqa: F811
    """A page whose clock is the hub's once the week is stored (Tuesday 31 March 2026)."""
    async with page_without_script_errors(context) as page:
        await page.clock.set_fixed_time(clock.now())
        yield page


async def open_reports(page: Page, server: TestServer, email: str) -> None:
    signed_in = await page.request.post(
        str(server.make_url("/api/login")), data={"email": email, "password": PASSWORD}
    )
    assert signed_in.ok
    await page.goto(str(server.make_url("/reports")))
    for name in ROWS:
        await expect(page.locator(f'section[data-report="{name}"]')).to_have_attribute(
            "data-loaded", "true"
        )


async def charted_points(page: Page, canvas: str) -> int:
    return await page.evaluate(
        """(id) => {
            const chart = window.Chart.getChart(document.getElementById(id));
            return chart ? chart.data.datasets.reduce((n, set) => n + set.data.length, 0) : -1;
        }""",
        canvas,
    )


async def test_an_admin_sees_every_report_drawn(hub: Hub, server: TestServer, page: Page):
    await open_reports(page, server, "ada@x.org")
    await expect(page.get_by_test_id("report-scope")).to_have_text("Everyone's customers")
    await expect(page.get_by_test_id("report-zone")).to_have_value("Europe/Berlin")
    responses = page.get_by_test_id("report-responses")
    await expect(responses.locator("table.rows")).to_contain_text("Maria")
    await expect(responses.locator("table.rows")).to_contain_text("2 h 0 min")
    await expect(page.get_by_test_id("report-sla").locator("table.rows")).to_contain_text("50")
    saturday_noon = page.get_by_test_id("heatmap").locator("tbody tr").nth(5).locator("td").nth(12)
    await expect(saturday_noon).to_have_text("1")
    for canvas in CHARTS:
        assert await charted_points(page, canvas) > 0, canvas
    csv = page.get_by_test_id("report-load").locator("a.csv")
    await expect(csv).to_have_attribute("href", "/api/reports/load.csv?" + await query(page))
    await expect(page.get_by_text("What these figures count")).to_be_visible()
    await save_screenshot(page, "reports")


async def test_an_agent_sees_their_own_customers_only(hub: Hub, server: TestServer, page: Page):
    await open_reports(page, server, "maria@x.org")
    await expect(page.get_by_test_id("report-scope")).to_have_text("Your customers")
    await expect(page.get_by_test_id("report-responses")).to_contain_text("Maria")
    await expect(page.locator("main")).not_to_contain_text("Tom")
    await expect(page.get_by_test_id("heatmap").locator("td:not(:empty)")).to_have_count(0)
    await save_screenshot(page, "reports-agent")


async def query(page: Page) -> str:
    return await page.evaluate(
        """() => new URLSearchParams({
            zone: document.getElementById("zone").value,
            from: document.getElementById("from").value,
            to: document.getElementById("to").value,
        }).toString()"""
    )
