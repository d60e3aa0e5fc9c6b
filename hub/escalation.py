"""Escalation before the SLA is missed: due soon tells the handler, overdue the backup and
the admins, each once per due time.

A check reads every open conversation owed a reply and not yet told overdue,
with the calendar its due time was counted in, and lets ``routing.escalation``
decide; the stages reached are marked (``due_soon_notified_at``,
``overdue_notified_at``) by a conditional update, so a stage is told once even
if a reply or a second check comes in between. The markers belong to the
current ``reply_due_at``: whatever clears or replaces it clears them too
(``hub.conversations.post_reply``, ``hub.scheduled.restore_reply_due``), so the
next unanswered message escalates again. One process checks (leader work).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Connection, Text, cast, func, or_, select, update

from hub.clock import Clock
from hub.contact import rule_columns, rules_from
from hub.db.database import Database, Tx
from hub.db.schema import agents, conversations, customers
from hub.notices import NoticeKind, queue_notice
from hub.serialize import iso
from hub.worker import work_when_due
from routing.escalation import Stage, Told, escalate, stage_shown

CHECK_EVERY = 60.0
"""Seconds between checks at most: a conversation owed a reply since the last check is
looked at within this long (known stages are checked at their very moment)."""

MARKERS = {
    Stage.DUE_SOON: conversations.c.due_soon_notified_at,
    Stage.OVERDUE: conversations.c.overdue_notified_at,
}
NOTICES = {Stage.DUE_SOON: NoticeKind.DUE_SOON, Stage.OVERDUE: NoticeKind.OVERDUE}


@dataclass(frozen=True)
class Due:
    conversation_id: int
    reply_due_at: datetime
    stages: tuple[Stage, ...]


@dataclass(frozen=True)
class Plan:
    due: list[Due]
    next_check: datetime | None


def plan_checks(lead: timedelta, now: datetime, conn: Connection) -> Plan:
    """What is due now among the open conversations owed a reply, and the next moment."""
    rows = conn.execute(
        select(
            conversations.c.id,
            conversations.c.reply_due_at,
            conversations.c.due_soon_notified_at,
            *rule_columns(cast(customers.c.id, Text), conversations.c.last_channel),
        )
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(
            conversations.c.state == "open",
            conversations.c.reply_due_at.is_not(None),
            conversations.c.overdue_notified_at.is_(None),
        )
    ).all()
    due: list[Due] = []
    moments: list[datetime] = []
    for conversation_id, reply_due_at, due_soon_told, *rules in rows:
        hours = rules_from(rules, always_reachable=False).hours
        told = Told(due_soon=due_soon_told is not None)
        decision = escalate(hours, reply_due_at, lead, now, told)
        if decision.notify:
            due.append(Due(conversation_id, reply_due_at, decision.notify))
        if decision.next_check is not None:
            moments.append(decision.next_check)
    return Plan(due, min(moments, default=None))


def mark_due(due: Sequence[Due], tx: Tx) -> int:
    """Mark and tell each stage still owed; how many were told (others changed meanwhile)."""
    told = 0
    for item in due:
        for stage in item.stages:
            marker = MARKERS[stage]
            changed = tx.conn.execute(
                update(conversations)
                .where(
                    conversations.c.id == item.conversation_id,
                    conversations.c.state == "open",
                    conversations.c.reply_due_at == item.reply_due_at,
                    marker.is_(None),
                )
                .values({marker.name: tx.now})
            ).rowcount
            if changed:
                tell(tx, item, stage)
                told += 1
    return told


def tell(tx: Tx, item: Due, stage: Stage) -> None:
    """Queue the stage's notices and tell the open inboxes concerned."""
    row = tx.conn.execute(
        select(
            conversations.c.customer_id,
            conversations.c.assignee_id,
            customers.c.owner_id,
            customers.c.backup_id,
            agents.c.backup_id.label("owner_backup_id"),
        )
        .join(customers, customers.c.id == conversations.c.customer_id)
        .outerjoin(agents, agents.c.id == customers.c.owner_id)
        .where(conversations.c.id == item.conversation_id)
    ).one()
    if stage is Stage.DUE_SOON:
        recipients = active_among(tx.conn, [row.assignee_id or row.owner_id])
    else:
        backups = active_among(tx.conn, [row.backup_id, row.owner_backup_id])
        recipients = active_among(tx.conn, [*backups[:1], *active_admins(tx.conn)])
    for agent_id in recipients:
        queue_notice(
            tx,
            agent_id,
            NOTICES[stage],
            conversation_id=item.conversation_id,
            customer_id=row.customer_id,
        )
    tx.emit(
        f"conversation.{stage.value}",
        {
            "conversation_id": item.conversation_id,
            "escalation": stage.value,
            "reply_due_at": iso(item.reply_due_at),
        },
        to=[row.assignee_id, row.owner_id, *recipients],
        conversation_id=item.conversation_id,
    )


def active_admins(conn: Connection) -> list[int]:
    admins = select(agents.c.id).where(agents.c.role == "admin", agents.c.active)
    return list(conn.execute(admins.order_by(agents.c.id)).scalars())


def active_among(conn: Connection, wanted: Sequence[int | None]) -> list[int]:
    """The active agents among ``wanted``, each once, in the order given."""
    ids = list(dict.fromkeys(agent_id for agent_id in wanted if agent_id is not None))
    query = select(agents.c.id).where(agents.c.id.in_(ids), agents.c.active)
    active = set(conn.execute(query).scalars())
    return [agent_id for agent_id in ids if agent_id in active]


class Escalations:
    """The escalation check: runs at each known stage's moment, and at least every minute."""

    def __init__(self, db: Database, clock: Clock, lead: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.lead = lead
        self._next_check: datetime | None = None
        self._wake = asyncio.Event()

    async def check(self) -> int:
        """Tell every stage reached now; how many were told."""
        plan = await self.db.read(partial(plan_checks, self.lead, self.clock.now()))
        self._next_check = plan.next_check
        if not plan.due:
            return 0
        return await self.db.write(partial(mark_due, plan.due))

    async def next_check(self) -> datetime | None:
        return self._next_check

    async def run(self) -> None:
        await work_when_due(
            "escalation", self.check, self.next_check, self.clock, self._wake, CHECK_EVERY
        )


HANDLER, OWNER, BACKUP = agents.alias("handler"), agents.alias("owner"), agents.alias("backup")


def escalated(now: datetime, conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """The open conversations overdue (most overdue first) and due soon (soonest due first),
    each with customer, handler, owner and the backup an overdue notice goes to."""
    rows = conn.execute(
        select(
            conversations.c.id,
            conversations.c.reply_due_at,
            conversations.c.due_soon_notified_at,
            conversations.c.overdue_notified_at,
            customers.c.id.label("customer_id"),
            customers.c.name.label("customer_name"),
            *(
                column
                for table in (HANDLER, OWNER, BACKUP)
                for column in (table.c.id, table.c.name)
            ),
        )
        .join(customers, customers.c.id == conversations.c.customer_id)
        .outerjoin(HANDLER, HANDLER.c.id == conversations.c.assignee_id)
        .outerjoin(OWNER, OWNER.c.id == customers.c.owner_id)
        .outerjoin(BACKUP, BACKUP.c.id == func.coalesce(customers.c.backup_id, OWNER.c.backup_id))
        .where(
            conversations.c.state == "open",
            or_(
                conversations.c.reply_due_at <= now,
                conversations.c.due_soon_notified_at.is_not(None),
            ),
        )
        .order_by(conversations.c.reply_due_at, conversations.c.id)
    ).all()
    report: dict[str, list[dict[str, Any]]] = {stage.value: [] for stage in Stage}
    for row in rows:
        stage = stage_shown(row.reply_due_at, row.due_soon_notified_at is not None, now)
        if stage is not None:
            report[stage.value].append(escalated_json(row, stage, now))
    return report


def escalated_json(row: Any, stage: Stage, now: datetime) -> dict[str, Any]:
    handler, owner, backup = (_agent_ref(*row[at : at + 2]) for at in (6, 8, 10))
    return {
        "conversation_id": row.id,
        "escalation": stage.value,
        "customer": {"id": row.customer_id, "name": row.customer_name},
        "handler": handler,
        "owner": owner,
        "backup": backup,
        "reply_due_at": iso(row.reply_due_at),
        "late_seconds": int((now - row.reply_due_at).total_seconds()),
        "due_soon_notified_at": iso(row.due_soon_notified_at),
        "overdue_notified_at": iso(row.overdue_notified_at),
    }


def _agent_ref(agent_id: int | None, name: str | None) -> dict[str, Any] | None:
    return None if agent_id is None else {"id": agent_id, "name": name}
