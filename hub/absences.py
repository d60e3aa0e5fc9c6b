"""Agents' own working hours and dated absences as stored: editing them, and what follows.

Routing reads both (``hub/assignment.py`` ``agent_columns``); after a change the
agent's open conversations are routed again at once, and the team hears of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Row, delete, insert, select

from config.schema import HoursSettings
from hub.assignment import record_audit
from hub.contact import AGENT_SCOPE, read_hours, write_hours
from hub.db.database import Tx
from hub.db.schema import agent_absences
from hub.errors import NotFound
from hub.handover import hand_back
from hub.serialize import iso
from hub.team import get_agent, reroute_affected_by


def agent_hours_json(conn: Connection, agent_id: int) -> dict[str, Any]:
    get_agent(conn, agent_id)
    return {"agent_id": agent_id, "hours": read_hours(conn, AGENT_SCOPE, str(agent_id))}


def set_agent_hours(
    actor_id: int, agent_id: int, hours: HoursSettings | None, tx: Tx
) -> dict[str, Any]:
    """Replace (``None``: remove) an agent's working hours, audited."""
    before = agent_hours_json(tx.conn, agent_id)["hours"]
    write_hours(tx, AGENT_SCOPE, str(agent_id), hours)
    after = agent_hours_json(tx.conn, agent_id)
    record_audit(
        tx, actor_id, "agent.hours_changed", "agent", agent_id, before=before, after=after["hours"]
    )
    availability_changed(tx, agent_id)
    return after


def availability_changed(tx: Tx, agent_id: int) -> None:
    """Route the agent's open conversations again and tell the team, as an agent change does."""
    reroute_affected_by(tx, agent_id)
    tx.emit("agent.updated", get_agent(tx.conn, agent_id), to=[None])


def absence_json(row: Row[Any]) -> dict[str, Any]:
    return {
        "id": row.id,
        "agent_id": row.agent_id,
        "starts_at": iso(row.starts_at),
        "ends_at": iso(row.ends_at),
        "reason": row.reason,
        "handed_over_at": iso(row.handed_over_at),
        "handed_back_at": iso(row.handed_back_at),
        "created_by": row.created_by,
    }


def list_absences(agent_id: int, now: datetime, conn: Connection) -> list[dict[str, Any]]:
    """The agent's absences that have not ended by ``now``, soonest first."""
    get_agent(conn, agent_id)
    rows = conn.execute(
        select(agent_absences)
        .where(agent_absences.c.agent_id == agent_id, agent_absences.c.ends_at > now)
        .order_by(agent_absences.c.starts_at, agent_absences.c.id)
    ).all()
    return [absence_json(row) for row in rows]


@dataclass(frozen=True)
class AbsenceRequest:
    """An absence as asked for: inclusive dates, exact times, or neither (today)."""

    reason: str
    from_date: date | None = None
    to_date: date | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


def hours_zone(conn: Connection, agent_id: int) -> ZoneInfo:
    """The zone of the agent's own hours; UTC for an agent without hours."""
    hours = read_hours(conn, AGENT_SCOPE, str(agent_id))
    return ZoneInfo(hours["zone"] if hours else "UTC")


def absence_period(
    absence: AbsenceRequest, zone: ZoneInfo, now: datetime
) -> tuple[datetime, datetime]:
    """When the absence starts and ends: days run midnight to midnight in ``zone``."""
    if absence.starts_at is not None and absence.ends_at is not None:
        return absence.starts_at, absence.ends_at
    today = now.astimezone(zone).date()
    first = absence.from_date or today
    last = absence.to_date or first
    return midnight(first, zone), midnight(last + timedelta(days=1), zone)


def midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone)


def add_absence(actor_id: int, agent_id: int, absence: AbsenceRequest, tx: Tx) -> dict[str, Any]:
    """Record a dated absence (audited) and route the agent's conversations again."""
    get_agent(tx.conn, agent_id)
    starts_at, ends_at = absence_period(absence, hours_zone(tx.conn, agent_id), tx.now)
    absence_id = tx.conn.execute(
        insert(agent_absences).values(
            agent_id=agent_id,
            starts_at=starts_at,
            ends_at=ends_at,
            reason=absence.reason,
            created_by=actor_id,
            created_at=tx.now,
        )
    ).inserted_primary_key[0]
    stored = absence_json(load_absence(tx.conn, agent_id, absence_id))
    record_audit(tx, actor_id, "absence.added", "agent", agent_id, absence=stored)
    availability_changed(tx, agent_id)
    return stored


def load_absence(conn: Connection, agent_id: int, absence_id: int) -> Row[Any]:
    """The absence, locked (PostgreSQL): the hand-over worker of another process may be
    handing it over or back right now."""
    row = conn.execute(
        select(agent_absences)
        .where(agent_absences.c.id == absence_id, agent_absences.c.agent_id == agent_id)
        .with_for_update()
    ).first()
    if row is None:
        raise NotFound(f"agent {agent_id} has no absence {absence_id}")
    return row


def remove_absence(actor_id: int, agent_id: int, absence_id: int, tx: Tx) -> None:
    """Delete an absence (audited with what it was); conversations handed over come back."""
    row = load_absence(tx.conn, agent_id, absence_id)
    tx.conn.execute(delete(agent_absences).where(agent_absences.c.id == absence_id))
    if row.handed_over_at is not None and row.handed_back_at is None:
        hand_back(tx, row)
    record_audit(tx, actor_id, "absence.removed", "agent", agent_id, absence=absence_json(row))
    availability_changed(tx, agent_id)
