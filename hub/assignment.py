"""Applying the pure routing decisions to stored customers and conversations."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, func, insert, select, update

from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import agents, audit_log, conversations, customers, hub_state
from routing.owners import Agent, AgentLoad, CustomerOwnership, Handling, choose_owner, who_handles

LAST_OWNER_KEY = "routing.last_owner_id"
# Prepared: every message runs TEAM, every first contact the rest.
TEAM = Prepared(select(agents.c.id, agents.c.active, agents.c.away, agents.c.backup_id))
OPEN_COUNT = Prepared(
    select(func.count())
    .select_from(conversations)
    .where(conversations.c.assignee_id == bindparam("agent"), conversations.c.state == "open")
)
LAST_OWNER = Prepared(select(hub_state.c.value).where(hub_state.c.key == LAST_OWNER_KEY))
INSERT_LAST_OWNER = Prepared(insert(hub_state).values(key=LAST_OWNER_KEY, value=bindparam("owner")))
UPDATE_LAST_OWNER = Prepared(
    update(hub_state).where(hub_state.c.key == LAST_OWNER_KEY).values(value=bindparam("owner"))
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


def open_loads(conn: Connection, candidates: list[int]) -> list[AgentLoad]:
    return [AgentLoad(agent_id, OPEN_COUNT.scalar(conn, agent=agent_id)) for agent_id in candidates]


def assign_first_owner(tx: Tx, customer_id: int, team: dict[int, Agent]) -> int | None:
    """Give an unowned customer an owner by the first-contact policy, if anyone is available."""
    available = sorted(agent.id for agent in team.values() if agent.available)
    last = LAST_OWNER.scalar(tx.conn)
    owner_id = choose_owner(open_loads(tx.conn, available), int(last) if last else None)
    if owner_id is None:
        return None
    SET_OWNER.run(tx.conn, customer=customer_id, owner=owner_id)
    remember = INSERT_LAST_OWNER if last is None else UPDATE_LAST_OWNER
    remember.run(tx.conn, owner=str(owner_id))
    record_audit(tx, None, "owner.assigned", "customer", customer_id, before=None, after=owner_id)
    return owner_id


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
    handling = who_handles(CustomerOwnership(customer.owner_id, customer.backup_id), team)
    row = tx.conn.execute(
        select(conversations.c.id, conversations.c.assignee_id).where(
            conversations.c.customer_id == customer_id, conversations.c.state == "open"
        )
    ).first()
    if row is not None:
        hand_over(tx, row.id, row.assignee_id, handling, customer.owner_id)
    return handling


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
