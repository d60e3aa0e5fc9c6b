"""Reports read what the hub counted as messages landed: whole UTC weeks from the weekly
counts, each wait in the local week it began in whatever the zone's offset, the rest wait by
wait; a large backlog is counted by the worker while the reports say how far it is; merges
and erasure keep the counts right."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, insert, select

from connectors.base import Address, InboundMessage
from hub.app import Hub
from hub.db.schema import conversation_answers, hub_state, messages, wait_weeks, waits
from hub.report_counts import COUNTED_UP_TO
from tests.support.clock import FakeClock
from tests.support.hubs import Browser, signed_in_team

BERLIN = ZoneInfo("Europe/Berlin")
UTC_ = ZoneInfo("UTC")


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC_)


def sms(external_id: str, phone: str) -> InboundMessage:
    return InboundMessage(
        channel="sms",
        external_id=external_id,
        sender=Address("phone", phone),
        sender_name="Customer " + phone[-2:],
        text="hello?",
    )


class Team:
    """Ada (admin, away), Maria and Tom (agents), signed in afresh when asked for, since
    the tests move the clock past their sessions."""

    def __init__(self, browser_factory: Callable[[], Awaitable[Browser]]) -> None:
        self.browser_factory = browser_factory

    async def __call__(self, who: str) -> Browser:
        return await (await self.browser_factory()).login(f"{who}@example.com")


async def wait_and_reply(
    hub: Hub, clock: FakeClock, team: Team, who: str, phone: str, at: datetime, minutes: int
) -> None:
    """A customer writes at ``at``, is given to ``who``, who answers ``minutes`` later."""
    clock.set(at)
    started = await hub.ingest(sms(f"{phone}-{at.isoformat()}", phone))
    await own(team, who, started.customer_id)
    clock.set(at + timedelta(minutes=minutes))
    await reply(await team(who), started.conversation_id)


async def own(team: Team, who: str, customer_id: int) -> None:
    """The admin makes ``who`` the customer's owner."""
    admin = await team("admin")
    agents = {a["email"]: a["id"] for a in await admin.get("/api/admin/agents")}
    body = {"owner_id": agents[f"{who}@example.com"]}
    await admin.patch(f"/api/admin/customers/{customer_id}", body, expect=200)


async def reply(agent: Browser, conversation_id: int) -> None:
    path = f"/api/conversations/{conversation_id}/replies"
    await agent.post(path, {"text": "here"}, expect=202)


@pytest.fixture
async def team(hub: Hub, clock: FakeClock, browser_factory) -> Team:
    clock.set(utc(2026, 2, 20, 9))
    await signed_in_team(hub, browser_factory)
    return Team(browser_factory)


@pytest.fixture
async def around_week_ends(hub: Hub, clock: FakeClock, team: Team) -> Team:
    """No hours anywhere (every minute counts). Three waits, answered by Maria:
    A: Sunday 8 March 23:30 UTC, 10 minutes: Monday 00:30 in Berlin, Sunday evening in New
       York; B: Wednesday 11 March 11:00 UTC, 30 minutes; C: Monday 9 March 02:00 UTC,
       20 minutes: Monday in Berlin, still Sunday 22:00 in New York (summer time since 8 March).
    """
    for phone, at, minutes in (
        ("+4915100000001", utc(2026, 3, 8, 23, 30), 10),
        ("+4915100000002", utc(2026, 3, 9, 2, 0), 20),
        ("+4915100000003", utc(2026, 3, 11, 11, 0), 30),
    ):
        await wait_and_reply(hub, clock, team, "maria", phone, at, minutes)
    clock.set(utc(2026, 3, 30, 9))
    return team


def weeks(answer: dict) -> dict[str, tuple[int, float]]:
    return {
        row["key"]: (row["count"], row["median_seconds"])
        for row in answer["rows"]
        if row["group"] == "week"
    }


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        ("Europe/Berlin", {"2026-03-09": (3, 1200)}),
        ("America/New_York", {"2026-03-02": (2, 600), "2026-03-09": (1, 1800)}),
        ("Asia/Kolkata", {"2026-03-09": (3, 1200)}),
        ("UTC", {"2026-03-02": (1, 600), "2026-03-09": (2, 1200)}),
    ],
)
async def test_each_wait_is_in_the_local_week_it_began_in(around_week_ends, zone, expected):
    period = f"?from=2026-03-02&to=2026-03-22&zone={zone}"
    for who in ("admin", "maria"):
        answer = await (await around_week_ends(who)).get("/api/reports/responses" + period)
        assert weeks(answer) == expected, who
        everyone = [row for row in answer["rows"] if row["group"] == "all"]
        assert [(row["count"], row["median_seconds"]) for row in everyone] == [(3, 1200)]


async def test_weekly_counts_hold_what_was_answered(hub: Hub, around_week_ends):
    await (await around_week_ends("admin")).get(
        "/api/reports/responses?from=2026-03-02&to=2026-03-22"
    )
    counted = await hub.db.read(
        lambda conn: conn.execute(
            select(wait_weeks.c.week_s, wait_weeks.c.replied, wait_weeks.c.histogram).order_by(
                wait_weeks.c.week_s
            )
        ).all()
    )
    mondays = [utc(2026, 3, 2), utc(2026, 3, 9)]
    assert [(datetime.fromtimestamp(w, UTC_), n) for w, n, _ in counted] == [
        (mondays[0], 1),
        (mondays[1], 2),
    ]
    assert counted[1].histogram == "[[1200, 1], [1800, 1]]"


async def test_a_large_backlog_is_counted_by_the_worker_while_reports_say_how_far(
    hub: Hub, clock: FakeClock, team
):
    for n in range(3):
        await wait_and_reply(hub, clock, team, "tom", f"+4915100{n:03}", utc(2026, 3, 2, 9), 5)
    hub.report_counts.inline_limit = 2
    admin = await team("admin")
    status, answer = await admin.call("GET", "/api/reports/responses")
    assert status == 503
    assert answer == {
        "error": "reports are being prepared: 0% of the stored messages counted;"
        " try again in a minute",
        "percent": 0,
    }
    assert await hub.report_counts.count_all() == 6
    status, answer = await admin.call("GET", "/api/reports/responses?from=2026-03-02")
    assert status == 200
    assert [row["count"] for row in answer["rows"] if row["group"] == "all"] == [3]


async def test_merged_customers_keep_one_open_wait_and_who_answered(
    hub: Hub, clock: FakeClock, team
):
    clock.set(utc(2026, 3, 2, 9))
    kept = await hub.ingest(sms("k1", "+4915100000011"))
    await own(team, "maria", kept.customer_id)
    clock.set(utc(2026, 3, 2, 9, 5))
    await reply(await team("maria"), kept.conversation_id)
    clock.set(utc(2026, 3, 2, 10))
    await hub.ingest(sms("k2", "+4915100000011"))
    clock.set(utc(2026, 3, 2, 11))
    folded = await hub.ingest(sms("f1", "+4915100000012"))
    await own(team, "maria", folded.customer_id)
    await hub.report_counts.count_all()
    admin = await team("admin")
    body = {"merge_customer_id": folded.customer_id}
    await admin.post(f"/api/admin/customers/{kept.customer_id}/merge", body, expect=200)

    def counts(conn):
        return (
            conn.execute(
                select(waits.c.conversation_id, waits.c.kind, waits.c.replied_s.is_(None)).order_by(
                    waits.c.start_s
                )
            ).all(),
            conn.execute(
                select(conversation_answers.c.conversation_id, func.count()).group_by(
                    conversation_answers.c.conversation_id
                )
            ).all(),
        )

    found, answers = await hub.db.read(counts)
    assert found == [
        (kept.conversation_id, "first", False),
        (kept.conversation_id, "next", True),
    ], "the folded conversation's later open wait joins the kept one's"
    assert answers == [(kept.conversation_id, 1)]
    clock.set(utc(2026, 3, 2, 12))
    await reply(await team("maria"), kept.conversation_id)
    answer = await admin.get("/api/reports/responses?from=2026-03-02&to=2026-03-02&zone=UTC")
    assert {
        (r["kind"], r["count"], r["median_seconds"]) for r in answer["rows"] if r["group"] == "all"
    } == {
        ("first", 1, 300),
        ("next", 1, 7200),
    }


async def test_a_message_that_commits_after_a_later_one_is_still_counted(
    hub: Hub, clock: FakeClock, team
):
    """On PostgreSQL a transaction that took an id may commit after one that took a later
    id: the count looks for the skipped ids for a minute."""
    clock.set(utc(2026, 3, 2, 9))
    lena = await hub.ingest(sms("l1", "+4915100000021"))
    await own(team, "maria", lena.customer_id)
    maria = (await (await team("maria")).get("/api/me"))["id"]
    first = lena.message_id
    late, later = first + 1, first + 5
    clock.set(utc(2026, 3, 2, 9, 10))
    await store_message(hub, later, lena.conversation_id, "in", None)
    await hub.report_counts.count_all()
    await store_message(hub, late, lena.conversation_id, "out", maria)
    await hub.report_counts.count_all()
    answered = await hub.db.read(
        lambda conn: conn.execute(select(waits.c.replied_s, waits.c.response_s)).all()
    )
    assert answered[0] == (int(utc(2026, 3, 2, 9, 10).timestamp()), 600)

    clock.set(utc(2026, 3, 2, 9, 12))
    await store_message(hub, first + 2, lena.conversation_id, "out", maria)
    await hub.report_counts.count_all()
    clock.set(utc(2026, 3, 2, 9, 13, 1))
    await hub.report_counts.count_all()
    state = await hub.db.read(
        lambda conn: conn.execute(
            select(hub_state.c.value).where(hub_state.c.key == COUNTED_UP_TO)
        ).scalar()
    )
    assert json.loads(state) == {"up_to": later, "gaps": []}, "ids missing a minute: deleted"


async def store_message(
    hub: Hub, message_id: int, conversation_id: int, direction: str, author_id: int | None
) -> None:
    """A message row with the id its transaction took (as if it committed only now)."""
    row = {
        "id": message_id,
        "conversation_id": conversation_id,
        "direction": direction,
        "channel": "sms",
        "author_id": author_id,
        "text": "late",
        "state": "received" if direction == "in" else "sent",
        "created_at": hub.clock.now(),
    }
    await hub.db.write(lambda tx: tx.conn.execute(insert(messages).values(row)))
