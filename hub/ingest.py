"""The one entry point for customer messages, whatever the channel.

Idempotent by (channel, external id); resolves the customer from the sender's
identity; keeps one open conversation per customer across channels; routes it
to the owner (or the backup covering); stores the message and tells the inbox.
A reaction to a message the hub has is kept on that one instead (``hub.reactions``).
The message is committed before the caller acknowledges anything.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, update

from connectors.base import InboundMessage, IngestResult
from connectors.media import safe_media_type
from hub.assignment import assign_first_owner, handling_for
from hub.autoreply import send_autoreply
from hub.db.database import Tx
from hub.db.prepared import InsertThenUpdate, Prepared
from hub.db.schema import UtcDateTime, attachments, conversations, customers, identities, messages
from hub.delivery import announce, deliver
from hub.errors import Unprocessable
from hub.identities import record_claims
from hub.opt_outs import record_opt_out
from hub.reactions import keep_reaction
from hub.repeats import DIGEST, Reused, repeat_or_reuse
from hub.senders import (
    Sender,
    disputed_sender,
    find_sender,
    proven_sender,
    record_reported_hints,
)
from routing.contact import hold_until, reply_due_at

log = logging.getLogger(__name__)

MESSAGE_COLUMNS = (
    "conversation_id",
    "direction",
    "channel",
    "identity_id",
    "external_id",
    "author_id",
    "text",
    "html",
    "state",
    "error",
    "meta",
    "created_at",
    "sent_at",
    "release_at",
)


# Every inbound message runs these, so they are prepared (see hub/db/prepared.py).
STORE_MESSAGE = InsertThenUpdate(
    insert(messages)
    .values({column: bindparam(column) for column in MESSAGE_COLUMNS})
    .returning(messages.c.id),
    update(conversations)
    .where(conversations.c.id == bindparam("conversation"))
    .values(
        last_message_at=bindparam("at"),
        last_channel=bindparam("channel_name"),
        last_identity_id=bindparam("identity"),
        unread_count=conversations.c.unread_count + bindparam("new_work"),
        reply_due_at=func.coalesce(
            conversations.c.reply_due_at, bindparam("due", type_=UtcDateTime)
        ),
    ),
)
"""The message row, and its conversation brought up to date."""
OPEN_NEW_CONVERSATION = Prepared(
    insert(conversations)
    .values(
        customer_id=bindparam("customer_id"),
        state="open",
        assignee_id=bindparam("assignee_id"),
        last_message_at=bindparam("at"),
        unread_count=0,
        created_at=bindparam("at"),
    )
    .returning(conversations.c.id)
)
MOVE_IDENTITY_CHANNEL = Prepared(
    update(identities)
    .where(identities.c.id == bindparam("identity"))
    .values(last_channel=bindparam("channel_name"))
)


def ingest(message: InboundMessage, tx: Tx, pool: frozenset[str] | None = None) -> IngestResult:
    """Store and route ``message``; ``pool``: the channels whose identities its channel may
    write as (``None``: any; see ``hub.identities.check_may_speak_for``)."""
    known = find_sender(tx, message.sender, message)
    if message.reaction is not None and (kept := keep_reaction(tx, message, known)):
        return kept
    if known is None or known.already_stored:
        match repeat_or_reuse(tx, message):
            case IngestResult() as repeat:
                return repeat
            case Reused(message=apart, first_id=first_id):
                result = store_new(tx, apart, known, pool)
                log.warning(
                    "channel %s: message %d came with the external id of message %d but says "
                    "something else: stored apart, marked",
                    apart.channel,
                    result.message_id,
                    first_id,
                )
                return result
    return store_new(tx, message, known, pool)


def store_new(
    tx: Tx, message: InboundMessage, known: Sender | None, pool: frozenset[str] | None
) -> IngestResult:
    """Store and route a message that is no repeat; ``known``: its sender, if known."""
    answered = message.conversation_hint
    if message.automated and answered is not None and known is None:
        return file_machine_mail(tx, message, answered)
    if message.auth_failure is not None:
        sender = disputed_sender(tx, message)
    else:
        sender = proven_sender(tx, message, known, pool)
    record_claims(tx, sender.customer_id, message.claimed, message.channel, "typed")
    record_reported_hints(tx, sender, message)
    if sender.owner_id is None and (owner := assign_first_owner(tx, sender.customer_id)):
        sender.owner_id, sender.handlers = owner.id, {owner.id: owner}
    handling = handling_for(sender.owner_id, sender.backup_id, sender.handlers, tx.now)
    conversation_id, assignee_id = open_conversation(tx, sender, handling.agent_id, message)
    rules = sender.rules
    release_at = hold_until(rules, tx.now)
    due = None if release_at else reply_due_at(rules, tx.now, sender.answered_before)
    row = message_row(tx, message, sender, conversation_id, release_at)
    row["id"] = STORE_MESSAGE.scalar(
        tx.conn,
        **row,
        conversation=conversation_id,
        at=tx.now,
        channel_name=message.channel,
        identity=sender.identity_id,
        new_work=0 if release_at else 1,
        due=due,
    )
    store_attachments(tx, message, row["id"])
    if message.opt_out is not None and sender.identity_id is not None:
        record_opt_out(tx, sender.identity_id, message.channel, message.opt_out)
    if sender.identity_id is not None and sender.identity_channel != message.channel:
        MOVE_IDENTITY_CHANNEL.run(
            tx.conn, identity=sender.identity_id, channel_name=message.channel
        )
    if release_at is None:
        deliver(
            tx,
            [row],
            customer_id=sender.customer_id,
            customer_name=sender.customer_name,
            assignee_id=assignee_id,
            handling=handling,
            owner_id=sender.owner_id,
        )
    elif not (message.automated or message.opt_out) and sender.autoreplied_until != release_at:
        send_autoreply(tx, row, rules, sender.customer_id, message.sender.kind, release_at)
    return IngestResult(row["id"], conversation_id, sender.customer_id, duplicate=False)


def file_machine_mail(tx: Tx, message: InboundMessage, conversation_id: int) -> IngestResult:
    """A bounce or auto-reply from a sender who is not a customer: no new customer, no thread.

    It is filed, flagged, in the conversation it answers (which the connector
    verified), where the agent sees why their reply did not arrive.
    """
    target = tx.conn.execute(
        select(
            conversations.c.id,
            conversations.c.customer_id,
            customers.c.name,
            conversations.c.assignee_id,
            customers.c.owner_id,
        )
        .join(customers, customers.c.id == conversations.c.customer_id)
        .where(conversations.c.id == conversation_id)
    ).first()
    if target is None:
        raise Unprocessable(f"conversation {conversation_id} does not exist")
    row: dict[str, object] = {
        "conversation_id": target.id,
        "direction": "in",
        "channel": message.channel,
        "identity_id": None,
        "external_id": message.external_id,
        "author_id": None,
        "text": message.text,
        "html": message.html,
        "state": "received",
        "error": None,
        "meta": {**(message_meta(message) or {}), "from": message.sender.address},
        "created_at": tx.now,
        "sent_at": message.sent_at,
        "release_at": None,
    }
    row["id"] = STORE_MESSAGE.insert.scalar(tx.conn, **row)
    announce(tx, row, target.customer_id, target.name, target.assignee_id, target.owner_id)
    return IngestResult(row["id"], target.id, target.customer_id, duplicate=False)


def message_row(
    tx: Tx,
    message: InboundMessage,
    sender: Sender,
    conversation_id: int,
    release_at: datetime | None,
) -> dict[str, object]:
    """The row to store for ``message`` (its ``id`` is set once stored)."""
    return {
        "conversation_id": conversation_id,
        "direction": "in",
        "channel": message.channel,
        "identity_id": sender.identity_id,
        "external_id": message.external_id,
        "author_id": None,
        "text": message.text,
        "html": message.html,
        "state": "held" if release_at else "received",
        "error": None,
        "meta": message_meta(message),
        "created_at": tx.now,
        "sent_at": message.sent_at,
        "release_at": release_at,
    }


def store_attachments(tx: Tx, message: InboundMessage, message_id: object) -> None:
    if message.attachments:
        tx.conn.execute(
            insert(attachments),
            [
                {
                    "message_id": message_id,
                    "position": position,
                    "name": attachment.name[:255],
                    "content_type": safe_media_type(attachment.content_type),
                    "size": attachment.size,
                    "data": attachment.data,
                }
                for position, attachment in enumerate(message.attachments)
            ],
        )


def message_meta(message: InboundMessage) -> dict[str, object] | None:
    meta: dict[str, object] = dict(message.meta)
    if message.attachments:
        meta["attachments"] = [
            {
                "name": a.name,
                "content_type": safe_media_type(a.content_type),
                "size": a.size,
                "stored": a.data is not None,
            }
            for a in message.attachments
        ]
    if message.automated:
        meta["automated"] = True
    if message.auth_failure is not None:
        meta["auth_failure"] = message.auth_failure
    if message.content_digest is not None:
        meta[DIGEST] = message.content_digest
    return meta or None


def open_conversation(
    tx: Tx, sender: Sender, assignee_id: int | None, message: InboundMessage
) -> tuple[int, int | None]:
    """The customer's one open conversation (id, current assignee), opened if there is none.

    With none open, a message answering one of the customer's resolved
    conversations (by reference or verified hint) reopens that one rather
    than starting a new thread.
    """
    if sender.open_conversation_id is not None:
        return sender.open_conversation_id, sender.assignee_id
    answered = answered_conversation(tx, message, sender.customer_id)
    if answered is not None:
        tx.conn.execute(
            update(conversations)
            .where(conversations.c.id == answered[0])
            .values(state="open", resolved_at=None)
        )
        return answered
    conversation_id = OPEN_NEW_CONVERSATION.scalar(
        tx.conn, customer_id=sender.customer_id, assignee_id=assignee_id, at=tx.now
    )
    return conversation_id, assignee_id


def answered_conversation(
    tx: Tx, message: InboundMessage, customer_id: int
) -> tuple[int, int | None] | None:
    """The customer's conversation this message says it answers: references first, then hint."""
    mine = conversations.c.customer_id == customer_id
    found = None
    if message.thread_refs:
        found = tx.conn.execute(
            select(conversations.c.id, conversations.c.assignee_id)
            .join(messages, messages.c.conversation_id == conversations.c.id)
            .where(
                mine,
                messages.c.channel == message.channel,
                messages.c.external_id.in_(message.thread_refs),
            )
            .order_by(messages.c.id.desc())
            .limit(1)
        ).first()
    if found is None and message.conversation_hint is not None:
        found = tx.conn.execute(
            select(conversations.c.id, conversations.c.assignee_id).where(
                mine, conversations.c.id == message.conversation_hint
            )
        ).first()
    return (found[0], found[1]) if found else None
