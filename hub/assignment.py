"""Applying the pure routing decisions to stored customers and conversations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    bindparam,
    func,
    insert,
    select,
    update,
)

from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import agents, audit_log, conversations, customers
from routing.owners import Agent, AgentLoad, CustomerOwnership, Handling, choose_owner, who_handles


def agent_columns(table: FromClause) -> tuple[ColumnElement[Any], ...]:
    """The columns of ``agents`` (or an alias of it) that make a routing :class:`Agent`."""
    return (table.c.id, table.c.active, table.c.away, table.c.backup_id)


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


def load_agents(conn: Connection) -> dict[int, Agent]:
    """The whole team; prepared, as every inbound message needs it."""
    return {row[0]: Agent(*row) for row in TEAM.rows(conn)}


def assign_first_owner(tx: Tx, customer_id: int) -> Agent | None:
    """Give an unowned customer an owner by the first-contact policy, if anyone is available.

    The turn goes on from the owner of the newest customer that has one: read
    from the customers, not kept in a row of its own, because every first
    contact would then update that one row, and concurrent transactions would
    queue for it (first contacts ran at a third of the usual rate on PostgreSQL).
    """
    available = {row[0]: (Agent(*row[:4]), row[4]) for row in AVAILABLE_WITH_LOADS.rows(tx.conn)}
    loads = [AgentLoad(agent_id, load) for agent_id, (_, load) in available.items()]
    owner_id = choose_owner(loads, NEWEST_CUSTOMERS_OWNER.scalar(tx.conn))
    if owner_id is None:
        return None
    SET_OWNER.run(tx.conn, customer=customer_id, owner=owner_id)
    record_audit(tx, None, "owner.assigned", "customer", customer_id, before=None, after=owner_id)
    return available[owner_id][0]


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
    handling = handling_for(customer.owner_id, customer.backup_id, team)
    row = tx.conn.execute(
        select(conversations.c.id, conversations.c.assignee_id).where(
            conversations.c.customer_id == customer_id, conversations.c.state == "open"
        )
    ).first()
    if row is not None:
        hand_over(tx, row.id, row.assignee_id, handling, customer.owner_id)
    return handling


def handling_for(owner_id: int | None, backup_id: int | None, team: dict[int, Agent]) -> Handling:
    """Who handles a customer's conversation now, by ``routing.who_handles``.

    ``team`` holds at least the owner, the customer's backup and the owner's backup.
    """
    return who_handles(CustomerOwnership(owner_id, backup_id), team)


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
