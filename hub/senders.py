"""Who wrote a message: found by their identity, or made a customer, with what routing needs.

One statement (``SENDER``) reads the sender's customer, open conversation,
handlers and contact rules, and whether the message is a repeat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import ColumnElement, Text, bindparam, cast, literal_column, null, select, update

from connectors.base import Address, InboundMessage
from hub.assignment import agent_columns, agent_from
from hub.contact import rule_columns, rules_from
from hub.db.database import Tx
from hub.db.prepared import Prepared
from hub.db.schema import agents, conversations, customers, identities, messages
from hub.identities import (
    add_identity,
    check_may_speak_for,
    confirm,
    create_customer,
    disputed_customer,
    record_claims,
)
from hub.linking import link_proven
from routing.autoreply import is_offset_zone
from routing.contact import ContactRules
from routing.owners import Agent


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
    zone: str | None
    locale: str | None
    """The customer's zone and language as recorded from their channels' hints."""
    handlers: dict[int, Agent]
    """The owner, the customer's backup and the owner's backup, those that exist."""
    rules: ContactRules
    """The contact rules for this customer on the message's channel."""


# Every inbound message runs these, so they are prepared (see hub/db/prepared.py).
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
            customers.c.zone,
            customers.c.locale,
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
        tx.conn,
        customer=customer_id,
        channel=message.channel,
        external_id=message.external_id,
        now=tx.now,
    )
    assert row is not None
    return sender_from_row(row, tx.now)


def find_sender(tx: Tx, address: Address, message: InboundMessage) -> Sender | None:
    """The sender behind ``address``, if known, as it concerns ``message``."""
    row = SENDER.first(
        tx.conn,
        kind=address.kind,
        address=address.address,
        channel=message.channel,
        external_id=message.external_id,
        now=tx.now,
    )
    return None if row is None else sender_from_row(row, tx.now)


def sender_from_row(row: tuple[Any, ...], now: datetime) -> Sender:
    fields = len(row) - len(SENDER_EXTRAS)
    always_reachable, *extras = row[fields:]
    handlers = []
    for columns in HANDLER_COLUMNS:
        values, extras = extras[: len(columns)], extras[len(columns) :]
        if values[0] is not None:
            handlers.append(agent_from(values, now))
    return Sender(
        *row[:fields],
        handlers={agent.id: agent for agent in handlers},
        rules=rules_from(extras, always_reachable),
    )


LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,2}")
"""A language tag that fits ``customers.locale`` (20 characters)."""
ZONES = frozenset(available_timezones())
RECORD_HINTS = Prepared(
    update(customers)
    .where(customers.c.id == bindparam("customer"))
    .values(zone=bindparam("zone"), locale=bindparam("locale"))
)


def known_zone(reported: str | None) -> str | None:
    """``reported`` if it names a zone this machine knows, else ``None``."""
    return reported if reported in ZONES else None


def known_locale(reported: str | None) -> str | None:
    """``reported`` if it is a language tag (``de``, ``pt-BR``), else ``None``."""
    return reported if reported and LANGUAGE_TAG.fullmatch(reported) else None


def record_reported_hints(tx: Tx, sender: Sender, message: InboundMessage) -> None:
    """Keep the zone and language the sender's platform reported, when they changed.

    Compared with what the sender's row already holds, so a message that says
    nothing new costs no statement.
    """
    zone = known_zone(message.zone)
    if zone and is_offset_zone(zone) and sender.zone and not is_offset_zone(sender.zone):
        zone = None  # an email's offset never replaces a place another channel reported
    locale = known_locale(message.locale)
    if (zone or sender.zone) == sender.zone and (locale or sender.locale) == sender.locale:
        return
    sender.zone, sender.locale = zone or sender.zone, locale or sender.locale
    RECORD_HINTS.run(tx.conn, customer=sender.customer_id, zone=sender.zone, locale=sender.locale)
