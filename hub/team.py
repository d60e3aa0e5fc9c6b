"""Agents as admins manage them: accounts, roles, away with a backup."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, or_, select, update

from hub.assignment import load_agents, record_audit, reroute_open_conversation
from hub.auth import close_agent_sessions
from hub.db.database import Tx
from hub.db.schema import agents, conversations, customers
from hub.errors import Conflict, NotFound, Unprocessable
from hub.serialize import agent_json


def list_agents(conn: Connection) -> list[dict[str, Any]]:
    return [agent_json(r) for r in conn.execute(select(agents).order_by(agents.c.id)).mappings()]


def get_agent(conn: Connection, agent_id: int) -> dict[str, Any]:
    row = conn.execute(select(agents).where(agents.c.id == agent_id)).mappings().first()
    if row is None:
        raise NotFound(f"agent {agent_id} does not exist")
    return agent_json(row)


def create_agent(
    actor_id: int | None, email: str, name: str, password_hash: str, role: str, tx: Tx
) -> dict[str, Any]:
    email = email.strip().lower()
    if tx.conn.execute(select(agents.c.id).where(agents.c.email == email)).first():
        raise Conflict(f"an agent with email {email} already exists")
    agent_id = tx.conn.execute(
        insert(agents).values(
            email=email,
            name=name,
            password_hash=password_hash,
            role=role,
            active=True,
            away=False,
            created_at=tx.now,
        )
    ).inserted_primary_key[0]
    record_audit(tx, actor_id, "agent.created", "agent", agent_id, email=email, role=role)
    return get_agent(tx.conn, agent_id)


def check_backup(conn: Connection, agent_id: int | None, backup_id: int | None) -> None:
    if backup_id is None:
        return
    if backup_id == agent_id:
        raise Unprocessable("an agent cannot be their own backup")
    active = conn.execute(select(agents.c.active).where(agents.c.id == backup_id)).scalar()
    if not active:
        raise Unprocessable(f"backup {backup_id} is not an active agent")


def update_agent(actor_id: int, agent_id: int, changes: dict[str, Any], tx: Tx) -> dict[str, Any]:
    """Apply ``changes`` (name, role, active, away, backup_id, password_hash) and reroute.

    Passwords arrive hashed: hashing takes tens of milliseconds and must not
    hold the database writer.
    """
    before = get_agent(tx.conn, agent_id)
    if _removes_an_admin(before, changes):
        keep_an_admin(tx.conn, agent_id)
    if "backup_id" in changes:
        check_backup(tx.conn, agent_id, changes["backup_id"])
    if changes:
        tx.conn.execute(update(agents).where(agents.c.id == agent_id).values(changes))
    after = get_agent(tx.conn, agent_id)
    shown = {k: (before[k], after[k]) for k in changes if k in after and before[k] != after[k]}
    password_changed = "password_hash" in changes
    record_audit(
        tx,
        actor_id,
        "agent.updated",
        "agent",
        agent_id,
        changes={k: {"from": old, "to": new} for k, (old, new) in shown.items()},
        password_changed=password_changed,
    )
    if changes.get("active") is False or password_changed:
        reason = "deactivated" if "active" in shown else "password changed"
        close_agent_sessions(agent_id, reason, tx)
    if {"active", "away", "backup_id"} & shown.keys():
        reroute_affected_by(tx, agent_id)
        tx.emit("agent.updated", after, to=[None])
    return after


def _removes_an_admin(before: dict[str, Any], changes: dict[str, Any]) -> bool:
    if before["role"] != "admin" or not before["active"]:
        return False
    return changes.get("role", "admin") != "admin" or changes.get("active", True) is False


def keep_an_admin(conn: Connection, leaving_id: int) -> None:
    """Refuse to demote or deactivate the last active admin: nobody could manage the hub.

    The active admins' rows are locked (PostgreSQL), so two admins demoting each
    other at once cannot both succeed.
    """
    admins = conn.execute(
        select(agents.c.id)
        .where(agents.c.role == "admin", agents.c.active.is_(True))
        .with_for_update()
    ).scalars()
    if not set(admins) - {leaving_id}:
        raise Conflict(
            "this is the last active admin: make another agent an admin first, "
            "so that someone can still manage the hub"
        )


def reroute_affected_by(tx: Tx, agent_id: int) -> None:
    """Re-decide every open conversation whose handler may depend on this agent."""
    covered_owners = select(agents.c.id).where(agents.c.backup_id == agent_id)
    customer_ids = (
        tx.conn.execute(
            select(customers.c.id)
            .join(conversations, conversations.c.customer_id == customers.c.id)
            .where(
                conversations.c.state == "open",
                or_(
                    conversations.c.assignee_id == agent_id,
                    customers.c.owner_id == agent_id,
                    customers.c.backup_id == agent_id,
                    customers.c.owner_id.in_(covered_owners),
                ),
            )
        )
        .scalars()
        .all()
    )
    team = load_agents(tx.conn, tx.now)
    for customer_id in customer_ids:
        reroute_open_conversation(tx, customer_id, team)
