"""The reachable owner across one week, end to end: who handles, what the customer is told,
who is notified and when.

Maria works split hours (08-12, 14-18 Berlin) and is off on Wednesday; Tom,
her backup, works 10-20. The business answers Mon-Fri 08-18 Berlin. Lena
writes by SMS from New York (her phone's zone reaches the hub as a hint), Jonas
from Berlin with a German phone. Agents are notified by email at a real SMTP
peer; the customers' auto-replies reach the SMS gateway peer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config import Settings
from connectors.base import Address, InboundMessage
from hub.app import Hub
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, started_hub
from tests.support.peers import RecordingPeer
from tests.support.smtp import SmtpPeer
from tests.test_agent_hours import owner_and_assignee
from tests.test_contact_hours import contact_settings

BERLIN = "Europe/Berlin"
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
BUSINESS = {"zone": BERLIN, "weekly": {d: ["08:00-18:00"] for d in WORKDAYS}}
SPLIT_DAY = {"zone": BERLIN, "weekly": {d: ["08:00-12:00", "14:00-18:00"] for d in WORKDAYS}}
LATE_DAY = {"zone": BERLIN, "weekly": {d: ["10:00-20:00"] for d in WORKDAYS}}
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)  # Berlin is UTC+1, New York UTC-5 this week
LENA = ("+12125550100", "America/New_York", "en-US")
JONAS = ("+491701234567", BERLIN, "de-DE")


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of the week of Monday 2 March 2026 in Berlin time (day 0: Monday)."""
    return MONDAY + timedelta(days=day, hours=hour - 1, minutes=minute)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(berlin(0, 7))


@pytest.fixture
async def gateway() -> AsyncIterator[RecordingPeer]:
    async with RecordingPeer() as peer:
        yield peer


@pytest.fixture
def settings(database_url: str, gateway: RecordingPeer, relay: SmtpPeer) -> Settings:
    mail = {
        "kind": "email",
        "name": "mail",
        "address": "support@shop.example",
        "smtp_out": {"host": "127.0.0.1", "port": relay.port, "security": "none"},
        "authentication": {"check": False},
    }
    base = contact_settings(database_url, gateway.url("/sms"))
    return contact_settings(
        database_url,
        gateway.url("/sms"),
        hours=BUSINESS,
        auth={"session_hours": 24 * 30},
        channels=[*(c.model_dump(mode="json") for c in base.channels[1:]), mail],
    )


@pytest.fixture
async def hub(settings: Settings, clock: FakeClock) -> AsyncIterator[Hub]:
    async with started_hub(settings, clock) as hub:
        yield hub


@pytest.fixture
async def team(hub: Hub, browser_factory) -> dict[str, Any]:
    """Maria (split hours, Wednesday off) with Tom (late hours) as her backup, both notified
    by email; Maria is the only one working at 08:00 Monday, so new customers become hers."""
    tom = await add_agent(hub, "tom@example.com", name="Tom")
    maria = await add_agent(hub, "maria@example.com", name="Maria")
    admin_id = await add_agent(hub, "admin@example.com", role="admin")
    admin = await (await browser_factory()).login("admin@example.com")
    await admin.patch(f"/api/admin/agents/{admin_id}", {"away": True}, expect=200)
    await admin.patch(f"/api/admin/agents/{maria}", {"backup_id": tom}, expect=200)
    for email, hours, private in (
        ("maria@example.com", SPLIT_DAY, "maria@home.example"),
        ("tom@example.com", LATE_DAY, "tom@home.example"),
    ):
        me = await (await browser_factory()).login(email)
        await me.call("PUT", "/api/me/hours", {"hours": hours}, expect=200)
        settings = {"channel": "email", "via": "mail", "address": private}
        await me.call("PUT", "/api/me/notifications", settings, expect=200)
        if email.startswith("maria"):
            absence = {"reason": "holiday", "from_date": "2026-03-04", "to_date": "2026-03-04"}
            await me.post("/api/me/absences", absence, expect=201)
    return {"maria": maria, "tom": tom}


def sms(who: tuple[str, str, str], external_id: str, text: str) -> InboundMessage:
    phone, zone, locale = who
    return InboundMessage(
        "sms", external_id, Address("phone", phone), text, zone=zone, locale=locale
    )


async def notifications(hub: Hub, relay: SmtpPeer) -> list[tuple[str, str]]:
    """Run the notifier once; (recipient, body) of each notification mail it sent."""
    before = len(relay.received)
    await hub.notifier.run_due()
    return [(mail.rcpt_tos[0], mail.message.get_content()) for mail in relay.received[before:]]


async def auto_replies(hub: Hub, gateway: RecordingPeer) -> dict[str, str]:
    """Run the outbox once; the text each number was sent (conversations go out concurrently,
    so their order is not defined)."""
    before = len(gateway.received)
    await hub.outbox.run_due()
    sent = [request.json() for request in gateway.received[before:]]
    by_number = {body["to"]: body["text"] for body in sent}
    assert len(by_number) == len(sent), "one auto-reply per customer"
    return by_number


async def test_a_week_of_reaching_the_owner(
    hub: Hub, clock: FakeClock, team, relay: SmtpPeer, gateway: RecordingPeer
):
    maria, tom = team["maria"], team["tom"]

    clock.set(berlin(0, 8, 30))
    lena = await hub.ingest(sms(LENA, "1", "Hello, my order?"))
    jonas = await hub.ingest(sms(JONAS, "2", "Hallo"))
    assert await owner_and_assignee(hub, lena.customer_id) == (maria, maria)
    assert await owner_and_assignee(hub, jonas.customer_id) == (maria, maria)
    (to_maria,) = await notifications(hub, relay)
    assert to_maria[0] == "maria@home.example"
    assert "+12125550100" in to_maria[1], "one batch names both customers"
    assert "+491701234567" in to_maria[1], "one batch names both customers"

    clock.set(berlin(0, 12, 30))
    await hub.ingest(sms(LENA, "3", "Anyone there?"))
    await hub.ingest(sms(JONAS, "4", "Noch da?"))
    assert await owner_and_assignee(hub, lena.customer_id) == (maria, tom), "Maria's lunch"
    sent = await notifications(hub, relay)
    assert [to for to, _ in sent] == ["tom@home.example"], "Tom covers, in one notification"
    assert "+12125550100" in sent[0][1]
    assert "+491701234567" in sent[0][1]

    clock.set(berlin(0, 14, 30))
    await hub.ingest(sms(LENA, "5", "Thanks"))
    assert await owner_and_assignee(hub, lena.customer_id) == (maria, maria), "she is back"

    clock.set(berlin(0, 20, 30))
    await hub.ingest(sms(LENA, "6", "One more thing"))
    await hub.ingest(sms(JONAS, "7", "Noch etwas"))
    replies = await auto_replies(hub, gateway)
    assert replies == {
        LENA[0]: "Thanks for your message; it is saved. "
        "Maria will reply here at 02:00 Tuesday, your time.",
        JONAS[0]: "Thanks for your message; it is saved. "
        "Maria will reply here at 08:00 Dienstag, Berlin (Ortszeit).",
    }, "the customer's zone and language (CLDR names the zone); Maria opens first on Tuesday"
    assert await notifications(hub, relay) == [], "held messages notify nobody yet"

    clock.set(berlin(1, 8))
    await hub.holds.release_due()
    sent = await notifications(hub, relay)
    assert [to for to, _ in sent] == ["maria@home.example"], "released to Maria, at 08:00"

    clock.set(berlin(2, 9))
    waiting = await hub.ingest(sms(LENA, "8", "Wednesday question"))
    assert await owner_and_assignee(hub, waiting.customer_id) == (maria, None), (
        "Maria off, Tom not in yet: the message waits for its owner"
    )
    for moment in (berlin(2, 9), berlin(2, 13), berlin(2, 23)):
        clock.set(moment)
        assert await notifications(hub, relay) == [], "never during Maria's day off"

    clock.set(berlin(3, 8))
    sent = await notifications(hub, relay)
    assert [to for to, _ in sent] == ["maria@home.example"], "at her next opening"
    assert "+12125550100" in sent[0][1]
