"""Reports for a period: the stored rows each needs, loaded in a few queries, counted by
``routing/reports.py``.

Each report is a function ``(conn, period) -> dict`` in :data:`REPORTS`; the API answers
them as JSON and CSV (``hub/api/reports.py``), each with a row model there and a section
on the page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, case, func, select, text

from hub.db.schema import (
    agents,
    conversation_answers,
    conversation_tags,
    conversations,
    customers,
    message_hours,
    messages,
    tags,
)
from hub.report_store import instant, seconds
from hub.report_waits import wait_tallies
from hub.satisfaction import SCORES, satisfaction_scores
from routing import report_tallies as tallies
from routing import reports as arithmetic
from routing.calendar import zone_info
from routing.reports import Message


@dataclass(frozen=True)
class Period:
    """What a report covers: ``[start, end)``, weeks and hours in ``zone``, as of ``now``;
    ``owner_id``: only that agent's customers (an agent's own report), None: everyone's."""

    start: datetime
    end: datetime
    zone: str
    now: datetime
    owner_id: int | None


def _mine(query: Select, period: Period) -> Select:
    """Limit a query joined with customers to the period's owner, if any."""
    if period.owner_id is None:
        return query
    return query.where(customers.c.owner_id == period.owner_id)


def _tallies(conn: Connection, period: Period) -> list[tallies.Tally]:
    return wait_tallies(
        conn,
        seconds(period.start),
        seconds(period.end),
        period.zone,
        period.owner_id,
        period.now,
    )


def responses(conn: Connection, period: Period) -> dict[str, Any]:
    return {"rows": [vars(row) for row in tallies.response_times(_tallies(conn, period))]}


def sla(conn: Connection, period: Period) -> dict[str, Any]:
    rows = tallies.sla(_tallies(conn, period))
    return {"rows": [{**vars(row), "met_percent": row.met_percent} for row in rows]}


def due(conn: Connection, period: Period) -> dict[str, Any]:
    """Open conversations due soon and overdue now (whatever the period), per owner."""
    query = _mine(
        select(
            customers.c.owner_id,
            conversations.c.reply_due_at,
            conversations.c.due_soon_notified_at.is_not(None),
        )
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(conversations.c.state == "open", conversations.c.reply_due_at.is_not(None)),
        period,
    )
    counts = arithmetic.escalation_counts(
        (arithmetic.Due(*row) for row in conn.execute(query)), period.now
    )
    return {"rows": [{"owner": owner, **tally} for owner, tally in sorted(counts.items())]}


def _period_messages(period: Period, *conditions: Any) -> Select:
    return _mine(
        select(messages.c.channel, messages.c.created_at, messages.c.error)
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(
            messages.c.created_at >= period.start, messages.c.created_at < period.end, *conditions
        ),
        period,
    )


def _whole_hours(period: Period) -> bool:
    """Whether every local hour of the period is a UTC hour (the zone's offsets in it are
    whole hours), so hourly counts can be read by local hour."""
    tz = zone_info(period.zone)
    day = period.start
    while day < period.end:
        offset = day.astimezone(tz).utcoffset() or timedelta()
        if offset.total_seconds() % 3600:
            return False
        day += timedelta(hours=12)
    return True


def _hourly(conn: Connection, period: Period, column: str) -> Iterable[tuple[datetime, int]] | None:
    """The period's counts per UTC hour, when they answer the report: everyone's (an
    agent's own come from their messages) in a zone of whole-hour offsets."""
    if period.owner_id is not None or not _whole_hours(period):
        return None
    counts = conn.execute(
        select(message_hours.c.hour_s, message_hours.c[column]).where(
            message_hours.c.hour_s >= seconds(period.start),
            message_hours.c.hour_s < seconds(period.end),
        )
    )
    return [(instant(hour), count) for hour, count in counts]


def held(conn: Connection, period: Period) -> dict[str, Any]:
    counts = _hourly(conn, period, "held")
    if counts is None:
        held_rows = conn.execute(
            _period_messages(
                period, messages.c.direction == "in", messages.c.release_at.is_not(None)
            )
        )
        counts = [(at, 1) for _, at, _ in held_rows]
    grid = tallies.by_hour_of_week(counts, period.zone)
    return {
        "rows": [
            {"weekday": day, "hour": hour, "held": count}
            for day, hours in enumerate(grid)
            for hour, count in enumerate(hours)
        ]
    }


def autoreplies(conn: Connection, period: Period) -> dict[str, Any]:
    counts = _hourly(conn, period, "autoreplies")
    if counts is None:
        sent = conn.execute(
            _period_messages(period, messages.c.direction == "out", messages.c.author_id.is_(None))
        )
        counts = [(at, 1) for _, at, _ in sent]
    weekly = tallies.by_week(counts, period.zone)
    return {"rows": [{"week": week, "count": count} for week, count in weekly.items()]}


def continuity(conn: Connection, period: Period) -> dict[str, Any]:
    """Conversations begun in the period, by who answered them, per owner."""
    query = select(
        conversation_answers.c.owner_id,
        conversation_answers.c.by_owner,
        conversation_answers.c.by_others,
        func.count(),
    ).where(
        conversation_answers.c.start_s >= seconds(period.start),
        conversation_answers.c.start_s < seconds(period.end),
    )
    if period.owner_id is not None:
        query = query.where(conversation_answers.c.owner_id == period.owner_id)
    grouped = conn.execute(query.group_by(*query.selected_columns[:3]))
    rows = tallies.continuity(tallies.Answered(*row) for row in grouped)
    return {"rows": [{**vars(row), "owner_share": row.owner_share} for row in rows]}


def load(conn: Connection, period: Period) -> dict[str, Any]:
    owned = _mine(select(customers.c.owner_id, func.count()), period).group_by(customers.c.owner_id)
    open_ = _mine(
        select(customers.c.owner_id, func.count())
        .join(conversations, conversations.c.customer_id == customers.c.id)
        .where(conversations.c.state == "open"),
        period,
    ).group_by(customers.c.owner_id)
    rows = arithmetic.load(dict(conn.execute(owned).all()), dict(conn.execute(open_).all()))
    return {"rows": [vars(row) for row in rows]}


def failures(conn: Connection, period: Period) -> dict[str, Any]:
    # A literal state, so both databases use the partial index of failed messages.
    failed = conn.execute(_period_messages(period, text("messages.state = 'failed'")))
    rows = arithmetic.failures(
        Message(0, 0, "out", c or "", at, failed_reason=error or "unknown")
        for c, at, error in failed
    )
    return {"rows": [{"channel": c, "reason": r, "count": n} for c, r, n in rows]}


def satisfaction(conn: Connection, period: Period) -> dict[str, Any]:
    """Questions asked in the period (at resolve) and their answers, per owner and channel."""
    found = satisfaction_scores(conn, period.start, period.end, period.owner_id)
    return {
        "rows": [
            {
                **{key: row[key] for key in ("owner_id", "channel", "asked", "answered", "mean")},
                **{f"score_{n}": row["scores"][n] for n in SCORES},
            }
            for row in found
        ]
    }


def tagged(conn: Connection, period: Period) -> dict[str, Any]:
    """Conversations started in the period, per tag they carry now."""
    query = _mine(
        select(
            tags.c.name,
            tags.c.colour,
            func.count(),
            func.sum(case((conversations.c.state == "open", 1), else_=0)),
        )
        .join(conversation_tags, conversation_tags.c.tag_id == tags.c.id)
        .join(conversations, conversations.c.id == conversation_tags.c.conversation_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(conversations.c.created_at >= period.start, conversations.c.created_at < period.end),
        period,
    ).group_by(tags.c.id, tags.c.name, tags.c.colour)
    rows = sorted(conn.execute(query).all(), key=lambda row: row.name.casefold())
    return {
        "rows": [
            {"tag": name, "colour": colour, "conversations": total, "open": int(still_open or 0)}
            for name, colour, total, still_open in rows
        ]
    }


REPORTS: dict[str, Callable[[Connection, Period], dict[str, Any]]] = {
    "responses": responses,
    "sla": sla,
    "due": due,
    "held": held,
    "autoreplies": autoreplies,
    "continuity": continuity,
    "load": load,
    "failures": failures,
    "satisfaction": satisfaction,
    "tags": tagged,
}


def report(name: str, period: Period, conn: Connection) -> dict[str, Any]:
    """One report, with the names of the agents it mentions."""
    return {**REPORTS[name](conn, period), "agents": agent_names(conn, period)}


def agent_names(conn: Connection, period: Period) -> dict[str, str]:
    query = select(agents.c.id, agents.c.name)
    if period.owner_id is not None:
        query = query.where(agents.c.id == period.owner_id)
    return {str(agent_id): name for agent_id, name in conn.execute(query)}
