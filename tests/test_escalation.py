"""Escalation end to end on the injected clock: due soon tells the handler once, overdue the
backup and the admins once; held time and hours closed for the customer never count."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import select

from config.schema import HoursSettings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.contact import AGENT_SCOPE, write_hours
from hub.db.schema import agent_notices, conversations, events
from tests.conftest import make_settings
from tests.support.clock import FakeClock
from tests.support.hubs import Browser, add_agent, started_hub
from tests.support.waiting import until

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
LONDON_9_TO_5 = {"zone": "Europe/London", "weekly": {day: ["09:00-17:00"] for day in WEEKDAYS}}
LONDON_9_TO_8 = {"zone": "Europe/London", "weekly": {day: ["09:00-20:00"] for day in WEEKDAYS}}
MONDAY_0900 = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)  # London is on UTC until 29 March


@pytest.fixture
async def team(hub: Hub, browser_factory) -> dict[str, Browser]:
    """Ada and Ivo (admins, Ivo deactivated), Maria (owner) and Tom (the customer's backup)."""
    for email, role in (
        ("ada@example.com", "admin"),
        ("ivo@example.com", "admin"),
        ("maria@example.com", "agent"),
        ("tom@example.com", "agent"),
    ):
        await add_agent(hub, email, role=role)
    people = {
        name: await (await browser_factory()).login(f"{name}@example.com")
        for name in ("ada", "maria", "tom")
    }
    ivo = (await people["ada"].get("/api/admin/agents"))[1]
    await people["ada"].patch(f"/api/admin/agents/{ivo['id']}", {"active": False}, expect=200)
    await people["ada"].call(
        "PUT",
        "/api/admin/channels/sms/rules",
        {"first_response_minutes": 60, "next_response_minutes": 60},
        expect=200,
    )
    return people


def sms(external_id: str, text: str = "where is my parcel?") -> InboundMessage:
    return InboundMessage(
        channel="sms",
        external_id=external_id,
        sender=Address("phone", "+447700900123"),
        sender_name="Lena",
        text=text,
    )


async def first_message(hub: Hub, team: dict[str, Browser], external_id: str = "m1") -> int:
    """Lena writes; Maria owns her, Tom is her backup. The conversation's id."""
    started = await hub.ingest(sms(external_id))
    await team["ada"].patch(
        f"/api/admin/customers/{started.customer_id}",
        {"owner_id": team["maria"].agent["id"], "backup_id": team["tom"].agent["id"]},
        expect=200,
    )
    return started.conversation_id


async def notices(hub: Hub) -> list[tuple[str, int]]:
    """Every queued notice as (kind, agent id), oldest first."""

    def load(conn) -> list[tuple[str, int]]:
        query = select(agent_notices.c.kind, agent_notices.c.agent_id).order_by(agent_notices.c.id)
        return [tuple(row) for row in conn.execute(query)]

    return await hub.db.read(load)


async def escalation_events(hub: Hub) -> list[tuple[str, int | None]]:
    def load(conn) -> list[tuple[str, int | None]]:
        query = (
            select(events.c.kind, events.c.agent_id)
            .where(events.c.kind.like("conversation.%"), events.c.kind != "conversation.assigned")
            .order_by(events.c.id)
        )
        return [tuple(row) for row in conn.execute(query)]

    return await hub.db.read(load)


async def sign_in_again(team: dict[str, Browser]) -> None:
    """After the clock jumped days: sessions last hours."""
    for name, browser in team.items():
        await browser.login(f"{name}@example.com")


def ids(team: dict[str, Browser], *names: str) -> list[int]:
    return [team[name].agent["id"] for name in names]


async def test_due_soon_tells_the_handler_and_overdue_the_backup_and_admins_once_each(
    hub: Hub, clock: FakeClock, team
):
    maria, tom, ada = ids(team, "maria", "tom", "ada")
    conversation_id = await first_message(hub, team)
    clock.advance(minutes=29)
    assert await hub.escalations.check() == 0
    assert await hub.escalations.next_check() == clock.now() + timedelta(minutes=1)

    clock.advance(minutes=1)
    assert await hub.escalations.check() == 1
    assert await hub.escalations.check() == 0, "told once"
    assert await notices(hub) == [("due_soon", maria)]
    assert await escalation_events(hub) == [("conversation.due_soon", maria)]
    assert await hub.escalations.next_check() == clock.now() + timedelta(minutes=30)

    clock.advance(minutes=30)
    assert await hub.escalations.check() == 1
    assert await hub.escalations.check() == 0, "told once"
    assert await notices(hub) == [("due_soon", maria), ("overdue", tom), ("overdue", ada)]
    assert ("conversation.overdue", tom) in await escalation_events(hub)
    assert await hub.escalations.next_check() is None
    conversation = await team["maria"].get(f"/api/conversations/{conversation_id}")
    assert conversation["reply_due_at"] == clock.now().isoformat()


async def test_a_reply_resets_the_markers_so_the_next_message_escalates_again(
    hub: Hub, clock: FakeClock, team
):
    maria = team["maria"]
    conversation_id = await first_message(hub, team)
    clock.advance(minutes=61)
    assert await hub.escalations.check() == 2, "a late check tells both stages"
    await maria.post(
        f"/api/conversations/{conversation_id}/replies", {"text": "Sorry!"}, expect=202
    )

    def markers(conn) -> tuple:
        return conn.execute(
            select(conversations.c.due_soon_notified_at, conversations.c.overdue_notified_at)
        ).one()

    assert tuple(await hub.db.read(markers)) == (None, None)
    clock.advance(minutes=5)
    await hub.ingest(sms("m2", "still nothing"))
    clock.advance(minutes=30)
    assert await hub.escalations.check() == 1
    clock.advance(minutes=30)
    assert await hub.escalations.check() == 1
    assert [kind for kind, _ in await notices(hub)] == ["due_soon", "overdue", "overdue"] * 2


async def test_resolving_without_a_reply_owes_nothing_and_the_next_message_escalates_anew(
    hub: Hub, clock: FakeClock, team
):
    maria = team["maria"]
    conversation_id = await first_message(hub, team)
    clock.advance(minutes=61)
    assert await hub.escalations.check() == 2
    await maria.post(f"/api/conversations/{conversation_id}/resolve", expect=200)
    conversation = await maria.get(f"/api/conversations/{conversation_id}")
    assert conversation["reply_due_at"] is None, "a resolved conversation is owed nothing"
    clock.advance(hours=1)
    again = await hub.ingest(sms("m2", "one more question"))
    conversation = await maria.get(f"/api/conversations/{again.conversation_id}")
    assert conversation["reply_due_at"] == (clock.now() + timedelta(minutes=60)).isoformat()
    clock.advance(minutes=30)
    assert await hub.escalations.check() == 1, "due soon again, for the new message"
    clock.advance(minutes=30)
    assert await hub.escalations.check() == 1
    assert [kind for kind, _ in await notices(hub)] == ["due_soon", "overdue", "overdue"] * 2


async def test_held_time_never_counts(hub: Hub, clock: FakeClock, team):
    """A message held overnight is owed a reply from its release, not from its arrival."""
    maria, tom, ada = ids(team, "maria", "tom", "ada")
    await team["ada"].call("PUT", "/api/admin/hours", {"hours": LONDON_9_TO_5}, expect=200)
    clock.set(MONDAY_0900 - timedelta(hours=12))
    await sign_in_again(team)
    await first_message(hub, team)
    clock.set(MONDAY_0900 - timedelta(minutes=1))
    assert await hub.escalations.check() == 0
    assert await hub.escalations.next_check() is None, "held: owed nothing yet"

    clock.set(MONDAY_0900)
    assert await hub.holds.release_due() == 1
    clock.set(MONDAY_0900 + timedelta(minutes=29))
    assert await hub.escalations.check() == 0
    clock.set(MONDAY_0900 + timedelta(minutes=30))
    assert await hub.escalations.check() == 1
    clock.set(MONDAY_0900 + timedelta(minutes=60))
    assert await hub.escalations.check() == 1
    assert await notices(hub) == [("due_soon", maria), ("overdue", tom), ("overdue", ada)]


async def test_the_owners_evening_counts_only_while_the_customers_hours_are_open(
    hub: Hub, clock: FakeClock, team
):
    maria, tom, ada = ids(team, "maria", "tom", "ada")
    conversation_id = await first_message(hub, team)
    await team["maria"].post(
        f"/api/conversations/{conversation_id}/replies", {"text": "Hi"}, expect=202
    )
    customer_id = (await team["maria"].get(f"/api/conversations/{conversation_id}"))["customer"][
        "id"
    ]
    await set_hours(hub, team, customer_id, lena=LONDON_9_TO_5)

    clock.set(MONDAY_0900 + timedelta(hours=7, minutes=50))  # 16:50, both open
    await sign_in_again(team)
    await hub.ingest(sms("m2", "one more thing"))
    clock.set(MONDAY_0900 + timedelta(hours=12))  # 21:00: Maria off, Lena's hours closed
    assert await hub.escalations.check() == 0
    clock.set(MONDAY_0900 + timedelta(days=1, minutes=19))  # Tuesday 09:19
    assert await hub.escalations.check() == 0
    clock.set(MONDAY_0900 + timedelta(days=1, minutes=20))
    assert await hub.escalations.check() == 1
    assert await notices(hub) == [("due_soon", maria)]
    await sign_in_again(team)

    await team["maria"].post(
        f"/api/conversations/{conversation_id}/replies", {"text": "Ok"}, expect=202
    )
    await set_hours(hub, team, customer_id, lena=LONDON_9_TO_8)
    clock.set(MONDAY_0900 + timedelta(days=1, hours=8, minutes=30))  # Tuesday 17:30, Maria off
    await hub.ingest(sms("m3", "and the invoice?"))
    clock.set(MONDAY_0900 + timedelta(days=1, hours=9))  # 18:00
    assert await hub.escalations.check() == 1
    clock.set(MONDAY_0900 + timedelta(days=1, hours=9, minutes=30))  # 18:30, Lena's hours open
    assert await hub.escalations.check() == 1
    assert await notices(hub) == [
        ("due_soon", maria),
        ("due_soon", tom),
        ("overdue", tom),
        ("overdue", ada),
    ], "Tom handles while Maria is off: he hears it is due soon, then that it is overdue"


async def set_hours(hub: Hub, team: dict[str, Browser], customer_id: int, lena: dict) -> None:
    """Lena's agreed hours as given; Maria works 9 to 5 in London."""
    await team["maria"].call(
        "PUT", f"/api/customers/{customer_id}/contact-hours", {"hours": lena}, expect=200
    )
    maria = str(ids(team, "maria")[0])
    hours = HoursSettings.model_validate(LONDON_9_TO_5)
    await hub.db.write(partial(write_hours, scope=AGENT_SCOPE, subject=maria, hours=hours))


async def test_the_worker_tells_at_once_and_sleeps_until_the_next_stage(
    hub: Hub, clock: FakeClock, team
):
    await first_message(hub, team)
    clock.advance(minutes=45)
    worker = asyncio.create_task(hub.escalations.run())
    try:
        await until(lambda: _told(hub, 1), "the due-soon notice")
        assert await hub.escalations.next_check() == clock.now() + timedelta(minutes=15)
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker


async def _told(hub: Hub, count: int) -> bool:
    return len(await notices(hub)) == count


async def test_the_inbox_marks_and_filters_and_admins_get_the_report(
    hub: Hub, clock: FakeClock, team
):
    maria, ada = team["maria"], team["ada"]
    conversation_id = await first_message(hub, team)
    (row,) = await maria.get("/api/conversations")
    assert row["escalation"] is None
    assert await maria.get("/api/conversations?state=due_soon") == []

    clock.advance(minutes=30)
    await hub.escalations.check()
    (row,) = await maria.get("/api/conversations")
    assert row["escalation"] == "due_soon"
    assert [c["id"] for c in await maria.get("/api/conversations?state=due_soon")] == [
        conversation_id
    ]
    assert await maria.get("/api/conversations?state=overdue") == []
    report = await ada.get("/api/admin/overdue")
    assert report["overdue"] == []
    (soon,) = report["due_soon"]
    assert soon["late_seconds"] == -30 * 60
    assert soon["customer"]["name"] == "Lena"
    assert (soon["handler"]["name"], soon["owner"]["name"], soon["backup"]["name"]) == (
        "Maria",
        "Maria",
        "Tom",
    )

    clock.advance(minutes=40)
    (row,) = await maria.get("/api/conversations")
    assert row["escalation"] == "overdue", "by the hub's clock, before any check"
    assert await maria.get("/api/conversations?state=due_soon") == []
    assert [c["id"] for c in await maria.get("/api/conversations?state=overdue")] == [
        conversation_id
    ]
    await hub.escalations.check()
    report = await ada.get("/api/admin/overdue")
    assert report["now"] == clock.now().isoformat()
    (late,) = report["overdue"]
    assert (late["conversation_id"], late["late_seconds"]) == (conversation_id, 10 * 60)
    assert late["overdue_notified_at"] == clock.now().isoformat()
    await maria.call("GET", "/api/admin/overdue", expect=403)

    await maria.post(f"/api/conversations/{conversation_id}/replies", {"text": "Hi"}, expect=202)
    (row,) = await maria.get("/api/conversations")
    assert row["escalation"] is None
    assert await ada.get("/api/admin/overdue") == {
        "now": clock.now().isoformat(),
        "overdue": [],
        "due_soon": [],
    }


async def test_the_report_is_described_in_the_openapi_document(team):
    document = await team["ada"].get("/api/openapi.json")
    success = document["paths"]["/api/admin/overdue"]["get"]["responses"]["200"]
    schema = success["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/OverdueReport"}
    item = document["components"]["schemas"]["EscalatedConversation"]
    assert {"customer", "handler", "owner", "reply_due_at", "late_seconds"} <= set(
        item["properties"]
    )


async def test_a_running_hub_checks_by_itself_in_one_process(database_url: str, clock: FakeClock):
    """The check is leader work started with the hub: here a restart finds a reply due soon
    (the lead is as long as the target, so at once) and tells the handler."""
    settings = make_settings(
        database_url, sla={"first_response_minutes": 60, "due_soon_lead_minutes": 60}
    )
    async with started_hub(settings, clock) as hub:
        maria = await add_agent(hub, "maria@example.com")
        await hub.ingest(sms("m1"))
        assert await notices(hub) == []
    async with started_hub(settings, clock, run_workers=True) as hub:
        await until(lambda: _told(hub, 1), "the due-soon notice from the hub's own worker")
        assert await notices(hub) == [("due_soon", maria)]
