"""The auto-reply tells the truth: who answers, when, how, in the customer's zone and language.

A London hub (Mon-Fri 09:00-17:00); it is Saturday, so a message waits for
09:00 Monday London time, and the auto-reply says who takes it then.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, update

from hub.app import Hub
from hub.db.database import Tx
from hub.db.schema import agent_absences, conversations, customers
from tests.support.clock import FakeClock
from tests.support.hubs import add_agent, started_hub
from tests.support.peers import RecordingPeer
from tests.test_contact_hours import SATURDAY, contact_settings, sms

WEDNESDAY_9_LONDON = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
TUESDAY_NOON_LONDON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
async def peer() -> AsyncIterator[RecordingPeer]:
    async with RecordingPeer() as peer:
        yield peer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(SATURDAY)


@pytest.fixture
async def hub(database_url, clock, peer) -> AsyncIterator[Hub]:
    async with started_hub(contact_settings(database_url, peer.url("/sms")), clock) as hub:
        yield hub


async def absent(hub: Hub, agent_id: int, until: datetime) -> None:
    def write(tx: Tx) -> None:
        tx.conn.execute(
            insert(agent_absences).values(
                agent_id=agent_id, starts_at=SATURDAY, ends_at=until, created_at=SATURDAY
            )
        )

    await hub.db.write(write)


async def set_customer(hub: Hub, customer_id: int, **values: object) -> None:
    def write(tx: Tx) -> None:
        tx.conn.execute(update(customers).where(customers.c.id == customer_id).values(**values))

    await hub.db.write(write)


async def auto_reply_to_lena(hub: Hub, peer: RecordingPeer, **customer: object) -> str:
    """The auto-reply to Lena's held message, her customer row set to ``customer`` first."""
    first = await hub.ingest(sms("s1", "hello"))
    await set_customer(hub, first.customer_id, **customer)

    def forget_the_first_auto_reply(tx: Tx) -> None:
        tx.conn.execute(
            update(conversations)
            .where(conversations.c.id == first.conversation_id)
            .values(autoreplied_until=None)
        )

    await hub.db.write(forget_the_first_auto_reply)
    await hub.outbox.run_due()
    peer.received.clear()
    await hub.ingest(sms("s2", "Is my order shipped?"))
    await hub.outbox.run_due()
    (text,) = [r.json()["text"] for r in peer.received]
    return text


async def test_owner_absent_the_backup_answers_and_the_owners_return_is_named(
    hub: Hub, peer: RecordingPeer
):
    maria = await add_agent(hub, "maria@example.com", name="Maria")
    tom = await add_agent(hub, "tom@example.com", name="Tom")
    await absent(hub, maria, WEDNESDAY_9_LONDON)
    assert await auto_reply_to_lena(hub, peer, owner_id=maria, backup_id=tom) == (
        "Thanks for your message; it is saved. Tom will reply here at 09:00 Monday, "
        "London Time. Maria is back at 09:00 Wednesday, London Time."
    )


async def test_nobody_available_at_the_opening_names_the_earliest_who_is(
    hub: Hub, peer: RecordingPeer
):
    maria = await add_agent(hub, "maria@example.com", name="Maria")
    tom = await add_agent(hub, "tom@example.com", name="Tom")
    await absent(hub, maria, WEDNESDAY_9_LONDON)
    await absent(hub, tom, TUESDAY_NOON_LONDON)
    assert await auto_reply_to_lena(hub, peer, owner_id=maria, backup_id=tom) == (
        "Thanks for your message; it is saved. Tom will reply here at 12:00 Tuesday, "
        "London Time. Maria is back at 09:00 Wednesday, London Time."
    )


async def test_the_owner_back_first_answers_herself(hub: Hub, peer: RecordingPeer):
    maria = await add_agent(hub, "maria@example.com", name="Maria")
    tom = await add_agent(hub, "tom@example.com", name="Tom")
    await absent(hub, maria, TUESDAY_NOON_LONDON)
    await absent(hub, tom, WEDNESDAY_9_LONDON)
    assert await auto_reply_to_lena(hub, peer, owner_id=maria, backup_id=tom) == (
        "Thanks for your message; it is saved. Maria will reply here at 12:00 Tuesday, London Time."
    )


async def test_a_customer_in_another_zone_is_told_their_own_time(hub: Hub, peer: RecordingPeer):
    maria = await add_agent(hub, "maria@example.com", name="Maria")
    text = await auto_reply_to_lena(hub, peer, owner_id=maria, zone="America/New_York")
    assert text == (
        "Thanks for your message; it is saved. Maria will reply here at 05:00 Monday, your time."
    ), "09:00 London is 05:00 in New York (the US clocks moved on 8 March)"


async def test_german_customer_in_berlin_reads_weekday_and_zone_in_german(
    hub: Hub, peer: RecordingPeer
):
    maria = await add_agent(hub, "maria@example.com", name="Maria")
    text = await auto_reply_to_lena(hub, peer, owner_id=maria, zone="Europe/Berlin", locale="de-DE")
    assert text == (
        "Thanks for your message; it is saved. Maria will reply here at 10:00 Montag, "
        "Berlin (Ortszeit)."
    )


async def test_the_agreed_channel_is_named_as_the_mode(hub: Hub, peer: RecordingPeer):
    maria = await add_agent(hub, "maria@example.com", name="Maria")
    text = await auto_reply_to_lena(
        hub, peer, owner_id=maria, agreed_channel="email", zone="Europe/London"
    )
    assert text == (
        "Thanks for your message; it is saved. Maria will reply by email at 09:00 Monday, "
        "your time."
    )


async def test_zone_and_language_reported_by_the_channel_are_kept_and_used(
    hub: Hub, peer: RecordingPeer
):
    await add_agent(hub, "maria@example.com", name="Maria")
    hinted = replace(sms("s1", "Hallo"), zone="Europe/Berlin", locale="de-DE")
    first = await hub.ingest(hinted)
    await hub.ingest(replace(sms("s2", "noch da?"), zone="Mars/Olympus", locale="<b>"))
    assert await customer_row(hub, first.customer_id) == ("Europe/Berlin", "de-DE")
    await hub.outbox.run_due()
    assert [r.json()["text"] for r in peer.received] == [
        "Thanks for your message; it is saved. Maria will reply here at 10:00 Montag, "
        "Berlin (Ortszeit)."
    ]


async def customer_row(hub: Hub, customer_id: int) -> tuple[str | None, str | None]:
    row = await hub.db.read(
        lambda conn: conn.execute(
            select(customers.c.zone, customers.c.locale).where(customers.c.id == customer_id)
        ).one()
    )
    return row.zone, row.locale


async def test_a_language_tag_with_a_line_break_is_no_language_tag(hub: Hub):
    await add_agent(hub, "maria@example.com", name="Maria")
    first = await hub.ingest(replace(sms("s1", "Hallo"), locale="de\n"))
    assert await customer_row(hub, first.customer_id) == (None, None)


async def test_new_visitors_greetings_are_kept_by_what_the_hub_can_use(hub: Hub):
    """Random zones and tags from anonymous widgets all share one kept greeting."""
    lines = {
        await hub.greeting("webchat", None, "Our team", f"Mars/Crater{n}", f"xx-{n:04d}x")
        for n in range(5)
    }
    assert len(lines) == 1
    assert len(hub.new_visitor_greetings._kept) == 1
