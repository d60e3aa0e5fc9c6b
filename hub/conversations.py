"""What agents do in a conversation: read it, reply, write notes, resolve, reopen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, select, update

from hub.auth import Principal
from hub.contact import rules_for
from hub.conversation_access import ConversationAccess, load_access
from hub.db.database import Tx
from hub.db.schema import agents, conversations, customers, identities, messages
from hub.errors import Forbidden, Unprocessable
from hub.identities import claims_json
from hub.opt_outs import refuse_if_opted_out
from hub.outbox import enqueue
from hub.serialize import identity_json, iso, message_json
from hub.uploads import NO_FILES, ReplyFiles, attach_files, files_meta
from routing.contact import ContactRules, quiet_until

HISTORY_LIMIT = 500
NOT_DUE = {"reply_due_at": None, "due_soon_notified_at": None, "overdue_notified_at": None}
"""A conversation owed no reply: no due time, and no escalation told for one (hub/escalation.py)."""


def check_access(
    conn: Connection, principal: Principal, conversation_id: int
) -> ConversationAccess:
    access = load_access(conn, conversation_id)
    if not principal.is_admin and principal.agent_id not in access.audience:
        raise Forbidden(f"conversation {conversation_id} is handled by another agent")
    return access


def conversation_summary_query():  # noqa: ANN201 - a SQLAlchemy select
    return select(
        conversations.c.id,
        conversations.c.state,
        conversations.c.assignee_id,
        conversations.c.last_channel,
        conversations.c.last_message_at,
        conversations.c.unread_count,
        conversations.c.created_at,
        conversations.c.resolved_at,
        conversations.c.reply_due_at,
        conversations.c.due_soon_notified_at,
        customers.c.id.label("customer_id"),
        customers.c.name.label("customer_name"),
        customers.c.owner_id,
    ).join(customers, customers.c.id == conversations.c.customer_id)


def summary_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "state": row.state,
        "customer": {"id": row.customer_id, "name": row.customer_name},
        "owner_id": row.owner_id,
        "assignee_id": row.assignee_id,
        "waiting_for_owner": row.state == "open" and row.assignee_id is None,
        "last_channel": row.last_channel,
        "last_message_at": iso(row.last_message_at),
        "unread_count": row.unread_count,
        "created_at": iso(row.created_at),
        "resolved_at": iso(row.resolved_at),
        "reply_due_at": iso(row.reply_due_at),
    }


def conversation_detail(
    principal: Principal, conversation_id: int, conn: Connection
) -> dict[str, Any]:
    access = check_access(conn, principal, conversation_id)
    summary = conn.execute(
        conversation_summary_query().where(conversations.c.id == conversation_id)
    ).one()
    history = conn.execute(
        select(messages, agents.c.name.label("author_name"))
        .outerjoin(agents, agents.c.id == messages.c.author_id)
        .where(messages.c.conversation_id == conversation_id)
        .order_by(messages.c.id)
        .limit(HISTORY_LIMIT)
    ).mappings()
    customer_identities = conn.execute(
        select(identities)
        .where(identities.c.customer_id == access.customer_id)
        .order_by(identities.c.id)
    ).mappings()
    earlier = conn.execute(
        conversation_summary_query()
        .where(
            conversations.c.customer_id == access.customer_id,
            conversations.c.id != conversation_id,
        )
        .order_by(conversations.c.id.desc())
        .limit(50)
    )
    return {
        **summary_json(summary),
        "messages": [message_json(m) for m in history],
        "identities": [identity_json(i) for i in customer_identities],
        "default_identity_id": default_identity_id(conn, conversation_id),
        "agreed_channel": conn.execute(
            select(customers.c.agreed_channel).where(customers.c.id == access.customer_id)
        ).scalar(),
        "claims": claims_json(conn, access.customer_id),
        "other_conversations": [summary_json(c) for c in earlier],
    }


def default_identity_id(conn: Connection, conversation_id: int) -> int | None:
    """The identity a reply goes to unless the agent chooses: the customer's agreed channel
    (a proven identity of that kind), else where the customer last wrote.

    Unless nothing proved that identity while another of the customer's is proven:
    then the proven one they wrote from last (a reply never goes by default where
    an unverified address could take it).
    """
    last = conn.execute(
        select(
            identities.c.id,
            identities.c.verified_by,
            identities.c.customer_id,
            customers.c.agreed_channel,
        )
        .join(conversations, conversations.c.last_identity_id == identities.c.id)
        .join(customers, customers.c.id == identities.c.customer_id)
        .where(conversations.c.id == conversation_id)
    ).first()
    if last is None:
        return None
    if last.agreed_channel is not None:
        agreed_kind = identities.c.kind == last.agreed_channel
        agreed = _latest_identity(
            conn, last.customer_id, and_(agreed_kind, identities.c.verified_by.is_not(None))
        )
        if agreed is not None:
            return agreed
    if last.verified_by is not None:
        return last.id
    proven = _latest_identity(conn, last.customer_id, identities.c.verified_by.is_not(None))
    return proven if proven is not None else last.id


def _latest_identity(conn: Connection, customer_id: int, which: Any) -> int | None:
    """Of the customer's identities matching ``which``, the one written from last (proven
    ones first)."""
    return conn.execute(
        select(identities.c.id)
        .outerjoin(messages, messages.c.identity_id == identities.c.id)
        .where(identities.c.customer_id == customer_id, which)
        .order_by(
            identities.c.verified_by.is_(None),
            func.max(messages.c.id).desc().nulls_last(),
            identities.c.id.desc(),
        )
        .group_by(identities.c.id, identities.c.verified_by)
        .limit(1)
    ).scalar()


@dataclass(frozen=True)
class Target:
    identity_id: int
    channel: str


def reply_target(
    conn: Connection,
    access: ConversationAccess,
    identity_id: int | None,
    channels_by_kind: dict[str, str],
) -> Target:
    """The identity and channel a reply leaves on: the chosen identity or the default one."""
    if identity_id is None:
        identity_id = default_identity_id(conn, access.conversation_id)
        if identity_id is None:
            raise Unprocessable("the customer has not written yet: choose an identity_id")
    row = conn.execute(
        select(identities.c.kind, identities.c.last_channel).where(
            identities.c.id == identity_id, identities.c.customer_id == access.customer_id
        )
    ).first()
    if row is None:
        raise Unprocessable(f"identity {identity_id} is not one of this customer's identities")
    channel = row.last_channel or channels_by_kind.get(row.kind)
    if channel is None:
        raise Unprocessable(f"no configured channel can reach a {row.kind} identity")
    return Target(identity_id, channel)


def post_reply(
    principal: Principal,
    conversation_id: int,
    text: str,
    identity_id: int | None,
    channels_by_kind: dict[str, str],
    tx: Tx,
    send_now: bool = False,
    files: ReplyFiles = NO_FILES,
) -> dict[str, Any]:
    """Store the reply, its files and its outbox entry in one transaction; the worker sends it.

    Outside the customer's agreed contact hours the reply is scheduled for
    their next opening instead (state ``scheduled``, ``release_at`` set), unless
    the agent chose ``send_now`` (their meta says ``outside_hours``: the agent chose).
    """
    access = check_access(tx.conn, principal, conversation_id)
    target = reply_target(tx.conn, access, identity_id, channels_by_kind)
    uploads = files.checked(tx.conn, conversation_id, target.channel)
    refuse_if_opted_out(tx.conn, target.identity_id, target.channel)
    quiet = quiet_until(customer_rules(tx.conn, access.customer_id, target.channel), tx.now)
    send_at = None if send_now else quiet
    state = "scheduled" if send_at else "queued"
    meta = {**({"outside_hours": True} if quiet and send_now else {}), **files_meta(uploads)}
    row = _insert_message(tx, access, "out", text, state, target, principal, send_at, meta)
    attach_files(tx, row["id"], uploads)
    enqueue(tx, row["id"], conversation_id, target.channel, send_at or tx.now)
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(
            unread_count=0,
            last_message_at=tx.now,
            first_replied_at=func.coalesce(conversations.c.first_replied_at, tx.now),
            **NOT_DUE,
        )
    )
    return message_json(row)


def customer_rules(conn: Connection, customer_id: int, channel: str) -> ContactRules:
    always_reachable = conn.execute(
        select(customers.c.always_reachable).where(customers.c.id == customer_id)
    ).scalar_one()
    return rules_for(conn, customer_id, channel, always_reachable)


def post_note(principal: Principal, conversation_id: int, text: str, tx: Tx) -> dict[str, Any]:
    access = check_access(tx.conn, principal, conversation_id)
    row = _insert_message(tx, access, "note", text, "note", None, principal)
    return message_json(row)


def _insert_message(
    tx: Tx,
    access: ConversationAccess,
    direction: str,
    text: str,
    state: str,
    target: Target | None,
    author: Principal,
    release_at: datetime | None = None,
    meta: dict[str, Any] | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "conversation_id": access.conversation_id,
        "direction": direction,
        "channel": target.channel if target else None,
        "identity_id": target.identity_id if target else None,
        "external_id": None,
        "author_id": author.agent_id,
        "text": text,
        "html": None,
        "state": state,
        "error": None,
        "created_at": tx.now,
        "sent_at": None,
        "release_at": release_at,
        **({"meta": meta} if meta else {}),
    }
    row["id"] = tx.conn.execute(insert(messages).values(row)).inserted_primary_key[0]
    row["author_name"] = author.name
    tx.emit(
        "message.created",
        {"message": message_json(row), "assignee_id": access.assignee_id},
        to=[*access.audience, author.agent_id],
        conversation_id=access.conversation_id,
    )
    return row


def mark_read(principal: Principal, conversation_id: int, tx: Tx) -> None:
    access = check_access(tx.conn, principal, conversation_id)
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == access.conversation_id)
        .values(unread_count=0)
    )


def set_state(principal: Principal, conversation_id: int, state: str, tx: Tx) -> dict[str, Any]:
    """Resolve or reopen; a customer can only have one open conversation at a time."""
    access = check_access(tx.conn, principal, conversation_id)
    if access.state == state:
        return _summary(tx.conn, conversation_id)
    if state == "open":
        other = tx.conn.execute(
            select(conversations.c.id).where(
                and_(
                    conversations.c.customer_id == access.customer_id,
                    conversations.c.state == "open",
                )
            )
        ).scalar()
        if other is not None:
            raise Unprocessable(
                f"the customer already has open conversation {other}: resolve it first",
                open_conversation_id=other,
            )
    # Resolved or reopened by an agent, it is owed no reply (and escalates no more) until
    # the customer writes again.
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == conversation_id)
        .values(state=state, resolved_at=tx.now if state == "resolved" else None, **NOT_DUE)
    )
    tx.emit(
        "conversation.state",
        {"conversation_id": conversation_id, "state": state, "by": principal.agent_id},
        to=[*access.audience, principal.agent_id],
        conversation_id=conversation_id,
    )
    return _summary(tx.conn, conversation_id)


def _summary(conn: Connection, conversation_id: int) -> dict[str, Any]:
    return summary_json(
        conn.execute(
            conversation_summary_query().where(conversations.c.id == conversation_id)
        ).one()
    )
