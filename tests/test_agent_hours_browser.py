"""Agents' own hours and absences in a real Chromium: the account page and the admin console.

The hub's clock stands on Saturday 7 March 2026, 10:00 in London; the browser sits in London.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestServer
from playwright.async_api import BrowserContext, Locator, Page, expect
from sqlalchemy import select

from hub.app import Hub
from hub.contact import AGENT_SCOPE, read_hours
from hub.db.schema import agent_absences
from tests import test_admin_browser as console
from tests.support.chromium import save_screenshot
from tests.test_admin_browser import MARIA, new_page, open_console, show, sign_in, url

# The console tests' hub (workers running, Saturday in London), people and browser.
admin_id, clock, hub, laptop = console.admin_id, console.clock, console.hub, console.laptop
maria, problems = console.maria, console.problems


async def stored_hours(hub: Hub, agent_id: int) -> dict[str, Any] | None:
    return await hub.db.read(lambda conn: read_hours(conn, AGENT_SCOPE, str(agent_id)))


async def stored_absences(hub: Hub, agent_id: int) -> list[tuple[str, datetime, datetime]]:
    return await hub.db.read(
        lambda conn: [
            (r.reason, r.starts_at, r.ends_at)
            for r in conn.execute(
                select(agent_absences)
                .where(agent_absences.c.agent_id == agent_id)
                .order_by(agent_absences.c.id)
            )
        ]
    )


async def add_span(editor: Locator, day: str, opens: str, closes: str) -> None:
    await editor.get_by_test_id(f"span-add-{day}").click()
    span = editor.get_by_test_id(f"weekday-{day}").get_by_test_id("span").last
    await span.get_by_test_id("span-from").fill(opens)
    await span.get_by_test_id("span-to").fill(closes)


async def add_absence(editor: Locator, reason: str, first: str, last: str) -> None:
    await editor.get_by_test_id("absence-reason").select_option(reason)
    await editor.get_by_test_id("absence-from").fill(first)
    await editor.get_by_test_id("absence-to").fill(last)
    await editor.get_by_test_id("absence-add").click()


async def test_an_agent_sets_their_own_split_hours_and_absences(
    hub: Hub, server: TestServer, laptop: BrowserContext, problems: list[str], maria: int
):
    page: Page = await new_page(laptop, problems)
    await page.goto(url(server, "/"))
    await sign_in(page, server, MARIA)
    await page.goto(url(server, "/account"))
    mine = page.get_by_test_id("my-hours")
    await expect(mine).to_be_visible()
    await expect(mine.get_by_test_id("agent-hours-none")).to_be_checked()
    await expect(mine.get_by_test_id("absences")).to_have_text("No absences planned.")

    await mine.get_by_test_id("agent-hours-none").uncheck()
    await mine.get_by_test_id("calendar-zone").fill("Europe/Berlin")
    for day in ("mon", "tue", "wed", "thu", "fri"):
        await add_span(mine, day, "08:00", "12:00")
        await add_span(mine, day, "14:00", "18:00")
    await mine.get_by_test_id("agent-hours-save").click()
    await expect(mine.get_by_test_id("agent-hours-saved")).to_have_text("Saved.")
    hours = await stored_hours(hub, maria)
    assert hours is not None
    assert hours["zone"] == "Europe/Berlin"
    assert hours["weekly"]["wed"] == ["08:00-12:00", "14:00-18:00"]

    await add_absence(mine, "holiday", "2026-03-12", "2026-03-11")
    await expect(mine.get_by_test_id("absence-problems")).to_have_text(
        "to_date: is before from_date"
    )
    await add_absence(mine, "holiday", "2026-03-11", "2026-03-11")
    await expect(mine.get_by_test_id("absence")).to_have_count(1)
    await expect(mine.get_by_test_id("absence-problems")).to_be_empty()
    await expect(mine.get_by_test_id("absence")).to_contain_text("11 Mar 2026")
    await mine.get_by_test_id("absence-sick-today").click()
    await expect(mine.get_by_test_id("absence")).to_have_count(2)
    await expect(mine.get_by_test_id("absence").first).to_contain_text("sick")
    assert await stored_absences(hub, maria) == [
        ("holiday", datetime(2026, 3, 10, 23, tzinfo=UTC), datetime(2026, 3, 11, 23, tzinfo=UTC)),
        ("sick", datetime(2026, 3, 6, 23, tzinfo=UTC), datetime(2026, 3, 7, 23, tzinfo=UTC)),
    ], "days in the zone of her hours; sick today is Saturday in Berlin"
    await save_screenshot(page, "account-hours")

    await mine.get_by_test_id("absence").first.get_by_test_id("absence-remove").click()
    await expect(mine.get_by_test_id("absence")).to_have_count(1)
    assert [reason for reason, *_ in await stored_absences(hub, maria)] == ["holiday"]


async def test_an_admin_edits_an_agents_hours_and_absences_in_the_console(
    hub: Hub,
    server: TestServer,
    laptop: BrowserContext,
    problems: list[str],
    admin_id: int,
    maria: int,
):
    page = await new_page(laptop, problems)
    await open_console(page, server, "agents")
    agents = await show(page, "agents")
    card = agents.get_by_test_id("agent").filter(has=page.locator("p.email", has_text=MARIA))
    await card.get_by_test_id("agent-hours-open").click()
    panel = page.get_by_test_id("agent-hours")
    await expect(panel.locator("h3").first).to_have_text("Hours and absences: Maria")
    await expect(panel.get_by_test_id("agent-hours-none")).to_be_checked()

    await panel.get_by_test_id("agent-hours-none").uncheck()
    await panel.get_by_test_id("calendar-zone").fill("Mars/Olympus")
    await panel.get_by_test_id("office-preset").click()
    await panel.get_by_test_id("agent-hours-save").click()
    await expect(panel.get_by_test_id("agent-hours-problems")).to_contain_text("hours.zone")
    zone = panel.get_by_test_id("calendar-zone")
    await expect(zone).to_have_attribute("aria-invalid", "true")
    assert await stored_hours(hub, maria) is None

    await zone.fill("Europe/London")
    await panel.get_by_test_id("agent-hours-save").click()
    await expect(panel.get_by_test_id("agent-hours-saved")).to_have_text("Saved.")
    await expect(zone).not_to_have_attribute("aria-invalid", "true")
    hours = await stored_hours(hub, maria)
    assert hours is not None
    assert hours["weekly"]["mon"] == ["09:00-17:00"]

    await add_absence(panel, "holiday", "2026-03-16", "2026-03-20")
    await expect(panel.get_by_test_id("absence")).to_contain_text("holiday")
    assert await stored_absences(hub, maria) == [
        ("holiday", datetime(2026, 3, 16, tzinfo=UTC), datetime(2026, 3, 21, tzinfo=UTC))
    ]
    await save_screenshot(page, "admin-agent-hours")

    await panel.get_by_test_id("agent-hours-close").click()
    await expect(panel).to_be_hidden()
    await expect(page.get_by_test_id("agent-hours-none")).to_have_count(0)
