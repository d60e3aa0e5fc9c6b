"""Agreed contact hours end to end: holds, honest auto-replies, release, quiet hours, SLA."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import select

from config import Settings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.db.schema import events, messages
from hub.outbox import MAX_IN_FLIGHT
from hub.outbox_claims import claim_due
from tests.conftest import ENVIRON
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, queue_reply, started_hub
from tests.support.peers import RecordingPeer
from tests.support.waiting import until

WEEKDAYS_9_TO_5 = {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
LONDON_OFFICE = {"zone": "Europe/London", "weekly": WEEKDAYS_9_TO_5}
SATURDAY = datetime(2026, 3, 7, 10, 0, tzinfo=UTC)
MONDAY_9_LONDON = datetime(2026, 3, 9, 9, 0, tzinfo=UTC)


def contact_settings(database_url: str, callback_url: str, **overrides: object) -> Settings:
    data: dict[str, object] = {
        "database": {"url": database_url},
        "hours": LONDON_OFFICE,
        "channels": [
            {"kind": "webchat", "name": "webchat"},
            {
                "kind": "api",
                "name": "sms",
                "token_env": "SMS_TOKEN",
                "identity_kind": "phone",
                "callback_url": callback_url,
            },
        ],
        **overrides,
    }
    return Settings.model_validate(data, context={"environ": ENVIRON})


@pytest.fixture
async def peer() -> AsyncIterator[RecordingPeer]:
    async with RecordingPeer() as peer:
        yield peer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SATURDAY)


@pytest.fixture
async def hub(database_url, clock, peer) -> AsyncIterator[Hub]:
    """The hub under test (also behind ``server`` and ``browser_factory``): a London hub."""
    async with started_hub(contact_settings(database_url, peer.url("/sms")), clock) as hub:
        yield hub


def sms(external_id: str, text: str, automated: bool = False) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        external_id=external_id,
        sender=Address("phone", "+447700900123"),
        sender_name="Lena",
        text=text,
        automated=automated,
    )


async def stored(hub: Hub, message_id: int) -> dict:
    row = await hub.db.read(
        lambda conn: conn.execute(select(messages).where(messages.c.id == message_id)).one()
    )
    return row._asdict()


async def told_to(hub: Hub, agent_id: int) -> list[str]:
    """The texts of the new-message events an agent has been sent, in order."""
    rows = await hub.db.read(
        lambda conn: conn.execute(
            select(events.c.payload)
            .where(events.c.agent_id == agent_id, events.c.kind == "message.created")
            .order_by(events.c.id)
        ).all()
    )
    return [row.payload["message"]["text"] for row in rows]


async def test_weekend_message_is_held_answered_once_and_released_monday_in_order(
    hub: Hub, clock: FakeClock, peer: RecordingPeer, browser_factory
):
    maria = await add_agent(hub, "maria@example.com", name="Maria")
    first = await hub.ingest(sms("s1", "Is my order shipped?"))
    clock.advance(hours=3)
    second = await hub.ingest(sms("s2", "Also, can I change the address?"))

    for result in (first, second):
        held = await stored(hub, result.message_id)
        assert (held["state"], held["release_at"]) == ("held", MONDAY_9_LONDON)
    assert await told_to(hub, maria) == []
    browser = await (await browser_factory()).login("maria@example.com")
    waiting = await browser.get("/api/held")
    assert [(h["text"], h["release_at"]) for h in waiting] == [
        ("Is my order shipped?", MONDAY_9_LONDON.isoformat()),
        ("Also, can I change the address?", MONDAY_9_LONDON.isoformat()),
    ]
    (summary,) = await browser.get("/api/conversations")
    assert summary["unread_count"] == 0

    await hub.outbox.run_due()
    assert [r.json()["text"] for r in peer.received] == [
        "Thanks for your message; it is saved. Maria will reply here at 09:00 Monday, London Time."
    ]

    clock.set(MONDAY_9_LONDON - timedelta(minutes=1))
    assert await hub.holds.release_due() == 0
    clock.set(MONDAY_9_LONDON)
    assert await hub.holds.release_due() == 2
    assert await hub.holds.release_due() == 0
    assert await told_to(hub, maria) == [
        "Is my order shipped?",
        "Also, can I change the address?",
    ]
    assert (await stored(hub, second.message_id))["state"] == "received"
    browser = await (await browser_factory()).login("maria@example.com")
    (summary,) = await browser.get("/api/conversations")
    assert summary["unread_count"] == 2
    assert await browser.get("/api/held") == []


async def test_customer_is_told_the_opening_in_their_own_zone(
    hub: Hub, peer: RecordingPeer, browser_factory
):
    await add_agent(hub, "maria@example.com", name="Maria")
    first = await hub.ingest(sms("s1", "hello"))
    browser = await (await browser_factory()).login("maria@example.com")
    new_york_mornings = {"zone": "America/New_York", "weekly": WEEKDAYS_9_TO_5}
    await browser.call(
        "PUT",
        f"/api/customers/{first.customer_id}/contact-hours",
        {"hours": new_york_mornings},
        expect=200,
    )
    await hub.ingest(sms("s2", "still there?"))
    await hub.outbox.run_due()
    texts = [r.json()["text"] for r in peer.received]
    assert len(texts) == 2, "a new held period (new release time) gets its own auto-reply"
    assert "09:00 Monday" in texts[0]
    assert "09:00 Monday" in texts[1]
    second = await stored(hub, (await hub.ingest(sms("s3", "x"))).message_id)
    assert second["release_at"] == datetime(2026, 3, 9, 13, 0, tzinfo=UTC), "09:00 in New York"


async def test_an_auto_reply_leaves_within_2_s_with_the_workers_running(
    database_url, clock: FakeClock, peer: RecordingPeer
):
    """Queuing the auto-reply during ingest wakes the outbox: it does not wait for its 60 s pass."""
    settings = contact_settings(database_url, peer.url("/sms"))
    async with started_hub(settings, clock, run_workers=True) as hub:
        await add_agent(hub, "maria@example.com", name="Maria")  # the outbox's first pass is done
        started = asyncio.get_running_loop().time()
        await hub.ingest(sms("s1", "Is my order shipped?"))
        await until(lambda: bool(peer.received), "the auto-reply reaches the customer", 2.0)
        assert asyncio.get_running_loop().time() - started < 2.0
    assert [r.json()["text"] for r in peer.received] == [
        "Thanks for your message; it is saved. Maria will reply here at 09:00 Monday, London Time."
    ]


async def test_a_sent_auto_reply_keeps_its_mark_and_the_inbox_shows_it_automatic(
    hub: Hub, peer: RecordingPeer, browser_factory
):
    maria = await add_agent(hub, "maria@example.com", name="Maria")
    held = await hub.ingest(sms("s1", "Is my order shipped?"))
    await queue_reply(hub, maria, held.conversation_id, "Written on a Saturday")
    assert await hub.outbox.run_due() == 2

    browser = await (await browser_factory()).login("maria@example.com")
    detail = await browser.get(f"/api/conversations/{held.conversation_id}")
    replies = [m for m in detail["messages"] if m["direction"] == "out"]
    automatic, written = (m["meta"] for m in replies)
    assert automatic == {"autoreply": True, "answers": held.message_id, "delivery_id": "peer-1"}
    assert written == {"delivery_id": "peer-1"}
    assert [(m["state"], m["automatic"]) for m in replies] == [("sent", True), ("sent", False)]


async def test_no_auto_reply_to_automated_senders(hub: Hub, peer: RecordingPeer):
    await add_agent(hub, "maria@example.com")
    result = await hub.ingest(sms("bot-1", "Out of office: back Monday", automated=True))
    assert (await stored(hub, result.message_id))["state"] == "held"
    await hub.outbox.run_due()
    assert peer.received == []


async def test_holds_survive_a_restart_and_release_on_start(
    database_url, clock: FakeClock, peer: RecordingPeer
):
    settings = contact_settings(database_url, peer.url("/sms"))
    hub = Hub(settings, clock)
    await hub.start(run_workers=False)
    maria = await add_agent(hub, "maria@example.com")
    result = await hub.ingest(sms("s1", "weekend question"))
    await hub.stop()

    clock.set(MONDAY_9_LONDON + timedelta(hours=2))
    again = Hub(settings, clock)
    await again.start(run_workers=False)
    try:
        assert (await stored(again, result.message_id))["state"] == "received"
        assert await told_to(again, maria) == ["weekend question"]
    finally:
        await again.stop()


async def test_public_holiday_closes_a_weekday(database_url, peer: RecordingPeer):
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
    hours = {**LONDON_OFFICE, "holidays": {"country": "GB", "subdivision": "ENG"}}
    hub = Hub(contact_settings(database_url, peer.url("/sms"), hours=hours), FakeClock(christmas))
    await hub.start(run_workers=False)
    try:
        await add_agent(hub, "maria@example.com")
        result = await hub.ingest(sms("xmas", "Merry Christmas, where is my parcel?"))
        held = await stored(hub, result.message_id)
        # Friday 25th is Christmas, Monday 28th the Boxing Day holiday in lieu.
        assert (held["state"], held["release_at"]) == (
            "held",
            datetime(2026, 12, 29, 9, 0, tzinfo=UTC),
        )
    finally:
        await hub.stop()


async def test_opening_the_hours_now_releases_held_messages_early(hub: Hub, browser_factory):
    maria = await add_agent(hub, "maria@example.com")
    await add_agent(hub, "admin@example.com", role="admin")
    await hub.ingest(sms("s1", "anyone?"))
    admin = await (await browser_factory()).login("admin@example.com")
    every_day = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    await admin.call(
        "PUT",
        "/api/admin/hours",
        {"hours": {"zone": "Europe/London", "weekly": every_day}},
        expect=200,
    )
    assert await hub.holds.release_due() == 1
    assert await told_to(hub, maria) == ["anyone?"]


async def test_never_hold_channel_and_always_reachable_customer_are_delivered_at_once(
    hub: Hub, browser_factory
):
    maria = await add_agent(hub, "maria@example.com")
    await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    await admin.call("PUT", "/api/admin/channels/sms/rules", {"never_hold": True}, expect=200)
    first = await hub.ingest(sms("s1", "urgent"))
    assert (await stored(hub, first.message_id))["state"] == "received"

    await admin.call("PUT", "/api/admin/channels/sms/rules", {"never_hold": False}, expect=200)
    await admin.call(
        "PUT",
        f"/api/customers/{first.customer_id}/contact-hours",
        {"hours": None, "always_reachable": True},
        expect=200,
    )
    second = await hub.ingest(sms("s2", "also urgent"))
    assert (await stored(hub, second.message_id))["state"] == "received"
    assert await told_to(hub, maria) == ["urgent", "also urgent"]


async def test_reply_outside_the_customers_hours_is_scheduled_then_sent_now_or_cancelled(
    hub: Hub, clock: FakeClock, peer: RecordingPeer, browser_factory
):
    tuesday_23_new_york = datetime(2026, 3, 11, 3, 0, tzinfo=UTC)
    await add_agent(hub, "maria@example.com")
    clock.set(datetime(2026, 3, 10, 14, 0, tzinfo=UTC))
    result = await hub.ingest(sms("s1", "Please call me back"))
    browser = await (await browser_factory()).login("maria@example.com")
    await browser.call(
        "PUT",
        f"/api/customers/{result.customer_id}/contact-hours",
        {"hours": {"zone": "America/New_York", "weekly": WEEKDAYS_9_TO_5}},
        expect=200,
    )
    clock.set(tuesday_23_new_york)
    browser = await (await browser_factory()).login("maria@example.com")
    conversation = f"/api/conversations/{result.conversation_id}"
    first = await browser.post(f"{conversation}/replies", {"text": "Tomorrow at ten?"}, expect=202)
    wednesday_9_new_york = datetime(2026, 3, 11, 13, 0, tzinfo=UTC)
    assert (first["state"], first["release_at"]) == ("scheduled", wednesday_9_new_york.isoformat())
    await hub.outbox.run_due()
    assert peer.received == []

    edited = await browser.patch(f"/api/messages/{first['id']}", {"text": "Tomorrow at 10:30?"})
    assert edited["text"] == "Tomorrow at 10:30?"
    sent_now = await browser.post(f"/api/messages/{first['id']}/send-now", expect=200)
    assert sent_now["state"] == "queued"
    await hub.outbox.run_due()
    assert [r.json()["text"] for r in peer.received] == ["Tomorrow at 10:30?"]

    second = await browser.post(f"{conversation}/replies", {"text": "Never mind"}, expect=202)
    cancelled = await browser.post(f"/api/messages/{second['id']}/cancel", expect=200)
    assert cancelled["state"] == "cancelled"
    clock.set(wednesday_9_new_york + timedelta(hours=1))
    await hub.outbox.run_due()
    assert len(peer.received) == 1
    assert (await stored(hub, second["id"]))["state"] == "cancelled"
    status, body = await browser.call("POST", f"/api/messages/{second['id']}/send-now")
    assert status == 409
    assert "cancelled" in body["error"]


async def answer_within(browser, minutes: int) -> None:
    await browser.call(
        "PUT", "/api/admin/channels/sms/rules", {"first_response_minutes": minutes}, expect=200
    )


async def test_reply_due_time_counts_business_hours_only(
    hub: Hub, clock: FakeClock, browser_factory
):
    await add_agent(hub, "maria@example.com")
    await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    await answer_within(admin, 60)
    clock.set(datetime(2026, 3, 6, 16, 30, tzinfo=UTC))
    admin = await (await browser_factory()).login("admin@example.com")
    await hub.ingest(sms("f1", "before the weekend"))
    (summary,) = await admin.get("/api/conversations?scope=all")
    assert summary["reply_due_at"] == datetime(2026, 3, 9, 9, 30, tzinfo=UTC).isoformat()
    clock.set(datetime(2026, 3, 9, 9, 29, tzinfo=UTC))
    admin = await (await browser_factory()).login("admin@example.com")
    assert (await admin.get("/api/admin/overdue"))["overdue"] == []
    clock.set(datetime(2026, 3, 9, 9, 31, tzinfo=UTC))
    overdue = (await admin.get("/api/admin/overdue"))["overdue"]
    assert [c["conversation_id"] for c in overdue] == [summary["id"]]


async def test_message_held_over_the_weekend_is_not_overdue_at_monday_0901(
    hub: Hub, clock: FakeClock, browser_factory
):
    await add_agent(hub, "maria@example.com")
    await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    await answer_within(admin, 30)
    await hub.ingest(sms("w1", "saturday message"))
    clock.set(MONDAY_9_LONDON)
    await hub.holds.release_due()
    clock.set(MONDAY_9_LONDON + timedelta(minutes=1))
    admin = await (await browser_factory()).login("admin@example.com")
    assert (await admin.get("/api/admin/overdue"))["overdue"] == []
    (summary,) = await admin.get("/api/conversations?scope=all")
    assert summary["reply_due_at"] == (MONDAY_9_LONDON + timedelta(minutes=30)).isoformat()


async def test_admin_hours_are_validated_with_every_problem_named(hub: Hub, browser_factory):
    await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    bad = {
        "zone": "Mars/Olympus",
        "weekly": {
            "mon": ["09:00-12:00", "11:00-13:00"],
            "tue": ["17:00-08:00"],
            "fri": ["9 to 5"],
        },
        "exceptions": {"2026-02-30": []},
    }
    status, body = await admin.call("PUT", "/api/admin/hours", {"hours": bad})
    assert status == 422
    problems = {p["field"]: p["reason"] for p in body["problems"]}
    assert problems["hours.zone"].startswith("unknown time zone")
    assert problems["hours.weekly.mon.1"] == "overlaps 09:00-12:00"
    assert "mark it overnight" in problems["hours.weekly.tue.0"]
    assert "hours.weekly.fri.0" in problems
    assert any(field.startswith("hours.exceptions") for field in problems)
    unchanged = {"hours": {**LONDON_OFFICE, "exceptions": {}}}
    assert await admin.get("/api/admin/hours") == unchanged, "nothing was changed"

    night_shift = {
        "zone": "Europe/London",
        "weekly": {"fri": [{"span": "22:00-06:00", "overnight": True}]},
    }
    saved = await admin.call("PUT", "/api/admin/hours", {"hours": night_shift}, expect=200)
    assert saved[1]["hours"]["weekly"]["fri"] == [{"span": "22:00-06:00", "overnight": True}]


async def test_channel_rules_are_validated(hub: Hub, browser_factory):
    await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    rules = "/api/admin/channels/sms/rules"
    status, body = await admin.call(
        "PUT", rules, {"autoreply_template": "Back {until}", "first_response_minutes": 0}
    )
    assert status == 422
    problems = {p["field"]: p["reason"] for p in body["problems"]}
    assert "unknown placeholder {until}" in problems["autoreply_template"]
    assert "first_response_minutes" in problems
    status, body = await admin.call("PUT", "/api/admin/channels/fax/rules", {"never_hold": True})
    assert (status, body["error"]) == (404, "channel 'fax' is not configured")
    saved = await admin.call(
        "PUT", rules, {"autoreply_template": "Back at {opens}", "next_response_minutes": 240}
    )
    assert saved[0] == 200
    assert (await admin.get(rules))["autoreply_template"] == "Back at {opens}"


async def test_agents_set_hours_only_for_customers_they_serve(hub: Hub, browser_factory):
    await add_agent(hub, "maria@example.com")
    result = await hub.ingest(sms("s1", "hello"))
    await add_agent(hub, "tom@example.com")
    tom = await (await browser_factory()).login("tom@example.com")
    status, _ = await tom.call(
        "PUT", f"/api/customers/{result.customer_id}/contact-hours", {"hours": None}
    )
    assert status == 403


async def test_after_a_reply_the_next_message_gets_the_next_response_target(
    hub: Hub, clock: FakeClock, browser_factory
):
    await add_agent(hub, "maria@example.com")
    await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    await admin.call(
        "PUT",
        "/api/admin/channels/sms/rules",
        {"first_response_minutes": 30, "next_response_minutes": 120},
        expect=200,
    )
    clock.set(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    first = await hub.ingest(sms("t1", "question"))
    maria = await (await browser_factory()).login("maria@example.com")
    conversation = f"/api/conversations/{first.conversation_id}"
    assert (await maria.get(conversation))["reply_due_at"] == "2026-03-10T10:30:00+00:00"
    await maria.post(f"{conversation}/replies", {"text": "answer"}, expect=202)
    assert (await maria.get(conversation))["reply_due_at"] is None
    clock.set(datetime(2026, 3, 10, 16, 0, tzinfo=UTC))
    await hub.ingest(sms("t2", "follow-up"))
    # 120 business minutes from 16:00: one hour today, one from 09:00 tomorrow.
    assert (await maria.get(conversation))["reply_due_at"] == "2026-03-11T10:00:00+00:00"


async def new_york_customer_at_night(hub: Hub, clock: FakeClock, browser_factory):
    """A customer with New York office hours, and Maria signed in at 23:00 their time."""
    await add_agent(hub, "maria@example.com")
    clock.set(datetime(2026, 3, 10, 14, 0, tzinfo=UTC))
    result = await hub.ingest(sms("n1", "Please call me back"))
    maria = await (await browser_factory()).login("maria@example.com")
    await maria.call(
        "PUT",
        f"/api/customers/{result.customer_id}/contact-hours",
        {"hours": {"zone": "America/New_York", "weekly": WEEKDAYS_9_TO_5}},
        expect=200,
    )
    clock.set(datetime(2026, 3, 11, 3, 0, tzinfo=UTC))
    maria = await (await browser_factory()).login("maria@example.com")
    return result, maria, f"/api/conversations/{result.conversation_id}"


async def test_a_reply_the_outbox_has_taken_can_no_longer_be_cancelled_or_edited(
    hub: Hub, clock: FakeClock, browser_factory
):
    _, maria, conversation = await new_york_customer_at_night(hub, clock, browser_factory)
    reply = await maria.post(f"{conversation}/replies", {"text": "Morning!"}, expect=202)
    clock.set(datetime.fromisoformat(reply["release_at"]))
    maria = await (await browser_factory()).login("maria@example.com")
    claimed = await hub.db.write(partial(claim_due, timedelta(minutes=2), MAX_IN_FLIGHT))
    assert [c.message.message_id for c in claimed] == [reply["id"]]
    for method, path, body in (
        ("POST", f"/api/messages/{reply['id']}/cancel", None),
        ("PATCH", f"/api/messages/{reply['id']}", {"text": "changed"}),
    ):
        status, answer = await maria.call(method, path, body)
        assert status == 409, answer
        assert "being sent" in answer["error"]


async def test_send_now_is_not_held_back_by_an_earlier_scheduled_reply(
    hub: Hub, clock: FakeClock, peer: RecordingPeer, browser_factory
):
    _, maria, conversation = await new_york_customer_at_night(hub, clock, browser_factory)
    await maria.post(f"{conversation}/replies", {"text": "See you tomorrow"}, expect=202)
    urgent = await maria.post(f"{conversation}/replies", {"text": "Urgent: call now"}, expect=202)
    await maria.post(f"/api/messages/{urgent['id']}/send-now", expect=200)
    await hub.outbox.run_due()
    assert [r.json()["text"] for r in peer.received] == ["Urgent: call now"]


async def test_cancelling_the_only_reply_makes_the_answer_due_again(
    hub: Hub, clock: FakeClock, browser_factory
):
    await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    await admin.patch("/api/me/status", {"away": True}, expect=200)
    await admin.call(
        "PUT", "/api/admin/channels/sms/rules", {"first_response_minutes": 30}, expect=200
    )
    _, maria, conversation = await new_york_customer_at_night(hub, clock, browser_factory)
    due_before = (await maria.get(conversation))["reply_due_at"]
    assert due_before is not None
    reply = await maria.post(f"{conversation}/replies", {"text": "Tomorrow"}, expect=202)
    assert (await maria.get(conversation))["reply_due_at"] is None
    await maria.post(f"/api/messages/{reply['id']}/cancel", expect=200)
    assert (await maria.get(conversation))["reply_due_at"] == due_before


async def test_changing_the_customers_hours_moves_their_scheduled_replies(
    hub: Hub, clock: FakeClock, peer: RecordingPeer, browser_factory
):
    result, maria, conversation = await new_york_customer_at_night(hub, clock, browser_factory)
    reply = await maria.post(f"{conversation}/replies", {"text": "Done!"}, expect=202)
    assert reply["state"] == "scheduled"
    await maria.call(
        "PUT",
        f"/api/customers/{result.customer_id}/contact-hours",
        {"hours": None, "always_reachable": True},
        expect=200,
    )
    await hub.outbox.run_due()
    assert [r.json()["text"] for r in peer.received] == ["Done!"]
    assert (await stored(hub, reply["id"]))["state"] == "sent"
