"""Report arithmetic against hand-computed figures: Berlin office hours (Mon-Fri 09:00-17:00,
German public holidays) across both 2026 DST changes (29 March, 25 October) and Easter
(Good Friday 3 April, Easter Monday 6 April)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from routing.calendar_data import build_calendar
from routing.contact import ContactRules
from routing.report_tallies import (
    Answered,
    Tally,
    by_hour_of_week,
    by_week,
    continuity,
    percentile,
    response_times,
    rounded,
    sla,
)
from routing.reports import (
    Due,
    Message,
    Opened,
    Timed,
    count,
    escalation_counts,
    failures,
    load,
    timed,
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


def customer(conversation: int, at: datetime) -> Message:
    return Message(conversation, conversation, "in", "sms", at)


def reply(conversation: int, at: datetime, author: int | None) -> Message:
    return Message(conversation, conversation, "out", "sms", at, author_id=author)


HISTORY = [
    # 1: Friday 16:00 CET, answered Monday 10:00 CEST: 1 h Friday + 1 h Monday = 2 h (first).
    customer(1, berlin(2026, 3, 27, 16, 0)),
    reply(1, berlin(2026, 3, 30, 10, 0), MARIA),
    # 2: Thursday 16:30 before Easter, answered Tuesday 09:15: 30 + 15 = 45 min (first);
    #    then Tuesday 10:00 to 12:00 by Tom: 2 h (next).
    customer(2, berlin(2026, 4, 2, 16, 30)),
    reply(2, berlin(2026, 4, 2, 16, 31), None),
    customer(2, berlin(2026, 4, 3, 11, 0)),
    reply(2, berlin(2026, 4, 7, 9, 15), MARIA),
    customer(2, berlin(2026, 4, 7, 10, 0)),
    reply(2, berlin(2026, 4, 7, 12, 0), TOM),
    # 3: Saturday before the October change, held; answered Monday 09:30 CET: 30 min (first);
    #    then Monday 16:00, unanswered at NOW (Tuesday 09:30): 1 h + 30 min (next, pending).
    customer(3, berlin(2026, 10, 24, 12, 0)),
    reply(3, berlin(2026, 10, 24, 12, 0, 1), None),
    reply(3, berlin(2026, 10, 26, 9, 30), TOM),
    customer(3, berlin(2026, 10, 26, 16, 0)),
]
HELD = [berlin(2026, 4, 3, 11, 0), berlin(2026, 10, 24, 12, 0)]
AUTOREPLIES = [berlin(2026, 4, 2, 16, 31), berlin(2026, 10, 24, 12, 0, 1)]


def counted(
    history: list[Message], now: datetime, rules: ContactRules = RULES
) -> list[tuple[Opened, Timed, Message | None]]:
    """Every wait of ``history`` counted in order, with its timing (until now if open)
    and the reply that answered it."""
    state: dict[int, tuple[Opened | None, bool]] = {}
    found = []
    for message in sorted(history, key=lambda m: m.at):
        result = count(*state.get(message.conversation_id, (None, False)), message)
        if result.answered is not None:
            found.append(
                (result.answered, timed(result.answered, message.at, lambda *_: rules), message)
            )
        state[message.conversation_id] = (result.opened, result.replied)
    for opened, _ in state.values():
        if opened is not None:
            found.append((opened, timed(opened, now, lambda *_: rules), None))
    return found


def tallies(history: list[Message] = HISTORY, now: datetime = NOW) -> list[Tally]:
    """One tally per wait, by the owner of its customer and its local Berlin week."""
    return [
        Tally(
            week_of(wait.start, "Europe/Berlin"),
            str(OWNERS[wait.customer_id]),
            wait.channel,
            wait.kind,
            replied=int(answer is not None),
            met=int(timing.outcome(answer is not None) == "met"),
            missed=int(timing.outcome(answer is not None) == "missed"),
            pending=int(timing.outcome(answer is not None) == "pending"),
            histogram={rounded(timing.waited.total_seconds()): 1} if answer else {},
        )
        for wait, timing, answer in counted(history, now)
    ]


def test_waits_count_open_hours_only_across_dst_and_holidays():
    found = [
        (w.conversation_id, w.kind, t.waited, a is not None) for w, t, a in counted(HISTORY, NOW)
    ]
    assert sorted(found) == [
        (1, "first", timedelta(hours=2), True),
        (2, "first", timedelta(minutes=45), True),
        (2, "next", timedelta(hours=2), True),
        (3, "first", timedelta(minutes=30), True),
        (3, "next", timedelta(minutes=90), False),
    ]


def test_an_auto_reply_answers_no_wait_and_a_second_message_joins_the_open_one():
    (wait, timing, answer) = counted(HISTORY[2:6], NOW)[0]
    assert (wait.start, answer.author_id) == (berlin(2026, 4, 2, 16, 30), MARIA)
    assert timing.waited == timedelta(minutes=45)


def test_response_times_per_owner_channel_and_week():
    times = response_times(tallies())
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


def test_a_wait_moved_to_its_local_week_changes_only_the_weeks():
    moved = [tally for tally in tallies() if tally.week == "2026-03-23"]
    shifted = [
        *tallies(),
        *(t.negated() for t in moved),
        *(replace(t, week="2026-03-16") for t in moved),
    ]
    before = {(t.group, t.key, t.kind): t for t in response_times(tallies())}
    after = {(t.group, t.key, t.kind): t for t in response_times(shifted)}
    assert after.pop(("week", "2026-03-16", "first")) == replace(
        before.pop(("week", "2026-03-23", "first")), key="2026-03-16"
    )
    assert after == before


def test_sla_met_missed_and_pending():
    figures = {
        (s.group, s.key): (s.met, s.missed, s.pending, s.met_percent) for s in sla(tallies())
    }
    assert figures[("all", "")] == (3, 1, 1, 75.0)
    assert figures[("owner", "10")] == (2, 1, 0, 66.7)
    assert figures[("owner", "20")] == (1, 0, 1, 100.0)
    assert figures[("week", "2026-10-26")] == (0, 0, 1, None)


def test_an_unanswered_wait_past_its_target_is_missed():
    later = berlin(2026, 10, 27, 11, 0)  # 1 h Monday + 2 h Tuesday = 3 h 0 min: not past yet
    _, timing, _ = counted(HISTORY, later)[-1]
    assert timing.waited == timedelta(hours=3)
    assert timing.outcome(answered=False) == "pending"
    _, past, _ = counted(HISTORY, later + timedelta(minutes=1))[-1]
    assert past.outcome(answered=False) == "missed"


def test_a_wait_after_an_agents_reply_is_a_next_wait():
    began = count(None, True, customer(1, NOW)).began
    assert began is not None
    assert began.kind == "next"
    ((wait, timing, _),) = counted([reply(1, NOW, MARIA), customer(1, NOW)], NOW)
    assert (wait.kind, timing.target) == ("next", timedelta(hours=3))


def test_the_customers_own_hours_win_over_the_default():
    own = ContactRules(
        customer_hours=MON_TO_THU_UTC, default_hours=OFFICE, first_response_minutes=60
    )
    ((_, timing, _),) = counted(HISTORY[:2], NOW, own)
    assert timing.waited == timedelta(hours=8), "Fri 15:00 UTC to Mon 08:00 UTC: Monday's 8 h"


def test_no_hours_at_all_counts_wall_time():
    ((_, timing, _),) = counted(HISTORY[:2], NOW, ContactRules())
    assert timing.waited == timedelta(hours=65)
    assert timing.target is None
    assert timing.outcome(answered=True) is None


def test_weeks_start_on_the_local_monday():
    monday_0030_cest = berlin(2026, 3, 30, 0, 30)  # Sunday 22:30 UTC
    assert week_of(monday_0030_cest, "Europe/Berlin") == "2026-03-30"
    assert week_of(monday_0030_cest, "UTC") == "2026-03-23"


def test_held_messages_by_local_hour_of_week():
    sunday_0330_cest = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)  # half an hour after the jump
    grid = by_hour_of_week([(at, 1) for at in [*HELD, sunday_0330_cest]], "Europe/Berlin")
    assert grid[4][11] == 1, "Good Friday 11:00"
    assert grid[5][12] == 1, "Saturday 24 October 12:00 CEST"
    assert grid[6][3] == 1, "Sunday 03:30 CEST"
    assert sum(map(sum, grid)) == 3
    assert by_hour_of_week([(at, 1) for at in HELD], "UTC")[5][10] == 1
    hourly = by_hour_of_week([(datetime(2026, 3, 29, 1, tzinfo=UTC), 5)], "Europe/Berlin")
    assert hourly[6][3] == 5, "an hour's count goes to its local hour"


def test_autoreplies_per_week():
    assert by_week([(at, 1) for at in AUTOREPLIES], "Europe/Berlin") == {
        "2026-03-30": 1,
        "2026-10-19": 1,
    }


def test_continuity_per_owner():
    rows = {
        row.owner_id: row
        for row in continuity(
            [
                Answered(MARIA, by_owner=True, by_others=False, conversations=1),
                Answered(MARIA, by_owner=True, by_others=True, conversations=1),
                Answered(ZOE, by_owner=False, by_others=True, conversations=1),
                Answered(ZOE, by_owner=False, by_others=False, conversations=4),
            ]
        )
    }
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


def test_percentile_is_nearest_rank_over_a_histogram():
    assert percentile({}, 0.5) is None
    assert percentile({5: 1}, 0.9) == 5
    assert percentile({1: 1, 2: 1, 3: 1, 4: 1}, 0.5) == 2
    assert percentile({n: 1 for n in range(1, 11)}, 0.9) == 9
    assert percentile({n: 1 for n in range(1, 12)}, 0.9) == 10
    assert percentile({60: 3, 120: 1, 180: -1}, 0.5) == 60, "a moved-out wait is not counted"


def test_response_times_are_rounded_up_to_their_step():
    assert [rounded(s) for s in (0, 1, 60, 61, 3600)] == [0, 60, 60, 120, 3600]
    assert [rounded(s) for s in (3601, 7200, 86400)] == [3900, 7200, 86400]
    assert [rounded(s) for s in (86401, 7 * 86400, 7 * 86400 + 1)] == [90000, 604800, 691200]
