"""Report arithmetic against hand-computed figures: Berlin office hours (Mon-Fri 09:00-17:00,
German public holidays) across both 2026 DST changes (29 March, 25 October) and Easter
(Good Friday 3 April, Easter Monday 6 April)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from routing.calendar_data import build_calendar
from routing.contact import ContactRules
from routing.reports import (
    Due,
    Message,
    autoreplies_by_week,
    continuity,
    escalation_counts,
    failures,
    group_keys,
    held_by_hour_of_week,
    load,
    percentile,
    response_times,
    sla,
    waits,
    week_of,
)

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = build_calendar(
    "Europe/Berlin",
    {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
    holidays={"country": "DE"},
)
RULES = ContactRules(default_hours=OFFICE, first_response_minutes=60, next_response_minutes=180)
MON_TO_THU_UTC = build_calendar(
    "UTC", {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu")}
)
MARIA, TOM, ZOE = 10, 11, 20
OWNERS = {1: MARIA, 2: MARIA, 3: ZOE}
"""Customers 1 and 2 are Maria's (Tom backs her up), customer 3 is Zoe's."""
NOW = datetime(2026, 10, 27, 9, 30, tzinfo=BERLIN)


def berlin(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=BERLIN)


def customer(conversation: int, at: datetime, held: bool = False) -> Message:
    return Message(conversation, conversation, "in", "sms", at, held=held)


def reply(conversation: int, at: datetime, author: int) -> Message:
    return Message(conversation, conversation, "out", "sms", at, author_id=author)


HISTORY = [
    # 1: Friday 16:00 CET, answered Monday 10:00 CEST: 1 h Friday + 1 h Monday = 2 h (first).
    customer(1, berlin(2026, 3, 27, 16, 0)),
    reply(1, berlin(2026, 3, 30, 10, 0), MARIA),
    # 2: Thursday 16:30 before Easter, answered Tuesday 09:15: 30 + 15 = 45 min (first);
    #    then Tuesday 10:00 to 12:00 by Tom: 2 h (next).
    customer(2, berlin(2026, 4, 2, 16, 30)),
    Message(2, 2, "out", "sms", berlin(2026, 4, 2, 16, 31), automatic=True),
    customer(2, berlin(2026, 4, 3, 11, 0), held=True),
    reply(2, berlin(2026, 4, 7, 9, 15), MARIA),
    customer(2, berlin(2026, 4, 7, 10, 0)),
    reply(2, berlin(2026, 4, 7, 12, 0), TOM),
    # 3: Saturday before the October change, held; answered Monday 09:30 CET: 30 min (first);
    #    then Monday 16:00, unanswered at NOW (Tuesday 09:30): 1 h + 30 min (next, pending).
    customer(3, berlin(2026, 10, 24, 12, 0), held=True),
    Message(3, 3, "out", "sms", berlin(2026, 10, 24, 12, 0, 1), automatic=True),
    reply(3, berlin(2026, 10, 26, 9, 30), TOM),
    customer(3, berlin(2026, 10, 26, 16, 0)),
]


def found():
    return waits(reversed(HISTORY), lambda customer_id, channel: RULES, NOW)


def test_waits_count_open_hours_only_across_dst_and_holidays():
    assert [(w.conversation_id, w.kind, w.response, w.waited) for w in found()] == [
        (1, "first", timedelta(hours=2), timedelta(hours=2)),
        (2, "first", timedelta(minutes=45), timedelta(minutes=45)),
        (2, "next", timedelta(hours=2), timedelta(hours=2)),
        (3, "first", timedelta(minutes=30), timedelta(minutes=30)),
        (3, "next", None, timedelta(minutes=90)),
    ]


def test_response_times_per_owner_channel_and_week():
    times = response_times(found(), group_keys(OWNERS.get, "Europe/Berlin"))
    table = {(t.group, t.key, t.kind): (t.count, t.median_seconds, t.p90_seconds) for t in times}
    assert table[("all", "", "first")] == (3, 2700, 7200)
    assert table[("all", "", "next")] == (1, 7200, 7200)
    assert table[("owner", "10", "first")] == (2, 2700, 7200)
    assert table[("owner", "20", "first")] == (1, 1800, 1800)
    assert table[("channel", "sms", "first")] == (3, 2700, 7200)
    assert {key for group, key, _ in table if group == "week"} == {
        "2026-03-23",
        "2026-03-30",
        "2026-04-06",
        "2026-10-19",
    }
    assert ("owner", "20", "next") not in table, "the pending wait has no response time yet"


def test_sla_met_missed_and_pending():
    figures = {
        (s.group, s.key): (s.met, s.missed, s.pending, s.met_percent)
        for s in sla(found(), group_keys(OWNERS.get, "Europe/Berlin"))
    }
    assert figures[("all", "")] == (3, 1, 1, 75.0)
    assert figures[("owner", "10")] == (2, 1, 0, 66.7)
    assert figures[("owner", "20")] == (1, 0, 1, 100.0)
    assert figures[("week", "2026-10-26")] == (0, 0, 1, None)


def test_an_unanswered_wait_past_its_target_is_missed():
    later = berlin(2026, 10, 27, 11, 0)  # 1 h Monday + 2 h Tuesday = 3 h 0 min: not past yet
    pending = waits(HISTORY, lambda c, ch: RULES, later)[-1]
    assert pending.waited == timedelta(hours=3)
    assert [(s.missed, s.pending) for s in sla([pending], {"all": lambda w: ""})] == [(0, 1)]
    past = waits(HISTORY, lambda c, ch: RULES, later + timedelta(minutes=1))[-1]
    assert [(s.missed, s.pending) for s in sla([past], {"all": lambda w: ""})] == [(1, 0)]


def test_a_conversation_answered_before_the_rows_starts_with_a_next_wait():
    (wait,) = waits(HISTORY[:2], lambda c, ch: RULES, NOW, answered={1})
    assert (wait.kind, wait.target) == ("next", timedelta(hours=3))


def test_the_customers_own_hours_win_over_the_default():
    own = ContactRules(
        customer_hours=MON_TO_THU_UTC, default_hours=OFFICE, first_response_minutes=60
    )
    (wait,) = waits(HISTORY[:2], lambda c, ch: own, NOW)
    assert wait.response == timedelta(hours=8), "Fri 15:00 UTC to Mon 08:00 UTC: Monday's 8 h"


def test_no_hours_at_all_counts_wall_time():
    (wait,) = waits(HISTORY[:2], lambda c, ch: ContactRules(), NOW)
    assert wait.response == timedelta(hours=65)
    assert wait.target is None
    assert sla([wait], {"all": lambda w: ""}) == []


def test_weeks_start_on_the_local_monday():
    monday_0030_cest = berlin(2026, 3, 30, 0, 30)  # Sunday 22:30 UTC
    assert week_of(monday_0030_cest, "Europe/Berlin") == "2026-03-30"
    assert week_of(monday_0030_cest, "UTC") == "2026-03-23"


def test_held_messages_by_local_hour_of_week():
    sunday_0330_cest = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # half an hour after the jump
    grid = held_by_hour_of_week(
        [*HISTORY, customer(4, sunday_0330_cest, held=True)], "Europe/Berlin"
    )
    assert grid[4][11] == 1, "Good Friday 11:00"
    assert grid[5][12] == 1, "Saturday 24 October 12:00 CEST"
    assert grid[6][3] == 1, "Sunday 03:30 CEST"
    assert sum(map(sum, grid)) == 3
    assert held_by_hour_of_week(HISTORY, "UTC")[5][10] == 1


def test_autoreplies_per_week():
    assert autoreplies_by_week(HISTORY, "Europe/Berlin") == {"2026-03-30": 1, "2026-10-19": 1}


def test_continuity_per_owner():
    rows = {row.owner_id: row for row in continuity(found(), OWNERS.get)}
    assert (rows[MARIA].owner, rows[MARIA].backup, rows[MARIA].both) == (1, 0, 1)
    assert rows[MARIA].owner_share == 50.0
    assert (rows[ZOE].owner, rows[ZOE].backup, rows[ZOE].both) == (0, 1, 0)
    assert rows[ZOE].owner_share == 0.0


def test_due_soon_and_overdue_counts_use_the_inbox_stages():
    due = [
        Due(MARIA, NOW - timedelta(minutes=1), due_soon_told=True),
        Due(MARIA, NOW, due_soon_told=False),
        Due(MARIA, NOW + timedelta(minutes=5), due_soon_told=True),
        Due(ZOE, NOW + timedelta(minutes=5), due_soon_told=False),
        Due(None, NOW + timedelta(minutes=5), due_soon_told=True),
    ]
    counts = escalation_counts(due, NOW)
    assert counts["10"] == {"due_soon": 1, "overdue": 2}
    assert "20" not in counts
    assert counts[""] == {"due_soon": 1, "overdue": 0}


def test_load_per_owner():
    rows = load({MARIA: 2, ZOE: 1, None: 1}, {MARIA: 1, None: 1})
    assert [(r.owner_id, r.open_conversations, r.customers) for r in rows] == [
        (None, 1, 1),
        (MARIA, 1, 2),
        (ZOE, 0, 1),
    ]


def test_failures_by_channel_and_first_line_of_the_reason():
    def failed(channel: str, error: str) -> Message:
        return Message(1, 1, "out", channel, NOW, author_id=MARIA, failed_reason=error)

    rows = failures(
        [
            failed("sms", "blocked by user\nrequest 1234"),
            failed("sms", "blocked by user\nrequest 99"),
            failed("email", "550 mailbox unavailable"),
            reply(1, NOW, MARIA),
        ]
    )
    assert rows == [("sms", "blocked by user", 2), ("email", "550 mailbox unavailable", 1)]


def test_percentile_is_nearest_rank():
    assert percentile([], 0.5) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert percentile([float(n) for n in range(1, 11)], 0.9) == 9.0
    assert percentile([float(n) for n in range(1, 12)], 0.9) == 10.0
