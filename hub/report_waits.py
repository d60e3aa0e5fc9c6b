"""The waits of a period as tallies (``routing.report_tallies.Tally``), read from what
``hub/report_counts.py`` counted.

UTC weeks wholly inside the period are read from ``wait_weeks``, each filed under the
local week holding most of it; the waits of the hours where a UTC week and that local
week differ (the zone's offset at each end) are read one by one and moved to their own
week. The rest of the period (the part of a UTC week at either end) is read wait by wait
from ``waits``, and so are the waits still open, timed until now.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, or_, select

from hub.absences import midnight
from hub.db.schema import conversations, customers, wait_weeks, waits
from hub.report_rules import rules_lookup
from hub.report_store import WEEK, instant, seconds, utc_week
from routing.calendar import zone_info
from routing.report_tallies import Tally, rounded
from routing.reports import Opened, timed, week_of

Span = tuple[int, int]
"""``[start, end)`` in epoch seconds."""


def wait_tallies(
    conn: Connection, start: int, end: int, zone: str, owner_id: int | None, now: datetime
) -> list[Tally]:
    """Every wait that began in ``[start, end)`` (epoch seconds), of ``owner_id``'s customers
    or everyone's, as tallies by week in ``zone``."""
    first_week = utc_week(start) + (WEEK if utc_week(start) < start else 0)
    last_week = utc_week(end)
    tallies: list[Tally] = []
    exact: list[Span] = [(start, end)]
    if first_week < last_week:
        exact = [(start, first_week), (last_week, end)]
        weeks = range(first_week, last_week, WEEK)
        labels = {week: _label(week, zone) for week in weeks}
        tallies += _weekly(conn, first_week, last_week, labels, owner_id)
        shifted = [span for week in weeks for span in _shifted(week, labels[week], zone)]
        for wait in _replied(conn, shifted, owner_id):
            tallies.append(_tally(wait, labels[utc_week(wait.start_s)]).negated())
            tallies.append(_tally(wait, week_of(instant(wait.start_s), zone)))
    tallies += [
        _tally(w, week_of(instant(w.start_s), zone)) for w in _replied(conn, exact, owner_id)
    ]
    return tallies + list(_open(conn, start, end, zone, owner_id, now))


def _label(week: int, zone: str) -> str:
    """The local week holding most of the UTC week starting at ``week``: the one its middle
    falls in (no zone is more than half a week off UTC)."""
    return week_of(instant(week + WEEK // 2), zone)


def _shifted(week: int, label: str, zone: str) -> list[Span]:
    """The hours of the UTC week ``week`` that lie outside its local week ``label``."""
    tz = zone_info(zone)
    monday = midnight(date.fromisoformat(label), tz)
    local_start = seconds(monday)
    local_end = seconds(midnight(monday.date() + timedelta(days=7), tz))
    spans = [(week, min(local_start, week + WEEK)), (max(local_end, week), week + WEEK)]
    return [(a, b) for a, b in spans if a < b]


def _weekly(
    conn: Connection, first: int, last: int, labels: dict[int, str], owner_id: int | None
) -> list[Tally]:
    query = select(wait_weeks).where(wait_weeks.c.week_s >= first, wait_weeks.c.week_s < last)
    if owner_id is not None:
        query = query.where(wait_weeks.c.owner_id == owner_id)
    return [
        Tally(
            labels[row.week_s],
            str(row.owner_id or ""),
            row.channel,
            row.kind,
            replied=row.replied,
            met=row.met,
            missed=row.missed,
            histogram={int(value): n for value, n in json.loads(row.histogram).items()},
        )
        for row in conn.execute(query)
    ]


def _replied(conn: Connection, spans: list[Span], owner_id: int | None) -> list[Any]:
    if not spans:
        return []
    query = select(waits).where(
        waits.c.replied_s.is_not(None),
        or_(*(and_(waits.c.start_s >= a, waits.c.start_s < b) for a, b in spans)),
    )
    if owner_id is not None:
        query = query.where(waits.c.owner_id == owner_id)
    return list(conn.execute(query))


def _tally(wait: Any, week: str) -> Tally:
    outcome = None
    if wait.target_s is not None:
        outcome = "met" if wait.response_s <= wait.target_s else "missed"
    return Tally(
        week,
        str(wait.owner_id or ""),
        wait.channel,
        wait.kind,
        replied=1,
        met=int(outcome == "met"),
        missed=int(outcome == "missed"),
        histogram={rounded(wait.response_s): 1},
    )


def _open(
    conn: Connection, start: int, end: int, zone: str, owner_id: int | None, now: datetime
) -> Iterator[Tally]:
    """The waits of the period not answered yet, timed until ``now``, by the customer's
    owner today."""
    query = (
        select(waits, conversations.c.customer_id, customers.c.owner_id.label("owner_now"))
        .join(conversations, conversations.c.id == waits.c.conversation_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(waits.c.replied_s.is_(None), waits.c.start_s >= start, waits.c.start_s < end)
    )
    if owner_id is not None:
        query = query.where(customers.c.owner_id == owner_id)
    rules_of = rules_lookup(conn)
    for row in conn.execute(query):
        opened = Opened(
            row.conversation_id, row.customer_id, row.channel, row.kind, instant(row.start_s)
        )
        outcome = timed(opened, now, rules_of).outcome(answered=False)
        yield Tally(
            week_of(opened.start, zone),
            str(row.owner_now or ""),
            row.channel,
            row.kind,
            missed=int(outcome == "missed"),
            pending=int(outcome == "pending"),
        )
