"""Reports for a period: the stored rows each needs, loaded in a few queries, counted by
``routing/reports.py``.

Each report is a function ``(conn, period) -> dict`` in :data:`REPORTS`; the API answers
them as JSON and CSV (``hub/api/reports.py``), each with a row model there and a section
on the page.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Connection, Select, case, func, select

from hub.contact import (
    CHANNEL_SCOPE,
    CUSTOMER_SCOPE,
    DEFAULT_CHANNEL,
    DEFAULT_SCOPE,
    rules_from,
)
from hub.db.schema import (
    agents,
    channel_rules,
    contact_hours,
    conversation_tags,
    conversations,
    customers,
    messages,
    tags,
)
from hub.satisfaction import SCORES, satisfaction_scores
from routing import reports as arithmetic
from routing.contact import ContactRules
from routing.reports import Message, RulesOf, Wait


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


def _timeline(
    conn: Connection, period: Period
) -> tuple[list[Message], set[int], dict[int, int | None]]:
    """Customer messages and agent replies from the period's start on (a wait starting in
    the period may be answered after it), the conversations answered before it, and each
    customer's owner."""
    query = _mine(
        select(
            messages.c.conversation_id,
            conversations.c.customer_id,
            messages.c.direction,
            messages.c.channel,
            messages.c.created_at,
            messages.c.author_id,
            conversations.c.first_replied_at,
            customers.c.owner_id,
        )
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(
            messages.c.created_at >= period.start,
            messages.c.created_at < period.now,
            messages.c.direction.in_(("in", "out")),
        ),
        period,
    )
    rows: list[Message] = []
    answered: set[int] = set()
    owners: dict[int, int | None] = {}
    for conversation, customer, direction, channel, at, author, first_reply, owner in conn.execute(
        query
    ):
        rows.append(Message(conversation, customer, direction, channel or "", at, author))
        owners[customer] = owner
        if first_reply is not None and first_reply < period.start:
            answered.add(conversation)
    return rows, answered, owners


def _waits(conn: Connection, period: Period) -> tuple[list[Wait], dict[int, int | None]]:
    """The waits that started in the period, and each customer's owner."""
    rows, answered, owners = _timeline(conn, period)
    found = arithmetic.waits(rows, rules_lookup(conn), period.now, answered)
    return [w for w in found if w.start < period.end], owners


def rules_lookup(conn: Connection) -> RulesOf:
    """Every calendar and channel rule, read once, as a lookup per (customer, channel): the
    values :func:`hub.contact.rule_columns` would select, read back by ``rules_from``."""
    hours = {
        (scope, subject): _json_text(definition)
        for scope, subject, definition in conn.execute(
            select(contact_hours.c.scope, contact_hours.c.subject, contact_hours.c.definition)
        )
    }
    rules = {row.channel: row for row in conn.execute(select(channel_rules))}
    fallback = rules.get(DEFAULT_CHANNEL)

    def rule(channel: str, name: str, default: bool = True) -> Any:
        own = getattr(rules[channel], name) if channel in rules else None
        if own is None and default and fallback is not None:
            return getattr(fallback, name)
        return own

    @cache
    def rules_of(customer_id: int, channel: str) -> ContactRules:
        columns = (
            hours.get((CUSTOMER_SCOPE, str(customer_id))),
            hours.get((CHANNEL_SCOPE, channel)),
            hours.get((DEFAULT_SCOPE, "")),
            rule(channel, "never_hold", default=False),
            rule(channel, "autoreply_template"),
            rule(channel, "first_response_minutes"),
            rule(channel, "next_response_minutes"),
        )
        return rules_from(columns, always_reachable=False)

    return rules_of


def _json_text(definition: Any) -> str:
    return definition if isinstance(definition, str) else json.dumps(definition, sort_keys=True)


def _keys(owners: dict[int, int | None], period: Period) -> dict[str, arithmetic.Keys]:
    return arithmetic.group_keys(owners.get, period.zone)


def responses(conn: Connection, period: Period) -> dict[str, Any]:
    found, owners = _waits(conn, period)
    times = arithmetic.response_times(found, _keys(owners, period))
    return {"rows": [vars(row) for row in times]}


def sla(conn: Connection, period: Period) -> dict[str, Any]:
    found, owners = _waits(conn, period)
    rows = arithmetic.sla(found, _keys(owners, period))
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


def held(conn: Connection, period: Period) -> dict[str, Any]:
    held_rows = conn.execute(
        _period_messages(period, messages.c.direction == "in", messages.c.release_at.is_not(None))
    )
    grid = arithmetic.held_by_hour_of_week(
        (Message(0, 0, "in", c or "", at, held=True) for c, at, _ in held_rows), period.zone
    )
    return {
        "rows": [
            {"weekday": day, "hour": hour, "held": count}
            for day, hours in enumerate(grid)
            for hour, count in enumerate(hours)
        ]
    }


def autoreplies(conn: Connection, period: Period) -> dict[str, Any]:
    sent = conn.execute(
        _period_messages(period, messages.c.direction == "out", messages.c.author_id.is_(None))
    )
    weekly = arithmetic.autoreplies_by_week(
        (Message(0, 0, "out", c or "", at, automatic=True) for c, at, _ in sent), period.zone
    )
    return {"rows": [{"week": week, "count": count} for week, count in weekly.items()]}


def continuity(conn: Connection, period: Period) -> dict[str, Any]:
    found, owners = _waits(conn, period)
    rows = arithmetic.continuity(found, owners.get)
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
    failed = conn.execute(
        _period_messages(period, messages.c.direction == "out", messages.c.state == "failed")
    )
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
