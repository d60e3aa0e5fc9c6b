"""Applying the pure routing decisions to stored customers and conversations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Text,
    bindparam,
    cast,
    func,
    insert,
    select,
    update,
)

from hub.contact import AGENT_SCOPE, parse_hours, stored_hours
from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import UtcDateTime, agent_absences, agents, audit_log, conversations, customers
from routing.owners import (
    Absence,
    Agent,
    AgentLoad,
    CustomerOwnership,
    Handling,
    choose_owner,
    who_handles,
)

NOW = bindparam("now", type_=UtcDateTime)


def agent_columns(table: FromClause) -> tuple[ColumnElement[Any], ...]:
    """The columns of ``agents`` (or an alias of it) that make a routing :class:`Agent`.

    With the agent's own hours (stored JSON), the end of an absence covering
    ``:now`` and whether it was handed over; :func:`agent_from` reads them back.
    """
    covering = (
        agent_absences.c.agent_id == table.c.id,
        agent_absences.c.starts_at <= NOW,
        agent_absences.c.ends_at > NOW,
    )
    absent_until = select(func.max(agent_absences.c.ends_at)).where(*covering).scalar_subquery()
    handed_over = (
        select(agent_absences.c.id)
        .where(
            *covering,
            agent_absences.c.handed_over_at.is_not(None),
            agent_absences.c.handed_back_at.is_(None),
        )
        .exists()
    )
    hours = stored_hours(AGENT_SCOPE, cast(table.c.id, Text))
    return (
        table.c.id,
        table.c.active,
        table.c.away,
        table.c.backup_id,
        hours,
        absent_until,
        handed_over,
    )


AGENT_WIDTH = len(agent_columns(agents))


def agent_from(values: Sequence[Any], now: datetime) -> Agent:
    """A routing :class:`Agent` from the values of :func:`agent_columns` read at ``now``."""
    agent_id, active, away, backup_id, hours, absent_until, handed_over = values
    return Agent(
        agent_id,
        active,
        away,
        backup_id,
        parse_hours(hours) if hours else None,
        (Absence(now, absent_until, bool(handed_over)),) if absent_until else (),
    )


TEAM = Prepared(select(*agent_columns(agents)))
# Every first contact runs these (prepared, see hub/db/prepared.py).
AVAILABLE_WITH_LOADS = Prepared(
    select(
        *agent_columns(agents),
        select(func.count())
        .select_from(conversations)
        .where(conversations.c.assignee_id == agents.c.id, conversations.c.state == "open")
        .scalar_subquery(),
    ).where(agents.c.active, ~agents.c.away)
)
NEWEST_CUSTOMERS_OWNER = Prepared(
    select(customers.c.owner_id)
    .where(customers.c.owner_id.is_not(None))
    .order_by(customers.c.id.desc())
    .limit(1)
)
SET_OWNER = Prepared(
    update(customers)
    .where(customers.c.id == bindparam("customer"))
    .values(owner_id=bindparam("owner"))
)
AUDIT = Prepared(
    insert(audit_log).values(
        {
            name: bindparam(name)
            for name in ("actor_id", "action", "subject_type", "subject_id", "details", "at")
        }
    )
)


def load_agents(conn: Connection, now: datetime) -> dict[int, Agent]:
    """The whole team as routing sees it at ``now``; prepared, as every inbound message needs it."""
    return {row[0]: agent_from(row, now) for row in TEAM.rows(conn, now=now)}


def assign_first_owner(tx: Tx, customer_id: int) -> Agent | None:
    """Give an unowned customer an owner by the first-contact policy.

    The owner comes from the agents available now (inside their own hours, not
    absent); when none is, from every active agent not switched to away, so a
    customer who writes at night still gets an owner (their backup or the
    waiting message covers until the owner's hours open).

    The turn goes on from the owner of the newest customer that has one: read
    from the customers, not kept in a row of its own, because every first
    contact would then update that one row, and concurrent transactions would
    queue for it (first contacts ran at a third of the usual rate on PostgreSQL).
    """
    candidates = {
        row[0]: (agent_from(row[:AGENT_WIDTH], tx.now), row[AGENT_WIDTH])
        for row in AVAILABLE_WITH_LOADS.rows(tx.conn, now=tx.now)
    }
    working = {k: v for k, v in candidates.items() if v[0].available_at(tx.now)}
    loads = [AgentLoad(agent_id, load) for agent_id, (_, load) in (working or candidates).items()]
    owner_id = choose_owner(loads, NEWEST_CUSTOMERS_OWNER.scalar(tx.conn))
    if owner_id is None:
        return None
    SET_OWNER.run(tx.conn, customer=customer_id, owner=owner_id)
    record_audit(tx, None, "owner.assigned", "customer", customer_id, before=None, after=owner_id)
    return candidates[owner_id][0]


def record_audit(
    tx: Tx,
    actor_id: int | None,
    action: str,
    subject_type: str,
    subject_id: int,
    **details: object,
) -> None:
    AUDIT.run(
        tx.conn,
        actor_id=actor_id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        details=details,
        at=tx.now,
    )


def reroute_open_conversation(tx: Tx, customer_id: int, team: dict[int, Agent]) -> Handling:
    """Point the customer's open conversation at whoever handles it now."""
    customer = tx.conn.execute(
        select(customers.c.owner_id, customers.c.backup_id).where(customers.c.id == customer_id)
    ).one()
    handling = handling_for(customer.owner_id, customer.backup_id, team, tx.now)
    row = tx.conn.execute(
        select(conversations.c.id, conversations.c.assignee_id).where(
            conversations.c.customer_id == customer_id, conversations.c.state == "open"
        )
    ).first()
    if row is not None:
        hand_over(tx, row.id, row.assignee_id, handling, customer.owner_id)
    return handling


def handling_for(
    owner_id: int | None, backup_id: int | None, team: dict[int, Agent], now: datetime
) -> Handling:
    """Who handles a customer's conversation at ``now``, by ``routing.who_handles``.

    ``team`` holds at least the owner, the customer's backup and the owner's backup.
    """
    return who_handles(CustomerOwnership(owner_id, backup_id), team, now)


def hand_over(
    tx: Tx, conversation_id: int, assignee_id: int | None, handling: Handling, owner_id: int | None
) -> None:
    """Record a change of handler on a conversation and tell everyone concerned."""
    if assignee_id == handling.agent_id:
        return
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(assignee_id=handling.agent_id)
    )
    tx.emit(
        "conversation.assigned",
        {
            "conversation_id": conversation_id,
            "from": assignee_id,
            "to": handling.agent_id,
            "handled_by": handling.by.value,
            "owner_id": owner_id,
        },
        to=[a for a in (assignee_id, handling.agent_id, owner_id) if a],
        conversation_id=conversation_id,
    )
