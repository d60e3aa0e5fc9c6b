"""Agents' own hours and absences across a week: who handles each message, and long absences."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
from sqlalchemy import select

from config import Settings
from hub.absences import AbsenceRequest, add_absence
from hub.app import Hub
from hub.db.schema import agent_absences, audit_log, conversations, customers, events
from hub.team import update_agent
from tests.conftest import make_settings
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, started_hub
from tests.support.messages import chat

BERLIN = "Europe/Berlin"  # UTC+1 in March 2026 (summer time starts on the 29th)
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
SPLIT_DAY = {"zone": BERLIN, "weekly": {d: ["08:00-12:00", "14:00-18:00"] for d in WORKDAYS}}
LATE_DAY = {"zone": BERLIN, "weekly": {d: ["10:00-20:00"] for d in WORKDAYS}}
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment in the week of Monday 2 March 2026, given in Berlin time (day 0: Monday)."""
    return MONDAY + timedelta(days=day, hours=hour - 1, minutes=minute)


def week_settings(database_url: str, **overrides: object) -> Settings:
    return make_settings(database_url, auth={"session_hours": 24 * 30}, **overrides)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(berlin(0, 7))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return week_settings(database_url, absences={"hand_over_after_days": 3})


@pytest.fixture
async def hub(settings: Settings, clock: FakeClock) -> AsyncIterator[Hub]:
    async with started_hub(settings, clock) as hub:
        yield hub


@pytest.fixture
async def team(hub: Hub, browser_factory) -> dict[str, Any]:
    """Tom (created first, so plain turn-taking would pick him) and Maria, Tom her backup."""
    admin_id = await add_agent(hub, "admin@example.com", role="admin")
    tom = await add_agent(hub, "tom@example.com")
    maria = await add_agent(hub, "maria@example.com")
    admin = await (await browser_factory()).login("admin@example.com")
    await admin.patch(f"/api/admin/agents/{admin_id}", {"away": True}, expect=200)
    await admin.patch(f"/api/admin/agents/{maria}", {"backup_id": tom}, expect=200)
    await admin.call("PUT", f"/api/admin/agents/{tom}/hours", {"hours": LATE_DAY}, expect=200)
    me = await (await browser_factory()).login("maria@example.com")
    await me.call("PUT", "/api/me/hours", {"hours": SPLIT_DAY}, expect=200)
    return {"admin": admin, "maria_browser": me, "tom": tom, "maria": maria}


async def owner_and_assignee(hub: Hub, customer_id: int) -> tuple[int | None, int | None]:
    def load(conn: Any) -> tuple[int | None, int | None]:
        row = conn.execute(
            select(customers.c.owner_id, conversations.c.assignee_id)
            .join(conversations, conversations.c.customer_id == customers.c.id)
            .where(customers.c.id == customer_id, conversations.c.state == "open")
        ).one()
        return row.owner_id, row.assignee_id

    return await hub.db.read(load)


async def audience(hub: Hub, message_id: int) -> set[int | None]:
    """Who was told of a customer's message (one ``message.created`` event each)."""

    def load(conn: Any) -> set[int | None]:
        rows = conn.execute(
            select(events.c.agent_id, events.c.payload).where(events.c.kind == "message.created")
        ).all()
        return {r.agent_id for r in rows if r.payload["message"]["id"] == message_id}

    return await hub.db.read(load)


async def audits(hub: Hub, action: str) -> list[Any]:
    return await hub.db.read(
        lambda conn: conn.execute(
            select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.id)
        ).all()
    )


async def test_who_handles_across_a_week_of_split_hours_and_a_wednesday_off(
    hub: Hub, clock: FakeClock, team
):
    maria, tom = team["maria"], team["tom"]
    await team["maria_browser"].post(
        "/api/me/absences",
        {"reason": "holiday", "from_date": "2026-03-04", "to_date": "2026-03-04"},
        expect=201,
    )
    moments = [
        (berlin(0, 8, 30), maria, maria, "Monday morning: only Maria works; she gets the customer"),
        (berlin(0, 12, 30), maria, tom, "Maria's lunch: her backup Tom handles"),
        (berlin(0, 14, 30), maria, maria, "Maria is back: the next message goes to her"),
        (berlin(1, 7), maria, None, "Tuesday 7:00: nobody works, the message waits for Maria"),
        (berlin(2, 9), maria, None, "Wednesday, Maria off, Tom not in yet: it waits for Maria"),
        (berlin(2, 10, 30), maria, tom, "Wednesday, Maria off: Tom handles"),
        (berlin(3, 8, 30), maria, maria, "Thursday: Maria is back and handles again"),
    ]
    customer_id = None
    for number, (moment, owner, handler, why) in enumerate(moments):
        clock.set(moment)
        result = await hub.ingest(chat("lena", str(number)))
        customer_id = result.customer_id
        assert await owner_and_assignee(hub, customer_id) == (owner, handler), why
        told = {a for a in (owner, handler) if a}
        assert await audience(hub, result.message_id) == told, why


async def test_first_contact_prefers_agents_inside_their_hours(hub: Hub, clock: FakeClock, team):
    clock.set(berlin(0, 8, 30))
    early = await hub.ingest(chat("early", "1"))
    assert (await owner_and_assignee(hub, early.customer_id))[0] == team["maria"]
    await team["maria_browser"].post("/api/me/absences", {"reason": "sick"}, expect=201)
    clock.set(berlin(0, 10, 30))
    sick_day = await hub.ingest(chat("sick-day", "2"))
    assert await owner_and_assignee(hub, sick_day.customer_id) == (team["tom"], team["tom"])
    clock.set(berlin(0, 19))
    evening = await hub.ingest(chat("evening", "3"))
    assert (await owner_and_assignee(hub, evening.customer_id))[0] == team["tom"]


async def test_an_absence_reroutes_open_conversations_at_once_and_removing_it_undoes_that(
    hub: Hub, clock: FakeClock, team
):
    clock.set(berlin(0, 8, 30))
    first = await hub.ingest(chat("lena", "1"))
    clock.set(berlin(0, 15))
    assert await owner_and_assignee(hub, first.customer_id) == (team["maria"], team["maria"])
    me = team["maria_browser"]
    sick = await me.post("/api/me/absences", {"reason": "sick"}, expect=201)
    assert sick["starts_at"] == "2026-03-01T23:00:00+00:00", "today, from midnight in Berlin"
    assert sick["ends_at"] == "2026-03-02T23:00:00+00:00"
    assert await owner_and_assignee(hub, first.customer_id) == (team["maria"], team["tom"])
    assert [a["id"] for a in await me.get("/api/me/absences")] == [sick["id"]]
    await me.call("DELETE", f"/api/me/absences/{sick['id']}", expect=204)
    assert await owner_and_assignee(hub, first.customer_id) == (team["maria"], team["maria"])
    assert await me.get("/api/me/absences") == []
    added, removed = await audits(hub, "absence.added"), await audits(hub, "absence.removed")
    assert [(a.actor_id, a.subject_id) for a in added + removed] == [(team["maria"],) * 2] * 2
    updates = await hub.db.read(
        lambda conn: conn.execute(
            select(events.c.payload).where(events.c.kind == "agent.updated")
        ).all()
    )
    assert sum(1 for (p,) in updates if p["id"] == team["maria"]) >= 3, "hours, added, removed"


async def test_admin_edits_an_agents_hours_and_absences(hub: Hub, team):
    admin, maria = team["admin"], team["maria"]
    path = f"/api/admin/agents/{maria}"
    assert (await admin.get(path + "/hours"))["hours"]["zone"] == BERLIN
    absence = await admin.post(
        path + "/absences",
        {
            "reason": "other",
            "starts_at": "2026-03-05T09:00:00+00:00",
            "ends_at": "2026-03-05T11:00:00Z",
        },
        expect=201,
    )
    assert (absence["reason"], absence["created_by"]) == ("other", admin.agent["id"])
    assert await admin.get(path + "/absences") == [absence]
    await admin.call("DELETE", path + "/hours", expect=200)
    assert (await admin.get(path + "/hours"))["hours"] is None
    changes = await audits(hub, "agent.hours_changed")
    assert changes[-1].details["after"] is None
    assert changes[-1].details["before"]["zone"] == BERLIN
    await admin.call("DELETE", path + f"/absences/{absence['id'] + 1}", expect=404)
    me = team["maria_browser"]
    status, _ = await me.call("GET", path + "/absences")
    assert status == 403, "agents edit only their own"
    await admin.get("/api/admin/agents/999/hours", expect=404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "holiday", "from_date": "2026-03-05", "to_date": "2026-03-04"}, "to_date"),
        ({"reason": "holiday", "to_date": "2026-03-04"}, "from_date"),
        ({"reason": "nap"}, "reason"),
        ({"reason": "other", "starts_at": "2026-03-05T09:00:00Z"}, "ends_at"),
        (
            {
                "reason": "other",
                "starts_at": "2026-03-05T09:00:00Z",
                "ends_at": "2026-03-05T08:00Z",
            },
            "ends_at",
        ),
        ({"reason": "other", "starts_at": "2026-03-05T09:00:00"}, "starts_at"),
        (
            {"reason": "sick", "from_date": "2026-03-05", "starts_at": "2026-03-05T09:00Z"},
            "starts_at",
        ),
        ({"reason": "holiday", "from_date": "2026-03-01", "to_date": "2027-12-01"}, "to_date"),
    ],
)
async def test_a_wrong_absence_is_refused_naming_the_field(hub: Hub, team, body, field):
    status, answer = await team["maria_browser"].call("POST", "/api/me/absences", body)
    assert status == 422
    assert [p["field"] for p in answer["problems"]] == [field], answer
    assert await team["maria_browser"].get("/api/me/absences") == []


async def test_wrong_hours_are_refused_naming_the_field(hub: Hub, team):
    status, answer = await team["maria_browser"].call(
        "PUT", "/api/me/hours", {"hours": {"zone": "Mars/Olympus", "weekly": {}}}
    )
    assert status == 422
    assert "hours.zone" in [p["field"] for p in answer["problems"]], answer
    assert (await team["maria_browser"].get("/api/me/hours"))["hours"]["zone"] == BERLIN


async def test_the_openapi_document_lists_both_forms(hub: Hub, team):
    document = await team["admin"].get("/api/openapi.json")
    admin_hours = document["paths"]["/api/admin/agents/{agent_id}/hours"]
    assert set(admin_hours) == {"get", "put", "delete"}
    assert document["paths"]["/api/me/absences"]["post"]["operationId"] == "my_new_absence"
    ids = {
        op["operationId"]
        for path, ops in document["paths"].items()
        for op in ops.values()
        if (path.endswith(("/hours", "/absences", "/absences/{absence_id}")) and "/agents/" in path)
        or path.startswith("/api/me/")
    }
    assert len(ids) >= 12, "one name each for the admin's and the agent's own six"


async def holding(hub: Hub, *customer_ids: int) -> list[tuple[int | None, int | None]]:
    return [await owner_and_assignee(hub, customer_id) for customer_id in customer_ids]


async def absence_marks(hub: Hub) -> list[tuple[datetime | None, datetime | None]]:
    return await hub.db.read(
        lambda conn: [
            tuple(r)
            for r in conn.execute(
                select(agent_absences.c.handed_over_at, agent_absences.c.handed_back_at).order_by(
                    agent_absences.c.id
                )
            )
        ]
    )


async def test_a_long_absence_hands_conversations_over_and_back_once(
    hub: Hub, clock: FakeClock, team
):
    maria, tom = team["maria"], team["tom"]
    clock.set(berlin(0, 9))
    a = (await hub.ingest(chat("a", "1"))).customer_id
    b = (await hub.ingest(chat("b", "2"))).customer_id
    assert await holding(hub, a, b) == [(maria, maria), (maria, maria)]
    me = team["maria_browser"]
    short = {"reason": "holiday", "from_date": "2026-03-04", "to_date": "2026-03-05"}
    await me.post("/api/me/absences", short, expect=201)
    await me.post(
        "/api/me/absences",
        {"reason": "holiday", "from_date": "2026-03-09", "to_date": "2026-03-13"},
        expect=201,
    )
    assert await hub.handover.run_pass() == 0
    assert await hub.handover.next_due() == berlin(7, 0), "the long absence's start"

    clock.set(berlin(2, 12))
    assert await hub.handover.run_pass() == 0, "two days off hand nothing over"
    assert await holding(hub, a, b) == [(maria, maria), (maria, maria)]

    clock.set(berlin(7, 0, 1))
    assert await hub.handover.run_pass() == 1
    assert await holding(hub, a, b) == [(maria, tom), (maria, tom)], "Tom covers, Maria owns"
    assert await hub.handover.run_pass() == 0, "once"
    [over] = await audits(hub, "absence.handed_over")
    assert over.subject_id == maria
    assert over.details["moved"] == {str(c): tom for c in await conversation_ids(hub, a, b)}
    assert await hub.handover.next_due() == berlin(12, 0), "the absence's end"

    clock.set(berlin(8, 11))
    again = await hub.ingest(chat("a", "3"))
    assert await owner_and_assignee(hub, again.customer_id) == (maria, tom)
    clock.set(berlin(8, 21))
    late = await hub.ingest(chat("b", "4"))
    assert await owner_and_assignee(hub, late.customer_id) == (maria, tom), (
        "after Tom's hours he keeps what was handed over, until Maria is back"
    )

    clock.set(berlin(12, 0, 1))
    assert await hub.handover.run_pass() == 1
    assert await holding(hub, a, b) == [(maria, maria), (maria, maria)]
    assert await hub.handover.run_pass() == 0, "once"
    [back] = await audits(hub, "absence.handed_back")
    assert back.details["moved"] == {str(c): maria for c in await conversation_ids(hub, a, b)}
    marks = await absence_marks(hub)
    assert marks == [(None, None), (berlin(7, 0, 1), berlin(12, 0, 1))]
    assert await hub.handover.next_due() is None


async def conversation_ids(hub: Hub, *customer_ids: int) -> list[int]:
    return await hub.db.read(
        lambda conn: list(
            conn.execute(
                select(conversations.c.id)
                .where(
                    conversations.c.customer_id.in_(customer_ids),
                    conversations.c.state == "open",
                )
                .order_by(conversations.c.id)
            ).scalars()
        )
    )


async def test_removing_a_handed_over_absence_hands_back_at_once(hub: Hub, clock: FakeClock, team):
    maria, tom = team["maria"], team["tom"]
    clock.set(berlin(0, 9))
    a = (await hub.ingest(chat("a", "1"))).customer_id
    absence = await team["admin"].post(
        f"/api/admin/agents/{maria}/absences",
        {"reason": "sick", "from_date": "2026-03-02", "to_date": "2026-03-10"},
        expect=201,
    )
    assert await holding(hub, a) == [(maria, None)], "it waits: Tom starts at 10:00"
    assert await hub.handover.run_pass() == 1
    assert await holding(hub, a) == [(maria, tom)], "the hand-over ignores Tom's hours"
    await team["admin"].call(
        "DELETE", f"/api/admin/agents/{maria}/absences/{absence['id']}", expect=204
    )
    assert await holding(hub, a) == [(maria, maria)]
    assert len(await audits(hub, "absence.handed_back")) == 1
    assert await hub.handover.run_pass() == 0


async def test_without_the_setting_nothing_is_handed_over(database_url: str, clock: FakeClock):
    async with started_hub(week_settings(database_url), clock) as hub:
        maria = await add_agent(hub, "maria@example.com")
        tom = await add_agent(hub, "tom@example.com")
        await hub.db.write(partial(update_agent, maria, maria, {"backup_id": tom}))
        nine_days = AbsenceRequest(
            "holiday", starts_at=clock.now() + timedelta(hours=1), ends_at=berlin(9, 0)
        )
        await hub.db.write(partial(add_absence, maria, maria, nine_days))
        assert await hub.handover.next_due() is None
        clock.advance(days=1)
        assert await hub.handover.run_pass() == 0
