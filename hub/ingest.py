"""The one entry point for customer messages, whatever the channel.

Idempotent by (channel, external id); resolves the customer from the sender's
identity; keeps one open conversation per customer across channels; routes it
to the owner (or the backup covering); stores the message and tells the inbox.
The message is committed before the caller acknowledges anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    bindparam,
    cast,
    func,
    insert,
    literal_column,
    null,
    select,
    update,
)

from connectors.base import Address, InboundMessage, IngestResult, safe_media_type
from hub.assignment import agent_columns, assign_first_owner, hand_over
from hub.autoreply import send_autoreply
from hub.contact import rule_columns, rules_from
from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import (
    UtcDateTime,
    agents,
    attachments,
    conversations,
    customers,
    identities,
    messages,
)
from hub.errors import Unprocessable
from hub.identities import (
    add_identity,
    check_may_speak_for,
    confirm,
    create_customer,
    disputed_customer,
    record_claims,
)
from hub.linking import link_proven
from hub.serialize import message_json
from routing.contact import ContactRules, hold_until, reply_due_at
from routing.owners import Agent, CustomerOwnership, who_handles

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


@dataclass
class Sender:
    """Who wrote, and everything about them that routing one message needs."""

    customer_id: int
    customer_name: str
    identity_id: int | None
    identity_channel: str | None
    identity_proof: str | None
    identity_first_channel: str | None
    owner_id: int | None
    backup_id: int | None
    open_conversation_id: int | None
    assignee_id: int | None
    autoreplied_until: datetime | None
    answered_before: bool
    already_stored: bool
    """A message with this one's channel and external id exists (a repeat)."""
    handlers: dict[int, Agent]
    """The owner, the customer's backup and the owner's backup, those that exist."""
    rules: ContactRules
    """The contact rules for this customer on the message's channel."""


# Every inbound message runs these, so they are prepared (see hub/db/prepared.py).
DUPLICATE = Prepared(
    select(messages.c.id, messages.c.conversation_id, conversations.c.customer_id)
    .join(conversations, conversations.c.id == messages.c.conversation_id)
    .where(
        messages.c.channel == bindparam("channel"),
        messages.c.external_id == bindparam("external_id"),
    )
)
OWNER = agents.alias("owner")
CUSTOMER_BACKUP = agents.alias("customer_backup")
OWNER_BACKUP = agents.alias("owner_backup")
HANDLER_COLUMNS = [agent_columns(agent) for agent in (OWNER, CUSTOMER_BACKUP, OWNER_BACKUP)]
RULE_COLUMNS = rule_columns(cast(customers.c.id, Text), bindparam("channel"))
SENDER_EXTRAS = (
    customers.c.always_reachable,
    *(column for columns in HANDLER_COLUMNS for column in columns),
    *RULE_COLUMNS,
)


def sender_statement(who: tuple[ColumnElement[Any], ...], origin: Any, where: Any) -> Any:
    """Everything routing a message needs about its sender, from ``origin`` (their identity,
    or their customer alone) joined to the customer, open conversation and handlers."""
    return (
        select(
            customers.c.id,
            customers.c.name,
            *who,
            customers.c.owner_id,
            customers.c.backup_id,
            conversations.c.id,
            conversations.c.assignee_id,
            conversations.c.autoreplied_until,
            conversations.c.first_replied_at.is_not(None),
            select(messages.c.id)
            .where(
                messages.c.channel == bindparam("channel"),
                messages.c.external_id == bindparam("external_id"),
            )
            .exists(),
            *SENDER_EXTRAS,
        )
        .select_from(origin)
        .outerjoin(
            conversations,
            # A literal, not a parameter, so the partial unique index on open conversations
            # is used.
            (conversations.c.customer_id == customers.c.id)
            & (conversations.c.state == literal_column("'open'")),
        )
        .outerjoin(OWNER, OWNER.c.id == customers.c.owner_id)
        .outerjoin(CUSTOMER_BACKUP, CUSTOMER_BACKUP.c.id == customers.c.backup_id)
        .outerjoin(OWNER_BACKUP, OWNER_BACKUP.c.id == OWNER.c.backup_id)
        .where(where)
    )


SENDER = Prepared(
    sender_statement(
        (
            identities.c.id,
            identities.c.last_channel,
            identities.c.verified_by,
            identities.c.first_channel,
        ),
        identities.join(customers, customers.c.id == identities.c.customer_id),
        (identities.c.kind == bindparam("kind")) & (identities.c.address == bindparam("address")),
    )
)
"""The sender's customer, open conversation, handlers and contact rules, and whether the
message is a repeat, in one statement."""
NO_IDENTITY = tuple(null().label(name) for name in ("i", "c", "v", "f"))
CUSTOMER_AS_SENDER = Prepared(
    sender_statement(NO_IDENTITY, customers, customers.c.id == bindparam("customer"))
)
"""The same for a customer who has no identity to write from (disputed mail)."""
INSERT_MESSAGE_STATEMENT = (
    insert(messages)
    .values({column: bindparam(column) for column in MESSAGE_COLUMNS})
    .returning(messages.c.id)
)
TOUCH_CONVERSATION_STATEMENT = (
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
    )
)
INSERT_MESSAGE = Prepared(INSERT_MESSAGE_STATEMENT)
TOUCH_CONVERSATION = Prepared(TOUCH_CONVERSATION_STATEMENT)
STORE_AND_TOUCH = Prepared(
    select(INSERT_MESSAGE_STATEMENT.cte("stored").c.id).add_cte(
        TOUCH_CONVERSATION_STATEMENT.cte("touched")
    )
)
"""PostgreSQL: the message insert and the conversation update in one statement."""
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
ACTIVE_ADMINS = Prepared(select(agents.c.id).where(agents.c.role == "admin", agents.c.active))
MOVE_IDENTITY_CHANNEL = Prepared(
    update(identities)
    .where(identities.c.id == bindparam("identity"))
    .values(last_channel=bindparam("channel_name"))
)


def ingest(message: InboundMessage, tx: Tx, pool: frozenset[str] | None = None) -> IngestResult:
    """Store and route ``message``; ``pool``: the channels whose identities its channel may
    write as (``None``: any; see ``hub.identities.check_may_speak_for``)."""
    known = find_sender(tx, message.sender, message)
    if known is None or known.already_stored:
        duplicate = find_duplicate(tx, message)
        if duplicate is not None:
            return duplicate
    answered = message.conversation_hint
    if message.automated and answered is not None and known is None:
        return file_machine_mail(tx, message, answered)
    if message.auth_failure is not None:
        sender = disputed_sender(tx, message)
    else:
        sender = proven_sender(tx, message, known, pool)
    record_claims(tx, sender.customer_id, message.claimed, message.channel, "typed")
    if sender.owner_id is None and (owner := assign_first_owner(tx, sender.customer_id)):
        sender.owner_id, sender.handlers = owner.id, {owner.id: owner}
    ownership = CustomerOwnership(sender.owner_id, sender.backup_id)
    handling = who_handles(ownership, sender.handlers)
    conversation_id, assignee_id = open_conversation(tx, sender, handling.agent_id, message)
    rules = sender.rules
    release_at = hold_until(rules, tx.now)
    due = None if release_at else reply_due_at(rules, tx.now, sender.answered_before)
    row = message_row(tx, message, sender, conversation_id, release_at)
    row["id"] = store_and_touch_conversation(
        tx,
        row,
        conversation=conversation_id,
        at=tx.now,
        channel_name=message.channel,
        identity=sender.identity_id,
        new_work=0 if release_at else 1,
        due=due,
    )
    store_attachments(tx, message, row["id"])
    if sender.identity_id is not None and sender.identity_channel != message.channel:
        MOVE_IDENTITY_CHANNEL.run(
            tx.conn, identity=sender.identity_id, channel_name=message.channel
        )
    if release_at is None:
        hand_over(tx, conversation_id, assignee_id, handling, sender.owner_id)
        announce(
            tx, row, sender.customer_id, sender.customer_name, handling.agent_id, sender.owner_id
        )
    elif not message.automated and sender.autoreplied_until != release_at:
        send_autoreply(tx, row, rules, sender.owner_id, release_at)
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
    row["id"] = INSERT_MESSAGE.scalar(tx.conn, **row)
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


def store_and_touch_conversation(tx: Tx, row: dict[str, object], **touch: object) -> int:
    """Store the message row and bring its conversation up to date; the message's id.

    On PostgreSQL in one statement, as the round trip is most of what a
    statement costs there; SQLite has no data-modifying CTEs, so it runs two.
    """
    if tx.conn.dialect.name == "postgresql":
        return STORE_AND_TOUCH.scalar(tx.conn, **row, **touch)
    message_id = INSERT_MESSAGE.scalar(tx.conn, **row)
    TOUCH_CONVERSATION.run(tx.conn, **touch)
    return message_id


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


def announce(
    tx: Tx,
    row: dict[str, object],
    customer_id: int,
    customer_name: str,
    handler_id: int | None,
    owner_id: int | None,
) -> None:
    """Tell whoever handles the conversation (and the owner) that a customer wrote."""
    tx.emit(
        "message.created",
        {
            "message": message_json(row),
            "customer": {"id": customer_id, "name": customer_name},
            "assignee_id": handler_id,
        },
        to=[a for a in (handler_id, owner_id) if a] or admins(tx),
        conversation_id=int(row["conversation_id"]),  # type: ignore[call-overload]
    )


def admins(tx: Tx) -> list[int]:
    """Who hears of a message nobody handles or owns: the active admins."""
    return [row[0] for row in ACTIVE_ADMINS.rows(tx.conn)]


def find_duplicate(tx: Tx, message: InboundMessage) -> IngestResult | None:
    row = DUPLICATE.first(tx.conn, channel=message.channel, external_id=message.external_id)
    if row is None:
        return None
    return IngestResult(*row, duplicate=True)


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
    return meta or None


def proven_sender(
    tx: Tx, message: InboundMessage, known: Sender | None, pool: frozenset[str] | None
) -> Sender:
    """The sender as their channel vouches for them, tied to what they proved."""
    if known is not None:
        check_may_speak_for(
            message.channel,
            message.sender,
            known.identity_first_channel,
            known.identity_proof,
            pool,
        )
    if message.linked:
        current = None if known is None else known.customer_id
        linked = link_proven(
            tx, message.sender, message.sender_name, message.channel, message.linked, current
        )
        if linked.customer_id != current:
            known = find_sender(tx, message.sender, message)
    elif known is None:
        customer_id = create_customer(tx, message.sender_name or message.sender.address)
        add_identity(
            tx,
            customer_id,
            message.sender,
            display_name=message.sender_name,
            channel=message.channel,
            proof=message.sender_proof,
            sent_on_channel=True,
        )
        known = find_sender(tx, message.sender, message)
    assert known is not None
    if known.identity_proof is None and message.sender_proof is not None:
        confirm(tx, known.customer_id, message.sender, message.sender_proof)
    return known


def disputed_sender(tx: Tx, message: InboundMessage) -> Sender:
    """Mail whose From failed authentication: a customer of its own, the address a claim."""
    customer_id = disputed_customer(tx, message.sender, message.sender_name)
    record_claims(tx, customer_id, (message.sender,), message.channel, "unauthenticated")
    row = CUSTOMER_AS_SENDER.first(
        tx.conn, customer=customer_id, channel=message.channel, external_id=message.external_id
    )
    assert row is not None
    return sender_from_row(row)


def find_sender(tx: Tx, address: Address, message: InboundMessage) -> Sender | None:
    """The sender behind ``address``, if known, as it concerns ``message``."""
    row = SENDER.first(
        tx.conn,
        kind=address.kind,
        address=address.address,
        channel=message.channel,
        external_id=message.external_id,
    )
    return None if row is None else sender_from_row(row)


def sender_from_row(row: tuple[Any, ...]) -> Sender:
    fields = len(row) - len(SENDER_EXTRAS)
    always_reachable, *extras = row[fields:]
    handlers = []
    for columns in HANDLER_COLUMNS:
        values, extras = extras[: len(columns)], extras[len(columns) :]
        if values[0] is not None:
            handlers.append(Agent(*values))
    return Sender(
        *row[:fields],
        handlers={agent.id: agent for agent in handlers},
        rules=rules_from(extras, always_reachable),
    )


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
