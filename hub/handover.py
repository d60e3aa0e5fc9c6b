"""Long absences: the owner's open conversations go to a backup for the absence, then come back.

Short absences need nothing of this: routing hands each new message to a backup
while the owner is absent. An absence longer than ``absences.hand_over_after_days``
also moves the owner's open conversations when it starts (audited
``absence.handed_over``) and returns them when it ends (``absence.handed_back``).
``agent_absences.handed_over_at`` and ``handed_back_at`` make each happen once,
across restarts; on PostgreSQL concurrent hub processes claim absences with
``SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Row, select, update

from hub.assignment import hand_over, handling_for, load_agents, record_audit
from hub.clock import Clock
from hub.db.database import Database, Tx
from hub.db.locks import skipping_locked
from hub.db.schema import agent_absences, conversations, customers
from hub.worker import work_when_due
from routing.owners import Agent, CustomerOwnership, HandledBy, Handling, who_covers

IDLE_WAIT = 300.0


def owned_open_conversations(conn: Connection, owner_id: int) -> list[Row[Any]]:
    return conn.execute(
        select(conversations.c.id, conversations.c.assignee_id, customers.c.backup_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(customers.c.owner_id == owner_id, conversations.c.state == "open")
        .order_by(conversations.c.id)
    ).all()


def hand_over_absence(tx: Tx, absence: Row[Any], team: dict[int, Agent]) -> None:
    """Give the absent owner's open conversations to whoever covers each customer."""
    owner_id = absence.agent_id
    moved: dict[str, int] = {}
    for conversation in owned_open_conversations(tx.conn, owner_id):
        handling = who_covers(CustomerOwnership(owner_id, conversation.backup_id), team, tx.now)
        if handling.agent_id is not None:
            hand_over(tx, conversation.id, conversation.assignee_id, handling, owner_id)
            moved[str(conversation.id)] = handling.agent_id
    mark(tx, absence.id, handed_over_at=tx.now)
    record_audit(
        tx, None, "absence.handed_over", "agent", owner_id, absence_id=absence.id, moved=moved
    )


def hand_back(tx: Tx, absence: Row[Any]) -> None:
    """Return the owner's open conversations to them (routing decides if they are still away)."""
    owner_id = absence.agent_id
    team = load_agents(tx.conn, tx.now)
    owner = team.get(owner_id)
    returned: dict[str, int | None] = {}
    for conversation in owned_open_conversations(tx.conn, owner_id):
        if owner is not None and owner.on_duty_at(tx.now):
            handling = Handling(owner_id, HandledBy.OWNER)
        else:
            handling = handling_for(owner_id, conversation.backup_id, team, tx.now)
        if handling.agent_id != conversation.assignee_id:
            hand_over(tx, conversation.id, conversation.assignee_id, handling, owner_id)
            returned[str(conversation.id)] = handling.agent_id
    mark(tx, absence.id, handed_back_at=tx.now)
    record_audit(
        tx, None, "absence.handed_back", "agent", owner_id, absence_id=absence.id, moved=returned
    )


def mark(tx: Tx, absence_id: int, **when: datetime) -> None:
    tx.conn.execute(update(agent_absences).where(agent_absences.c.id == absence_id).values(when))


def long_enough(absence: Row[Any], after_days: int) -> bool:
    return absence.ends_at - absence.starts_at > timedelta(days=after_days)


def hand_over_and_back(after_days: int | None, tx: Tx) -> int:
    """One pass: hand over long absences that started, hand back those that ended."""
    pending = select(agent_absences).where(
        agent_absences.c.handed_over_at.is_(None),
        agent_absences.c.starts_at <= tx.now,
        agent_absences.c.ends_at > tx.now,
    )
    ended = select(agent_absences).where(
        agent_absences.c.handed_over_at.is_not(None),
        agent_absences.c.handed_back_at.is_(None),
        agent_absences.c.ends_at <= tx.now,
    )
    starting = []
    if after_days is not None:
        rows = tx.conn.execute(skipping_locked(pending, agent_absences, tx.conn)).all()
        starting = [row for row in rows if long_enough(row, after_days)]
    ending = tx.conn.execute(skipping_locked(ended, agent_absences, tx.conn)).all()
    for absence in ending:
        hand_back(tx, absence)
    if starting:
        team = load_agents(tx.conn, tx.now)
        for absence in starting:
            hand_over_absence(tx, absence, team)
    return len(starting) + len(ending)


def next_change_at(after_days: int | None, now: datetime, conn: Connection) -> datetime | None:
    """When the next long absence starts or a handed-over one ends."""
    times = list(
        conn.execute(
            select(agent_absences.c.ends_at).where(
                agent_absences.c.handed_over_at.is_not(None),
                agent_absences.c.handed_back_at.is_(None),
            )
        ).scalars()
    )
    if after_days is not None:
        upcoming = conn.execute(
            select(agent_absences).where(
                agent_absences.c.handed_over_at.is_(None), agent_absences.c.ends_at > now
            )
        ).all()
        times += [row.starts_at for row in upcoming if long_enough(row, after_days)]
    return min(times, default=None)


class AbsenceHandOver:
    """The worker that hands conversations over and back as long absences start and end."""

    def __init__(self, db: Database, clock: Clock, after_days: int | None) -> None:
        self.db = db
        self.clock = clock
        self.after_days = after_days
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_pass(self) -> int:
        return await self.db.write(partial(hand_over_and_back, self.after_days))

    async def next_due(self) -> datetime | None:
        return await self.db.read(partial(next_change_at, self.after_days, self.clock.now()))

    async def run(self) -> None:
        await work_when_due(
            "absence hand-over", self.run_pass, self.next_due, self.clock, self._wake, IDLE_WAIT
        )
