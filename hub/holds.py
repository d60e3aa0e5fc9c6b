"""Held messages: released to their owner when the contact hours open, exactly once.

A held message is a ``messages`` row in state ``held`` with its ``release_at``.
Releasing turns it into new work (``received``), in arrival order, in the same
transaction that tells the handler; on PostgreSQL several hub processes may
release concurrently, as rows are claimed with ``SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from hub.assignment import handling_for, load_agents
from hub.clock import Clock
from hub.contact import rules_for
from hub.db.database import Database, Tx
from hub.db.locks import skipping_locked
from hub.db.schema import UtcDateTime, conversations, customers, messages
from hub.delivery import deliver
from hub.worker import work_when_due
from routing.contact import hold_until, reply_due_at
from routing.owners import Agent

log = logging.getLogger(__name__)

RELEASE_BATCH = 2000
IDLE_WAIT = 60.0

# Once per pass, for all its conversations (executemany): built with SQLAlchemy Core
# per conversation, it was most of the pass.
COUNT_RELEASED = (
    update(conversations)
    .where(conversations.c.id == bindparam("conversation"))
    .values(
        unread_count=conversations.c.unread_count + bindparam("released"),
        reply_due_at=func.coalesce(
            conversations.c.reply_due_at, bindparam("due", type_=UtcDateTime)
        ),
    )
)


def due_holds(now: datetime, conn: Connection) -> list[Any]:
    query = (
        select(
            messages,
            conversations.c.customer_id,
            conversations.c.assignee_id,
            conversations.c.first_replied_at,
            customers.c.name.label("customer_name"),
            customers.c.owner_id,
            customers.c.backup_id,
            customers.c.always_reachable,
        )
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(messages.c.state == "held", messages.c.release_at <= now)
        .order_by(messages.c.id)
        .limit(RELEASE_BATCH)
    )
    return list(conn.execute(skipping_locked(query, messages, conn)).mappings())


def release_due(tx: Tx) -> int:
    """Release one batch of held messages that are due; how many were released."""
    rows = due_holds(tx.now, tx.conn)
    if not rows:
        return 0
    for start in range(0, len(rows), 500):
        ids = [row["id"] for row in rows[start : start + 500]]
        tx.conn.execute(
            update(messages)
            .where(messages.c.id.in_(ids), messages.c.state == "held")
            .values(state="received")
        )
    team = load_agents(tx.conn, tx.now)
    by_conversation: dict[int, list[Any]] = {}
    for row in rows:
        by_conversation.setdefault(row["conversation_id"], []).append(row)
    counts = [deliver_released(tx, released, team) for released in by_conversation.values()]
    # One executemany for the pass: on PostgreSQL one pipelined round trip, not one each.
    tx.conn.execute(COUNT_RELEASED, counts)
    return len(rows)


def deliver_released(tx: Tx, released: Sequence[Any], team: dict[int, Agent]) -> dict[str, Any]:
    """Make one conversation's released messages new work for whoever handles it now.

    Returns the parameters of its ``COUNT_RELEASED`` update, which the pass runs for
    all its conversations at once.
    """
    first = released[0]
    handling = handling_for(first["owner_id"], first["backup_id"], team, tx.now)
    deliver(
        tx,
        [{**row, "state": "received"} for row in released],
        customer_id=first["customer_id"],
        customer_name=first["customer_name"],
        assignee_id=first["assignee_id"],
        handling=handling,
        owner_id=first["owner_id"],
    )
    rules = rules_for(tx.conn, first["customer_id"], first["channel"], first["always_reachable"])
    due = reply_due_at(rules, tx.now, first["first_replied_at"] is not None)
    return {"conversation": first["conversation_id"], "released": len(released), "due": due}


def recompute_release_times(tx: Tx) -> int:
    """After hours changed: give every held message the release time the new rules say.

    A message whose hours are open now gets ``now``, so the next release pass
    delivers it. Returns how many held messages were looked at.
    """
    groups = tx.conn.execute(
        select(
            conversations.c.customer_id,
            messages.c.channel,
            customers.c.always_reachable,
            func.count(),
        )
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(messages.c.state == "held")
        .group_by(conversations.c.customer_id, messages.c.channel, customers.c.always_reachable)
    ).all()
    for customer_id, channel, always_reachable, _ in groups:
        rules = rules_for(tx.conn, customer_id, channel, always_reachable)
        release_at = hold_until(rules, tx.now) or tx.now
        of_customer = select(conversations.c.id).where(conversations.c.customer_id == customer_id)
        tx.conn.execute(
            update(messages)
            .where(
                messages.c.state == "held",
                messages.c.channel == channel,
                messages.c.conversation_id.in_(of_customer),
            )
            .values(release_at=release_at)
        )
    return sum(count for *_, count in groups)


def next_release_at(conn: Connection) -> datetime | None:
    return conn.execute(
        select(func.min(messages.c.release_at)).where(messages.c.state == "held")
    ).scalar()


class Holds:
    """The release worker: runs passes when holds fall due, or when woken."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def release_due(self) -> int:
        """Release everything due now, batch by batch; how many were released."""
        total = 0
        while released := await self.db.write(release_due):
            total += released
        return total

    async def recompute(self) -> int:
        looked_at = await self.db.write(recompute_release_times)
        self.wake()
        return looked_at

    async def run(self) -> None:
        """Work until cancelled: a pass whenever something falls due or on a wake-up."""
        await work_when_due(
            "held-message release",
            self.release_due,
            partial(self.db.read, next_release_at),
            self.clock,
            self._wake,
            IDLE_WAIT,
        )
