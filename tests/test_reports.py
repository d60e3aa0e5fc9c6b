"""Reports over the HTTP API from messages stored by the real ingest and reply paths, on the
injected clock across Berlin's March DST change: admins see everyone's figures, an agent
only their own customers'; every report also as CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp import ClientSession
from sqlalchemy import insert, update

from connectors.base import Address, InboundMessage
from hub.api.reports import ROWS
from hub.app import Hub
from hub.db.schema import messages, satisfaction_surveys
from tests.support.clock import FakeClock
from tests.support.hubs import Browser, add_agent

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = {
    "zone": "Europe/Berlin",
    "weekly": {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    "holidays": {"country": "DE"},
}
PERIOD = "?from=2026-03-23&to=2026-03-31&zone=Europe/Berlin"


def berlin(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=BERLIN)


def sms(external_id: str, phone: str, name: str) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        external_id=external_id,
        sender=Address("phone", phone),
        sender_name=name,
        text="where is my parcel?",
    )


async def signed_in(browser_factory, email: str) -> Browser:
    return await (await browser_factory()).login(email)


@pytest.fixture
async def week(hub: Hub, clock: FakeClock, browser_factory) -> dict[str, Browser]:
    """Lena (Maria's) writes Friday 16:00 CET and is answered Monday 10:00 CEST (2 business
    hours); Kai (Tom's) writes Saturday 12:00, is held and auto-replied, and is answered
    Monday 09:30 CEST (30 minutes). SMS replies are due in 60 minutes."""
    clock.set(berlin(2026, 3, 27, 15, 0))
    for email, role in (("ada@x.org", "admin"), ("maria@x.org", "agent"), ("tom@x.org", "agent")):
        await add_agent(hub, email, role=role)
    ada = await signed_in(browser_factory, "ada@x.org")
    await ada.call("PUT", "/api/admin/hours", {"hours": OFFICE}, expect=200)
    rules = {"first_response_minutes": 60, "next_response_minutes": 180}
    await ada.call("PUT", "/api/admin/channels/sms/rules", rules, expect=200)
    agents = {a["email"]: a["id"] for a in await ada.get("/api/admin/agents")}

    clock.set(berlin(2026, 3, 27, 16, 0))
    lena = await hub.ingest(sms("m1", "+4915100000001", "Lena"))
    clock.set(berlin(2026, 3, 28, 12, 0))
    kai = await hub.ingest(sms("m2", "+4915100000002", "Kai"))
    ada = await signed_in(browser_factory, "ada@x.org")
    for started, owner in ((lena, "maria@x.org"), (kai, "tom@x.org")):
        await ada.patch(
            f"/api/admin/customers/{started.customer_id}", {"owner_id": agents[owner]}, expect=200
        )
    for at, email, started in (
        (berlin(2026, 3, 30, 9, 30), "tom@x.org", kai),
        (berlin(2026, 3, 30, 10, 0), "maria@x.org", lena),
    ):
        clock.set(at)
        agent = await signed_in(browser_factory, email)
        path = f"/api/conversations/{started.conversation_id}/replies"
        await agent.post(path, {"text": "on its way"}, expect=202)
    clock.set(berlin(2026, 3, 31, 9, 0))
    ada = await signed_in(browser_factory, "ada@x.org")
    parcel = await ada.post("/api/admin/tags", {"name": "parcel", "colour": "#1f77b4"}, expect=201)
    path = f"/api/conversations/{lena.conversation_id}/tags/{parcel['id']}"
    await ada.call("PUT", path, expect=200)
    await answered_survey(hub, lena.conversation_id, lena.customer_id, agents["maria@x.org"])
    return {
        name: await signed_in(browser_factory, f"{name}@x.org") for name in ("ada", "maria", "tom")
    }


async def answered_survey(hub: Hub, conversation_id: int, customer_id: int, owner: int) -> None:
    """Lena was asked after Maria resolved her conversation, and gave 4 (stored as the
    satisfaction question's answer page stores it; the SMS channel does not ask itself)."""
    now = hub.clock.now()
    row = {
        "conversation_id": conversation_id,
        "customer_id": customer_id,
        "owner_id": owner,
        "channel": "sms",
        "created_at": now,
        "expires_at": now + timedelta(days=14),
        "answered_at": now,
        "score": 4,
        "comment": "quick",
    }
    await hub.db.write(lambda tx: tx.conn.execute(insert(satisfaction_surveys).values(row)))


def table(answer: dict, group: str) -> dict:
    return {
        row["key"]: (row["count"], row["median_seconds"], row["p90_seconds"])
        for row in answer["rows"]
        if row["group"] == group and row["kind"] == "first"
    }


async def test_admins_see_everyones_response_times_in_business_hours(week):
    answer = await week["ada"].get("/api/reports/responses" + PERIOD)
    maria, tom = week["maria"].agent["id"], week["tom"].agent["id"]
    assert answer["scope"] == "all"
    assert answer["start"] == "2026-03-23T00:00:00+01:00"
    assert answer["end"] == "2026-04-01T00:00:00+02:00"
    assert table(answer, "all") == {"": (2, 1800, 7200)}
    assert table(answer, "owner") == {str(maria): (1, 7200, 7200), str(tom): (1, 1800, 1800)}
    assert table(answer, "week") == {"2026-03-23": (2, 1800, 7200)}
    assert answer["agents"][str(maria)] == "Maria"


async def test_an_agent_sees_only_their_own_customers(week):
    maria = week["maria"].agent["id"]
    answer = await week["maria"].get("/api/reports/responses" + PERIOD)
    assert answer["scope"] == "mine"
    assert table(answer, "owner") == {str(maria): (1, 7200, 7200)}
    assert set(answer["agents"]) == {str(maria)}
    held = await week["maria"].get("/api/reports/held" + PERIOD)
    assert sum(row["held"] for row in held["rows"]) == 0, "Kai is Tom's"
    load = await week["maria"].get("/api/reports/load" + PERIOD)
    assert load["rows"] == [{"owner_id": maria, "open_conversations": 1, "customers": 1}]


async def test_sla_due_and_continuity(week):
    sla = await week["ada"].get("/api/reports/sla" + PERIOD)
    everyone = next(row for row in sla["rows"] if row["group"] == "all")
    assert (everyone["met"], everyone["missed"], everyone["met_percent"]) == (1, 1, 50.0)
    due = await week["ada"].get("/api/reports/due" + PERIOD)
    assert due["rows"] == []
    continuity = await week["ada"].get("/api/reports/continuity" + PERIOD)
    assert {row["owner"] for row in continuity["rows"]} == {1}
    assert {row["owner_share"] for row in continuity["rows"]} == {100.0}


async def test_held_messages_by_local_hour_and_autoreplies(week):
    held = await week["ada"].get("/api/reports/held" + PERIOD)
    assert [(r["weekday"], r["hour"]) for r in held["rows"] if r["held"]] == [(5, 12)]
    in_utc = await week["ada"].get("/api/reports/held?from=2026-03-23&to=2026-03-31")
    assert [(r["weekday"], r["hour"]) for r in in_utc["rows"] if r["held"]] == [(5, 11)]
    autoreplies = await week["ada"].get("/api/reports/autoreplies" + PERIOD)
    assert autoreplies["rows"] == [{"week": "2026-03-23", "count": 1}]


async def test_failures_by_channel_and_reason(week, hub: Hub):
    def fail(tx) -> None:
        tx.conn.execute(
            update(messages)
            .where(messages.c.direction == "out", messages.c.author_id.is_not(None))
            .values(state="failed", error="blocked by the user\nrequest 42")
        )

    await hub.db.write(fail)
    answer = await week["ada"].get("/api/reports/failures" + PERIOD)
    assert answer["rows"] == [{"channel": "sms", "reason": "blocked by the user", "count": 2}]


@pytest.mark.parametrize("name", sorted(ROWS))
async def test_every_report_as_csv_with_a_header_row(week, name):
    browser = week["ada"]
    async with browser.session.get(browser.url(f"/api/reports/{name}.csv{PERIOD}")) as response:
        assert response.status == 200
        assert response.content_type == "text/csv"
        text = await response.text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(ROWS[name][0].model_fields)
    answer = await browser.get(f"/api/reports/{name}{PERIOD}")
    assert len(rows) == 1 + len(answer["rows"])


async def test_bad_periods_and_strangers_are_refused(week, server):
    ada = week["ada"]
    status, body = await ada.call("GET", "/api/reports/sla?zone=Mars/Olympus")
    assert status == 422
    assert "zone" in body["error"]
    status, body = await ada.call("GET", "/api/reports/sla?from=2026-03-31&to=2026-03-01")
    assert status == 422
    assert body["problems"] == [
        {
            "field": "(query)",
            "reason": "from must be on or before to, at most two years apart",
        }
    ]
    async with (
        ClientSession() as stranger,
        stranger.get(str(server.make_url("/api/reports/load"))) as response,
    ):
        assert response.status == 401


async def test_satisfaction_and_tags_per_owner_and_tag(week):
    maria = week["maria"].agent["id"]
    satisfaction = await week["ada"].get("/api/reports/satisfaction" + PERIOD)
    assert satisfaction["rows"] == [
        {
            "owner_id": maria,
            "channel": "sms",
            "asked": 1,
            "answered": 1,
            "mean": 4.0,
            **{f"score_{n}": int(n == 4) for n in range(1, 6)},
        }
    ]
    tagged = await week["ada"].get("/api/reports/tags" + PERIOD)
    assert tagged["rows"] == [{"tag": "parcel", "colour": "#1f77b4", "conversations": 1, "open": 1}]
    assert (await week["maria"].get("/api/reports/tags" + PERIOD))["rows"] == tagged["rows"]
    for name in ("satisfaction", "tags"):
        assert (await week["tom"].get(f"/api/reports/{name}" + PERIOD))["rows"] == [], "Lena's"
