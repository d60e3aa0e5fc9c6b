"""Replies waiting for the customer's contact hours: send now, edit, cancel, reschedule.

A scheduled reply is a ``messages`` row in state ``scheduled`` with a pending
outbox row due at its ``release_at``; every change first holds that outbox
row back, so it cannot race the sender.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, update

from hub.auth import Principal
from hub.conversation_access import ConversationAccess, load_access
from hub.conversations import NOT_DUE, check_access, customer_rules
from hub.db.database import Tx
from hub.db.schema import agents, conversations, messages, outbox
from hub.errors import Conflict, NotFound
from hub.serialize import message_json
from routing.contact import quiet_until, reply_due_at


def scheduled_reply(conn: Connection, principal: Principal, message_id: int) -> ConversationAccess:
    """Access to a reply that is still waiting for the customer's hours, or a clear refusal."""
    row = conn.execute(
        select(messages.c.conversation_id, messages.c.state, messages.c.direction).where(
            messages.c.id == message_id
        )
    ).first()
    if row is None or row.direction != "out":
        raise NotFound(f"reply {message_id} does not exist")
    access = check_access(conn, principal, row.conversation_id)
    if row.state != "scheduled":
        raise Conflict(f"reply {message_id} is {row.state}: only a scheduled reply can change")
    return access


def hold_back_scheduled(tx: Tx, message_id: int, **changes: Any) -> None:
    """Change a scheduled reply's outbox row, unless the outbox has already taken it.

    With no ``changes`` the row is only locked, so an edit cannot race the sender.
    """
    taken = tx.conn.execute(
        update(outbox)
        .where(outbox.c.message_id == message_id, outbox.c.state == "pending")
        .values(changes or {"state": outbox.c.state})
    ).rowcount
    if not taken:
        raise Conflict(f"reply {message_id} is being sent: it can no longer change")


def send_scheduled_now(principal: Principal, message_id: int, tx: Tx) -> dict[str, Any]:
    access = scheduled_reply(tx.conn, principal, message_id)
    hold_back_scheduled(tx, message_id, next_attempt_at=tx.now)
    return _change_scheduled(tx, access, message_id, state="queued", release_at=None)


def edit_scheduled(principal: Principal, message_id: int, text: str, tx: Tx) -> dict[str, Any]:
    access = scheduled_reply(tx.conn, principal, message_id)
    hold_back_scheduled(tx, message_id)
    return _change_scheduled(tx, access, message_id, text=text)


def cancel_scheduled(principal: Principal, message_id: int, tx: Tx) -> dict[str, Any]:
    access = scheduled_reply(tx.conn, principal, message_id)
    hold_back_scheduled(tx, message_id, state="cancelled")
    message = _change_scheduled(tx, access, message_id, state="cancelled", release_at=None)
    restore_reply_due(tx, access)
    return message


def reschedule_replies(tx: Tx, customer_id: int) -> None:
    """After a customer's hours changed: scheduled replies leave at their new time."""
    waiting = tx.conn.execute(
        select(messages.c.id, messages.c.channel, conversations.c.id.label("conversation_id"))
        .join(conversations, conversations.c.id == messages.c.conversation_id)
        .join(outbox, outbox.c.message_id == messages.c.id)
        .where(
            conversations.c.customer_id == customer_id,
            messages.c.state == "scheduled",
            outbox.c.state == "pending",
        )
    ).all()
    for message_id, channel, conversation_id in waiting:
        send_at = quiet_until(customer_rules(tx.conn, customer_id, channel), tx.now)
        hold_back_scheduled(tx, message_id, next_attempt_at=send_at or tx.now)
        access = load_access(tx.conn, conversation_id)
        if send_at is None:
            _change_scheduled(tx, access, message_id, state="queued", release_at=None)
        else:
            _change_scheduled(tx, access, message_id, release_at=send_at)


def restore_reply_due(tx: Tx, access: ConversationAccess) -> None:
    """After a reply is cancelled: the customer is owed an answer again, as if it never was."""
    replies = (
        select(messages.c.created_at)
        .where(
            messages.c.conversation_id == access.conversation_id,
            messages.c.direction == "out",
            messages.c.author_id.is_not(None),
            messages.c.state != "cancelled",
        )
        .order_by(messages.c.created_at)
    )
    answered = [row.created_at for row in tx.conn.execute(replies)]
    unanswered = select(func.min(messages.c.created_at)).where(
        messages.c.conversation_id == access.conversation_id,
        messages.c.direction == "in",
        messages.c.state == "received",
    )
    if answered:
        unanswered = unanswered.where(messages.c.created_at > answered[-1])
    waiting_since = tx.conn.execute(unanswered).scalar()
    due = None
    if waiting_since is not None:
        channel = tx.conn.execute(
            select(conversations.c.last_channel).where(conversations.c.id == access.conversation_id)
        ).scalar()
        rules = customer_rules(tx.conn, access.customer_id, channel or "")
        due = reply_due_at(rules, waiting_since, answered_before=bool(answered))
    tx.conn.execute(
        update(conversations)
        .where(conversations.c.id == access.conversation_id)
        .values(
            {
                **NOT_DUE,
                "first_replied_at": answered[0] if answered else None,
                "reply_due_at": due,
            }
        )
    )


def _change_scheduled(
    tx: Tx, access: ConversationAccess, message_id: int, **changes: Any
) -> dict[str, Any]:
    tx.conn.execute(update(messages).where(messages.c.id == message_id).values(changes))
    row = (
        tx.conn.execute(
            select(messages, agents.c.name.label("author_name"))
            .outerjoin(agents, agents.c.id == messages.c.author_id)
            .where(messages.c.id == message_id)
        )
        .mappings()
        .one()
    )
    message = message_json(row)
    tx.emit(
        "message.updated",
        {"message": message},
        to=access.audience,
        conversation_id=access.conversation_id,
    )
    return message
