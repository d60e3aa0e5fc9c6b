"""Customers as admins manage them: owner and backup, identities, merging duplicates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, or_, select, update

from connectors.base import Address, Proof
from hub.assignment import load_agents, record_audit, reroute_open_conversation
from hub.db.database import Tx
from hub.db.schema import (
    agent_notices,
    agents,
    attachments,
    conversations,
    customers,
    identities,
    messages,
    outbox,
    satisfaction_surveys,
)
from hub.errors import Conflict, NotFound, Unprocessable
from hub.identities import claims_json, move_claims, settle_claims
from hub.report_store import fold_counts
from hub.satisfaction import fold_survey
from hub.serialize import identity_json, iso
from hub.tags import fold_tags

SEARCH_LIMIT = 200


def customer_json(conn: Connection, row: Any) -> dict[str, Any]:
    owned = conn.execute(
        select(identities).where(identities.c.customer_id == row.id).order_by(identities.c.id)
    ).mappings()
    return {
        "id": row.id,
        "name": row.name,
        "owner_id": row.owner_id,
        "backup_id": row.backup_id,
        "agreed_channel": row.agreed_channel,
        "zone": row.zone,
        "locale": row.locale,
        "created_at": iso(row.created_at),
        "identities": [identity_json(i) for i in owned],
        "claims": claims_json(conn, row.id),
    }


def get_customer(conn: Connection, customer_id: int) -> dict[str, Any]:
    row = conn.execute(select(customers).where(customers.c.id == customer_id)).first()
    if row is None:
        raise NotFound(f"customer {customer_id} does not exist")
    return customer_json(conn, row)


def search_customers(
    conn: Connection, text: str | None, owner_id: int | None
) -> list[dict[str, Any]]:
    query = select(customers).order_by(customers.c.id).limit(SEARCH_LIMIT)
    if owner_id is not None:
        query = query.where(customers.c.owner_id == owner_id)
    if text:
        pattern = f"%{text.lower()}%"
        by_identity = select(identities.c.customer_id).where(
            func.lower(identities.c.address).like(pattern)
        )
        query = query.where(
            or_(func.lower(customers.c.name).like(pattern), customers.c.id.in_(by_identity))
        )
    return [customer_json(conn, row) for row in conn.execute(query)]


def require_active_agent(conn: Connection, agent_id: int, role: str) -> None:
    active = conn.execute(select(agents.c.active).where(agents.c.id == agent_id)).scalar()
    if active is None:
        raise Unprocessable(f"{role} {agent_id} is not an agent")
    if not active:
        raise Unprocessable(f"{role} {agent_id} is deactivated")


def update_customer(actor_id: int, customer_id: int, changes: dict[str, Any], tx: Tx) -> dict:
    """Change name, owner or backup; ownership changes are audited and rerouted at once."""
    before = get_customer(tx.conn, customer_id)
    for field in ("owner_id", "backup_id"):
        if changes.get(field) is not None:
            require_active_agent(tx.conn, changes[field], field.removesuffix("_id"))
    owner = changes.get("owner_id", before["owner_id"])
    if owner is not None and changes.get("backup_id", before["backup_id"]) == owner:
        raise Unprocessable("a customer's backup must be someone other than the owner")
    if changes:
        tx.conn.execute(update(customers).where(customers.c.id == customer_id).values(changes))
    for field, action in (("owner_id", "owner.changed"), ("backup_id", "backup.changed")):
        if field in changes and changes[field] != before[field]:
            record_audit(
                tx,
                actor_id,
                action,
                "customer",
                customer_id,
                before=before[field],
                after=changes[field],
            )
    reroute_open_conversation(tx, customer_id, load_agents(tx.conn, tx.now))
    return get_customer(tx.conn, customer_id)


def reassign_all(actor_id: int, from_agent: int, to_agent: int, tx: Tx) -> dict[str, Any]:
    """Give every customer of one agent to another; open conversations follow."""
    if from_agent == to_agent:
        raise Unprocessable("choose two different agents")
    require_active_agent(tx.conn, to_agent, "new owner")
    moved = (
        tx.conn.execute(
            select(customers.c.id)
            .where(customers.c.owner_id == from_agent)
            .order_by(customers.c.id)
        )
        .scalars()
        .all()
    )
    tx.conn.execute(update(customers).where(customers.c.id.in_(moved)).values(owner_id=to_agent))
    tx.conn.execute(
        update(customers)
        .where(customers.c.id.in_(moved), customers.c.backup_id == to_agent)
        .values(backup_id=None)
    )
    team = load_agents(tx.conn, tx.now)
    for customer_id in moved:
        record_audit(
            tx,
            actor_id,
            "owner.changed",
            "customer",
            customer_id,
            before=from_agent,
            after=to_agent,
            bulk=True,
        )
        reroute_open_conversation(tx, customer_id, team)
    return {"moved_customers": list(moved), "from_agent_id": from_agent, "to_agent_id": to_agent}


def add_identity(actor_id: int, customer_id: int, kind: str, address: str, tx: Tx) -> dict:
    get_customer(tx.conn, customer_id)
    holder = tx.conn.execute(
        select(identities.c.customer_id).where(
            identities.c.kind == kind, identities.c.address == address
        )
    ).scalar()
    if holder is not None:
        raise Conflict(
            f"{kind} {address} already belongs to customer {holder}: merge the customers instead",
            customer_id=holder,
        )
    tx.conn.execute(
        insert(identities).values(
            customer_id=customer_id,
            kind=kind,
            address=address,
            verified_by=Proof.PERSON,
            created_at=tx.now,
        )
    )
    settle_claims(tx, customer_id, [Address(kind, address)])
    record_audit(
        tx, actor_id, "identity.added", "customer", customer_id, kind=kind, address=address
    )
    return get_customer(tx.conn, customer_id)


def merge_customers(
    actor_id: int | None, keep_id: int, merged_id: int, tx: Tx, proof: Proof = Proof.PERSON
) -> dict[str, Any]:
    """Fold ``merged_id`` into ``keep_id``: identities, conversations and messages all move.

    If both have an open conversation, the merged one's messages join the kept
    one, so the customer still has exactly one open conversation. ``actor_id`` is
    the person who merged, or ``None`` when a proof did (a code the visitor entered).
    """
    if keep_id == merged_id:
        raise Unprocessable("cannot merge a customer into itself")
    kept = get_customer(tx.conn, keep_id)
    merged = get_customer(tx.conn, merged_id)
    open_ids = {
        row.customer_id: row.id
        for row in tx.conn.execute(
            select(conversations.c.id, conversations.c.customer_id).where(
                conversations.c.customer_id.in_((keep_id, merged_id)),
                conversations.c.state == "open",
            )
        )
    }
    if keep_id in open_ids and merged_id in open_ids:
        fold_conversation(tx, open_ids[merged_id], open_ids[keep_id])
    tx.conn.execute(
        update(identities).where(identities.c.customer_id == merged_id).values(customer_id=keep_id)
    )
    move_claims(tx, merged_id, keep_id)
    for table in (conversations, agent_notices, satisfaction_surveys):
        tx.conn.execute(
            update(table).where(table.c.customer_id == merged_id).values(customer_id=keep_id)
        )
    adopted = {k: merged[k] for k in ("owner_id", "backup_id") if kept[k] is None and merged[k]}
    if adopted:
        tx.conn.execute(update(customers).where(customers.c.id == keep_id).values(adopted))
    tx.conn.execute(delete(customers).where(customers.c.id == merged_id))
    record_audit(
        tx,
        actor_id,
        "customer.merged",
        "customer",
        keep_id,
        merged_customer=merged,
        adopted=adopted,
        proof=proof,
    )
    reroute_open_conversation(tx, keep_id, load_agents(tx.conn, tx.now))
    open_conversation = tx.conn.execute(
        select(conversations.c.id).where(
            conversations.c.customer_id == keep_id, conversations.c.state == "open"
        )
    ).scalar()
    return {**get_customer(tx.conn, keep_id), "open_conversation_id": open_conversation}


def fold_conversation(tx: Tx, source_id: int, target_id: int) -> None:
    for table in (messages, outbox, agent_notices, attachments):
        tx.conn.execute(
            update(table)
            .where(table.c.conversation_id == source_id)
            .values(conversation_id=target_id)
        )
    source = tx.conn.execute(select(conversations).where(conversations.c.id == source_id)).one()
    target = tx.conn.execute(select(conversations).where(conversations.c.id == target_id)).one()
    newest = source if source.last_message_at > target.last_message_at else target
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == target_id)
        .values(
            unread_count=source.unread_count + target.unread_count,
            last_message_at=newest.last_message_at,
            last_channel=newest.last_channel,
            last_identity_id=newest.last_identity_id,
        )
    )
    fold_tags(tx, source_id, target_id)
    fold_survey(tx, source_id, target_id)
    fold_counts(tx, source_id, target_id)
    tx.conn.execute(delete(conversations).where(conversations.c.id == source_id))
    tx.emit(
        "conversation.merged",
        {"conversation_id": source_id, "into": target_id},
        to=[a for a in (source.assignee_id, target.assignee_id) if a],
        conversation_id=target_id,
    )


def agree_channel(
    tx: Tx, actor_id: int, customer_id: int, kind: str | None, channels_by_kind: dict[str, str]
) -> None:
    """Set the kind of identity replies go to by default (audited): one the customer proved
    (replies default only to proven identities) and the hub can reach."""
    if kind is not None:
        has = tx.conn.execute(
            select(identities.c.id).where(
                identities.c.customer_id == customer_id,
                identities.c.kind == kind,
                identities.c.verified_by.is_not(None),
            )
        ).first()
        if has is None or kind not in channels_by_kind:
            reason = f"the customer has no proven {kind} identity a configured channel can reach"
            raise Unprocessable.in_field("agreed_channel", reason)
    before = tx.conn.execute(
        select(customers.c.agreed_channel).where(customers.c.id == customer_id)
    ).scalar()
    tx.conn.execute(
        update(customers).where(customers.c.id == customer_id).values(agreed_channel=kind)
    )
    record_audit(
        tx,
        actor_id,
        "customer.agreed_channel",
        "customer",
        customer_id,
        to=kind,
        **{"from": before},
    )
