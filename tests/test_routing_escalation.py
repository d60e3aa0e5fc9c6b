"""Escalation arithmetic as pure functions: the due-soon moment, what a check must tell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.calendar_data import build_calendar
from routing.calendar_queries import add_business_time, business_time, start_of_last
from routing.escalation import Escalation, Stage, Told, due_soon_from, escalate, stage_shown

LONDON = ZoneInfo("Europe/London")
WORKDAYS = ("mon", "tue", "wed", "thu", "fri")
OFFICE = build_calendar("Europe/London", {day: ["09:00-17:00"] for day in WORKDAYS})
SPLIT = build_calendar(
    "Europe/Berlin", {day: ["08:00-12:00", "13:00-17:30"] for day in (*WORKDAYS, "sat")}
)
LEAD = timedelta(minutes=30)
MINUTE = timedelta(minutes=1)


def london(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=LONDON)


def test_due_soon_counts_back_the_lead_in_open_time():
    due = london(2026, 3, 10, 11, 0)
    assert due_soon_from(OFFICE, due, LEAD) == london(2026, 3, 10, 10, 30)


def test_due_soon_reaches_back_over_the_weekend():
    monday_0915 = london(2026, 3, 9, 9, 15)
    assert due_soon_from(OFFICE, monday_0915, LEAD) == london(2026, 3, 6, 16, 45)


def test_closed_time_before_the_last_open_stretch_is_already_due_soon():
    """09:30 Monday with 30 minutes left from 09:00 Monday is also 30 minutes left all weekend:
    due soon from Friday's close."""
    monday_0930 = london(2026, 3, 9, 9, 30)
    assert due_soon_from(OFFICE, monday_0930, LEAD) == london(2026, 3, 6, 17, 0)


def test_without_hours_the_lead_is_wall_time_and_a_zero_lead_has_no_due_soon():
    due = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)
    assert due_soon_from(None, due, LEAD) == due - LEAD
    assert due_soon_from(OFFICE, due, timedelta()) is None


@settings(max_examples=150, deadline=None)
@given(
    end=st.datetimes(
        min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
    ),
    minutes=st.integers(min_value=0, max_value=3000),
)
def test_start_of_last_is_the_earliest_instant_with_at_most_that_much_left(end, minutes):
    amount = timedelta(minutes=minutes)
    start = start_of_last(SPLIT, end, amount)
    assert start <= end
    assert business_time(SPLIT, start, end) <= amount
    assert business_time(SPLIT, start - timedelta(seconds=1), end) > amount


def test_start_of_last_undoes_add_business_time_inside_open_hours():
    start = london(2026, 3, 27, 16, 40)  # the Friday before the clocks go forward
    due = add_business_time(OFFICE, start, timedelta(hours=3))
    assert due == london(2026, 3, 30, 11, 40)
    assert start_of_last(OFFICE, due, timedelta(hours=3)) == start


def test_a_check_before_the_due_soon_moment_waits_for_it():
    due = london(2026, 3, 10, 11, 0)
    assert escalate(OFFICE, due, LEAD, london(2026, 3, 10, 10, 0), Told()) == Escalation(
        None, (), london(2026, 3, 10, 10, 30)
    )


def test_due_soon_is_told_once_then_the_check_waits_for_the_due_time():
    due = london(2026, 3, 10, 11, 0)
    now = london(2026, 3, 10, 10, 30)
    assert escalate(OFFICE, due, LEAD, now, Told()) == Escalation(
        Stage.DUE_SOON, (Stage.DUE_SOON,), due
    )
    assert escalate(OFFICE, due, LEAD, now, Told(due_soon=True)) == Escalation(
        Stage.DUE_SOON, (), due
    )


def test_overdue_from_the_due_instant_and_told_once():
    due = london(2026, 3, 10, 11, 0)
    told = Told(due_soon=True)
    assert escalate(OFFICE, due, LEAD, due - MINUTE, told).notify == ()
    assert escalate(OFFICE, due, LEAD, due, told) == Escalation(
        Stage.OVERDUE, (Stage.OVERDUE,), None
    )
    assert escalate(OFFICE, due, LEAD, due, Told(True, True)) == Escalation(Stage.OVERDUE, (), None)


def test_a_late_check_tells_both_stages_the_handler_first():
    due = london(2026, 3, 10, 11, 0)
    late = escalate(OFFICE, due, LEAD, due + timedelta(hours=2), Told())
    assert late.notify == (Stage.DUE_SOON, Stage.OVERDUE)


def test_closed_hours_never_bring_the_stages_closer():
    """A message answered by nobody at 16:50 on Friday: the owner's evening and weekend,
    closed for the customer too, make it neither due soon nor overdue before Monday."""
    due = add_business_time(OFFICE, london(2026, 3, 6, 16, 50), timedelta(minutes=60))
    assert due == london(2026, 3, 9, 9, 50)
    saturday = escalate(OFFICE, due, LEAD, london(2026, 3, 7, 12, 0), Told())
    assert saturday == Escalation(None, (), london(2026, 3, 9, 9, 20))


def test_the_inbox_marker():
    due = london(2026, 3, 10, 11, 0)
    assert stage_shown(None, False, due) is None
    assert stage_shown(due, False, due - MINUTE) is None
    assert stage_shown(due, True, due - MINUTE) is Stage.DUE_SOON
    assert stage_shown(due, False, due) is Stage.OVERDUE
